"""Secret values: given as env:NAME, file:PATH or literally; never printed."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from jitsiwizard.rootfs import NotRegular, read_regular

REDACTED = "<redacted>"
MAX_SECRET_FILE = 64 << 10  # bytes: a password file is a line; more is the wrong file


@dataclass(frozen=True)
class Secret:
    """A secret's reference (what the answers file said) and its resolved value.

    repr() and str() never show the value, so a stray log line or f-string cannot leak it.
    """

    ref: str  # "env:NAME", "file:PATH" or "literal"
    value: str = field(repr=False, compare=False)

    def __str__(self) -> str:
        return REDACTED

    def __repr__(self) -> str:
        return f"Secret(ref={self.ref!r})"

    @property
    def saved_form(self) -> str:
        """What a saved answers file holds: the reference, never a literal value."""
        return self.ref if self.ref != "literal" else ""


class SecretError(ValueError):
    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


def resolve(given: str) -> Secret:
    """Resolve a secret as written in the answers file. Raises SecretError with a fix."""
    if given.startswith("env:"):
        name = given[4:]
        if not name:
            raise SecretError("env: needs a variable name", 'write it as "env:NAME"')
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
            raise SecretError(f"{name[:40]!r} is not an environment variable name",
                              "use letters, digits and '_', e.g. env:LDAP_BIND_PASSWORD")
        if name not in os.environ:
            raise SecretError(f"environment variable {name} is not set",
                              f"export {name}=... before running, or use file:PATH")
        return Secret(given, os.environ[name])
    if given.startswith("file:"):
        path = given[5:]
        if not path.startswith("/"):
            raise SecretError(f"secret file path {path[:80]!r} is not absolute",
                              'write it as "file:/root/secret-file"')
        if len(path) > 1024 or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
            raise SecretError(f"secret file path {path[:80]!r} holds a control character "
                              "or is too long", 'write it as "file:/root/secret-file"')
        try:
            text = read_regular(path, MAX_SECRET_FILE).decode("utf-8")
        except FileNotFoundError:
            raise SecretError(f"secret file {path} does not exist",
                              "create it (mode 0600) or fix the path") from None
        except NotRegular as exc:
            raise SecretError(f"secret file {path} {exc.strerror}",
                              "give a regular file holding the password on one line") from None
        except UnicodeDecodeError:
            raise SecretError(f"secret file {path} is not UTF-8 text",
                              "save the password as UTF-8 text") from None
        except OSError as exc:
            raise SecretError(f"cannot read secret file {path}: {exc.strerror or exc}",
                              "make it a readable UTF-8 text file owned by root") from None
        # A trailing newline is what editors add, never part of the password.
        return Secret(given, text[:-1] if text.endswith("\n") else text)
    return Secret("literal", given)


def loose_file_mode(path: str) -> bool:
    """True when a file holding a secret is readable by group or others."""
    try:
        return bool(os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False


# An assignment whose key names a secret, in any of the host's config languages: Lua
# (`ldap_password = "x"`, `bind_password = 'x',` inside a table, anywhere on a line), HOCON
# (`password: "x"`, `password = x`), properties (`...shard.PASSWORD=x`) and plain key=value.
_SECRET_ASSIGNMENT = re.compile(
    r"""(?ix) (?<![A-Za-z0-9])
    [A-Za-z0-9_.-]*(?:password|passwd|secret|passphrase)[A-Za-z0-9_.-]*
    ["']?\s*[=:]\s*
    (?: "(?P<dq>(?:[^"\\\n]|\\.)*)" | '(?P<sq>(?:[^'\\\n]|\\.)*)'
      | (?P<bare>[^\s,;{}()\[\]"'#]+) )""")
_LUA_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", lambda m: _LUA_ESCAPES.get(m.group(1), m.group(1)), raw)


def find_secrets(text: str | None) -> set[str]:
    """Values assigned to secret-looking keys in a config file's text (passwords of an old
    ldap2 setup, jicofo's and the videobridge's XMPP passwords, TURN secrets), wherever they
    are on the line, both as written and unescaped: what redaction must hide besides the
    secrets the answers hold."""
    found: set[str] = set()
    if not text:
        return found
    for m in _SECRET_ASSIGNMENT.finditer(text):
        raw = m.group("dq") if m.group("dq") is not None else (
            m.group("sq") if m.group("sq") is not None else m.group("bare"))
        if raw and raw.lower() not in ("true", "false", "nil", "null", "yes", "no"):
            found.update({raw, _unescape(raw)})
    return found


class Redactor:
    """Replaces every known secret value (and its escaped spellings) in text meant for people."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str) -> None:
        if value and len(value) >= 3:
            self._values.add(value)

    def add_secret(self, secret: Secret | None) -> None:
        if secret is None:
            return
        self.add_value(secret.value)

    def add_value(self, value: str) -> None:
        """A secret value and every spelling of it (escaped for each file language, and
        inside JSON)."""
        from jitsiwizard.formats.escape import spellings  # local: escape imports nothing of ours

        for spelling in spellings(value):
            self.add(spelling)

    def add_found(self, text: str | None) -> None:
        """Every secret assigned in a config file's text (see find_secrets)."""
        for value in find_secrets(text):
            self.add_value(value)

    def __call__(self, text: str) -> str:
        # Longest first, so a value that contains another is replaced whole.
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text
