"""The grammar of single values in the answers: host names, LDAP distinguished names,
filters and URLs, ACME server URLs. Each check returns what is wrong (None when the value is
fine), in words that name the fix; answers.py turns them into problems with key and line."""

from __future__ import annotations

import ipaddress
import re

from jitsiwizard.model import ACME_SERVERS

LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$")


# Local users' passwords (Prosody accounts): the answers files and the screens share it.
MIN_PASSWORD_LENGTH = 8
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_user_password(value: str) -> str | None:
    """A new local user's password: long enough, and one line (prosodyctl reads a line)."""
    if "\n" in value or "\r" in value:
        return "contains a line break"
    if len(value) < MIN_PASSWORD_LENGTH:
        return f"is shorter than {MIN_PASSWORD_LENGTH} characters"
    return None


def check_user_name(value: str) -> str | None:
    """A local user's name, as Prosody's account names allow (no @, no spaces)."""
    if not value:
        return "is empty"
    if not USERNAME.match(value):
        return (f"{value!r} is not a valid user name: use lower-case letters, digits, '.', "
                "'_' or '-', starting with a letter or digit (no @, no spaces)")
    return None


def check_hostname(value: str) -> tuple[str, str | None]:
    """Normalise a hostname (lower case, IDNA to ASCII). Returns (name, error or None)."""
    name = value.strip().rstrip(".")
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
        if not LABEL.match(ascii_label):
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
    rdns = re.split(r"(?<!\\),", value)
    for rdn in rdns:
        for ava in re.split(r"(?<!\\)\+", rdn):
            if "=" not in ava:
                return f"part {ava.strip()!r} is not attribute=value"
            attr, val = ava.split("=", 1)
            if not ATTRIBUTE.match(attr.strip()):
                return f"attribute {attr.strip()!r} is not a valid attribute name"
            if not val.strip():
                return f"attribute {attr.strip()} has an empty value"
    return None


def check_filter(value: str) -> str | None:
    """Balanced parentheses; each component is (attr<op>value), (&...), (|...) or (!...)."""
    text = value.strip()
    if not text:
        return None
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


def check_ldap_url(url: str) -> str | None:
    m = re.match(r"^(?P<scheme>[A-Za-z]+)://(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\s]+)"
                 r"(?::(?P<port>\d+))?/?$", url.strip())
    if not m:
        return "is not of the form ldap://host[:port] or ldaps://host[:port]"
    if m.group("scheme").lower() not in ("ldap", "ldaps"):
        return f"scheme {m.group('scheme')!r} is not ldap or ldaps"
    if m.group("port") and not 0 < int(m.group("port")) < 65536:
        return f"port {m.group('port')} is out of range"
    return None


def check_acme_server(value: str) -> str | None:
    if value in ACME_SERVERS:
        return None
    if re.match(r"^https://[^\s/]+(/\S*)?$", value):
        return None
    return "is not production, staging, or an https:// ACME directory URL"


# --- the loader -----------------------------------------------------------------------------
