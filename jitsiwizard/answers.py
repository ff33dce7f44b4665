"""The answers file (TOML): load, validate (every problem at once, with key path and line),
and save (secrets as references, mode 0600).

The same validation serves the TUI and `--answers` replay, so a file that replays is a file
the screens would have accepted.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from jitsiwizard.errors import Problem, ProblemList, UserError
from jitsiwizard.model import (
    CERT_MODES,
    POLICIES,
    Answers,
    AuthAnswers,
    CertAnswers,
    FirewallAnswers,
    HostAnswers,
    LdapAnswers,
    LocalUser,
    secret_slots,
)
from jitsiwizard.secrets import Secret, SecretError, loose_file_mode, resolve
from jitsiwizard.validate import (
    ATTRIBUTE,
    check_acme_server,
    check_dn,
    check_filter,
    check_hostname,
    check_ldap_url,
    check_user_password,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on the target hosts' older Pythons
    import tomli as tomllib

# Every key the file may hold: table -> key -> (type, description). The JSON Schema and the
# documentation are generated from this table, so they cannot drift from the validator.
STR, BOOL, INT, STR_OR_LIST, TABLE_LIST = "string", "boolean", "integer", "string|list", "users"
SPEC: dict[str, dict[str, tuple[str, str]]] = {
    "host": {
        "hostname": (STR, "the meeting server's fully qualified name, e.g. meet.example.org"),
        "email": (STR, "e-mail for the Let's Encrypt account (expiry warnings)"),
        "public_address": (STR, "the public IP address when the host is behind NAT"),
        "local_address": (STR, "behind NAT: this host's private address (see `ip addr`)"),
    },
    "cert": {
        "mode": (STR, "letsencrypt | certbot | own | self-signed"),
        "acme_server": (STR, "production | staging | an ACME directory URL (https://...)"),
        "agree_tos": (BOOL, "true to agree to the ACME server's terms of service"),
        "cert_file": (STR, "mode = own: the certificate (full chain, PEM)"),
        "key_file": (STR, "mode = own: its private key (PEM)"),
    },
    "auth": {
        "policy": (STR, "open | local | ldap: who may start a conference"),
        "guests": (BOOL, "true: people without an account may join once a host started it"),
        "users": (TABLE_LIST, "policy = local: [[auth.users]] tables"),
        "ldap": ("table", "policy = ldap: the directory"),
    },
    "auth.users": {
        "name": (STR, "the user name (the part before @HOST)"),
        "password": (STR, "env:NAME | file:PATH | the password itself"),
        "remove": (BOOL, "true: delete this user from the host"),
    },
    "auth.ldap": {
        "url": (STR_OR_LIST, "ldap://host[:port] or ldaps://host[:port]; a list for several"),
        "starttls": (BOOL, "ldap:// only: upgrade with StartTLS (default true)"),
        "allow_plaintext": (BOOL, "true to allow ldap:// without StartTLS (passwords in clear)"),
        "ca_file": (STR, "CA certificate for the directory's TLS; default: the system CAs"),
        "bind_dn": (STR, "the service account that searches the directory"),
        "bind_password": (STR, "env:NAME | file:PATH | the password itself"),
        "user_base": (STR, "where users live, e.g. ou=people,dc=example,dc=org"),
        "user_filter": (STR, "which entries are users, e.g. (objectClass=inetOrgPerson)"),
        "username_attribute": (STR, "the attribute users log in with (uid; AD: sAMAccountName)"),
        "name_attribute": (STR, "the display-name attribute (cn)"),
        "scope": (STR, "base | onelevel | subtree (default subtree)"),
        "test_user": (STR, "optional: a user for the live login test"),
        "test_password": (STR, "optional: env:NAME | file:PATH | that user's password"),
    },
    "firewall": {
        "manage": (BOOL, "true: the plan adds ufw rules (SSH first) and enables ufw"),
        "ssh_port": (INT, "the SSH port that must stay open"),
    },
}
TOP_LEVEL = ("host", "cert", "auth", "firewall")

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class LoadedAnswers:
    answers: Answers
    warnings: list[Problem] = field(default_factory=list)
    text: str = ""
    path: str = ""


# --- line numbers -------------------------------------------------------------------------

def _key_lines(text: str) -> dict[str, int]:
    """Map key paths ("auth.ldap.url", "auth.users[1].name") to the line they are on.

    tomllib gives no positions; this scanner understands headers and `key =` lines, which
    is all an error message needs.
    """
    lines: dict[str, int] = {}
    table = ""
    counts: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        m = re.match(r"^\[\[\s*([A-Za-z0-9_.\"-]+)\s*\]\]", line)
        if m:
            name = m.group(1).replace('"', "")
            index = counts.get(name, 0)
            counts[name] = index + 1
            table = f"{name}[{index}]"
            lines.setdefault(table, number)
            lines.setdefault(name, number)
            continue
        m = re.match(r"^\[\s*([A-Za-z0-9_.\"-]+)\s*\]", line)
        if m:
            table = m.group(1).replace('"', "")
            lines.setdefault(table, number)
            continue
        m = re.match(r"^([A-Za-z0-9_.\"-]+)\s*=", line)
        if m:
            key = m.group(1).replace('"', "")
            lines.setdefault(f"{table}.{key}" if table else key, number)
    return lines


class _Collector:
    def __init__(self, text: str):
        self.lines = _key_lines(text)
        self.problems: list[Problem] = []

    def line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return None

    def error(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, message, hint, self.line(path)))

    def warn(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, message, hint, self.line(path), warning=True))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.warning]


# --- field validators (also used by the screens, one field at a time) ----------------------

def _suggest(key: str, allowed) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "known keys: " + ", ".join(sorted(allowed))


def _table(data: dict, name: str, out: _Collector, path: str) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        out.error(path, f"must be a table ([{path}]), not a {type(value).__name__}",
                  f"write it as a [{path}] section")
        return {}
    return value


def _unknown(table: dict, spec_name: str, out: _Collector, prefix: str) -> None:
    allowed = SPEC[spec_name]
    for key in table:
        if key not in allowed:
            out.error(f"{prefix}.{key}", "is not a known key", _suggest(key, allowed))


def _get(table: dict, key: str, kind: str, out: _Collector, path: str, default: Any) -> Any:
    if key not in table:
        return default
    value = table[key]
    ok = {
        STR: isinstance(value, str),
        BOOL: isinstance(value, bool),
        INT: isinstance(value, int) and not isinstance(value, bool),
    }.get(kind, True)
    if not ok:
        example = {STR: '"text"', BOOL: "true or false", INT: "a whole number"}[kind]
        out.error(path, f"must be a {kind}, not {type(value).__name__} {value!r}",
                  f"write it as {example}")
        return default
    return value


def _secret(value: str, out: _Collector, path: str, source_path: str) -> Secret | None:
    if not value:
        return None
    try:
        secret = resolve(value)
    except SecretError as exc:
        out.error(path, str(exc), exc.hint)
        return None
    if secret.ref == "literal" and source_path and loose_file_mode(source_path):
        out.warn(path, f"holds a password in clear and {source_path} is readable by others",
                 f"chmod 600 {source_path}, or use env:NAME / file:PATH")
    return secret


def parse(data: dict, text: str = "", source_path: str = "") -> LoadedAnswers:
    """Validate parsed TOML. Raises ProblemList with every error; returns warnings."""
    out = _Collector(text)
    for key in data:
        if key not in TOP_LEVEL:
            out.error(key, "is not a known section", _suggest(key, TOP_LEVEL))

    answers = Answers()
    _parse_host(_table(data, "host", out, "host"), answers.host, out)
    _parse_cert(_table(data, "cert", out, "cert"), answers.cert, answers.host, out)
    _parse_auth(_table(data, "auth", out, "auth"), answers.auth, out, source_path)
    _parse_firewall(_table(data, "firewall", out, "firewall"), answers.firewall, out)

    if out.errors:
        raise ProblemList(out.errors + out.warnings, source_path or "the answers")
    return LoadedAnswers(answers, out.warnings, text, source_path)


def _parse_host(t: dict, host: HostAnswers, out: _Collector) -> None:
    _unknown(t, "host", out, "host")
    name = _get(t, "hostname", STR, out, "host.hostname", "")
    if not name:
        out.error("host.hostname", "is missing",
                  'add hostname = "meet.example.org" under [host]')
    else:
        host.hostname, err = check_hostname(name)
        if err:
            out.error("host.hostname", f"{name!r} {err}", "use the name whose DNS A record "
                      "points at this server, e.g. meet.example.org")
    host.email = _get(t, "email", STR, out, "host.email", "").strip()
    if host.email and not _EMAIL.match(host.email):
        out.error("host.email", f"{host.email!r} is not an e-mail address",
                  'write it as "admin@example.org"')
    addr = _get(t, "public_address", STR, out, "host.public_address", "").strip()
    if addr:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            out.error("host.public_address", f"{addr!r} is not an IP address",
                      "give the public IPv4 address, or leave it empty")
        else:
            if not ip.is_global:
                out.error("host.public_address", f"{addr} is not a public address",
                          "give the address clients reach from the internet (NAT's outside)")
            host.public_address = str(ip)
    local = _get(t, "local_address", STR, out, "host.local_address", "").strip()
    if local:
        try:
            host.local_address = str(ipaddress.ip_address(local))
        except ValueError:
            out.error("host.local_address", f"{local!r} is not an IP address",
                      "give the private address this host has on its interface")
    if host.public_address and not host.local_address:
        out.error("host.local_address", "is needed when public_address is set (NAT)",
                  "add local_address = \"10.0.0.5\" (this host's private address, from "
                  "`ip addr`) under [host]")


def _parse_cert(t: dict, cert: CertAnswers, host: HostAnswers, out: _Collector) -> None:
    _unknown(t, "cert", out, "cert")
    cert.mode = _get(t, "mode", STR, out, "cert.mode", cert.mode)
    if cert.mode not in CERT_MODES:
        out.error("cert.mode", f"{cert.mode!r} is not a certificate mode",
                  f"use one of {', '.join(CERT_MODES)}"
                  + (f" ({_suggest(cert.mode, CERT_MODES)})" if cert.mode else ""))
    cert.acme_server = _get(t, "acme_server", STR, out, "cert.acme_server", cert.acme_server)
    err = check_acme_server(cert.acme_server)
    if err:
        out.error("cert.acme_server", f"{cert.acme_server!r} {err}",
                  'use "staging" for trials, "production" for real certificates')
    cert.agree_tos = _get(t, "agree_tos", BOOL, out, "cert.agree_tos", False)
    cert.cert_file = _get(t, "cert_file", STR, out, "cert.cert_file", "").strip()
    cert.key_file = _get(t, "key_file", STR, out, "cert.key_file", "").strip()
    if cert.mode in ("letsencrypt", "certbot"):
        if not host.email:
            out.error("host.email", f"is needed for cert.mode = {cert.mode!r}",
                      'add email = "admin@example.org" under [host] (expiry warnings go there)')
        if not cert.agree_tos:
            out.error("cert.agree_tos", f"cert.mode = {cert.mode!r} needs the ACME server's "
                      "terms of service agreed", "add agree_tos = true under [cert] once you "
                      "have read https://letsencrypt.org/repository/")
    if cert.mode == "own":
        for key in ("cert_file", "key_file"):
            value = getattr(cert, key)
            if not value:
                out.error(f"cert.{key}", "is needed for cert.mode = 'own'",
                          f'add {key} = "/etc/ssl/..." under [cert]')
            elif not value.startswith("/"):
                out.error(f"cert.{key}", f"{value!r} is not an absolute path",
                          "give the full path, starting with /")


def _parse_auth(t: dict, auth: AuthAnswers, out: _Collector, source_path: str) -> None:
    _unknown(t, "auth", out, "auth")
    auth.policy = _get(t, "policy", STR, out, "auth.policy", auth.policy)
    if auth.policy not in POLICIES:
        out.error("auth.policy", f"{auth.policy!r} is not a policy",
                  f"use one of {', '.join(POLICIES)} ({_suggest(auth.policy, POLICIES)})")
    auth.guests = _get(t, "guests", BOOL, out, "auth.guests", False)
    if auth.policy == "open" and auth.guests:
        out.error("auth.guests", "guests only mean something when hosts must log in",
                  'set guests = false, or policy = "local" or "ldap"')

    users = t.get("users", [])
    if not isinstance(users, list) or not all(isinstance(u, dict) for u in users):
        out.error("auth.users", "must be a list of [[auth.users]] tables",
                  'write each user as [[auth.users]] with name = "..." and password = "..."')
        users = []
    if users and auth.policy != "local":
        out.warn("auth.users", f"users are only used with policy = 'local' (policy is "
                 f"{auth.policy!r}); they are ignored", "remove the [[auth.users]] tables")
        users = []
    seen: set[str] = set()
    for i, u in enumerate(users):
        path = f"auth.users[{i}]"
        _unknown(u, "auth.users", out, path)
        name = _get(u, "name", STR, out, f"{path}.name", "").strip()
        if not name:
            out.error(f"{path}.name", "is missing", 'add name = "alice"')
            continue
        if not _USERNAME.match(name):
            out.error(f"{path}.name", f"{name!r} is not a valid user name",
                      "use lower-case letters, digits, '.', '_' or '-', starting with a "
                      "letter or digit (no @, no spaces)")
        if name in seen:
            out.error(f"{path}.name", f"user {name!r} is listed twice", "keep one entry")
        seen.add(name)
        remove = _get(u, "remove", BOOL, out, f"{path}.remove", False)
        password = _secret(_get(u, "password", STR, out, f"{path}.password", ""), out,
                           f"{path}.password", source_path)
        if password is not None and ("\n" in password.value or "\r" in password.value):
            out.error(f"{path}.password", "contains a line break",
                      "prosodyctl reads a password as one line: choose one without line breaks")
        elif password is not None and check_user_password(password.value):
            out.error(f"{path}.password", check_user_password(password.value),
                      "choose a longer password (the same rule as in the wizard)")
        auth.users.append(LocalUser(name, None if remove else password, remove))

    ldap_table = t.get("ldap")
    if auth.policy == "ldap" and ldap_table is None:
        out.error("auth.ldap", "is needed for policy = 'ldap'",
                  "add an [auth.ldap] section with url, bind_dn, bind_password and user_base")
    if ldap_table is not None and auth.policy != "ldap":
        out.warn("auth.ldap", f"is only used with policy = 'ldap' (policy is "
                 f"{auth.policy!r}); it is ignored", "remove the [auth.ldap] section")
    elif ldap_table is not None:
        if not isinstance(ldap_table, dict):
            out.error("auth.ldap", "must be a table", "write it as an [auth.ldap] section")
        else:
            auth.ldap = _parse_ldap(ldap_table, out, source_path)


def _parse_ldap(t: dict, out: _Collector, source_path: str) -> LdapAnswers:
    p = "auth.ldap"
    _unknown(t, "auth.ldap", out, p)
    ldap = LdapAnswers()
    urls = t.get("url", [])
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        out.error(f"{p}.url", "must be a string or a list of strings",
                  'url = "ldaps://ldap.example.org" or ["ldaps://a", "ldaps://b"]')
        urls = []
    if not urls:
        out.error(f"{p}.url", "is missing", 'add url = "ldaps://ldap.example.org"')
    for url in urls:
        err = check_ldap_url(url)
        if err:
            out.error(f"{p}.url", f"{url!r} {err}", 'e.g. "ldaps://ldap.example.org:636"')
    schemes = {u.split("://", 1)[0].lower() for u in urls if "://" in u}
    if len(schemes) > 1:
        out.error(f"{p}.url", "mixes ldap:// and ldaps:// servers",
                  "use the same scheme for every server")
    ldap.urls = [u.strip() for u in urls]
    ldap.starttls = _get(t, "starttls", BOOL, out, f"{p}.starttls", True)
    ldap.allow_plaintext = _get(t, "allow_plaintext", BOOL, out, f"{p}.allow_plaintext", False)
    if schemes == {"ldaps"}:
        ldap.starttls = False
    elif schemes == {"ldap"} and not ldap.starttls and not ldap.allow_plaintext:
        out.error(f"{p}.starttls", "is false for an ldap:// URL: passwords would cross the "
                  "network in clear", "use ldaps://, or starttls = true, or (only on a "
                  "trusted network) allow_plaintext = true")
    ldap.ca_file = _get(t, "ca_file", STR, out, f"{p}.ca_file", "").strip()
    if ldap.ca_file and not ldap.ca_file.startswith("/"):
        out.error(f"{p}.ca_file", f"{ldap.ca_file!r} is not an absolute path",
                  "give the full path of the CA certificate (PEM)")
    ldap.bind_dn = _get(t, "bind_dn", STR, out, f"{p}.bind_dn", "").strip()
    ldap.bind_password = _secret(_get(t, "bind_password", STR, out, f"{p}.bind_password", ""),
                                 out, f"{p}.bind_password", source_path)
    if ldap.bind_dn:
        err = check_dn(ldap.bind_dn)
        if err:
            out.error(f"{p}.bind_dn", f"{ldap.bind_dn!r} {err}",
                      'e.g. "cn=jitsi,ou=services,dc=example,dc=org"')
        if ldap.bind_password is None and "bind_password" not in t:
            out.error(f"{p}.bind_password", "is missing while bind_dn is set",
                      'add bind_password = "file:/root/ldap-bind.secret"')
    elif "bind_password" in t:
        out.error(f"{p}.bind_dn", "is missing while bind_password is set",
                  "add the service account's DN, or remove bind_password for anonymous search")
    ldap.user_base = _get(t, "user_base", STR, out, f"{p}.user_base", "").strip()
    err = check_dn(ldap.user_base)
    if err:
        out.error(f"{p}.user_base", f"{ldap.user_base!r} {err}" if ldap.user_base
                  else "is missing", 'e.g. user_base = "ou=people,dc=example,dc=org"')
    ldap.user_filter = _get(t, "user_filter", STR, out, f"{p}.user_filter", ldap.user_filter)
    err = check_filter(ldap.user_filter)
    if err:
        out.error(f"{p}.user_filter", f"{ldap.user_filter!r} {err}",
                  'e.g. "(objectClass=inetOrgPerson)"; the user name part is added for you')
    for key in ("username_attribute", "name_attribute"):
        value = _get(t, key, STR, out, f"{p}.{key}", getattr(ldap, key)).strip()
        if not ATTRIBUTE.match(value):
            out.error(f"{p}.{key}", f"{value!r} is not an attribute name",
                      "e.g. uid, cn, sAMAccountName")
        setattr(ldap, key, value)
    ldap.scope = _get(t, "scope", STR, out, f"{p}.scope", ldap.scope)
    if ldap.scope not in ("base", "onelevel", "subtree"):
        out.error(f"{p}.scope", f"{ldap.scope!r} is not a search scope",
                  "use base, onelevel or subtree")
    ldap.test_user = _get(t, "test_user", STR, out, f"{p}.test_user", "").strip()
    ldap.test_password = _secret(_get(t, "test_password", STR, out, f"{p}.test_password", ""),
                                 out, f"{p}.test_password", source_path)
    return ldap


def _parse_firewall(t: dict, fw: FirewallAnswers, out: _Collector) -> None:
    _unknown(t, "firewall", out, "firewall")
    fw.manage = _get(t, "manage", BOOL, out, "firewall.manage", False)
    fw.ssh_port = _get(t, "ssh_port", INT, out, "firewall.ssh_port", 22)
    if not 0 < fw.ssh_port < 65536:
        out.error("firewall.ssh_port", f"{fw.ssh_port} is not a port number",
                  "use the port sshd listens on (1-65535), usually 22")


def loads(text: str, source_path: str = "") -> LoadedAnswers:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        problem = Problem("(file)", f"is not valid TOML: {exc}",
                          "fix the syntax at that line (strings need double quotes)",
                          int(m.group(1)) if m else None)
        raise ProblemList([problem], source_path or "the answers") from None
    return parse(data, text, source_path)


def load_file(path: str) -> LoadedAnswers:
    """Load and validate an answers file. Raises UserError / ProblemList (exit code 2)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise UserError(f"answers file {path} does not exist",
                        "give the path of a TOML answers file (see `jitsi-wizard "
                        "example-answers`)", field="--answers") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise UserError(f"cannot read answers file {path}: {exc.strerror}",
                        "give a readable TOML file", field="--answers") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"answers file {path} is not UTF-8 text (byte {exc.start})",
                        "save it as UTF-8", field="--answers") from None
    return loads(text, path)


# --- saving ---------------------------------------------------------------------------------

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
        ld = a.auth.ldap
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
        auth["ldap"] = ldap
    firewall = {"manage": a.firewall.manage, "ssh_port": a.firewall.ssh_port}
    return {"host": host, "cert": cert, "auth": auth, "firewall": firewall}, notes


def dumps(answers: Answers) -> tuple[str, list[str]]:
    import tomli_w

    data, notes = to_data(answers)
    header = "# jitsi-wizard answers: replay with `jitsi-wizard --answers FILE`\n"
    header += "".join(f"# NOTE: {n}\n" for n in notes)
    return header + "\n" + tomli_w.dumps(data), notes


def json_schema() -> dict:
    """The answers format as a JSON Schema, generated from SPEC."""
    def prop(kind: str, desc: str) -> dict:
        if kind == STR_OR_LIST:
            return {"description": desc, "oneOf": [{"type": "string"},
                    {"type": "array", "items": {"type": "string"}}]}
        return {"type": kind, "description": desc}

    def table(name: str) -> dict:
        props = {}
        for key, (kind, desc) in SPEC[name].items():
            if kind == TABLE_LIST:
                props[key] = {"type": "array", "description": desc,
                              "items": table(f"{name}.{key}")}
            elif kind == "table":
                props[key] = table(f"{name}.{key}")
                props[key]["description"] = desc
            else:
                props[key] = prop(kind, desc)
        return {"type": "object", "additionalProperties": False, "properties": props}

    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "title": "jitsi-wizard answers file", "type": "object",
              "additionalProperties": False,
              "properties": {name: table(name) for name in TOP_LEVEL},
              "required": ["host"]}
    schema["properties"]["host"]["required"] = ["hostname"]
    return schema
