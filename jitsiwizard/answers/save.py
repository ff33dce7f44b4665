"""Saving answers for replay: TOML with every secret as its reference (env:NAME, file:PATH),
never its value; a secret given literally is left out, with a note saying so."""

from __future__ import annotations

from typing import Any, Callable

from jitsiwizard.answers.model import Answers, LdapAnswers, secret_slots
from jitsiwizard.answers.secrets import Secret


def to_data(answers: Answers) -> tuple[dict, list[str]]:
    """The answers as TOML-ready data, secrets as references. Returns (data, notes) where
    notes name secrets that were given literally and so are left out."""
    notes: list[str] = []

    def ref(secret: Secret | None, path: str) -> str | None:
        if secret is None:
            return None
        if secret.ref == "literal":
            notes.append(f"{path} was given literally and is not saved: add it as "
                         "env:NAME or file:PATH before replaying")
            return None
        return secret.ref

    a = answers
    slots = {slot.key: slot for slot in secret_slots(a)}

    def saved_ref(key: str) -> str | None:
        return ref(slots[key].get(a), key)

    host = {"hostname": a.host.hostname, "email": a.host.email,
            "public_address": a.host.public_address, "local_address": a.host.local_address}
    cert = {"mode": a.cert.mode, "acme_server": a.cert.acme_server,
            "agree_tos": a.cert.agree_tos}
    if a.cert.mode == "own":
        cert.update(cert_file=a.cert.cert_file, key_file=a.cert.key_file)
    auth = _auth_data(a, saved_ref)
    firewall = {"manage": a.firewall.manage, "ssh_port": a.firewall.ssh_port}
    if a.is_bridge and a.bridge is not None:
        return _bridge_data(a, host, firewall, saved_ref("bridge.password")), notes
    return {"host": host, "cert": cert, "auth": auth, "firewall": firewall}, notes


# key of a secret slot -> its reference to save (None: none, or not saved)
_SavedRef = Callable[[str], "str | None"]


def _auth_data(a: Answers, saved_ref: _SavedRef) -> dict:
    auth: dict[str, Any] = {"policy": a.auth.policy, "guests": a.auth.guests}
    users = []
    for i, u in enumerate(a.auth.users):
        entry: dict[str, Any] = {"name": u.name}
        if u.remove:
            entry["remove"] = True
        else:
            saved = saved_ref(f"auth.users[{i}].password")
            if saved:
                entry["password"] = saved
        users.append(entry)
    if users:
        auth["users"] = users
    if a.auth.ldap:
        auth["ldap"] = _ldap_data(a.auth.ldap, saved_ref)
    return auth


def _ldap_data(ld: LdapAnswers, saved_ref: _SavedRef) -> dict:
    ldap: dict[str, Any] = {
        "url": ld.urls[0] if len(ld.urls) == 1 else list(ld.urls),
        "starttls": ld.starttls, "allow_plaintext": ld.allow_plaintext,
        "ca_file": ld.ca_file, "bind_dn": ld.bind_dn,
        "user_base": ld.user_base, "user_filter": ld.user_filter,
        "username_attribute": ld.username_attribute, "name_attribute": ld.name_attribute,
        "scope": ld.scope,
    }
    saved = saved_ref("auth.ldap.bind_password")
    if saved:
        ldap["bind_password"] = saved
    if ld.test_user:
        ldap["test_user"] = ld.test_user
        saved = saved_ref("auth.ldap.test_password")
        if saved:
            ldap["test_password"] = saved
    return ldap


def _bridge_data(a: Answers, host: dict, firewall: dict, password: str | None) -> dict:
    b = a.bridge
    bridge: dict[str, Any] = {"main": b.main, "username": b.username}
    if b.main_address:
        bridge["main_address"] = b.main_address
    if password:
        bridge["password"] = password
    bridge["main_certificate_sha256"] = b.main_certificate_sha256
    host = {k: v for k, v in host.items() if k != "hostname" or v}
    return {"role": {"kind": "videobridge"}, "host": host, "bridge": bridge,
            "firewall": firewall}


def dumps(answers: Answers) -> tuple[str, list[str]]:
    import tomli_w

    data, notes = to_data(answers)
    header = "# jitsi-wizard answers: replay with `jitsi-wizard --answers FILE`\n"
    header += "".join(f"# NOTE: {n}\n" for n in notes)
    return header + "\n" + tomli_w.dumps(data), notes
