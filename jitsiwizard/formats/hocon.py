"""HOCON, the format of jicofo.conf and jvb.conf: the wizard's managed block at a file's end,
and a forgiving reader for the settings the wizard looks at.
"""

from __future__ import annotations

import json
import re

from jitsiwizard.errors import UserError
from jitsiwizard.formats.text import (
    apply_edits,
    is_blank,
    line_ending,
    line_range_edit,
    line_starts,
    newline_after,
    newline_of,
    split_lines,
)

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
    lines = split_lines(text)
    span = _managed_lines(lines)
    if span is None:
        return None
    body = "".join(lines[span[0] + 1:span[1]])
    return body[:len(body) - len(line_ending(body))]


def hocon_managed_block(text: str, body: str | None) -> str:
    """Add, replace, or (body None) remove the managed block at the end of a HOCON file.

    Adding puts one blank line before the block; removing takes that line away again, and a
    file without a final newline gets none back, so removal restores the text byte-for-byte.
    """
    nl = newline_of(text) if text else "\n"
    body_lines = []
    if body is not None:
        trimmed = body.rstrip("\r\n")
        body_lines = [line.rstrip("\r") for line in trimmed.split("\n")] if trimmed else []
        if any(line.strip() in (HOCON_BEGIN, HOCON_END) for line in body_lines):
            raise ValueError("the managed block's body contains a marker line")
    lines = split_lines(text)
    span = _managed_lines(lines)
    if span is None:
        if body is None:
            return text
        if text and not text.endswith("\n"):
            nl = newline_after(text)
        block = nl.join([HOCON_BEGIN, *body_lines, HOCON_END])
        if not text:
            return block + nl
        if text.endswith("\n"):
            return text + nl + block + nl
        return text + nl + nl + block
    begin, end = span
    starts = line_starts(lines)
    if body is None:
        first = begin - 1 if begin > 0 and is_blank(lines[begin - 1]) else begin
        return apply_edits(text, [line_range_edit(text, lines, starts, first, end)])
    nl = line_ending(lines[begin])
    new_body = "".join(line + nl for line in body_lines)
    return text[:starts[begin + 1]] + new_body + text[starts[end]:]


RESCUED_NOTE = ("# moved out of the jitsi-wizard block below, where a package upgrade "
                "(ruby-hocon's `hocon set`) or an admin had written them")


def _hocon_pairs(tree: object, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], object]]:
    if isinstance(tree, dict):
        return [pair for key, value in tree.items() for pair in _hocon_pairs(value, (*path, key))]
    return [(path, tree)]


def _hocon_value(value: object) -> str:
    # Strings are written quoted: HOCON turns a quoted "10" or "true" into a number or a
    # boolean where one is wanted, and an unquoted one could lose a password's leading zero.
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ", ".join(_hocon_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_hocon_path_text((k,))} = {_hocon_value(v)}"
                                for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)


def _hocon_path_text(path: tuple[str, ...]) -> str:
    return ".".join(k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k) for k in path)


def hocon_rescue_managed(text: str, ours: tuple[str, ...]) -> str:
    """Move what the managed block sets besides `ours` (the wizard's own setting, such as
    jicofo.authentication) out of the block, as dotted settings just above it.

    Earlier versions wrote jicofo's block as an object `jicofo { ... }`; the packages' upgrade
    scripts (`hocon set jicofo.xmpp.client.password ...`) add keys to the last such object
    of the file, so jicofo's login could end up inside the wizard's block. Rewriting the
    block must never drop it."""
    lines = split_lines(text)
    span = _managed_lines(lines)
    if span is None:
        return text
    tree = _HoconReader("".join(lines[span[0] + 1:span[1]])).read()
    holder = _hocon_path(tree, *ours[:-1])
    if isinstance(holder, dict):
        holder.pop(ours[-1], None)
    pairs = [(path, value) for path, value in _hocon_pairs(tree, ()) if value != {}]
    if not pairs:
        return text
    nl = line_ending(lines[span[0]]) or "\n"
    rescued = "".join(f"{_hocon_path_text(path)} = {_hocon_value(value)}{nl}"
                      for path, value in pairs)
    first = span[0] - 1 if span[0] > 0 and is_blank(lines[span[0] - 1]) else span[0]
    at = line_starts(lines)[first]
    before = text[:at]
    if before and not before.endswith("\n"):
        before += newline_after(before)
    return before + RESCUED_NOTE + nl + rescued + text[at:]


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


def hocon_get(text: str, *path: str) -> object:
    """The value at `path` as the whole text sets it (later settings win, objects merge): a
    dict, a list, a string (quoted ones decoded), or None when unset. Forgiving like the
    reader: what it cannot read is stepped over."""
    return _hocon_path(_HoconReader(text).read(), *path)


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
