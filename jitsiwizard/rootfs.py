"""Every filesystem path goes through a Root, so `--root DIR` works everywhere.

The planner only reads, and only through a `FileView`: a Root is one, and so is a
`jitsiwizard.memfiles.MemoryFiles`, which lets a plan be built with no tree on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol


class FileView(Protocol):
    """Read-only access to the host's files, by absolute target path."""

    def read_text(self, target: str) -> str | None:
        """The file's text (following links); None when it is absent or a directory."""

    def exists(self, target: str) -> bool:
        """Whether anything is there: a file, a directory or a link, even a dangling one."""

    def readlink(self, target: str) -> str | None:
        """Where the link points, as written; None when the path is no link."""

    def glob(self, directory: str, pattern: str) -> list[str]:
        """Absolute paths of the entries of `directory` whose names match, sorted."""

    def mode(self, target: str) -> int | None:
        """The permission bits (following links); None when nothing is there."""


class Root:
    def __init__(self, base: str | os.PathLike = "/"):
        self.base = Path(base).resolve()

    @property
    def is_real(self) -> bool:
        return self.base == Path("/")

    def path(self, target: str) -> Path:
        """Map an absolute path on the target system to a path under this root."""
        if not target.startswith("/"):
            raise ValueError(f"target paths are absolute: {target!r}")
        return self.base / target.lstrip("/")

    def read_text(self, target: str) -> str | None:
        try:
            return self.path(target).read_text(encoding="utf-8", errors="surrogateescape")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def exists(self, target: str) -> bool:
        return os.path.lexists(self.path(target))

    def glob(self, directory: str, pattern: str) -> list[str]:
        """Absolute target paths in `directory` matching `pattern`, sorted."""
        base = self.path(directory)
        if not base.is_dir():
            return []
        return sorted(
            directory.rstrip("/") + "/" + p.name for p in base.glob(pattern)
        )

    def readlink(self, target: str) -> str | None:
        try:
            return os.readlink(self.path(target))
        except OSError:
            return None

    def mode(self, target: str) -> int | None:
        try:
            return self.path(target).stat().st_mode & 0o7777
        except OSError:
            return None

    def __repr__(self) -> str:
        return f"Root({str(self.base)!r})"
