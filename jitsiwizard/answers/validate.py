"""The grammar of single values in the answers: host names, LDAP distinguished names,
filters and URLs, ACME server URLs, passwords, user names, paths, ports. Each check returns
what is wrong (None when the value is fine), in words that name the fix; answers.py turns them
into problems with key and line.

Every pattern is matched against the whole string (`fullmatch`): `$` alone also matches before
a trailing newline, which is how a newline once slipped into a host name label."""

from __future__ import annotations

import ipaddress
import posixpath
import re
import unicodedata

from jitsiwizard.answers.model import ACME_SERVERS

LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
ATTRIBUTE = re.compile(r"(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)")
# XMPP localparts allow more (RFC 7622), but these also survive every file a user name
# reaches (Prosody's account files, prosodyctl's argument, the log) unescaped.
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")

MAX_PASSWORD = 1024  # characters; longer is a mistake (a file's whole content, a key)
MAX_PATH = 1024
MAX_TEXT = 1024  # DNs, filters, attribute names, user names
# Line and paragraph separators end a line in some of the files values land in (JavaScript
# before ES2019, editors, logs) although they are not control characters.
_SEPARATORS = {"\u2028", "\u2029", "\u0085"}


_NAMED = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL"}


def control_character(value: str) -> str | None:
    """What is wrong when `value` holds a control, format or separator character (they end
    lines or hide text in every file and terminal they reach), or None."""
    for index, ch in enumerate(value):
        if ch in _SEPARATORS or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            name = _NAMED.get(ch) or unicodedata.name(ch, "") or "a control character"
            return f"holds {name} (U+{ord(ch):04X}) at character {index + 1}"
    return None


def check_text(value: str, limit: int = MAX_TEXT) -> str | None:
    """Any one-line value: no control characters, a bounded length."""
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit} are allowed"
    return control_character(value)


def check_password(value: str) -> str | None:
    """A password from any source: not empty, one line, no control characters."""
    if not value:
        return "is empty"
    if len(value) > MAX_PASSWORD:
        return f"is {len(value)} characters long; at most {MAX_PASSWORD} are allowed"
    err = control_character(value)
    if err:
        return err + "; passwords are typed on one line"
    if value != value.strip():
        return "starts or ends with white space, which many clients drop"
    return None


def check_username(value: str) -> str | None:
    if not USERNAME.fullmatch(value):
        return ("is not a valid user name: use lower-case letters, digits, '.', '_' or '-', "
                "starting with a letter or digit (no @, no spaces)")
    return None


def check_email(value: str) -> str | None:
    if not EMAIL.fullmatch(value):
        return "is not an e-mail address"
    return None


def check_port(value: int) -> str | None:
    if not 0 < value < 65536:
        return "is not a port number (1-65535)"
    return None


def check_path(value: str) -> str | None:
    """An absolute path, written plainly: no `..`, no control characters, bounded."""
    if not value.startswith("/"):
        return "is not an absolute path"
    err = check_text(value, MAX_PATH)
    if err:
        return err
    if any(part == ".." for part in value.split("/")):
        return "contains '..'; give the path without it"
    if posixpath.normpath(value) != value.rstrip("/") and value != "/":
        return f"is not written plainly; give it as {posixpath.normpath(value)}"
    if value.endswith("/"):
        return "names a directory; give the path of the file"
    return None


# Local users' passwords (Prosody accounts): the answers files and the screens share it.
MIN_PASSWORD_LENGTH = 8


def check_user_password(value: str) -> str | None:
    """A new local user's password: long enough, and one line (prosodyctl reads a line)."""
    if "\n" in value or "\r" in value:
        return "contains a line break"
    if len(value) < MIN_PASSWORD_LENGTH:
        return f"is shorter than {MIN_PASSWORD_LENGTH} characters"
    return None


def check_user_name(value: str) -> str | None:
    """A local user's name as the screens show its problem: the name quoted."""
    if not value:
        return "is empty"
    err = check_username(value)
    return f"{value!r} {err}" if err else None


def check_hostname(value: str) -> tuple[str, str | None]:
    """Normalise a hostname (lower case, IDNA to ASCII, one trailing dot, the DNS root,
    dropped). Returns (name, error or None). Spaces around it are the screens' to trim (an
    answers file refuses them, answers.py); line breaks are refused wherever they are."""
    if len(value) > 1000:
        return value[:20], f"is {len(value)} characters long; at most 253 are allowed"
    err = control_character(value)
    if err:
        return value.strip(), err
    name = value.strip()
    name = name[:-1] if name.endswith(".") else name  # `..` stays: an empty label
    if not name:
        return name, "is empty"
    try:
        ipaddress.ip_address(name)
        return name, "is an IP address; Jitsi needs a DNS name (certificates are issued to names)"
    except ValueError:
        pass
    ascii_labels = []
    for label in name.split("."):
        if not label:
            return name, "has an empty label (two dots in a row)"
        try:
            ascii_label = label.encode("idna").decode("ascii").lower()
        except UnicodeError:
            if len(label) > 63:
                return name, f"label {label[:20]}... is longer than 63 characters"
            return name, f"label {label!r} is not a valid internationalised name"
        if len(ascii_label) > 63:
            return name, f"label {label[:20]}... is longer than 63 characters"
        if not LABEL.fullmatch(ascii_label):
            return name, (f"label {label!r} may hold only letters, digits and inner "
                          "hyphens")
        ascii_labels.append(ascii_label)
    ascii_name = ".".join(ascii_labels)
    labels = ascii_labels
    if len(ascii_name) > 253:
        return ascii_name, f"is {len(ascii_name)} characters long; at most 253 are allowed"
    if len(labels) < 2:
        return ascii_name, "needs at least two labels, like meet.example.org"
    if labels[-1].isdigit():
        return ascii_name, "ends in a numeric label; a top-level domain is never all digits"
    return ascii_name, None


def check_dn(value: str) -> str | None:
    """A light RFC 4514 check: attr=value pairs separated by unescaped commas."""
    if not value.strip():
        return "is empty"
    err = check_text(value)
    if err:
        return err
    rdns = re.split(r"(?<!\\),", value)
    for rdn in rdns:
        for ava in re.split(r"(?<!\\)\+", rdn):
            if "=" not in ava:
                return f"part {ava.strip()!r} is not attribute=value"
            attr, val = ava.split("=", 1)
            if not ATTRIBUTE.fullmatch(attr.strip()):
                return f"attribute {attr.strip()!r} is not a valid attribute name"
            if not val.strip():
                return f"attribute {attr.strip()} has an empty value"
    return None


def check_filter(value: str) -> str | None:
    """Balanced parentheses; each component is (attr<op>value), (&...), (|...) or (!...)."""
    text = value.strip()
    if not text:
        return None
    err = check_text(value)
    if err:
        return err
    if not (text.startswith("(") and text.endswith(")")):
        return "must be wrapped in parentheses, e.g. (objectClass=inetOrgPerson)"
    depth = 0
    for i, ch in enumerate(text):
        if ch == "(" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
            rest = text[i + 1:]
            if not rest or rest[0] == ")":
                return "has an empty component ()"
            if rest[0] not in "&|!" and not re.match(r"^[A-Za-z0-9.;-]+(?::[^=]*)?[~<>]?=", rest):
                return f"component at character {i + 1} is not (attribute=value)"
        elif ch == ")" and text[i - 1] != "\\":
            depth -= 1
            if depth < 0:
                return f"has an unmatched ')' at character {i + 1}"
        if depth == 0 and i != len(text) - 1:
            return "has text after the closing parenthesis; combine parts with (&...)"
    if depth:
        return "has an unmatched '('"
    return None


_LDAP_URL = re.compile(r"(?P<scheme>[A-Za-z]+)://(?P<host>\[[0-9A-Fa-f:.]{2,45}\]|[^:/\[\]]*)"
                       r"(?::(?P<port>[0-9]{1,5}))?/?")


def check_ldap_url(url: str) -> str | None:
    """ldap:// or ldaps://, a host name or an IP literal, an optional port 1-65535, and
    nothing else: no path, query, fragment or credentials (they would reach Prosody's
    ldap_server and the libldap URL parser, which read them as something else)."""
    err = check_text(url, 300)
    if err:
        return err
    m = _LDAP_URL.fullmatch(url.strip())
    if not m:
        return "is not of the form ldap://host[:port] or ldaps://host[:port]"
    if m.group("scheme").lower() not in ("ldap", "ldaps"):
        return f"scheme {m.group('scheme')!r} is not ldap or ldaps"
    host = m.group("host")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return f"{host} is not an IPv6 address"
    elif not host:
        return "has no host name"
    else:
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            labels = host.rstrip(".").lower().split(".")
            if len(host) > 253 or not all(LABEL.fullmatch(label) for label in labels):
                return (f"host {host[:40]!r} is not a host name (letters, digits, inner "
                        "hyphens, dots) or an IP address")
    if m.group("port") and not 0 < int(m.group("port")) < 65536:
        return f"port {m.group('port')} is out of range"
    return None


def check_acme_server(value: str) -> str | None:
    if value in ACME_SERVERS:
        return None
    if len(value) <= 1000 and re.fullmatch(r"https://[A-Za-z0-9.:\[\]-]+(/[!-~]*)?", value):
        return None
    return "is not production, staging, or an https:// ACME directory URL"


def check_host_address(value: str, zone_ok=None, loopback: bool = False
                       ) -> tuple[str, str | None]:
    """One host's unicast IP address, as firewall rules and commands take it. Returns (the
    address written plainly, error or None). Refused: unspecified (0.0.0.0, ::), broadcast,
    multicast, reserved and, unless `loopback`, loopback addresses. An IPv4-mapped IPv6
    address is the IPv4 address it is (ufw and ssh treat it so). A %zone only goes with a
    link-local IPv6 address, and only when `zone_ok(zone)` (an interface of the host that
    connects; without `zone_ok` none is taken): never text passed on unchecked."""
    base, percent, zone = value.partition("%")
    try:
        ip = ipaddress.ip_address(base)
    except ValueError:
        return value, "is not an IP address"
    ip = getattr(ip, "ipv4_mapped", None) or ip
    why = ("is the unspecified address (any host)" if ip.is_unspecified
           else "is the broadcast address" if ip == ipaddress.IPv4Address("255.255.255.255")
           else "is a multicast address" if ip.is_multicast
           else "is a loopback address (this host itself)" if ip.is_loopback and not loopback
           else "is a reserved address" if ip.is_reserved or (ip.version == 4
                                                              and ip.packed[0] == 0)
           else "")
    if why:
        return str(ip), why + ", not one host's address"
    if not percent:
        return str(ip), None
    if zone_ok is None:
        return str(ip), "has a %zone; give the address without it"
    if ip.version != 6 or not ip.is_link_local:
        return str(ip), "has a %zone, which only a link-local IPv6 address (fe80::...) takes"
    if not zone_ok(zone):
        named = repr(zone) if len(zone) <= 40 else f"a {len(zone)}-character name"
        return str(ip), f"names {named}, which is not a network interface of this host"
    return f"{ip}%{zone}", None


def check_sha256(value: str) -> tuple[str, str | None]:
    """A SHA-256 fingerprint as 64 hex digits, colons and spaces allowed. Returns (the
    lower-case digits alone, error or None)."""
    digits = value.replace(":", "").replace(" ", "").strip().lower()
    if not digits:
        return digits, "is empty"
    if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
        return digits, f"is not a SHA-256 fingerprint ({len(digits)} characters, 64 hex " \
                       "digits expected)"
    return digits, None
