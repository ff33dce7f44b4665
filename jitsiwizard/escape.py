"""Values escaped for the languages of the files we write: Lua, HOCON, JavaScript."""

from __future__ import annotations

import json


def lua_string(value: str) -> str:
    """A double-quoted Lua string literal that means exactly `value`.

    Backslash and quote are escaped; every control byte and every non-ASCII byte becomes a
    decimal escape of its UTF-8 encoding, so nothing (newline, "]]", "--") can end the string
    early or change meaning.
    """
    out = ['"']
    for byte in value.encode("utf-8"):
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


def hocon_string(value: str) -> str:
    """A quoted HOCON string: HOCON quoted strings follow JSON's escaping rules."""
    return json.dumps(value, ensure_ascii=False)


def js_string(value: str) -> str:
    """A single-quoted JavaScript string, the style config.js uses."""
    body = json.dumps(value, ensure_ascii=True)[1:-1].replace("'", "\\'").replace('\\"', '"')
    return f"'{body}'"


def spellings(value: str) -> list[str]:
    """The ways a secret can appear in our files and logs, for redaction."""
    forms = {value, lua_string(value)[1:-1], hocon_string(value)[1:-1], js_string(value)[1:-1]}
    return sorted(forms, key=len, reverse=True)
