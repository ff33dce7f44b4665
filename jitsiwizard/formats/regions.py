"""The wizard's own lines in a file it edits but does not own, and undoing its change on a
file that others changed since.

jicofo.conf, Prosody's host file, config.js and the like belong to the packages: their
upgrade scripts edit them (with ruby-hocon's `hocon set`, sed, appended lines), and so do
admins. What the wizard wrote there is recorded as runs of consecutive lines ("chunks": how
many lines and the sha256 of their text, so that no secret is kept), found again by content.
A later change that leaves every chunk whole happened elsewhere in the file: it is not a hand
edit of the wizard's lines, a rerun applies its edit around it, and a rollback undoes only the
wizard's own change (a three-way merge, with what the wizard wrote as the common base).
"""

from __future__ import annotations

import hashlib
from difflib import SequenceMatcher

from jitsiwizard.formats.hocon import HOCON_BEGIN, HOCON_END
from jitsiwizard.formats.text import is_blank, split_lines

Chunk = list  # [line count, sha256 of the lines' text]


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("".join(lines).encode("utf-8", "surrogateescape")).hexdigest()


def _locate(lines: list[str], chunks: list[Chunk]) -> tuple[set[int], bool]:
    """The line numbers of `chunks` in `lines`, each searched after the one before; and
    whether every chunk was found."""
    found: set[int] = set()
    at, whole = 0, True
    for count, digest in chunks:
        for start in range(at, len(lines) - count + 1):
            if _digest(lines[start:start + count]) == digest:
                found.update(range(start, start + count))
                at = start + count
                break
        else:
            whole = False
    return found, whole


def intact(text: str, chunks: list[Chunk]) -> bool:
    """Whether every line the wizard wrote is still in `text`, unchanged and in order."""
    return _locate(split_lines(text), chunks)[1]


def _marked_block(lines: list[str]) -> set[int]:
    """The wizard's marked block (HOCON files) with the blank line it adds before it: the
    wizard's as a whole, including lines that a rewrite left as they were."""
    begin = next((i for i, line in enumerate(lines) if line.strip() == HOCON_BEGIN), None)
    if begin is None:
        return set()
    end = next((i for i in range(begin, len(lines)) if lines[i].strip() == HOCON_END), None)
    if end is None:
        return set()
    first = begin - 1 if begin > 0 and is_blank(lines[begin - 1]) else begin
    return set(range(first, end + 1))


def own_chunks(before: str, after: str, earlier: list[Chunk]) -> list[Chunk]:
    """The chunks of `after` that are the wizard's once it replaced `before` with it: the
    lines it changed now, the lines of earlier runs (`earlier`) it left in place, and its
    marked block."""
    old, new = split_lines(before), split_lines(after)
    kept, _ = _locate(old, earlier)
    mine = _marked_block(new)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag == "equal":
            mine.update(j1 + k for k in range(i2 - i1) if i1 + k in kept)
        else:
            mine.update(range(j1, j2))
    chunks: list[Chunk] = []
    run: list[int] = []
    for index in sorted(mine):
        if run and index != run[-1] + 1:
            chunks.append([len(run), _digest(new[run[0]:run[-1] + 1])])
            run = []
        run.append(index)
    if run:
        chunks.append([len(run), _digest(new[run[0]:run[-1] + 1])])
    return chunks


def record_checksum(record: object) -> str:
    """The sha256 of a managed.json record (apply/runs.py): a checksum alone, or a dict."""
    return str(record.get("sha256", "")) if isinstance(record, dict) else str(record)


def record_chunks(record: object) -> list[Chunk] | None:
    """The wizard's own lines of a managed.json record, or None when the whole file is the
    wizard's (a checksum alone)."""
    own = record.get("own") if isinstance(record, dict) else None
    if not isinstance(own, list):
        return None
    chunks = [c for c in own if isinstance(c, list) and len(c) == 2
              and isinstance(c[0], int) and isinstance(c[1], str)]
    return chunks if len(chunks) == len(own) else None


def _hunks(base: list[str], other: list[str]) -> list[tuple[int, int, list[str]]]:
    """What turns `base` into `other`: (first, end, new lines), ranges of `base`."""
    return [(i1, i2, other[j1:j2]) for tag, i1, i2, j1, j2 in
            SequenceMatcher(None, base, other, autojunk=False).get_opcodes() if tag != "equal"]


def _clash(a: tuple, b: tuple) -> bool:
    """Whether two changes of the same base touch the same lines. An insertion at either
    edge of the other's range does not, nor two insertions at one place: both apply."""
    (a1, a2, _), (b1, b2, _) = a, b
    if a1 == a2:
        return b1 < a1 < b2
    if b1 == b2:
        return a1 < b1 < a2
    return a1 < b2 and b1 < a2


def _resembles(line: str, others: list[str]) -> bool:
    return any(SequenceMatcher(None, line.strip(), other.strip()).ratio() >= 0.6
               for other in others)


def _salvage(base: list[str], hunk: tuple) -> list[tuple]:
    """The lines a clashing change added before and after the lines it edited that resemble
    none of the lines it replaced (a package's line inserted next to an edited line of the
    wizard's), as insertions of their own at the edges of its range."""
    first, end, lines = hunk
    old = base[first:end]
    head = 0
    while head < len(lines) and not _resembles(lines[head], old):
        head += 1
    tail = len(lines)
    while tail > head and not _resembles(lines[tail - 1], old):
        tail -= 1
    found = [(first, first, lines[:head])] if head else []
    return found + ([(end, end, lines[tail:])] if tail < len(lines) else [])


def undo_change(written: str, prior: str, current: str) -> tuple[str, bool]:
    """`current` with the wizard's change (`prior` -> `written`) undone, and every change
    made to it since kept. Returns (text, clean): not clean when a change made since
    touches the wizard's own lines; those lines are then put back as they were before the
    wizard's change, and every other change is still kept (lines added next to them too)."""
    base = split_lines(written)
    ours = _hunks(base, split_lines(prior))
    theirs = _hunks(base, split_lines(current))
    # A change made since that is the undo itself (a line the wizard removed, put back;
    # a rollback cut short and run again) is applied once.
    theirs = [h for h in theirs if h not in ours]
    clashing = [h for h in theirs if any(_clash(h, o) for o in ours)]
    kept = [h for h in theirs if h not in clashing]
    kept += [s for h in clashing for s in _salvage(base, h)
             if not any(_clash(s, o) for o in ours)]
    out: list[str] = []
    at = 0
    # At one line: insertions before a change that starts there; of two insertions, the
    # one made since first (sed's "insert after this line", or a prepended first line),
    # except at the end of the file, where the one made since was appended.
    for first, end, lines, _ in sorted(
            [(*h, 1) for h in ours] + [(*h, 0) for h in kept],
            key=lambda h: (h[0], h[1] != h[0], h[3] if h[0] < len(base) else -h[3])):
        out.extend(base[at:first])
        out.extend(lines)
        at = max(at, end)
    out.extend(base[at:])
    return "".join(out), not clashing
