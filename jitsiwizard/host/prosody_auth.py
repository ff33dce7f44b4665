"""How each authentication policy is spelled in Prosody: the module names, and the options of
Prosody's own mod_auth_ldap. One source for the plan (which writes them), the host reader and
the prefill (which read them back), and the live LDAP check (which searches with exactly the
filter Prosody will run, substituted the way mod_auth_ldap substitutes it)."""

from __future__ import annotations

import re

from jitsiwizard.answers.model import LdapAnswers
from jitsiwizard.answers.secrets import Secret

ANONYMOUS_MODULES = ("anonymous", "jitsi-anonymous")
LOCAL_MODULES = ("internal_hashed", "internal_plain")
LDAP_MODULES = ("ldap", "ldap2", "cyrus")
POLICIES = ("open", "local", "ldap")

# mod_auth_ldap replaces `$word` for these words only (Lua pattern `%$(%a+)`); any other
# `$word` stays as written.
_PLACEHOLDER = re.compile(r"\$([A-Za-z]+)")
_NAME_TEST = re.compile(r"^\(([A-Za-z][A-Za-z0-9;-]*)=\$user\)")


def module_for(policy: str, anonymous_module: str) -> str:
    """The main host's `authentication` for a policy (open uses the host's anonymous module:
    `jitsi-anonymous` on current packages, `anonymous` on older ones)."""
    return {"open": anonymous_module, "local": "internal_hashed", "ldap": "ldap"}[policy]


def policy_of(module: str | None) -> str:
    """The policy a main host's `authentication` module stands for; "unknown" otherwise."""
    if module in ANONYMOUS_MODULES:
        return "open"
    if module in LOCAL_MODULES:
        return "local"
    if module in LDAP_MODULES:
        return "ldap"
    return "unknown"


# --- mod_auth_ldap options ----------------------------------------------------------------

def server_option(ldap: LdapAnswers) -> str:
    """`ldap_server`: whole URIs, space-separated. lua-ldap 1.2 (Debian 11) cannot read a
    list of bare host:port entries (it makes only the first a URI), and 1.3 reads both."""
    return " ".join(url.rstrip("/") for url in ldap.urls)


def filter_option(ldap: LdapAnswers) -> str:
    """`ldap_filter`, the filter Prosody runs for a login. A user filter that names `$user`
    itself is the whole filter (the admin wrote the name test); otherwise the name test on
    `username_attribute` is added to it."""
    extra = ldap.user_filter.strip()
    if "$user" in extra:
        return extra
    name_test = f"({ldap.username_attribute}=$user)"
    return f"(&{name_test}{extra})" if extra else name_test


def split_filter(option: str) -> tuple[str, str]:
    """The inverse of filter_option: (user_filter, username_attribute) from `ldap_filter`, so
    that filter_option gives the same text back."""
    text = option.strip()
    if not text:
        return "(objectClass=inetOrgPerson)", "uid"
    whole = _NAME_TEST.match(text)
    if whole and whole.end() == len(text):
        return "", whole.group(1)
    if text.startswith("(&") and text.endswith(")"):
        inner = _NAME_TEST.match(text[2:-1])
        if inner and "$user" not in text[2:-1][inner.end():]:
            rest = text[2:-1][inner.end():]
            if rest:
                return rest, inner.group(1)
    return text, "uid"


def escape_value(value: str) -> str:
    """mod_auth_ldap's ldap_filter_escape: `*`, `(`, `)`, `\\` and NUL as \\XX."""
    return re.sub(r"[*()\\\x00]", lambda m: f"\\{ord(m.group(0)):02x}", value)


def expand(option: str, host: str, username: str | None = None) -> str:
    """The filter as mod_auth_ldap sends it for `username` (escaped) on `host`. With no user
    name, `$user` becomes `*`: the filter then matches every user that could log in."""
    values = {"user": "*" if username is None else escape_value(username),
              "host": escape_value(host)}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), option)


def search_filter(ldap: LdapAnswers, host: str, username: str | None = None) -> str:
    """What the live check searches: exactly Prosody's login filter, substituted."""
    return expand(filter_option(ldap), host, username)


# --- accounts -------------------------------------------------------------------------------
# `prosodyctl register` and `unregister` write Prosody's account store themselves on every
# release the wizard supports (0.11, 0.12 and 13). From 13 on, `adduser`, `passwd` and
# `deluser` go through the running server's admin shell instead, and when the plan runs
# that server still has the old configuration (an anonymous main host cannot create users).

def register_argv(name: str, host: str) -> list[str]:
    """Create the account NAME@HOST or replace its password. The password goes on standard
    input, twice (`password_stdin`), so it never shows on the process list."""
    return ["prosodyctl", "register", name, host]


def unregister_argv(name: str, host: str) -> list[str]:
    return ["prosodyctl", "unregister", name, host]


def registered_name(argv: list[str]) -> str | None:
    """The user name a `register_argv` command sets a password for; None for anything else."""
    if len(argv) == 4 and argv[0] == "prosodyctl" and argv[1] == "register":
        return argv[2]
    return None


def password_stdin(secret: Secret) -> Secret:
    """prosodyctl asks for the new password and its confirmation, one line each."""
    return Secret(secret.ref, f"{secret.value}\n{secret.value}\n")
