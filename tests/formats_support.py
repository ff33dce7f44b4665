"""Shared pieces of the format tests: the host names their sample files use, a line diff."""

from __future__ import annotations

import difflib

HOST = "meet.example.org"
GUEST = "guest.meet.example.org"


def changed_lines(before: str, after: str, keepends: bool = True
                  ) -> tuple[list[str], list[str]]:
    """The lines only `before` has and the lines only `after` has, by a line diff."""
    old, new = before.splitlines(keepends), after.splitlines(keepends)
    removed, added = [], []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            removed += old[i1:i2]
            added += new[j1:j2]
    return removed, added
