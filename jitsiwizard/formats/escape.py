"""Values escaped for the languages of the files the wizard writes, one function per language:
Lua, HOCON, JavaScript, systemd unit files, debconf selections, nginx, Java properties, shell
words and apt source lines.

Each function returns text that the file's own parser reads back as exactly `value`, or raises
EscapeError when the value cannot be written safely there (a line break in a systemd
directive, a `$` in an nginx path). Validation refuses such values first, naming the key;
these refusals are the last line, so that no template can be made to write something else.
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata

from jitsiwizard.errors import UserError


class EscapeError(UserError):
    """A value that cannot be expressed safely in the language of its file."""

    def __init__(self, language: str, value: str, why: str):
        shown = repr(value) if len(value) <= 60 else repr(value[:55]) + "..."
        super().__init__(f"{shown} cannot be written safely into {language}: {why}",
                         "change the answer that holds this value")


def _control(value: str) -> str | None:
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") or ch == "\u0085":
            return f"it holds the control character U+{ord(ch):04X}"
    return None


def lua_string(value: str) -> str:
    """A double-quoted Lua string literal that means exactly `value`.

    Backslash and quote are escaped; every control byte and every non-ASCII byte becomes a
    decimal escape of its UTF-8 encoding, so nothing (newline, "]]", "--") can end the string
    early or change meaning.
    """
    out = ['"']
    for byte in value.encode("utf-8", "surrogatepass"):
        ch = chr(byte)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03d}")
    out.append('"')
    return "".join(out)


def lua_comment(value: str) -> str:
    """Text inside a `--` Lua comment: one line, so it cannot end the comment."""
    why = _control(value)
    if why:
        raise EscapeError("a Lua comment", value, why)
    return value


def hocon_string(value: str) -> str:
    """A quoted HOCON string: quote and backslash escaped as in JSON, everything else as it
    is (UTF-8). Control characters are refused rather than written as \\uXXXX escapes,
    which not every HOCON reader decodes (pyhocon keeps them as text)."""
    why = _control(value)
    if why:
        raise EscapeError("a HOCON file", value, why)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def hocon_key(value: str) -> str:
    """An unquoted HOCON key: a plain name (letters, digits, _ and -) or refused."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", value):
        raise EscapeError("a HOCON key", value, "only letters, digits, _ and - fit unquoted")
    return value


def js_string(value: str) -> str:
    """A single-quoted JavaScript string, the style config.js uses. json's ASCII escapes cover
    U+2028/U+2029, which end a line in older JavaScript."""
    body = json.dumps(value, ensure_ascii=True)[1:-1].replace("'", "\\'").replace('\\"', '"')
    return f"'{body}'"


def systemd_quote(value: str) -> str:
    """A double-quoted systemd unit-file word (an Environment= assignment): backslash and
    quote escaped, `%` doubled (it starts a specifier). A line break would start a new
    directive, so control characters are refused."""
    why = _control(value)
    if why:
        raise EscapeError("a systemd unit file", value, why)
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def debconf_value(value: str) -> str:
    """The value of a debconf-set-selections line: the rest of the line, as written. It has
    no escapes, so a line break (a new selection) or surrounding white space (dropped) is
    refused."""
    why = _control(value)
    if why:
        raise EscapeError("a debconf selection", value, why)
    if value != value.strip():
        raise EscapeError("a debconf selection", value, "it starts or ends with white space")
    return value


def nginx_string(value: str) -> str:
    """An nginx directive argument: bare when it is plain, else double-quoted with `\\` and
    `"` escaped. `$` starts a variable in many directives (ssl_certificate among them) and
    nginx has no escape for it, so it is refused, as are control characters."""
    why = _control(value) or ("it holds '$', which nginx reads as a variable"
                              if "$" in value else None)
    if why:
        raise EscapeError("an nginx configuration", value, why)
    if value == "" or re.search(r"[\s;{}#\"'\\]", value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def properties_value(value: str, is_key: bool = False) -> str:
    """A Java .properties value (or key): backslash escapes for `\\`, tab, line breaks and
    form feed, a leading space (and in keys `=`, `:` and a leading `#`/`!`) escaped, and
    everything outside printable ASCII as \\uXXXX UTF-16 units."""
    out = []
    for pos, c in enumerate(value):
        if c == "\\":
            out.append("\\\\")
        elif c in "\t\n\r\f":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"}[c])
        elif c == " " and (is_key or pos == 0):
            out.append("\\ ")
        elif is_key and (c in "=:" or (pos == 0 and c in "#!")):
            out.append("\\" + c)
        elif ord(c) > 0x7E or ord(c) < 0x20:
            data = c.encode("utf-16-be", "surrogatepass")
            out.append("".join(f"\\u{int.from_bytes(data[i:i + 2], 'big'):04x}"
                               for i in range(0, len(data), 2)))
        else:
            out.append(c)
    return "".join(out)


_SHELL_SAFE = re.compile(r"[A-Za-z0-9._@%+=:,/-]+")


def shell_word(value: str) -> str:
    """A word inside a double-quoted shell string or a `case` pattern: only characters that
    mean themselves there (no quotes, `$`, backquote, backslash or glob characters)."""
    if not _SHELL_SAFE.fullmatch(value):
        raise EscapeError("a shell script", value, "only letters, digits and ._@%+=:,/- "
                          "are written into scripts")
    return value


def apt_word(value: str) -> str:
    """A field of an apt sources line (white space separates fields, `]` ends the options)."""
    if not re.fullmatch(r"[!-Z\\^-~]+", value):  # printable ASCII but for [ and ]
        raise EscapeError("an apt source line", value, "only printable ASCII without white "
                          "space or brackets fits in a field")
    return value


def apt_words(value: str) -> str:
    """Several apt fields separated by single spaces (a suite and its components)."""
    return " ".join(apt_word(word) for word in value.split(" "))


def spellings(value: str) -> list[str]:
    """The ways a secret can appear in our files and logs, for redaction: as it is, escaped
    for each language, and those again inside JSON (plan --json)."""
    forms = {value, lua_string(value)[1:-1], js_string(value)[1:-1], properties_value(value),
             json.dumps(value, ensure_ascii=False)[1:-1]}
    with contextlib.suppress(EscapeError):  # else never written into HOCON, so not found
        forms.add(hocon_string(value)[1:-1])
    for form in list(forms):
        forms.add(json.dumps(form, ensure_ascii=True)[1:-1])
        forms.add(json.dumps(form, ensure_ascii=False)[1:-1])
    return sorted(forms, key=len, reverse=True)
