"""Prosody's config files, which are Lua: a tokenizer, the VirtualHost/Component sections,
and `key = value` options and whole sections read, set and removed in place.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from jitsiwizard.formats.text import (
    Tok,
    apply_edits,
    indent_of,
    insert_line_after,
    is_blank,
    line_range_edit,
    line_starts,
    newline_after,
    newline_of,
    split_lines,
)

_LUA_LONG_OPEN = re.compile(r"\[(=*)\[")
_LUA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LUA_NUMBER = re.compile(r"\.?\d(?:[eEpP][+-]|[\w.])*")
_LUA_OPS = ("...", "..", "==", "~=", "<=", ">=", "<<", ">>", "//", "::")
# Keywords that open a block closed by `end` count as brackets, so `function() ... end` values
# are read whole.
_LUA_OPENERS = {"{", "(", "[", "function", "if", "do"}
_LUA_CLOSERS = {"}", ")", "]", "end"}
# A token after which an expression cannot have ended yet.
_LUA_BINARY_WORDS = {"and", "or", "not"}
# A token that continues the expression before it (a statement never starts with one).
_LUA_CONTINUES = {"..", "+", "-", "*", "/", "//", "%", "^", "==", "~=", "<", ">", "<=", ">=",
                  ".", ":", "(", "[", "{", "&", "|", "~", "<<", ">>", ",", "and", "or"}
_HEADER_KINDS = ("VirtualHost", "Component")


def _lua_tokens(text: str) -> list[Tok]:
    """Lua tokens without comments; unterminated strings end at their line, long ones at EOF."""
    tokens: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\r\n\f\v":
            i += 1
        elif text.startswith("--", i):
            long_open = _LUA_LONG_OPEN.match(text, i + 2)
            if long_open:
                close = "]" + long_open.group(1) + "]"
                end = text.find(close, long_open.end())
                i = n if end < 0 else end + len(close)
            else:
                end = text.find("\n", i)
                i = n if end < 0 else end
        elif c in "\"'":
            j = i + 1
            while j < n:
                d = text[j]
                if d == "\\":
                    j += 3 if text.startswith("\r\n", j + 1) else 2
                    continue
                if d == c:
                    j += 1
                    break
                if d == "\n":
                    break
                j += 1
            j = min(j, n)
            tokens.append(Tok("string", text[i:j], i, j))
            i = j
        elif c == "[" and _LUA_LONG_OPEN.match(text, i):
            long_open = _LUA_LONG_OPEN.match(text, i)
            close = "]" + long_open.group(1) + "]"
            end = text.find(close, long_open.end())
            j = n if end < 0 else end + len(close)
            tokens.append(Tok("string", text[i:j], i, j))
            i = j
        else:
            m = _LUA_NAME.match(text, i)
            if m:
                kind = "name"
            else:
                m = _LUA_NUMBER.match(text, i)
                kind = "number"
            if m:
                tokens.append(Tok(kind, m.group(0), i, m.end()))
                i = m.end()
                continue
            op = next((o for o in _LUA_OPS if text.startswith(o, i)), c)
            tokens.append(Tok("op", op, i, i + len(op)))
            i += len(op)
    return tokens


_LUA_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11,
                       "\\": 92, '"': 34, "'": 39}


def lua_unquote(raw: str) -> str | None:
    """The value of a Lua string literal ("...", '...', [[...]], [==[...]==]); None if `raw`
    is anything else (an expression, a number, an unterminated string).

    Bytes that are not valid UTF-8 come back as surrogate escapes, as Root.read_text does.
    """
    raw = raw.strip()
    long_form = re.fullmatch(r"\[(=*)\[(.*)\]\1\]", raw, re.S)
    if long_form:
        body = long_form.group(2)
        if "]" + long_form.group(1) + "]" in body:
            return None  # two literals, e.g. [[a]] .. [[b]]
        return re.sub(r"\A(?:\r\n|\n\r|\n|\r)", "", body)
    if len(raw) < 2 or raw[0] not in "\"'" or raw[-1] != raw[0]:
        return None
    quote, body = raw[0], raw[1:-1]
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == quote or c in "\r\n":
            return None
        if c != "\\":
            out += c.encode("utf-8", "surrogateescape")
            i += 1
            continue
        if i + 1 >= n:
            return None
        e = body[i + 1]
        i += 2
        if e in _LUA_SIMPLE_ESCAPES:
            out.append(_LUA_SIMPLE_ESCAPES[e])
        elif e in "\r\n":  # backslash-newline: a newline in the value
            if i < n and body[i] in "\r\n" and body[i] != e:
                i += 1
            out.append(10)
        elif e == "x":
            digits = body[i:i + 2]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
                return None
            out.append(int(digits, 16))
            i += 2
        elif e == "z":
            while i < n and body[i] in " \t\r\n\f\v":
                i += 1
        elif e.isdigit():
            digits = re.match(r"\d{1,3}", body[i - 1:]).group(0)
            if int(digits) > 255:
                return None
            out.append(int(digits))
            i += len(digits) - 1
        elif e == "u":
            m = re.match(r"\{([0-9A-Fa-f]+)\}", body[i:])
            if not m or int(m.group(1), 16) > 0x10FFFF:
                return None
            out += chr(int(m.group(1), 16)).encode("utf-8", "surrogatepass")
            i += m.end()
        else:
            return None
    return out.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Section:
    kind: str  # "global" | "VirtualHost" | "Component"
    name: str | None
    start: int  # first line (the header line; 0 for global)
    end: int  # line after the last one


@dataclass
class _Assignment:
    key: str
    key_tok: int  # token indices into _LuaDoc.tokens
    value_first: int
    value_last: int  # value_first - 1 when the value is missing
    value_start: int  # character offsets of the value text
    value_end: int


class _LuaDoc:
    """A Prosody config split into lines, tokens and sections."""

    def __init__(self, text: str):
        self.text = text
        self.lines = split_lines(text)
        self.starts = line_starts(self.lines)
        self.tokens = _lua_tokens(text)
        self._tok_starts = [t.start for t in self.tokens]
        self.code_lines: set[int] = set()
        for tok in self.tokens:
            self.code_lines.update(range(self.line_of(tok.start), self.line_of(tok.end - 1) + 1))
        self.sections = self._find_sections()

    def line_of(self, offset: int) -> int:
        return max(bisect_right(self.starts, offset) - 1, 0)

    def first_on_line(self, index: int) -> bool:
        if index == 0:
            return True
        return (self.line_of(self.tokens[index - 1].end - 1)
                < self.line_of(self.tokens[index].start))

    def _header_at(self, index: int) -> tuple[str, str] | None:
        tok = self.tokens[index]
        if tok.kind != "name" or tok.text not in _HEADER_KINDS:
            return None
        line_start = self.starts[self.line_of(tok.start)]
        if self.text[line_start:tok.start].strip():
            return None
        following = self.tokens[index + 1:index + 3]
        if following and following[0].text == "(":
            following = following[1:]
        if not following or following[0].kind != "string":
            return None
        name = lua_unquote(following[0].text)
        return None if name is None else (tok.text, name)

    def _find_sections(self) -> list[Section]:
        headers = []
        for index in range(len(self.tokens)):
            found = self._header_at(index)
            if found:
                headers.append((self.line_of(self.tokens[index].start), *found))
        line_count = len(self.lines)
        bounds = [line for line, _, _ in headers] + [line_count]
        sections = [Section("global", None, 0, bounds[0])]
        for number, (line, kind, name) in enumerate(headers):
            sections.append(Section(kind, name, line, bounds[number + 1]))
        return sections

    def matching(self, name: str | None) -> list[Section]:
        if name is None:
            return self.sections[:1]
        return [s for s in self.sections[1:] if s.name == name]

    def token_range(self, section: Section) -> range:
        lo = bisect_right(self._tok_starts, self.starts[section.start] - 1)
        hi = bisect_right(self._tok_starts, self.starts[section.end] - 1)
        return range(lo, hi)

    def assignments(self, section: Section) -> list[_Assignment]:
        """Top-level `name = value` statements of a section, in file order."""
        found = []
        toks = self.tokens
        span = self.token_range(section)
        depth = 0
        i = span.start
        while i < span.stop:
            tok = toks[i]
            if (depth == 0 and tok.kind == "name" and i + 1 < span.stop
                    and toks[i + 1].text == "="
                    and (self.first_on_line(i) or toks[i - 1].text == ";")):
                last = self._value_end(i + 2, span.stop)
                if last >= i + 2:
                    v_start, v_end = toks[i + 2].start, toks[last].end
                else:
                    v_start = v_end = toks[i + 1].end
                found.append(_Assignment(tok.text, i, i + 2, last, v_start, v_end))
                i = max(last, i + 1) + 1
                continue
            if tok.text in _LUA_OPENERS and tok.kind != "string":
                depth += 1
            elif tok.text in _LUA_CLOSERS and tok.kind != "string":
                depth = max(depth - 1, 0)
            i += 1
        return found

    def _value_end(self, first: int, stop: int) -> int:
        """Index of the last token of the expression starting at `first` (first - 1: empty)."""
        toks = self.tokens
        if first >= stop or toks[first].text == ";":
            return first - 1
        depth = 0
        i = first
        while True:
            tok = toks[i]
            if tok.kind != "string":
                if tok.text in _LUA_OPENERS:
                    depth += 1
                elif tok.text in _LUA_CLOSERS:
                    depth -= 1
            if i + 1 >= stop:
                return i
            nxt = toks[i + 1]
            if depth > 0:
                i += 1
                continue
            if nxt.text == ";":
                return i
            incomplete = ((tok.kind == "op" and tok.text not in _LUA_CLOSERS)
                          or tok.text in _LUA_BINARY_WORDS)
            if incomplete or nxt.kind == "string" or nxt.text in _LUA_CONTINUES:
                i += 1
                continue
            return i


@lru_cache(maxsize=16)
def _doc(text: str) -> _LuaDoc:
    """The parsed text, kept for the next question about it: reading a host asks several of
    each Prosody file, and a plan edits the same file step by step. Documents are never
    changed after parsing (edits make new text)."""
    return _LuaDoc(text)


def prosody_sections(text: str) -> list[Section]:
    """The global part and every `VirtualHost`/`Component` section, in file order."""
    return list(_doc(text).sections)


def _prosody_assignments(doc: _LuaDoc, section: str | None, key: str) -> list[_Assignment]:
    return [a for s in doc.matching(section) for a in doc.assignments(s) if a.key == key]


def prosody_get(text: str, section: str | None, key: str) -> str | None:
    """Raw Lua text of the last `key = value` in the section (None: global), or None."""
    found = _prosody_assignments(_doc(text), section, key)
    if not found:
        return None
    return text[found[-1].value_start:found[-1].value_end]


def prosody_set(text: str, section: str | None, key: str, value: str) -> str:
    """Set `key` to the raw Lua `value` in a section; KeyError when the section does not exist.

    Existing assignments keep everything but their value (indent, spacing, `;`, a trailing
    comment such as `-- do not delete me`). A new one becomes the section's first line.
    """
    doc = _doc(text)
    sections = doc.matching(section)
    if not sections:
        raise KeyError(section)
    found = _prosody_assignments(doc, section, key)
    if found:
        return apply_edits(text, [(a.value_start, a.value_end, value) for a in found])
    if section is None:
        return _prosody_insert_global(doc, f"{key} = {value}")
    target = sections[0]
    body_code = [i for i in range(target.start + 1, target.end) if i in doc.code_lines]
    indent = indent_of(doc.lines[body_code[0]]) if body_code else "    "
    return insert_line_after(text, doc.lines, doc.starts, target.start,
                             f"{indent}{key} = {value}")


def _prosody_insert_global(doc: _LuaDoc, line: str) -> str:
    """Insert a global line before the first header and the comments directly above it,
    leaving a blank line between it and them."""
    text, lines = doc.text, doc.lines
    nl = newline_of(text)
    header = doc.sections[0].end
    if header == len(lines):  # no sections: append at the end
        if not text:
            return line + nl
        if text.endswith("\n"):
            return text + line + nl
        return text + newline_after(text) + line
    top = header
    while top > 0 and not is_blank(lines[top - 1]) and top - 1 not in doc.code_lines:
        top -= 1  # comment lines that introduce the first section stay with it
    at = top
    while at > 0 and is_blank(lines[at - 1]):
        at -= 1
    insertion = line + nl + ("" if at < top else nl)
    return text[:doc.starts[at]] + insertion + text[doc.starts[at]:]


def prosody_remove(text: str, section: str | None, key: str) -> str:
    """Remove every assignment of `key` in the section: whole lines, multi-line values too.
    An assignment sharing its line with another statement is cut out of the line instead."""
    doc = _doc(text)
    toks = doc.tokens
    edits = []
    for a in _prosody_assignments(doc, section, key):
        last = max(a.value_last, a.key_tok + 1)
        if last + 1 < len(toks) and toks[last + 1].text == ";":
            last += 1
        first_line = doc.line_of(toks[a.key_tok].start)
        last_line = doc.line_of(toks[last].end - 1)
        shares_line = (not doc.first_on_line(a.key_tok)
                       or (last + 1 < len(toks) and doc.line_of(toks[last + 1].start) == last_line))
        if shares_line:
            end = toks[last].end
            while end < len(text) and text[end] in " \t":
                end += 1
            edits.append((toks[a.key_tok].start, end, ""))
        else:
            edits.append(line_range_edit(text, doc.lines, doc.starts, first_line, last_line))
    return apply_edits(text, edits)


def prosody_remove_section(text: str, name: str) -> str:
    """Remove every section called `name`, header to end.

    The file's last section goes with the blank line before it and keeps the blank lines after
    it, which undoes prosody_append_section exactly. A section in the middle keeps the comment
    lines directly above the next header (at that header's indentation): they introduce it.
    """
    doc = _doc(text)
    lines = doc.lines
    edits = []
    for section in doc.matching(name):
        start, end = section.start, section.end
        if end == len(lines):
            last = end - 1
            while last > start and is_blank(lines[last]):
                last -= 1
            if start > 0 and is_blank(lines[start - 1]):
                start -= 1
            edits.append(line_range_edit(text, lines, doc.starts, start, last))
        else:
            header_indent = indent_of(lines[end])
            while (end - 1 > start and end - 1 not in doc.code_lines
                   and not is_blank(lines[end - 1]) and indent_of(lines[end - 1]) == header_indent):
                end -= 1
            edits.append((doc.starts[start], doc.starts[end], ""))
    return apply_edits(text, edits)


def prosody_append_section(text: str, block: str) -> str:
    """Append a section (`block` starts with its header line) after one blank line.

    Blank lines that ended the file stay at its end, and a file without a final newline still
    has none afterwards, so prosody_remove_section gives back the original text exactly.
    """
    nl = newline_of(text) if text else "\n"
    block = block.rstrip()
    lines = split_lines(text)
    core_end = len(lines)
    while core_end > 0 and is_blank(lines[core_end - 1]):
        core_end -= 1
    core, tail = "".join(lines[:core_end]), "".join(lines[core_end:])
    if not core:
        return block + nl + tail
    if core.endswith("\n"):
        return core + nl + block + nl + tail
    nl = newline_after(core)
    return core + nl + nl + block
