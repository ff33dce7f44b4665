"""Jitsi Meet's config.js, which is JavaScript: the string entries of its `hosts` object
read, and `anonymousdomain` set or removed there.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from jitsiwizard.errors import UserError
from jitsiwizard.formats.escape import js_string
from jitsiwizard.formats.text import (
    Tok,
    apply_edits,
    indent_of,
    insert_line_after,
    join_surrogates,
    line_range_edit,
    line_starts,
    split_lines,
)

_JS_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*[\s\S]*?(?:\*/|\Z))
  | (?P<string>'(?:[^'\\\n]|\\[\s\S])*'?|"(?:[^"\\\n]|\\[\s\S])*"?|`(?:[^`\\]|\\[\s\S])*`?)
  | (?P<name>[A-Za-z_$][\w$]*)
  | (?P<number>\.?\d[\w.]*)
  | (?P<op>[\s\S])
""", re.X)


def _js_tokens(text: str) -> list[Tok]:
    return [Tok(m.lastgroup, m.group(0), m.start(), m.end())
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

    return join_surrogates(re.sub(
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
        self.lines = split_lines(text)
        self.starts = line_starts(self.lines)
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


def _js_key(tok: Tok) -> str | None:
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
        return apply_edits(text, [_js_entry_removal(doc, e) for e in existing])
    literal = js_string(domain)
    if existing:
        return apply_edits(text, [(toks[e.value_first].start, toks[e.value_last].end, literal)
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
            return insert_line_after(text, doc.lines, doc.starts, anchor,
                                     indent_of(doc.lines[anchor]) + line)
    domains = doc.find("domain")
    if not domains:
        raise UserError("config.js has no `domain:` entry in `hosts`",
                        "add `domain: 'HOST',` to the hosts object of config.js")
    entry = domains[0]
    key_tok = toks[entry.key_tok]
    key_line = doc.line_of(key_tok.start)
    if entry.comma is not None:
        anchor = doc.line_of(toks[entry.comma].start)
        return insert_line_after(text, doc.lines, doc.starts, anchor,
                                 indent_of(doc.lines[key_line]) + line)
    # `domain` is the last entry, without a comma: the new entry goes before it
    if not text[doc.starts[key_line]:key_tok.start].strip():
        return insert_line_after(text, doc.lines, doc.starts, key_line - 1,
                                 indent_of(doc.lines[key_line]) + line)
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
        return line_range_edit(text, doc.lines, doc.starts, first_line, last_line)
    end = last.end
    while end < len(text) and text[end] in " \t":
        end += 1
    return first.start, end, ""
