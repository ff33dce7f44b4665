"""Starting and stopping the real servers the tests use. Waits are on conditions, bounded."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable


def wait_for(condition: Callable[[], object], timeout: float, what: str,
             interval: float = 0.01) -> object:
    """Poll `condition` until it returns something truthy; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_port(kind: str = "tcp", host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the kernel picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    stype = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    with socket.socket(family, stype) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def is_gone(pid: int) -> bool:
    """True when the process has exited (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


# Every server a test started, so the suite can prove at its end that none outlives it.
STARTED: list[Proc] = []


def still_running() -> list[str]:
    """The servers started by tests that are still alive (zombies count as stopped)."""
    return [f"pid {p.pid}: {' '.join(p.argv)[:160]}" for p in STARTED if not is_gone(p.pid)]


class Proc:
    """A server process started by a test, stopped by its PID."""

    def __init__(self, argv: list[str], *, log: Path, env: dict | None = None,
                 cwd: str | None = None):
        self.argv = argv
        self.log_path = log
        full_env = dict(os.environ)
        full_env.update(env or {})
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=full_env, cwd=cwd,
                                      start_new_session=True)
        STARTED.append(self)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_port(self, host: str, port: int, timeout: float = 10.0) -> None:
        def ready():
            if not self.alive():
                raise RuntimeError(f"{self.argv[0]} exited early:\n{self.log_text()[-3000:]}")
            return port_open(host, port)

        wait_for(ready, timeout, f"{self.argv[0]} to listen on {host}:{port}")

    def stop(self, timeout: float = 5.0) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                wait_for(lambda: is_gone(self.pid), timeout, f"{self.argv[0]} to stop")
            except TimeoutError:
                os.killpg(self.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        self._log.close()
