"""Line helpers shared by the format modules. Lines are split on "\\n" only, so "\\r\\n"
endings, tabs, trailing spaces and a missing final newline survive every edit of other lines;
an edit is a (start, end, replacement) span of the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split on "\\n" only (str.splitlines also splits on \\f...)."""
    return re.findall(r"[^\n]*\n|[^\n]+", text)


def newline_of(text: str) -> str:
    """The file's line ending, judged by its first line."""
    end = text.find("\n")
    return "\r\n" if end > 0 and text[end - 1] == "\r" else "\n"


def newline_after(text: str) -> str:
    """The line ending to add after `text`, which lacks a final newline. A trailing lone "\\r"
    gets "\\r\\n" after it, so the ending of that line is exactly what was added and removal
    can take it away again."""
    return "\r\n" if text.endswith("\r") else newline_of(text)


def line_ending(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    return "\n" if line.endswith("\n") else ""


def is_blank(line: str) -> bool:
    return not line.strip()


def indent_of(line: str) -> str:
    return re.match(r"[ \t]*", line).group(0)


def line_starts(lines: list[str]) -> list[int]:
    """Offset of each line's first character, plus the text's length at the end."""
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    return offsets


def line_range_edit(text: str, lines: list[str], starts: list[int], first: int,
                    last: int) -> tuple[int, int, str]:
    """An edit deleting lines first..last. When those are the file's last lines and the file has
    no final newline, the newline before them goes too, so the file keeps ending without one."""
    begin, end = starts[first], starts[last + 1]
    if end == len(text) and not line_ending(lines[last]) and first > 0:
        begin -= len(line_ending(lines[first - 1]))
    return begin, end, ""


def apply_edits(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (start, end, replacement) edits made against the same text; they must not overlap."""
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def insert_line_after(text: str, lines: list[str], starts: list[int], index: int,
                      content: str) -> str:
    """Insert `content` as a new line after line `index` (-1: at the top)."""
    if index < 0:
        return content + newline_of(text) + text
    line = lines[index]
    ending = line_ending(line)
    at = starts[index + 1]
    if not ending:  # the last line, without a newline: the new line becomes the last one
        return text[:at] + newline_after(text) + content
    return text[:at] + content + ending + text[at:]


@dataclass(frozen=True)
class Tok:
    kind: str  # name | string | number | op (Lua, JS) / word | string | op (nginx) / comment (JS)
    text: str
    start: int
    end: int


def join_surrogates(text: str) -> str:
    """Combine UTF-16 surrogate pairs (from \\uD83D\\uDE00 escapes) into one character."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
