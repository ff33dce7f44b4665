"""nginx site files: the values of a directive (the certificate paths) read and replaced."""

from __future__ import annotations

import re

from jitsiwizard.formats.escape import nginx_string
from jitsiwizard.formats.text import Tok, apply_edits


def _nginx_tokens(text: str) -> list[Tok]:
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
            tokens.append(Tok("op", c, i, i + 1))
            i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            tokens.append(Tok("string", text[i:j], i, j))
            i = j
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in ";{}":
                if text.startswith("${", j):  # ${var} inside a word
                    close = text.find("}", j)
                    j = n if close < 0 else close
                j += 1
            j = min(j, n)
            tokens.append(Tok("word", text[i:j], i, j))
            i = j
    return tokens


def _nginx_directives(text: str, directive: str) -> list[tuple[Tok, list[Tok]]]:
    """(name token, argument tokens) of every active `directive ...;`."""
    found = []
    statement: list[Tok] = []
    for tok in _nginx_tokens(text):
        if tok.kind != "op":
            statement.append(tok)
            continue
        if tok.text == ";" and statement and statement[0].kind == "word" \
                and statement[0].text == directive:
            found.append((statement[0], statement[1:]))
        statement = []
    return found


def _nginx_unquote(tok: Tok) -> str:
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
    value = nginx_string(value)
    edits = []
    for name, args in _nginx_directives(text, directive):
        if args:
            edits.append((args[0].start, args[-1].end, value))
        else:
            edits.append((name.end, name.end, " " + value))
    return apply_edits(text, edits)
