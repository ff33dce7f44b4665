"""Low-level file work: fsync, checksums, JSON reads, removal, atomic private writes, and
resolving a target path inside a root.

write_private() and private_dir() are for every file and directory the wizard keeps for
itself (run state, saved answers, secrets), not only the transaction's."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
import stat
from pathlib import Path

from jitsiwizard.rootfs import MAX_CONFIG, Root, read_regular


class StepFailed(Exception):
    """A step could not be done; the message is meant for the admin (already redacted)."""


def fsync_dir(path: Path) -> None:
    """Make the entries of directory `path` (a file created, renamed or removed in it)
    durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lstat_or_none(path: Path) -> os.stat_result | None:
    """os.lstat of `path`, or None when there is nothing there."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's content, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (os.write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_private(path: str | os.PathLike, data: bytes, mode: int = 0o600) -> None:
    """Atomically replace the file `path` with `data`, with permissions `mode` (0600 unless
    told otherwise): the one way the wizard writes its own private files.

    `data` goes to a new temporary file in the same directory, created with O_EXCL and
    O_NOFOLLOW (so never through a file or link already there), set to `mode`, written in
    full and fsync'd, then renamed over `path`; the directory is fsync'd last. A reader sees
    the old content or the new, never a mix. On an error the temporary file is removed and
    `path` is left as it was; only SIGKILL or a crash can leave a `.NAME.*.tmp` behind.
    The directory must exist (see private_dir).
    """
    path = Path(path)
    # A name of its own: two writers of one file never share (or remove) a temp file.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have narrowed it
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def private_dir(path: str | os.PathLike) -> Path:
    """Make `path` a directory only its owner can enter (0700) and return it as a Path.

    Missing parents are created 0700 too (exactly, whatever the umask), each fsync'd into
    its parent; parents that exist are left alone. An existing `path` is set to 0700.
    Raises NotADirectoryError when `path` is something else (a symlink included).
    """
    path = Path(path)
    missing = []
    here = path
    while lstat_or_none(here) is None and here.parent != here:
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue  # made meanwhile by another process; the leaf is checked below
        os.chmod(directory, 0o700)
        fsync_dir(directory.parent)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def read_json(path: Path) -> object:
    """The JSON value in `path`, or None when the file is missing or not valid JSON."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def remove(path: Path) -> None:
    """Remove a file, link or whole directory tree."""
    st = lstat_or_none(path)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    fsync_dir(path.parent)


_FS_IOC_GETFLAGS = 0x80086601  # linux/fs.h, as on x86-64 and arm64
_FS_IMMUTABLE_FL, _FS_APPEND_FL = 0x10, 0x20


def immutable(path: Path) -> bool:
    """Whether `path` has the immutable or append-only attribute (chattr +i / +a), which
    stops even root from replacing it. False when it cannot be told."""
    import array
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(fd, _FS_IOC_GETFLAGS, flags, True)
        return bool(flags[0] & (_FS_IMMUTABLE_FL | _FS_APPEND_FL))
    except OSError:
        return False
    finally:
        os.close(fd)


def root_path(root: Root, target: str) -> Path:
    """Where target path `target` is under the root ("/" is the root itself)."""
    return root.path(target) if target != "/" else root.base


def resolve(root: Root, target: str, *, follow_last: bool) -> str:
    """`target` with every symlink in it followed inside the root (an absolute link target
    means the root's path, never the host's). The last component is followed only when asked,
    so a file behind conf.d/X -> ../conf.avail/X is edited in place and the link kept."""
    return root.resolve(target, follow_last=follow_last)


def read_kept(path: Path) -> str:
    """A copy the wizard kept in its state (a backup, a file as written), bounded like the
    configuration files it was taken from."""
    return read_regular(path, MAX_CONFIG).decode("utf-8", "surrogateescape")
