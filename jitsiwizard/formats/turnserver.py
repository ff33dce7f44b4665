"""coturn's /etc/turnserver.conf: one option a line, `name=value` or a bare flag (`no-tcp`),
`#` starting a comment line. coturn keeps the rest of the line as the value, so a value with
whitespace or a line break cannot be written safely: those are refused."""

from __future__ import annotations

import re

from jitsiwizard.errors import UserError
from jitsiwizard.formats.text import apply_edits, line_starts, newline_after, split_lines

_OPTION = re.compile(r"^[ \t]*(?:--)?([A-Za-z0-9-]+)[ \t]*(?:=[ \t]*(.*?))?[ \t]*$")


def _options(text: str):
    """(line index, name, value or None) for each option line, comments skipped."""
    for index, line in enumerate(split_lines(text)):
        body = line.rstrip("\r\n")
        if not body.strip() or body.lstrip().startswith("#"):
            continue
        match = _OPTION.match(body)
        if match:
            yield index, match.group(1), match.group(2)


def turn_get(text: str, name: str) -> str | None:
    """The value of the last `name=value` line (coturn takes the last), or None."""
    found = None
    for _, key, value in _options(text):
        if key == name and value is not None:
            found = value
    return found


def turn_flag(text: str, name: str) -> bool:
    """Whether a bare flag such as `no-tcp` is set."""
    return any(key == name and value is None for _, key, value in _options(text))


def _check(value: str) -> None:
    if not value or re.search(r"[\s\x00-\x1f\x7f]", value) or value.startswith("#"):
        raise UserError(f"{value!r} cannot be written to turnserver.conf: coturn reads the "
                        "rest of the line as the value", "use a path without spaces, tabs "
                        "or line breaks")


def turn_set(text: str, name: str, value: str) -> str:
    """Set every `name=` line's value (keeping the rest of the line); append one if none."""
    _check(value)
    lines = split_lines(text)
    starts = line_starts(lines)
    edits = []
    for index, key, old in _options(text):
        if key == name and old is not None:
            line = lines[index]
            at = line.index("=") + 1
            rest = line[at:]
            lead = len(rest) - len(rest.lstrip(" \t"))
            start = starts[index] + at + lead
            edits.append((start, start + len(old), value))
    if edits:
        return apply_edits(text, edits)
    if text and not text.endswith("\n"):
        text += newline_after(text)
    return text + f"{name}={value}\n"
