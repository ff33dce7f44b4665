"""The answers file (TOML): load and validate, every problem at once, with key path and line.
Its format (the keys, the JSON Schema) is in answers_spec.py, saving in answers_save.py, the
files it names in answers_files.py.

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

from jitsiwizard.answers.model import (
    CERT_MODES,
    POLICIES,
    ROLES,
    Answers,
    AuthAnswers,
    BridgeAnswers,
    CertAnswers,
    FirewallAnswers,
    HostAnswers,
    LdapAnswers,
    LocalUser,
)
from jitsiwizard.answers.secrets import Secret, SecretError, loose_file_mode, resolve
from jitsiwizard.answers.spec import (
    BOOL,
    INT,
    RESERVED_BRIDGE_USERS,
    SPEC,
    STR,
    TOP_LEVEL,
)
from jitsiwizard.answers.validate import (
    ATTRIBUTE,
    check_acme_server,
    check_dn,
    check_email,
    check_filter,
    check_host_address,
    check_hostname,
    check_ldap_url,
    check_password,
    check_path,
    check_port,
    check_sha256,
    check_text,
    check_user_password,
    check_username,
    control_character,
)
from jitsiwizard.errors import Problem, ProblemList, UserError
from jitsiwizard.rootfs import NotRegular, read_regular

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on the target hosts' older Pythons
    import tomli as tomllib

MAX_ANSWERS = 1 << 20  # bytes: an answers file is a few KB
MAX_DEPTH = 8  # tables and arrays inside each other; the format needs 4


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


def shown(value: Any, limit: int = 60) -> str:
    """A value as an error message quotes it: short, one line, never a huge repr."""
    if isinstance(value, (dict, list)):
        return f"a {'table' if isinstance(value, dict) else 'list'}"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "a number too large"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'"


def _key(key: str) -> str:
    """A key as written in a message: bare when it is a plain name, else quoted."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key) else shown(key, 40)


# --- field validators (also used by the screens, one field at a time) ----------------------

def _suggest(key: str, allowed) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "known keys: " + ", ".join(sorted(allowed))


def _table(data: dict, name: str, out: _Collector, path: str) -> dict:
    value = data.get(name, {})
    if not isinstance(value, dict):
        out.error(path, f"must be a table ([{path}]), not {shown(value)}",
                  f"write it as a [{path}] section")
        return {}
    return value


def _unknown(table: dict, spec_name: str, out: _Collector, prefix: str) -> None:
    allowed = SPEC[spec_name]
    for key in table:
        if key not in allowed:
            out.error(f"{prefix}.{_key(key)}", "is not a known key", _suggest(key, allowed))


def _get(table: dict, key: str, kind: str, out: _Collector, path: str, default: Any, *,
         secret: bool = False, edges: bool = True) -> Any:
    """The value under `key` when it has the type `kind`, else a problem and `default`. A
    `secret` is never quoted. With `edges`, a string with a line break or another control
    character at either end is refused: callers strip white space, which would hide it."""
    if key not in table:
        return default
    value = table[key]
    ok = {
        STR: isinstance(value, str),
        BOOL: isinstance(value, bool),
        INT: isinstance(value, int) and not isinstance(value, bool),
    }.get(kind, True)
    if not ok and secret:
        out.error(path, f"must be text (env:NAME, file:PATH or the password itself in double "
                  f"quotes), not {_type_name(value)}; the value is not shown",
                  'write it as "env:NAME", "file:/root/NAME.secret" or "the password"')
        return default
    if not ok:
        example = {STR: '"text"', BOOL: "true or false", INT: "a whole number"}[kind]
        out.error(path, f"must be a {kind}, not {type(value).__name__} {shown(value)}",
                  f"write it as {example}")
        return default
    err = _edge(value, controls_only=True) if kind == STR and edges and not secret else None
    if err:
        out.error(path, f"{shown(value)} {err}", "remove it: a value is one line, with nothing "
                  "before or after it")
    return value


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a floating-point number"
    if isinstance(value, (dict, list)):
        return f"a {'table' if isinstance(value, dict) else 'list'}"
    return f"a {type(value).__name__}"


_EDGE_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", " ": "a space"}


def _edge(value: str, controls_only: bool = False) -> str | None:
    """What is wrong when white space (with `controls_only`: a line break or another control
    character) comes before or after `value`, else None."""
    head = value[:len(value) - len(value.lstrip())]
    tail = value[len(value.rstrip()):]
    for where, cut in (("starts", head), ("ends", tail[::-1])):
        for ch in cut:
            if not controls_only or control_character(ch):
                return f"{where} with {_EDGE_NAMES.get(ch) or f'U+{ord(ch):04X}'}"
    return None


def _name(table: dict, key: str, out: _Collector, path: str) -> str | None:
    """A host or user name as written, or None after a problem. White space or a line break
    around it is refused, not trimmed: a hand-edited file may hide a line break there, and
    the name trimmed is not the one written."""
    value = _get(table, key, STR, out, path, "", edges=False)
    err = _edge(value)
    if err:
        out.error(path, f"{shown(value)} {err}", "write the name alone between the "
                  "quotes, without spaces or line breaks around it")
        return None
    return value


def _secret(table: dict, key: str, out: _Collector, path: str,
            source_path: str, optional: bool = False) -> Secret | None:
    """The secret under `key`, resolved and checked as a password whatever its source (an
    empty environment variable or /dev/null is as empty as ""); None when absent (or, for
    an `optional` one, written as "")."""
    value = _get(table, key, STR, out, path, None, secret=True)
    if value is None or (optional and value == ""):
        return None
    try:
        secret = resolve(value)
    except SecretError as exc:
        out.error(path, str(exc), exc.hint)
        return None
    err = check_password(secret.value)
    if err:
        where = {"literal": ""}.get(secret.ref, f" (from {shown(secret.ref, 80)})")
        out.error(path, f"the password{where} {err}",
                  "give a non-empty password on one line, without control characters")
        return None
    if secret.ref == "literal" and source_path and loose_file_mode(source_path):
        out.warn(path, f"holds a password in clear and {source_path} is readable by others",
                 f"chmod 600 {source_path}, or use env:NAME / file:PATH")
    if secret.ref.startswith("file:") and loose_file_mode(secret.ref[5:]):
        out.warn(path, f"{secret.ref[5:]} holds a password and is readable by others",
                 f"chmod 600 {secret.ref[5:]}")
    return secret


def _path(table: dict, key: str, out: _Collector, path: str, what: str) -> str:
    value = _get(table, key, STR, out, path, "").strip()
    if value:
        err = check_path(value)
        if err:
            out.error(path, f"{shown(value)} {err}", f"give the full path of {what}")
            return ""
    return value


def _depth(data: Any) -> int:
    """How deep tables and arrays nest (without recursion: the data may be hostile)."""
    deepest, pending = 0, [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_DEPTH:
                return deepest
            pending.extend((v, depth + 1) for v in value)
    return deepest


def parse(data: dict, text: str = "", source_path: str = "") -> LoadedAnswers:
    """Validate parsed TOML. Raises ProblemList with every error; returns warnings."""
    out = _Collector(text)
    if _depth(data) > MAX_DEPTH:
        out.error("(file)", f"nests tables and lists more than {MAX_DEPTH} deep",
                  "the answers format is at most [auth.ldap] / [[auth.users]] deep")
        raise ProblemList(out.errors, source_path or "the answers")
    for key in data:
        if key not in TOP_LEVEL:
            out.error(_key(key), "is not a known section", _suggest(key, TOP_LEVEL))

    answers = Answers()
    answers.role = _parse_role(_table(data, "role", out, "role"), out)
    if answers.role == "videobridge":
        _parse_bridge_host(data, answers, out, source_path)
    else:
        if "bridge" in data:
            out.warn("bridge", "is only used with [role] kind = 'videobridge'; it is ignored",
                     "remove the [bridge] section, or add [role] kind = \"videobridge\"")
        _parse_host(_table(data, "host", out, "host"), answers.host, out)
        _parse_cert(_table(data, "cert", out, "cert"), answers.cert, answers.host, out)
        _parse_auth(_table(data, "auth", out, "auth"), answers.auth, out, source_path)
    _parse_firewall(_table(data, "firewall", out, "firewall"), answers.firewall, out)

    if out.errors:
        raise ProblemList(out.errors + out.warnings, source_path or "the answers")
    return LoadedAnswers(answers, out.warnings, text, source_path)


def _parse_role(t: dict, out: _Collector) -> str:
    _unknown(t, "role", out, "role")
    kind = _get(t, "kind", STR, out, "role.kind", "meeting-server")
    if kind not in ROLES:
        out.error("role.kind", f"{kind!r} is not a role",
                  f"use one of {', '.join(ROLES)} ({_suggest(kind, ROLES)})")
        return "meeting-server"
    return kind


def _parse_bridge_host(data: dict, answers: Answers, out: _Collector,
                       source_path: str) -> None:
    """role = videobridge: [bridge] is required; [host] gives only the NAT addresses; the
    certificate and authentication sections belong to the main host."""
    for name in ("cert", "auth"):
        if name in data:
            out.warn(name, "does not apply to a videobridge host; it is ignored",
                     f"remove the [{name}] section (the main host has it)")
    _parse_host(_table(data, "host", out, "host"), answers.host, out, need_name=False)
    t = _table(data, "bridge", out, "bridge")
    if "bridge" not in data:
        out.error("bridge", "is needed for [role] kind = 'videobridge'",
                  "add the [bridge] section `jitsi-wizard bridge add` wrote on the main host")
        return
    _unknown(t, "bridge", out, "bridge")
    b = answers.bridge = BridgeAnswers()
    main = _name(t, "main", out, "bridge.main")
    if main == "":
        out.error("bridge.main", "is missing", 'add main = "meet.example.org" under [bridge]')
    elif main is not None:
        b.main, err = check_hostname(main)
        if err:
            out.error("bridge.main", f"{main!r} {err}", "give the main host's name, the one "
                      "its meetings are served under (its XMPP domain)")
    address = _get(t, "main_address", STR, out, "bridge.main_address", "").strip()
    if address:
        # One host's address, as `bridge add` takes the bridge's (or a tunnel's end).
        b.main_address, err = check_host_address(address, loopback=True)
        if err:
            out.error("bridge.main_address", f"{shown(address)} {err}",
                      "give the main host's address, or leave it out to use its name")
    name = _name(t, "username", out, "bridge.username")
    if name == "":
        out.error("bridge.username", "is missing", 'add username = "bridge2" under [bridge]')
    elif name is not None and name.lower() in RESERVED_BRIDGE_USERS:
        out.error("bridge.username", f"{shown(name)} is an account of the main host's own "
                  "services", "use the name `jitsi-wizard bridge add` gave this bridge")
    elif name is not None and check_username(name):
        out.error("bridge.username", f"{shown(name)} {check_username(name)}",
                  'use the name `jitsi-wizard bridge add` gave this bridge')
    b.username = name or ""
    b.password = _secret(t, "password", out, "bridge.password", source_path)
    if b.password is None and not any(p.field == "bridge.password" for p in out.errors):
        out.error("bridge.password", "is missing",
                  'add password = "file:/root/bridge-NAME.secret" under [bridge]')
    pin = _get(t, "main_certificate_sha256", STR, out, "bridge.main_certificate_sha256", "")
    b.main_certificate_sha256, err = check_sha256(pin)
    if err:
        out.error("bridge.main_certificate_sha256", f"{pin!r} {err}" if pin else "is missing",
                  "copy it from the answers file `jitsi-wizard bridge add` wrote (64 hex "
                  "digits, colons allowed)")


def _parse_host(t: dict, host: HostAnswers, out: _Collector, need_name: bool = True) -> None:
    _unknown(t, "host", out, "host")
    name = _name(t, "hostname", out, "host.hostname")
    if name == "":
        if need_name:
            out.error("host.hostname", "is missing",
                      'add hostname = "meet.example.org" under [host]')
    elif name is not None:
        host.hostname, err = check_hostname(name)
        if err:
            out.error("host.hostname", f"{shown(name)} {err}", "use the name whose DNS A record "
                      "points at this server, e.g. meet.example.org")
    host.email = _get(t, "email", STR, out, "host.email", "").strip()
    if host.email and check_email(host.email):
        out.error("host.email", f"{shown(host.email)} is not an e-mail address",
                  'write it as "admin@example.org"')
    addr = _get(t, "public_address", STR, out, "host.public_address", "").strip()
    if addr:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            out.error("host.public_address", f"{shown(addr)} is not an IP address",
                      "give the public IPv4 address, or leave it empty")
        else:
            if "%" in addr:
                out.error("host.public_address", f"{shown(addr)} is not an IP address",
                          "give the public IPv4 address, without a %zone")
            elif not ip.is_global:
                out.error("host.public_address", f"{addr} is not a public address",
                          "give the address clients reach from the internet (NAT's outside)")
            host.public_address = str(ip)
    local = _get(t, "local_address", STR, out, "host.local_address", "").strip()
    if local:
        try:
            host.local_address = str(ipaddress.ip_address(local))
            if "%" in host.local_address:
                raise ValueError("scoped")
        except ValueError:
            host.local_address = ""
            out.error("host.local_address", f"{shown(local)} is not an IP address",
                      "give the private address this host has on its interface")
    if host.public_address and not host.local_address:
        out.error("host.local_address", "is needed when public_address is set (NAT)",
                  "add local_address = \"10.0.0.5\" (this host's private address, from "
                  "`ip addr`) under [host]")


def _parse_cert(t: dict, cert: CertAnswers, host: HostAnswers, out: _Collector) -> None:
    _unknown(t, "cert", out, "cert")
    cert.mode = _get(t, "mode", STR, out, "cert.mode", cert.mode)
    if cert.mode not in CERT_MODES:
        out.error("cert.mode", f"{shown(cert.mode)} is not a certificate mode",
                  f"use one of {', '.join(CERT_MODES)}"
                  + (f" ({_suggest(cert.mode, CERT_MODES)})" if cert.mode else ""))
    cert.acme_server = _get(t, "acme_server", STR, out, "cert.acme_server", cert.acme_server)
    err = check_acme_server(cert.acme_server)
    if err:
        out.error("cert.acme_server", f"{shown(cert.acme_server)} {err}",
                  'use "staging" for trials, "production" for real certificates')
    cert.agree_tos = _get(t, "agree_tos", BOOL, out, "cert.agree_tos", False)
    cert.cert_file = _path(t, "cert_file", out, "cert.cert_file", "the certificate (PEM)")
    cert.key_file = _path(t, "key_file", out, "cert.key_file", "the private key (PEM)")
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
            if not value and not any(e.field == f"cert.{key}" for e in out.errors):
                out.error(f"cert.{key}", "is needed for cert.mode = 'own'",
                          f'add {key} = "/etc/ssl/..." under [cert]')


def _parse_auth(t: dict, auth: AuthAnswers, out: _Collector, source_path: str) -> None:
    _unknown(t, "auth", out, "auth")
    auth.policy = _get(t, "policy", STR, out, "auth.policy", auth.policy)
    if auth.policy not in POLICIES:
        out.error("auth.policy", f"{shown(auth.policy)} is not a policy",
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
        name = _name(u, "name", out, f"{path}.name")
        if name == "":
            out.error(f"{path}.name", "is missing", 'add name = "alice"')
            continue
        err = check_username(name) if name is not None else None
        name = name or ""
        if err:
            out.error(f"{path}.name", f"{shown(name)} {err.split(':')[0]}",
                      "use lower-case letters, digits, '.', '_' or '-', starting with a "
                      "letter or digit (no @, no spaces)")
        if name and name in seen:
            out.error(f"{path}.name", f"user {name!r} is listed twice", "keep one entry")
        seen.add(name)
        remove = _get(u, "remove", BOOL, out, f"{path}.remove", False)
        password = _secret(u, "password", out, f"{path}.password", source_path)
        if password is not None and check_user_password(password.value):
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
    _parse_ldap_servers(t, ldap, out, p)
    _parse_ldap_bind(t, ldap, out, p, source_path)
    _parse_ldap_search(t, ldap, out, p)
    ldap.test_user = _get(t, "test_user", STR, out, f"{p}.test_user", "").strip()
    err = check_text(ldap.test_user, 256)
    if err:
        out.error(f"{p}.test_user", f"{shown(ldap.test_user)} {err}", "give a login name")
    ldap.test_password = _secret(t, "test_password", out, f"{p}.test_password", source_path,
                                 optional=True)
    return ldap


def _parse_ldap_servers(t: dict, ldap: LdapAnswers, out: _Collector, p: str) -> None:
    """The servers' URLs, and how the connection to them is protected."""
    urls = t.get("url", [])
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        out.error(f"{p}.url", "must be a string or a list of strings",
                  'url = "ldaps://ldap.example.org" or ["ldaps://a", "ldaps://b"]')
        urls = []
    if not urls:
        out.error(f"{p}.url", "is missing", 'add url = "ldaps://ldap.example.org"')
    if len(urls) > 16:
        out.error(f"{p}.url", f"lists {len(urls)} servers; at most 16 are used",
                  "list the directory's servers, not more")
        urls = []
    for url in urls:
        err = check_ldap_url(url)
        if err:
            out.error(f"{p}.url", f"{shown(url)} {err}", 'e.g. "ldaps://ldap.example.org:636"')
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
                  "trusted network) allow_plaintext = true (\"Allow clear-text passwords\" "
                  "in the wizard)")


def _parse_ldap_bind(t: dict, ldap: LdapAnswers, out: _Collector, p: str,
                     source_path: str) -> None:
    """The CA that signs the servers' certificates, and the account the search binds as."""
    ldap.ca_file = _path(t, "ca_file", out, f"{p}.ca_file", "the CA certificate (PEM)")
    ldap.bind_dn = _get(t, "bind_dn", STR, out, f"{p}.bind_dn", "").strip()
    ldap.bind_password = _secret(t, "bind_password", out, f"{p}.bind_password", source_path)
    if ldap.bind_dn:
        err = check_dn(ldap.bind_dn)
        if err:
            out.error(f"{p}.bind_dn", f"{shown(ldap.bind_dn)} {err}",
                      'e.g. "cn=jitsi,ou=services,dc=example,dc=org"')
        if "bind_password" not in t:
            # A DN with no password is an unauthenticated bind: it succeeds and finds nothing.
            out.error(f"{p}.bind_password", "is missing while bind_dn is set",
                      'add bind_password = "file:/root/ldap-bind.secret", or remove '
                      "bind_dn for an anonymous search")
    elif "bind_password" in t:
        out.error(f"{p}.bind_dn", "is missing while bind_password is set",
                  "add the service account's DN, or remove bind_password for anonymous search")


def _parse_ldap_search(t: dict, ldap: LdapAnswers, out: _Collector, p: str) -> None:
    """Where and how the users are looked up."""
    ldap.user_base = _get(t, "user_base", STR, out, f"{p}.user_base", "").strip()
    err = check_dn(ldap.user_base)
    if err:
        out.error(f"{p}.user_base", f"{shown(ldap.user_base)} {err}" if ldap.user_base
                  else "is missing", 'e.g. user_base = "ou=people,dc=example,dc=org"')
    ldap.user_filter = _get(t, "user_filter", STR, out, f"{p}.user_filter", ldap.user_filter)
    err = check_filter(ldap.user_filter)
    if err:
        out.error(f"{p}.user_filter", f"{shown(ldap.user_filter)} {err}",
                  'e.g. "(objectClass=inetOrgPerson)"; the user name part is added for you')
    for key in ("username_attribute", "name_attribute"):
        value = _get(t, key, STR, out, f"{p}.{key}", getattr(ldap, key)).strip()
        if not ATTRIBUTE.fullmatch(value):
            out.error(f"{p}.{key}", f"{shown(value)} is not an attribute name",
                      "e.g. uid, cn, sAMAccountName")
        setattr(ldap, key, value)
    ldap.scope = _get(t, "scope", STR, out, f"{p}.scope", ldap.scope)
    if ldap.scope not in ("base", "onelevel", "subtree"):
        out.error(f"{p}.scope", f"{shown(ldap.scope)} is not a search scope",
                  "use base, onelevel or subtree")


def _parse_firewall(t: dict, fw: FirewallAnswers, out: _Collector) -> None:
    _unknown(t, "firewall", out, "firewall")
    fw.manage = _get(t, "manage", BOOL, out, "firewall.manage", False)
    fw.ssh_port = _get(t, "ssh_port", INT, out, "firewall.ssh_port", 22)
    if check_port(fw.ssh_port):
        out.error("firewall.ssh_port", f"{shown(fw.ssh_port)} is not a port number",
                  "use the port sshd listens on (1-65535), usually 22")
        fw.ssh_port = 22


def _field_at(text: str, line: int | None) -> str:
    """The key path written on `line`, for an error TOML itself reports by line."""
    if line is not None:
        for path, number in _key_lines(text).items():
            if number == line and "[" not in path.rsplit(".", 1)[-1]:
                return path
    return "(file)"


def loads(text: str, source_path: str = "") -> LoadedAnswers:
    where = source_path or "the answers"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = int(m.group(1)) if m else None
        problem = Problem(_field_at(text, line), f"is not valid TOML: {exc}",
                          "fix the syntax at that line (strings need double quotes)", line)
        raise ProblemList([problem], where) from None
    except RecursionError:
        raise ProblemList([Problem("(file)", f"nests tables and lists more than {MAX_DEPTH} "
                                   "deep", "the answers format is at most [auth.ldap] / "
                                   "[[auth.users]] deep")], where) from None
    except ValueError:  # an integer of thousands of digits: Python refuses to convert it
        m = re.search(r"[0-9_]{1000,}", text)
        line = text.count("\n", 0, m.start()) + 1 if m else None
        raise ProblemList([Problem(_field_at(text, line), "holds a number of thousands of "
                                   "digits", "ports and other numbers have at most 5 digits",
                                   line)], where) from None
    return parse(data, text, source_path)


def read_answers_file(path: str) -> str:
    """The text of an answers file: a regular file, UTF-8, at most MAX_ANSWERS bytes; read
    without blocking (a FIFO or a device is refused, never waited on). UserError otherwise."""
    try:
        raw = read_regular(path, MAX_ANSWERS)
    except FileNotFoundError:
        raise UserError(f"answers file {path} does not exist",
                        "give the path of a TOML answers file (see `jitsi-wizard "
                        "example-answers`)", field="--answers") from None
    except NotRegular as exc:
        raise UserError(f"answers file {path} {exc.strerror}",
                        "give a TOML answers file (a regular file of a few KB)",
                        field="--answers") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read answers file {path}: "
                        f"{getattr(exc, 'strerror', None) or exc}",
                        "give a readable TOML file", field="--answers") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"answers file {path} is not UTF-8 text (byte {exc.start})",
                        "save it as UTF-8", field="--answers") from None


def load_file(path: str) -> LoadedAnswers:
    """Load and validate an answers file. Raises UserError / ProblemList (exit code 2)."""
    return loads(read_answers_file(path), path)
