"""Pure text edits of the config formats on a Jitsi host: minimal diffs, the rest byte-for-byte.

Formats: Prosody's Lua config, HOCON (jicofo.conf, jvb.conf), Java .properties, Jitsi Meet's
config.js and nginx sites. Every function takes and returns text; nothing here does I/O.
Lines are split on "\\n" only, so "\\r\\n" endings, tabs, trailing spaces and a missing final
newline survive every edit of other lines.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass

from jitsiwizard.errors import UserError
from jitsiwizard.escape import js_string

# --------------------------------------------------------------------------------------------
# Shared line helpers


def _split_lines(text: str) -> list[str]:
    """Lines with their endings, split on "\\n" only (str.splitlines also splits on \\f...)."""
    return re.findall(r"[^\n]*\n|[^\n]+", text)


def _newline(text: str) -> str:
    """The file's line ending, judged by its first line."""
    end = text.find("\n")
    return "\r\n" if end > 0 and text[end - 1] == "\r" else "\n"


def _newline_after(text: str) -> str:
    """The line ending to add after `text`, which lacks a final newline. A trailing lone "\\r"
    gets "\\r\\n" after it, so the ending of that line is exactly what was added and removal
    can take it away again."""
    return "\r\n" if text.endswith("\r") else _newline(text)


def _line_ending(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    return "\n" if line.endswith("\n") else ""


def _is_blank(line: str) -> bool:
    return not line.strip()


def _indent(line: str) -> str:
    return re.match(r"[ \t]*", line).group(0)


def _starts(lines: list[str]) -> list[int]:
    """Offset of each line's first character, plus the text's length at the end."""
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    return offsets


def _line_range_edit(text: str, lines: list[str], starts: list[int], first: int,
                     last: int) -> tuple[int, int, str]:
    """An edit deleting lines first..last. When those are the file's last lines and the file has
    no final newline, the newline before them goes too, so the file keeps ending without one."""
    begin, end = starts[first], starts[last + 1]
    if end == len(text) and not _line_ending(lines[last]) and first > 0:
        begin -= len(_line_ending(lines[first - 1]))
    return begin, end, ""


def _apply_edits(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (start, end, replacement) edits made against the same text; they must not overlap."""
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _insert_line_after(text: str, lines: list[str], starts: list[int], index: int,
                       content: str) -> str:
    """Insert `content` as a new line after line `index` (-1: at the top)."""
    if index < 0:
        return content + _newline(text) + text
    line = lines[index]
    ending = _line_ending(line)
    at = starts[index + 1]
    if not ending:  # the last line, without a newline: the new line becomes the last one
        return text[:at] + _newline_after(text) + content
    return text[:at] + content + ending + text[at:]


@dataclass(frozen=True)
class _Tok:
    kind: str  # name | string | number | op (Lua, JS) / word | string | op (nginx) / comment (JS)
    text: str
    start: int
    end: int


# --------------------------------------------------------------------------------------------
# Lua (Prosody)

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


def _lua_tokens(text: str) -> list[_Tok]:
    """Lua tokens without comments; unterminated strings end at their line, long ones at EOF."""
    tokens: list[_Tok] = []
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
            tokens.append(_Tok("string", text[i:j], i, j))
            i = j
        elif c == "[" and _LUA_LONG_OPEN.match(text, i):
            long_open = _LUA_LONG_OPEN.match(text, i)
            close = "]" + long_open.group(1) + "]"
            end = text.find(close, long_open.end())
            j = n if end < 0 else end + len(close)
            tokens.append(_Tok("string", text[i:j], i, j))
            i = j
        else:
            m = _LUA_NAME.match(text, i)
            if m:
                kind = "name"
            else:
                m = _LUA_NUMBER.match(text, i)
                kind = "number"
            if m:
                tokens.append(_Tok(kind, m.group(0), i, m.end()))
                i = m.end()
                continue
            op = next((o for o in _LUA_OPS if text.startswith(o, i)), c)
            tokens.append(_Tok("op", op, i, i + len(op)))
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


@dataclass
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
        self.lines = _split_lines(text)
        self.starts = _starts(self.lines)
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


def prosody_sections(text: str) -> list[Section]:
    """The global part and every `VirtualHost`/`Component` section, in file order."""
    return _LuaDoc(text).sections


def _prosody_assignments(doc: _LuaDoc, section: str | None, key: str) -> list[_Assignment]:
    return [a for s in doc.matching(section) for a in doc.assignments(s) if a.key == key]


def prosody_get(text: str, section: str | None, key: str) -> str | None:
    """Raw Lua text of the last `key = value` in the section (None: global), or None."""
    found = _prosody_assignments(_LuaDoc(text), section, key)
    if not found:
        return None
    return text[found[-1].value_start:found[-1].value_end]


def prosody_set(text: str, section: str | None, key: str, value: str) -> str:
    """Set `key` to the raw Lua `value` in a section; KeyError when the section does not exist.

    Existing assignments keep everything but their value (indent, spacing, `;`, a trailing
    comment such as `-- do not delete me`). A new one becomes the section's first line.
    """
    doc = _LuaDoc(text)
    sections = doc.matching(section)
    if not sections:
        raise KeyError(section)
    found = _prosody_assignments(doc, section, key)
    if found:
        return _apply_edits(text, [(a.value_start, a.value_end, value) for a in found])
    if section is None:
        return _prosody_insert_global(doc, f"{key} = {value}")
    target = sections[0]
    body_code = [i for i in range(target.start + 1, target.end) if i in doc.code_lines]
    indent = _indent(doc.lines[body_code[0]]) if body_code else "    "
    return _insert_line_after(text, doc.lines, doc.starts, target.start,
                              f"{indent}{key} = {value}")


def _prosody_insert_global(doc: _LuaDoc, line: str) -> str:
    """Insert a global line before the first header and the comments directly above it,
    leaving a blank line between it and them."""
    text, lines = doc.text, doc.lines
    nl = _newline(text)
    header = doc.sections[0].end
    if header == len(lines):  # no sections: append at the end
        if not text:
            return line + nl
        if text.endswith("\n"):
            return text + line + nl
        return text + _newline_after(text) + line
    top = header
    while top > 0 and not _is_blank(lines[top - 1]) and top - 1 not in doc.code_lines:
        top -= 1  # comment lines that introduce the first section stay with it
    at = top
    while at > 0 and _is_blank(lines[at - 1]):
        at -= 1
    insertion = line + nl + ("" if at < top else nl)
    return text[:doc.starts[at]] + insertion + text[doc.starts[at]:]


def prosody_remove(text: str, section: str | None, key: str) -> str:
    """Remove every assignment of `key` in the section: whole lines, multi-line values too.
    An assignment sharing its line with another statement is cut out of the line instead."""
    doc = _LuaDoc(text)
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
            edits.append(_line_range_edit(text, doc.lines, doc.starts, first_line, last_line))
    return _apply_edits(text, edits)


def prosody_remove_section(text: str, name: str) -> str:
    """Remove every section called `name`, header to end.

    The file's last section goes with the blank line before it and keeps the blank lines after
    it, which undoes prosody_append_section exactly. A section in the middle keeps the comment
    lines directly above the next header (at that header's indentation): they introduce it.
    """
    doc = _LuaDoc(text)
    lines = doc.lines
    edits = []
    for section in doc.matching(name):
        start, end = section.start, section.end
        if end == len(lines):
            last = end - 1
            while last > start and _is_blank(lines[last]):
                last -= 1
            if start > 0 and _is_blank(lines[start - 1]):
                start -= 1
            edits.append(_line_range_edit(text, lines, doc.starts, start, last))
        else:
            header_indent = _indent(lines[end])
            while (end - 1 > start and end - 1 not in doc.code_lines
                   and not _is_blank(lines[end - 1]) and _indent(lines[end - 1]) == header_indent):
                end -= 1
            edits.append((doc.starts[start], doc.starts[end], ""))
    return _apply_edits(text, edits)


def prosody_append_section(text: str, block: str) -> str:
    """Append a section (`block` starts with its header line) after one blank line.

    Blank lines that ended the file stay at its end, and a file without a final newline still
    has none afterwards, so prosody_remove_section gives back the original text exactly.
    """
    nl = _newline(text) if text else "\n"
    block = block.rstrip()
    lines = _split_lines(text)
    core_end = len(lines)
    while core_end > 0 and _is_blank(lines[core_end - 1]):
        core_end -= 1
    core, tail = "".join(lines[:core_end]), "".join(lines[core_end:])
    if not core:
        return block + nl + tail
    if core.endswith("\n"):
        return core + nl + block + nl + tail
    nl = _newline_after(core)
    return core + nl + nl + block


# --------------------------------------------------------------------------------------------
# HOCON (jicofo.conf, jvb.conf)

HOCON_BEGIN = "# BEGIN jitsi-wizard: managed block, changes here are overwritten"
HOCON_END = "# END jitsi-wizard"


def _managed_lines(lines: list[str]) -> tuple[int, int] | None:
    begin = next((i for i, line in enumerate(lines) if line.strip() == HOCON_BEGIN), None)
    if begin is None:
        return None
    end = next((i for i in range(begin + 1, len(lines)) if lines[i].strip() == HOCON_END), None)
    if end is None:
        raise UserError(
            "the file has the line that starts the jitsi-wizard block but not the one that ends it",
            f"add the line '{HOCON_END}' where the block ends, or delete the block's first line")
    return begin, end


def hocon_get_managed_block(text: str) -> str | None:
    """The body of the managed block (without its final newline), or None if there is none."""
    lines = _split_lines(text)
    span = _managed_lines(lines)
    if span is None:
        return None
    body = "".join(lines[span[0] + 1:span[1]])
    return body[:len(body) - len(_line_ending(body))]


def hocon_managed_block(text: str, body: str | None) -> str:
    """Add, replace, or (body None) remove the managed block at the end of a HOCON file.

    Adding puts one blank line before the block; removing takes that line away again, and a
    file without a final newline gets none back, so removal restores the text byte-for-byte.
    """
    nl = _newline(text) if text else "\n"
    body_lines = []
    if body is not None:
        trimmed = body.rstrip("\r\n")
        body_lines = [line.rstrip("\r") for line in trimmed.split("\n")] if trimmed else []
        if any(line.strip() in (HOCON_BEGIN, HOCON_END) for line in body_lines):
            raise ValueError("the managed block's body contains a marker line")
    lines = _split_lines(text)
    span = _managed_lines(lines)
    if span is None:
        if body is None:
            return text
        if text and not text.endswith("\n"):
            nl = _newline_after(text)
        block = nl.join([HOCON_BEGIN, *body_lines, HOCON_END])
        if not text:
            return block + nl
        if text.endswith("\n"):
            return text + nl + block + nl
        return text + nl + nl + block
    begin, end = span
    starts = _starts(lines)
    if body is None:
        first = begin - 1 if begin > 0 and _is_blank(lines[begin - 1]) else begin
        return _apply_edits(text, [_line_range_edit(text, lines, starts, first, end)])
    nl = _line_ending(lines[begin])
    new_body = "".join(line + nl for line in body_lines)
    return text[:starts[begin + 1]] + new_body + text[starts[end]:]


_HOCON_TOKEN = re.compile(r"""
    (?P<ws>[ \t\f\v\r\ufeff]+)
  | (?P<nl>\n)
  | (?P<comment>(?:\#|//)[^\n]*)
  | (?P<triple>\"\"\"[\s\S]*?\"\"\"\"*)
  | (?P<quoted>"(?:[^"\\\n]|\\.)*")
  | (?P<subst>\$\{[^}\n]*\})
  | (?P<punct>\+=|[{}\[\],:=])
  | (?P<unquoted>(?:[^\s$"{}\[\],:=+\#`^?!@*&\\/]|/(?!/))+)
  | (?P<other>.)
""", re.X)


def _hocon_tokens(text: str) -> list[tuple[str, str]]:
    """(kind, value) pairs without comments; quoted strings come decoded."""
    tokens = []
    for m in _HOCON_TOKEN.finditer(text):
        kind, raw = m.lastgroup, m.group(0)
        if kind == "comment":
            continue
        if kind == "quoted":
            try:
                raw = json.loads(raw)
            except ValueError:
                raw = raw[1:-1]
        elif kind == "triple":
            raw = raw[3:-3]
        elif kind in ("subst", "other"):
            kind = "unquoted"
        tokens.append((kind, raw))
    return tokens


class _HoconReader:
    """A forgiving HOCON reader: objects become dicts (merged the HOCON way), arrays lists,
    everything else strings. Includes are skipped; anything it cannot read is stepped over."""

    _STRINGS = ("unquoted", "quoted", "triple")

    def __init__(self, text: str):
        self.tokens = _hocon_tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def skip(self, kinds: tuple[str, ...] = ("ws",), texts: tuple[str, ...] = ()) -> None:
        while self.i < len(self.tokens):
            kind, value = self.tokens[self.i]
            if kind in kinds or (kind == "punct" and value in texts):
                self.i += 1
            else:
                break

    def skip_line(self) -> None:
        while self.i < len(self.tokens) and self.tokens[self.i][0] != "nl":
            self.i += 1

    def read(self) -> dict:
        root: dict = {}
        while self.peek() is not None:
            _merge(root, self.fields(closing=None))
        return root

    def fields(self, closing: str | None) -> dict:
        obj: dict = {}
        while True:
            self.skip(("ws", "nl"), (",",))
            tok = self.peek()
            if tok is None:
                return obj
            kind, value = tok
            if kind == "punct" and value in "}]":
                self.i += 1
                if value == closing:
                    return obj
                continue
            if kind == "punct" and value == "{":
                self.i += 1
                _merge(obj, self.fields("}"))
                continue
            if kind == "unquoted" and value == "include":
                self.skip_line()
                continue
            path = self.key()
            if not path:
                self.i += 1
                continue
            self.skip()
            tok = self.peek()
            if tok in (("punct", ":"), ("punct", "="), ("punct", "+=")):
                self.i += 1
            elif tok != ("punct", "{"):
                self.skip_line()
                continue
            _assign(obj, path, self.value(), append=tok == ("punct", "+="))

    def key(self) -> list[str]:
        path = [""]
        seen = False
        while self.i < len(self.tokens):
            kind, value = self.tokens[self.i]
            if kind == "ws":
                nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
                if not seen or nxt is None or nxt[0] not in self._STRINGS:
                    break
                path[-1] += value
            elif kind == "unquoted":
                parts = value.split(".")
                path[-1] += parts[0]
                path.extend(parts[1:])
            elif kind in ("quoted", "triple"):
                path[-1] += value
            else:
                break
            seen = True
            self.i += 1
        return path if seen else []

    def value(self) -> object:
        self.skip()
        tok = self.peek()
        if tok == ("punct", "{"):
            self.i += 1
            return self.fields("}")
        if tok == ("punct", "["):
            self.i += 1
            return self.array()
        pieces: list[tuple[str, str]] = []
        while self.i < len(self.tokens):
            kind, value = self.tokens[self.i]
            if kind not in ("ws", *self._STRINGS):
                break
            pieces.append((kind, value))
            self.i += 1
        while pieces and pieces[-1][0] == "ws":
            pieces.pop()
        if not pieces:
            return None
        if len(pieces) == 1 and pieces[0] == ("unquoted", "null"):
            return None
        return "".join(value for _, value in pieces)

    def array(self) -> list:
        items = []
        while True:
            self.skip(("ws", "nl"), (",",))
            tok = self.peek()
            if tok is None:
                return items
            if tok == ("punct", "]"):
                self.i += 1
                return items
            before = self.i
            item = self.value()
            if self.i == before:
                self.i += 1  # a stray token: step over it
            else:
                items.append(item)


def _merge(into: dict, other: dict) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _assign(obj: dict, path: list[str], value: object, append: bool) -> None:
    for part in path[:-1]:
        if not isinstance(obj.get(part), dict):
            obj[part] = {}
        obj = obj[part]
    last = path[-1]
    if append:
        existing = obj.get(last)
        obj[last] = (existing if isinstance(existing, list) else []) + [value]
    elif isinstance(value, dict) and isinstance(obj.get(last), dict):
        _merge(obj[last], value)
    else:
        obj[last] = value


def _hocon_path(tree: object, *path: str) -> object:
    for part in path:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(part)
    return tree


def hocon_jicofo_auth(text: str) -> dict | None:
    """Jicofo's authentication settings as the whole file says (later settings win):
    {"enabled": bool, "type": str | None, "login_url": str | None}, or None if unset."""
    auth = _hocon_path(_HoconReader(text).read(), "jicofo", "authentication")
    if not isinstance(auth, dict):
        return None

    def text_value(key: str) -> str | None:
        value = auth.get(key)
        return value if isinstance(value, str) else None

    enabled = text_value("enabled")
    return {
        "enabled": enabled is not None and enabled.strip().lower() in ("true", "yes", "on"),
        "type": text_value("type"),
        "login_url": text_value("login-url"),
    }


def hocon_static_mappings(text: str) -> list[dict]:
    """The entries of `ice4j.harvest.mapping.static-mappings` (jvb.conf) as dicts of their
    string fields, keyed as written: "local-address", "public-address", maybe "name"..."""
    mappings = _hocon_path(_HoconReader(text).read(), "ice4j", "harvest", "mapping",
                           "static-mappings")
    if not isinstance(mappings, list):
        return []
    return [{k: v for k, v in m.items() if isinstance(v, str)}
            for m in mappings if isinstance(m, dict)]


# --------------------------------------------------------------------------------------------
# Java .properties


@dataclass
class _Property:
    key: str
    key_end: int  # offset after the key
    value_start: int
    value_end: int  # end of the logical line, before its line ending
    first_line: int
    last_line: int


def _join_surrogates(text: str) -> str:
    """Combine UTF-16 surrogate pairs (from \\uD83D\\uDE00 escapes) into one character."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


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
    return _join_surrogates("".join(out))


def _properties_escape(value: str, is_key: bool = False) -> str:
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
            out.append("".join(f"\\u{unit:04x}" for unit in _utf16_units(c)))
        else:
            out.append(c)
    return "".join(out)


def _utf16_units(c: str) -> list[int]:
    data = c.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def _continues(line: str) -> bool:
    """A natural line ending in an odd number of backslashes continues on the next one."""
    content = line.rstrip("\r\n")
    return (len(content) - len(content.rstrip("\\"))) % 2 == 1


def _properties(text: str) -> tuple[list[str], list[_Property]]:
    lines = _split_lines(text)
    starts = _starts(lines)
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
        return _apply_edits(text, [
            (p.value_start, p.value_end, escaped if p.value_start > p.key_end else "=" + escaped)
            for p in found])
    line = _properties_escape(key, is_key=True) + "=" + escaped
    nl = _newline(text) if text else "\n"
    lines = _split_lines(text)
    if not text or text.endswith("\n"):
        prefix, suffix = text, nl
    else:
        prefix, suffix = text + _newline_after(text), ""
    if lines and _continues(lines[-1]):
        prefix += nl  # an empty line ends the dangling continuation of the last line
    return prefix + line + suffix


def properties_remove(text: str, key: str) -> str:
    """Remove the active `key` lines (continuation lines included); comments stay."""
    lines, found = _properties(text)
    starts = _starts(lines)
    return _apply_edits(text, [_line_range_edit(text, lines, starts, p.first_line, p.last_line)
                               for p in found if p.key == key])


# --------------------------------------------------------------------------------------------
# Jitsi Meet config.js

_JS_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*[\s\S]*?(?:\*/|\Z))
  | (?P<string>'(?:[^'\\\n]|\\[\s\S])*'?|"(?:[^"\\\n]|\\[\s\S])*"?|`(?:[^`\\]|\\[\s\S])*`?)
  | (?P<name>[A-Za-z_$][\w$]*)
  | (?P<number>\.?\d[\w.]*)
  | (?P<op>[\s\S])
""", re.X)


def _js_tokens(text: str) -> list[_Tok]:
    return [_Tok(m.lastgroup, m.group(0), m.start(), m.end())
            for m in _JS_TOKEN.finditer(text) if m.lastgroup != "ws"]


def _js_unquote(raw: str) -> str | None:
    if len(raw) < 2 or raw[0] not in "'\"" or raw[-1] != raw[0]:
        return None
    body = raw[1:-1]

    def escape(m: re.Match) -> str:
        e = m.group(1)
        if e[0] in "\r\n\u2028\u2029":
            return ""
        if e[0] in "ux" and len(e) > 1:
            return chr(int(e[1:].strip("{}"), 16))
        return {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v",
                "0": "\0"}.get(e, e)

    return _join_surrogates(re.sub(
        r"\\(u\{[0-9A-Fa-f]+\}|u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}|\r\n|[\s\S])", escape, body))


@dataclass
class _JsEntry:
    key: str
    key_tok: int  # indices into the code tokens
    value_first: int
    value_last: int
    comma: int | None


class _ConfigJs:
    """config.js with its `hosts: { ... }` object located."""

    def __init__(self, text: str):
        self.text = text
        self.lines = _split_lines(text)
        self.starts = _starts(self.lines)
        all_tokens = _js_tokens(text)
        self.comments = [t for t in all_tokens if t.kind == "comment"]
        self.tokens = [t for t in all_tokens if t.kind != "comment"]
        self.hosts: tuple[int, int] | None = None  # token indices of the braces
        self.entries: list[_JsEntry] = []
        toks = self.tokens
        for i in range(len(toks) - 2):
            if (_js_key(toks[i]) == "hosts" and toks[i + 1].text == ":"
                    and toks[i + 2].text == "{"):
                self._read_hosts(i + 2)
                break

    def _read_hosts(self, open_index: int) -> None:
        toks = self.tokens
        depth = 0
        i = open_index + 1
        entry_start = True
        while i < len(toks):
            tok = toks[i]
            if depth == 0 and tok.text == "}":
                self.hosts = (open_index, i)
                return
            if (depth == 0 and entry_start and _js_key(tok) is not None
                    and i + 1 < len(toks) and toks[i + 1].text == ":"):
                j = i + 2
                inner = 0
                while j < len(toks):
                    t = toks[j].text
                    if inner == 0 and t in ",}":
                        break
                    inner += (t in "([{") - (t in ")]}")
                    j += 1
                comma = j if j < len(toks) and toks[j].text == "," else None
                self.entries.append(_JsEntry(_js_key(tok), i, i + 2, j - 1, comma))
                i = j + 1 if comma is not None else j
                entry_start = True
                continue
            depth += (tok.text in "([{") - (tok.text in ")]}")
            entry_start = depth == 0 and tok.text == ","
            i += 1

    def line_of(self, offset: int) -> int:
        return max(bisect_right(self.starts, offset) - 1, 0)

    def find(self, key: str) -> list[_JsEntry]:
        return [e for e in self.entries if e.key == key]


def _js_key(tok: _Tok) -> str | None:
    if tok.kind == "name":
        return tok.text
    if tok.kind == "string":
        return _js_unquote(tok.text)
    return None


def configjs_get(text: str, key: str) -> str | None:
    """The string value of an active `key:` entry of `hosts` (the last one), or None when it is
    absent or not a plain string (`muc: 'conference.' + subdir + ...` gives None)."""
    doc = _ConfigJs(text)
    found = doc.find(key)
    if not found:
        return None
    entry = found[-1]
    if entry.value_first != entry.value_last:
        return None
    tok = doc.tokens[entry.value_first]
    return _js_unquote(tok.text) if tok.kind == "string" else None


def configjs_set_anonymousdomain(text: str, domain: str | None) -> str:
    """Set (or, with None, remove) `anonymousdomain` in the hosts object of config.js.

    A new entry becomes its own line below the shipped `// anonymousdomain:` comment (else
    below `domain:`), so setting and then unsetting gives back the text byte-for-byte.
    """
    doc = _ConfigJs(text)
    toks = doc.tokens
    existing = doc.find("anonymousdomain")
    if domain is None:
        return _apply_edits(text, [_js_entry_removal(doc, e) for e in existing])
    literal = js_string(domain)
    if existing:
        return _apply_edits(text, [(toks[e.value_first].start, toks[e.value_last].end, literal)
                                   for e in existing])
    if doc.hosts is None:
        raise UserError("config.js has no `hosts: { ... }` object",
                        "restore the file from the jitsi-meet-web-config package "
                        "(dpkg-reconfigure jitsi-meet-web-config) and run the wizard again")
    opened, closed = (toks[i].start for i in doc.hosts)
    line = "anonymousdomain: " + literal + ","
    for comment in doc.comments:
        if opened < comment.start < closed and re.match(r"//\s*anonymousdomain\s*:", comment.text):
            anchor = doc.line_of(comment.start)
            return _insert_line_after(text, doc.lines, doc.starts, anchor,
                                      _indent(doc.lines[anchor]) + line)
    domains = doc.find("domain")
    if not domains:
        raise UserError("config.js has no `domain:` entry in `hosts`",
                        "add `domain: 'HOST',` to the hosts object of config.js")
    entry = domains[0]
    key_tok = toks[entry.key_tok]
    key_line = doc.line_of(key_tok.start)
    if entry.comma is not None:
        anchor = doc.line_of(toks[entry.comma].start)
        return _insert_line_after(text, doc.lines, doc.starts, anchor,
                                  _indent(doc.lines[key_line]) + line)
    # `domain` is the last entry, without a comma: the new entry goes before it
    if not text[doc.starts[key_line]:key_tok.start].strip():
        return _insert_line_after(text, doc.lines, doc.starts, key_line - 1,
                                  _indent(doc.lines[key_line]) + line)
    return text[:key_tok.start] + line + " " + text[key_tok.start:]


def _js_entry_removal(doc: _ConfigJs, entry: _JsEntry) -> tuple[int, int, str]:
    toks, text = doc.tokens, doc.text
    last = toks[entry.comma if entry.comma is not None else entry.value_last]
    first = toks[entry.key_tok]
    first_line, last_line = doc.line_of(first.start), doc.line_of(last.end - 1)
    alone_before = not text[doc.starts[first_line]:first.start].strip()
    after = bisect_right([t.start for t in toks], last.end - 1)
    alone_after = after >= len(toks) or doc.line_of(toks[after].start) > last_line
    if alone_before and alone_after:
        return _line_range_edit(text, doc.lines, doc.starts, first_line, last_line)
    end = last.end
    while end < len(text) and text[end] in " \t":
        end += 1
    return first.start, end, ""


# --------------------------------------------------------------------------------------------
# nginx


def _nginx_tokens(text: str) -> list[_Tok]:
    tokens = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in ";{}":
            tokens.append(_Tok("op", c, i, i + 1))
            i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            tokens.append(_Tok("string", text[i:j], i, j))
            i = j
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in ";{}":
                if text.startswith("${", j):  # ${var} inside a word
                    close = text.find("}", j)
                    j = n if close < 0 else close
                j += 1
            j = min(j, n)
            tokens.append(_Tok("word", text[i:j], i, j))
            i = j
    return tokens


def _nginx_directives(text: str, directive: str) -> list[tuple[_Tok, list[_Tok]]]:
    """(name token, argument tokens) of every active `directive ...;`."""
    found = []
    statement: list[_Tok] = []
    for tok in _nginx_tokens(text):
        if tok.kind != "op":
            statement.append(tok)
            continue
        if tok.text == ";" and statement and statement[0].kind == "word" \
                and statement[0].text == directive:
            found.append((statement[0], statement[1:]))
        statement = []
    return found


def _nginx_unquote(tok: _Tok) -> str:
    if tok.kind != "string":
        return tok.text
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1),
                                                                          m.group(1)),
                  tok.text[1:-1], flags=re.S)


def nginx_get(text: str, directive: str) -> list[str]:
    """The value of every active occurrence (one argument unquoted; several as written)."""
    values = []
    for _, args in _nginx_directives(text, directive):
        if len(args) == 1:
            values.append(_nginx_unquote(args[0]))
        else:
            values.append(text[args[0].start:args[-1].end] if args else "")
    return values


def nginx_set(text: str, directive: str, value: str) -> str:
    """Replace the value of every active occurrence of `directive` (exact name); quoted when it
    holds characters nginx would split on. Unchanged text when there is none."""
    if value == "" or re.search(r"[\s;{}#\"'\\]", value):
        value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    edits = []
    for name, args in _nginx_directives(text, directive):
        if args:
            edits.append((args[0].start, args[-1].end, value))
        else:
            edits.append((name.end, name.end, " " + value))
    return _apply_edits(text, edits)
