"""A private nginx on loopback for tests: its own main config, pid file, logs and temp files.

The main config's `http {}` body is given by the test; `reload()` sends SIGHUP and waits until
new workers have replaced the old ones (nginx keeps the old ones when the new configuration is
bad: then it raises with the error log).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.lab.proc import Proc, wait_for

MAIN_CONF = """\
# Workers run as root: test trees live under pytest's private (0700) tmp directories.
user root;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
{body}
}}
"""


class Nginx:
    def __init__(self, directory: Path, *, conf: Path | None = None):
        """`conf` is where the main config goes (default: in `directory`)."""
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = Path(conf) if conf else self.dir / "nginx.conf"
        self.proc: Proc | None = None

    def write(self, http_body: str) -> None:
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(MAIN_CONF.format(dir=self.dir, body=http_body))

    def test(self) -> subprocess.CompletedProcess:
        return subprocess.run(["nginx", "-t", "-q", "-c", str(self.conf)], capture_output=True,
                              text=True, timeout=10)

    def start(self, *ports: int) -> Nginx:
        self.proc = Proc(["nginx", "-c", str(self.conf), "-g", "daemon off;"],
                         log=self.dir / "nginx.log")
        for port in ports:
            self.proc.wait_port("127.0.0.1", port)
        return self

    def workers(self) -> set[int]:
        """PIDs of the master's live children."""
        assert self.proc is not None
        found = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[1]) == self.proc.pid:
                found.add(int(entry))
        return found

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def reload(self, timeout: float = 10.0) -> None:
        assert self.proc is not None and self.proc.alive()
        old = self.workers()
        os.kill(self.proc.pid, signal.SIGHUP)

        def reloaded() -> bool:
            # New workers run, and the old ones (which could still accept) have exited.
            now = self.workers()
            return bool(now) and not now & old

        try:
            wait_for(reloaded, timeout, "nginx to replace its workers")
        except TimeoutError:
            raise RuntimeError(f"nginx kept its old configuration:\n{self.error_log()[-2000:]}"
                               ) from None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
