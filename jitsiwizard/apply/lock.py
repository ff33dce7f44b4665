"""The state directory's lock: one run or rollback at a time, per root."""

from __future__ import annotations

import fcntl
import os

from jitsiwizard.errors import EXIT_CHECKS_FAILED, UserError
from jitsiwizard.paths import LOCK_FILE, STATE_DIR
from jitsiwizard.rootfs import Root


class Lock:
    """flock on STATE_DIR/lock, holding our pid. The kernel drops the lock if we die."""

    def __init__(self, root: Root):
        self.path = root.path(LOCK_FILE)
        self.fd: int | None = None

    def __enter__(self) -> Lock:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise UserError(f"cannot use the state directory {STATE_DIR}: "
                            f"{exc.strerror or exc}",
                            "run it as root (sudo jitsi-wizard), and check that "
                            f"{STATE_DIR} is a writable directory") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise UserError(f"another jitsi-wizard run is in progress (pid {holder})",
                            "wait for it to finish, then try again",
                            exit_code=EXIT_CHECKS_FAILED) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def lock_holder(root: Root) -> int | None:
    """The pid holding the lock, -1 when held by an unknown pid, None when free."""
    path = root.path(LOCK_FILE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else -1
    finally:
        os.close(fd)
    return None
