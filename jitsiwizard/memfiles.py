"""A host's files held in memory: a `FileView` for building plans with no tree on disk.

Paths behave as under a Root: links are followed when text or modes are read (not by
`exists` or `readlink`), a relative link target is taken from the link's directory, and
directories are implied by the paths under them. An absolute link target resolves inside the
view, as on the host itself (a Root under --root would follow it out to this machine's /)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

FILE_MODE = 0o644  # for files given without a mode
DIR_MODE = 0o755
_MAX_LINKS = 40  # as the kernel: more hops than this is a loop


def _absolute(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"target paths are absolute: {path!r}")
    return posixpath.normpath("/" + path.lstrip("/"))


class MemoryFiles:
    """path -> text, plus optional links (path -> target as written), modes (path ->
    permission bits) and empty directories."""

    def __init__(self, files: Mapping[str, str], *, links: Mapping[str, str] | None = None,
                 modes: Mapping[str, int] | None = None, dirs: Iterable[str] = ()):
        self._files = {_absolute(p): text for p, text in files.items()}
        self._links = {_absolute(p): target for p, target in (links or {}).items()}
        self._modes = {_absolute(p): mode & 0o7777 for p, mode in (modes or {}).items()}
        self._dirs = {"/"} | {_absolute(d) for d in dirs}
        for path in (*self._files, *self._links, *self._dirs):
            parent = posixpath.dirname(path)
            while parent not in self._dirs:
                self._dirs.add(parent)
                parent = posixpath.dirname(parent)
        both = (self._files.keys() | self._links.keys()) & self._dirs
        both |= self._files.keys() & self._links.keys()
        if both:
            raise ValueError(f"paths given as two kinds at once: {sorted(both)}")

    def _resolve(self, path: str, follow_last: bool) -> str | None:
        """`path` with every link on the way replaced by where it points (the last one too
        when `follow_last`); None for a loop. Walked part by part, so `..` after a link
        leaves the link's target, as the kernel does."""
        hops = 0

        def walk(path: str, follow_last: bool) -> str | None:
            nonlocal hops
            parts = [p for p in path.split("/") if p not in ("", ".")]
            current = "/"
            for index, part in enumerate(parts):
                if part == "..":
                    current = posixpath.dirname(current)
                    continue
                candidate = posixpath.join(current, part)
                target = self._links.get(candidate)
                if target is None or (index == len(parts) - 1 and not follow_last):
                    current = candidate
                    continue
                hops += 1
                if hops > _MAX_LINKS:
                    return None
                resolved = walk(target if target.startswith("/")
                                else posixpath.join(current, target), True)
                if resolved is None:
                    return None
                current = resolved
            return current

        if not path.startswith("/"):
            raise ValueError(f"target paths are absolute: {path!r}")
        return walk(path, follow_last)

    def read_text(self, target: str) -> str | None:
        real = self._resolve(target, True)
        return self._files.get(real) if real is not None else None

    def exists(self, target: str) -> bool:
        real = self._resolve(target, False)
        return real is not None and (real in self._files or real in self._links
                                     or real in self._dirs)

    def readlink(self, target: str) -> str | None:
        real = self._resolve(target, False)
        return self._links.get(real) if real is not None else None

    def glob(self, directory: str, pattern: str) -> list[str]:
        real = self._resolve(directory, True)
        if real not in self._dirs:
            return []
        names = {posixpath.basename(p) for p in (*self._files, *self._links, *self._dirs)
                 if p != "/" and posixpath.dirname(p) == real}
        return sorted(directory.rstrip("/") + "/" + name for name in names
                      if fnmatchcase(name, pattern))

    def mode(self, target: str) -> int | None:
        real = self._resolve(target, True)
        if real in self._files:
            return self._modes.get(real, FILE_MODE)
        if real in self._dirs:
            return self._modes.get(real, DIR_MODE)
        return None

    def __repr__(self) -> str:
        return (f"MemoryFiles({len(self._files)} files, {len(self._links)} links, "
                f"{len(self._dirs)} directories)")
