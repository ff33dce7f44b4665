"""The answers file's format: every key it may hold, with its type and meaning, and the JSON
Schema generated from that table, so the validator (answers.py), the schema and the
documentation cannot drift apart."""

from __future__ import annotations

from jitsiwizard.answers.model import ROLES

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
        "mode": (STR, "keep | letsencrypt | certbot | own | self-signed"),
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
    "role": {
        "kind": (STR, "meeting-server (default: the whole Jitsi) | videobridge (an extra "
                      "bridge for a main host)"),
    },
    "bridge": {
        "main": (STR, "role = videobridge: the main host's name (its XMPP domain)"),
        "main_address": (STR, "optional: the main host's address, when its name does not "
                              "resolve to it from here"),
        "username": (STR, "this bridge's account on auth.MAIN (from `jitsi-wizard bridge add`)"),
        "password": (STR, "env:NAME | file:PATH | the password itself"),
        "main_certificate_sha256": (STR, "the SHA-256 fingerprint of the main host's Prosody "
                                         "certificate, pinned"),
    },
}
TOP_LEVEL = ("host", "cert", "auth", "firewall", "role", "bridge")
# The main host's account of auth.HOST that looks into the brewery (`bridge list`).
CHECKER_ACCOUNT = "jitsi-wizard-check"
# Accounts of auth.HOST that belong to the main host's own services (those Jitsi's packages
# register, and the wizard's checker), never to a bridge; compared case-insensitively, as
# Prosody folds the localpart.
RESERVED_BRIDGE_USERS = ("focus", "jvb", "jibri", "jigasi", "recorder", "transcriber",
                         CHECKER_ACCOUNT)


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
              "properties": {name: table(name) for name in TOP_LEVEL}}
    schema["properties"]["role"]["properties"]["kind"]["enum"] = list(ROLES)
    # A meeting server needs host.hostname; a videobridge needs the [bridge] keys instead.
    bridge_role = {"required": ["role"], "properties": {
        "role": {"required": ["kind"], "properties": {"kind": {"const": "videobridge"}}}}}
    schema["if"] = bridge_role
    schema["then"] = {"required": ["bridge"], "properties": {"bridge": {"required": [
        "main", "username", "password", "main_certificate_sha256"]}}}
    schema["else"] = {"required": ["host"],
                      "properties": {"host": {"required": ["hostname"]}}}
    return schema
