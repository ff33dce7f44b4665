"""Reading the host while the wizard starts. The screen library takes about 0.12 s to import
and reading the host's configuration (Prosody, jicofo, nginx, config.js) about 0.02 s; on a
host with a second CPU a child process reads the host meanwhile, so the first screen, which
shows what was read, appears sooner. With one CPU it would only take turns: the host is then
read in-process, as it is whenever the child fails in any way.

The reading itself is jitsiwizard.host.facts (pure); what only the recorded runs know, the
file the wizard first changed as it was before, comes from jitsiwizard.apply.runs."""

from __future__ import annotations

import os
import pickle
from typing import TYPE_CHECKING

from jitsiwizard.paths import RUNS_DIR

if TYPE_CHECKING:
    from jitsiwizard.host.facts import HostFacts
    from jitsiwizard.rootfs import Root

MAX_RESULT = 16 * 1024 * 1024  # HostFacts of a real host pickle to a few kB


def read_host_facts(root: Root) -> HostFacts:
    """The host's facts under `root`, with the backups of the recorded runs to hand."""
    from jitsiwizard.host.facts import read_facts

    def backup_of(path: str) -> str | None:
        if not root.path(RUNS_DIR).is_dir():  # no run recorded: apply need not even load
            return None
        from jitsiwizard.apply.runs import first_backup

        return first_backup(root, path)

    return read_facts(root, backup_of)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class HostReader:
    """One read of the host in a child process; `facts()` returns it (or raises the error the
    read raised), falling back to reading in-process."""

    def __init__(self, root: Root):
        self.root = root
        self.pid = 0
        self.fd = -1
        if usable_cpus() < 2 or not hasattr(os, "fork"):
            return
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no process left to fork (limits): read in-process
            os.close(read_end)
            os.close(write_end)
            return
        if pid == 0:  # pragma: no cover - the child; its result is checked by the parent
            os.close(read_end)
            self._child(write_end)
        os.close(write_end)
        self.pid, self.fd = pid, read_end

    def _child(self, write_end: int) -> None:  # pragma: no cover - runs in the child
        code = 1
        try:
            from jitsiwizard.errors import UserError

            try:
                result = ("facts", read_host_facts(self.root))
            except UserError as exc:
                result = ("error", exc)
            data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            code = 0
        except BaseException:  # noqa: BLE001 - anything at all: the parent reads instead
            pass
        finally:
            os._exit(code)  # no atexit handlers, no flush of the parent's buffers

    def _collect(self) -> tuple[str, object] | None:
        if not self.pid:
            return None
        data = bytearray()
        try:
            with os.fdopen(self.fd, "rb") as reader:
                while len(data) <= MAX_RESULT:
                    chunk = reader.read(65536)
                    if not chunk:
                        break
                    data += chunk
        finally:
            self.fd = -1
            _, status = os.waitpid(self.pid, 0)
            self.pid = 0
        if status != 0 or not data or len(data) > MAX_RESULT:
            return None
        try:
            return pickle.loads(bytes(data))  # noqa: S301 - written by our own child
        except Exception:  # noqa: BLE001 - an unpicklable error: read again to see it
            return None

    def facts(self) -> HostFacts:
        try:
            result = self._collect()
        except OSError:
            result = None
        if result is None:
            return read_host_facts(self.root)
        kind, value = result
        if kind == "error":
            raise value  # type: ignore[misc]
        return value  # type: ignore[return-value]
