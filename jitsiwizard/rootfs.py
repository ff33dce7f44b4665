"""Every filesystem path goes through a Root, so `--root DIR` works everywhere.

The planner only reads, and only through a `FileView`: a Root is one, and so is a
`jitsiwizard.memfiles.MemoryFiles`, which lets a plan be built with no tree on disk.

The root is a boundary. Links are followed as on the host the root is: an absolute link
target names a path under the root, never this machine's. A link that climbs above the root,
and a directory that the kernel would follow out of it (a state directory linked elsewhere),
are refused with `RootEscape` (exit code 2) before anything is read or written there.

Every read is bounded: only regular files are read (a FIFO, a device or a socket is refused
without blocking on it), up to a size cap (`read_regular`)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Protocol

from jitsiwizard.errors import UserError

MAX_CONFIG = 8 << 20  # bytes: the largest host file the planner reads (config files are KBs)
_MAX_LINKS = 40  # as the kernel: more hops than this is a loop


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


class RootEscape(UserError):
    """A path that leads out of the root (through a link)."""


class NotRegular(OSError):
    """A path that names something other than a regular file, or one too large to read."""


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def file_kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them.

    Raises FileNotFoundError (and the other OSErrors of open), or NotRegular when `path` is
    a directory, a FIFO, a device or a socket (checked before opening and again on the open
    descriptor; the open never blocks, so a FIFO with no writer cannot hang it), or when the
    file holds more than `limit` bytes (a file that grows while read is cut at the cap).
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegular(errno.EINVAL, f"is {file_kind(st.st_mode)}, not a regular file",
                         str(path))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced between the stat and the open
            raise NotRegular(errno.EINVAL, f"is {file_kind(st.st_mode)}, not a regular file",
                             str(path))
        if st.st_size > limit:
            raise NotRegular(errno.EFBIG, f"is {st.st_size} bytes; at most {limit} are read",
                             str(path))
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise NotRegular(errno.EFBIG, f"holds more than {limit} bytes", str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


class Root:
    def __init__(self, base: str | os.PathLike = "/"):
        self.base = Path(base).resolve()

    @property
    def is_real(self) -> bool:
        return self.base == Path("/")

    def path(self, target: str) -> Path:
        """Map an absolute path on the target system to a path under this root.

        The path itself is not followed (a write replaces a link there, a read follows it
        with `resolve`), but its directories are: when the kernel would follow them out of
        the root, RootEscape."""
        if not target.startswith("/"):
            raise ValueError(f"target paths are absolute: {target!r}")
        mapped = self.base / target.lstrip("/")
        if not self.is_real:
            self._check_parent(target, mapped)
        return mapped

    def _check_parent(self, target: str, mapped: Path) -> None:
        parent = mapped.parent
        if parent == self.base or not parent.is_relative_to(self.base):
            return
        real = Path(os.path.realpath(parent))
        if real == self.base or real.is_relative_to(self.base):
            return
        # Name the link: the first directory on the way that is one.
        here = self.base
        for part in parent.relative_to(self.base).parts:
            here = here / part
            if here.is_symlink():
                shown = "/" + str(here.relative_to(self.base))
                raise RootEscape(
                    f"{shown} (under --root {self.base}) is a link to {os.readlink(here)}, "
                    f"outside the root: {target} would be read or written there",
                    f"replace the link {here} with a directory inside the root, or give "
                    "--root the tree the link belongs to", field="--root")
        raise RootEscape(f"{target} leads out of the root {self.base}",
                         "remove the link on its way", field="--root")

    def resolve(self, target: str, *, follow_last: bool = True) -> str:
        """`target` with every link on the way followed inside the root, as on the host the
        root is (an absolute link target means the root's path, never this machine's). The
        last component is followed only when asked. A link that climbs above the root, or
        a loop, raises RootEscape."""
        if not target.startswith("/"):
            raise ValueError(f"target paths are absolute: {target!r}")
        pending = [p for p in target.split("/") if p]
        done: list[str] = []
        hops = 0
        while pending:
            name = pending.pop(0)
            if name == ".":
                continue
            if name == "..":
                if not done:
                    raise RootEscape(f"{target} climbs above the root {self.base} "
                                     "through '..' in a link",
                                     "replace the link with one that stays inside the root",
                                     field="--root")
                done.pop()
                continue
            here = "/" + "/".join([*done, name])
            mapped = self.base / here.lstrip("/")
            if (pending or follow_last) and os.path.islink(mapped):
                hops += 1
                if hops > _MAX_LINKS:
                    raise RootEscape(f"{target}: too many levels of symbolic links",
                                     "break the link loop", field="--root")
                link = os.readlink(mapped)
                if link.startswith("/"):
                    done = []
                pending = [p for p in link.split("/") if p] + pending
                continue
            done.append(name)
        return "/" + "/".join(done)

    def real(self, target: str) -> Path:
        """Where `target` is on this machine, every link followed inside the root."""
        return self.path(self.resolve(target))

    def read_bytes(self, target: str, limit: int = MAX_CONFIG) -> bytes | None:
        """The file's bytes (following links inside the root); None when it is absent or a
        directory. Something else there (a FIFO, a device), or a file over `limit` bytes,
        is a UserError naming the path: a read never blocks and never fills memory."""
        try:
            return read_regular(self.real(target), limit)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except NotRegular as exc:
            if exc.errno == errno.EINVAL and "directory" in exc.strerror:
                return None
            raise UserError(f"{target} {exc.strerror}",
                            "replace it with the regular file the package installs",
                            field=target) from None

    def read_text(self, target: str) -> str | None:
        raw = self.read_bytes(target)
        return None if raw is None else raw.decode("utf-8", errors="surrogateescape")

    def exists(self, target: str) -> bool:
        return os.path.lexists(self.path(target))

    def glob(self, directory: str, pattern: str) -> list[str]:
        """Absolute target paths in `directory` matching `pattern`, sorted."""
        base = self.real(directory)
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
            return self.real(target).stat().st_mode & 0o7777
        except OSError:
            return None

    def __repr__(self) -> str:
        return f"Root({str(self.base)!r})"
