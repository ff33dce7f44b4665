"""Java .properties (jicofo's legacy sip-communicator.properties): keys read, set and
removed, with the format's escapes and continuation lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jitsiwizard.formats.escape import properties_value
from jitsiwizard.formats.text import (
    apply_edits,
    join_surrogates,
    line_range_edit,
    line_starts,
    newline_after,
    newline_of,
    split_lines,
)


@dataclass
class _Property:
    key: str
    key_end: int  # offset after the key
    value_start: int
    value_end: int  # end of the logical line, before its line ending
    first_line: int
    last_line: int


def _properties_unescape(raw: str) -> str:
    out = []
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        i += 1
        if c != "\\" or i >= n:
            if c != "\\":
                out.append(c)
            continue
        e = raw[i]
        i += 1
        if e in "\r\n":  # line continuation: the next line's indentation is not part of it
            if e == "\r" and i < n and raw[i] == "\n":
                i += 1
            while i < n and raw[i] in " \t\f":
                i += 1
        elif e == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", raw[i:i + 4]):
            out.append(chr(int(raw[i:i + 4], 16)))
            i += 4
        else:
            out.append({"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(e, e))
    return join_surrogates("".join(out))


def _properties_escape(value: str, is_key: bool = False) -> str:
    return properties_value(value, is_key)


def _continues(line: str) -> bool:
    """A natural line ending in an odd number of backslashes continues on the next one."""
    content = line.rstrip("\r\n")
    return (len(content) - len(content.rstrip("\\"))) % 2 == 1


def _properties(text: str) -> tuple[list[str], list[_Property]]:
    lines = split_lines(text)
    starts = line_starts(lines)
    found = []
    i = 0
    while i < len(lines):
        content = lines[i].rstrip("\r\n")
        stripped = content.lstrip(" \t\f")
        if not stripped or stripped[0] in "#!":
            i += 1
            continue
        last = i
        while last + 1 < len(lines) and _continues(lines[last]):
            last += 1
        pos = starts[i] + len(content) - len(stripped)
        line_end = starts[i] + len(content)
        key_start = pos
        while pos < line_end and text[pos] not in "=: \t\f":
            pos += 2 if text[pos] == "\\" else 1
        pos = min(pos, line_end)
        key_end = pos
        while pos < line_end and text[pos] in " \t\f":
            pos += 1
        if pos < line_end and text[pos] in "=:":
            pos += 1
            while pos < line_end and text[pos] in " \t\f":
                pos += 1
        value_end = starts[last] + len(lines[last].rstrip("\r\n"))
        key = _properties_unescape(text[key_start:key_end])
        found.append(_Property(key, key_end, pos, value_end, i, last))
        i = last + 1
    return lines, found


def properties_get(text: str, key: str) -> str | None:
    """The value of the last active `key` line (`key=value`, `key: value`, `key value`)."""
    values = [text[p.value_start:p.value_end] for p in _properties(text)[1] if p.key == key]
    return _properties_unescape(values[-1]) if values else None


def properties_set(text: str, key: str, value: str) -> str:
    """Set the value of every active `key` line, or append `key=value`."""
    escaped = _properties_escape(value)
    found = [p for p in _properties(text)[1] if p.key == key]
    if found:
        return apply_edits(text, [
            (p.value_start, p.value_end, escaped if p.value_start > p.key_end else "=" + escaped)
            for p in found])
    line = _properties_escape(key, is_key=True) + "=" + escaped
    nl = newline_of(text) if text else "\n"
    lines = split_lines(text)
    if not text or text.endswith("\n"):
        prefix, suffix = text, nl
    else:
        prefix, suffix = text + newline_after(text), ""
    if lines and _continues(lines[-1]):
        prefix += nl  # an empty line ends the dangling continuation of the last line
    return prefix + line + suffix


def properties_remove(text: str, key: str) -> str:
    """Remove the active `key` lines (continuation lines included); comments stay."""
    lines, found = _properties(text)
    starts = line_starts(lines)
    return apply_edits(text, [line_range_edit(text, lines, starts, p.first_line, p.last_line)
                              for p in found if p.key == key])
