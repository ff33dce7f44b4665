"""Every filesystem path goes through a Root, so `--root DIR` works everywhere."""

from __future__ import annotations

import os
from pathlib import Path


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

    def __repr__(self) -> str:
        return f"Root({str(self.base)!r})"
