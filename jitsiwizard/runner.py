"""The one way commands run: argv lists, a timeout each, output captured and logged redacted."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

from jitsiwizard.rootfs import Root
from jitsiwizard.secrets import Redactor, Secret
from jitsiwizard.steps import TargetPath

SERVICE_ACTIONS = ("restart", "reload", "start", "stop", "enable", "disable")
SERVICE_TIMEOUT = 120.0
STATE_TIMEOUT = 10.0
# After an abort (a signal during apply) a command gets this long to exit on SIGTERM.
ABORT_GRACE = 5.0


@dataclass
class CommandResult:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    simulated: bool = False
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.code == 0


def tail(text: str, lines: int) -> str:
    """The last `lines` lines of text (all of it when it is shorter)."""
    parts = text.rstrip("\n").split("\n")
    return "\n".join(parts[-lines:]) if text.strip() else ""


class Runner:
    """Runs commands for the wizard, or only records them when `simulate` is set.

    Children run in their own session (process group): a timeout or an abort kills the
    whole group, and a Ctrl-C on the terminal reaches the wizard, not the child.
    """

    # The systemctl command; tests point it at a stand-in.
    systemctl: Sequence[str] = ("systemctl",)

    def __init__(self, root: Root, *, simulate: bool = False,
                 log: Callable[[str], None] | None = None, redact: Redactor | None = None):
        self.root = root
        self.simulate = simulate
        self.log = log
        self.redact: Callable[[str], str] = redact if redact is not None else (lambda t: t)
        self.recorded: list[list[str]] = []
        self.tail_lines = 20  # lines of each output stream that reach the log
        self._child: subprocess.Popen | None = None
        self._abort_requested = False

    # -- running commands -------------------------------------------------------------

    def _argv(self, argv: Sequence[str | TargetPath]) -> list[str]:
        return [str(self.root.path(a.path)) if isinstance(a, TargetPath) else str(a)
                for a in argv]

    def _say(self, text: str) -> None:
        if self.log is not None:
            self.log(self.redact(text))

    def run(self, argv: Sequence[str | TargetPath], *, timeout: float,
            stdin: Secret | str | None = None, env: dict | None = None) -> CommandResult:
        """Run argv (TargetPath arguments mapped under the root) and capture its output.

        Never raises for the command's sake: a missing program gives 127, a timeout 124.
        """
        asked = [str(a) for a in argv]
        self.recorded.append(asked)
        real = self._argv(argv)
        shown = " ".join(shlex.quote(a) for a in real)
        fed = " (with standard input, not logged)" if stdin is not None else ""
        if self.simulate:
            self._say(f"(simulated) $ {shown}{fed}")
            return CommandResult(asked, 0, "", "", simulated=True)
        self._say(f"$ {shown}{fed}")
        if self._abort_requested:
            result = CommandResult(asked, 130, "", "not started: the run was interrupted")
            self._say("not started: the run was interrupted")
            return result
        result = self._execute(asked, real, timeout, stdin, env)
        self._log_result(result, timeout)
        return result

    def _execute(self, asked: list[str], real: list[str], timeout: float,
                 stdin: Secret | str | None, env: dict | None) -> CommandResult:
        full_env = None
        if env:
            full_env = dict(os.environ)
            full_env.update({str(k): str(v) for k, v in env.items()})
        data = stdin.value if isinstance(stdin, Secret) else stdin
        try:
            child = subprocess.Popen(
                real, stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env,
                start_new_session=True, text=True, encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return CommandResult(asked, 127, "", f"{real[0]}: command not found")
        except PermissionError:
            return CommandResult(asked, 126, "", f"{real[0]}: permission denied (not executable)")
        except OSError as exc:
            return CommandResult(asked, 126, "", f"{real[0]}: cannot run: {exc.strerror}")
        self._child = child
        deadline = time.monotonic() + timeout
        abort_deadline: float | None = None
        pending = data
        timed_out = False
        try:
            while True:
                if self._abort_requested and abort_deadline is None:
                    abort_deadline = time.monotonic() + ABORT_GRACE
                    self._kill(child, signal.SIGTERM)
                now = time.monotonic()
                limit = deadline if abort_deadline is None else min(deadline, abort_deadline)
                try:
                    # Short slices so an abort is noticed even if it raced the start.
                    out, err = child.communicate(pending, timeout=max(0.0, min(limit - now, 0.5)))
                    break
                except subprocess.TimeoutExpired:
                    pending = None  # already handed over; communicate keeps feeding it
                    if time.monotonic() >= limit:
                        timed_out = abort_deadline is None or deadline <= abort_deadline
                        self._kill(child, signal.SIGKILL)
                        out, err = self._collect(child)
                        break
        except BaseException:
            self._kill(child, signal.SIGKILL)
            self._collect(child)
            raise
        finally:
            self._child = None
        if timed_out:
            return CommandResult(asked, 124, out or "", err or "", timed_out=True)
        return CommandResult(asked, child.returncode, out or "", err or "")

    @staticmethod
    def _kill(child: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, sig)

    @staticmethod
    def _collect(child: subprocess.Popen) -> tuple[str, str]:
        # A grandchild that left the group may hold the pipes open: do not wait for it forever.
        try:
            out, err = child.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            for stream in (child.stdout, child.stderr):
                if stream is not None:
                    stream.close()
            child.wait(timeout=5)
            out, err = "", ""
        return out or "", err or ""

    def _log_result(self, result: CommandResult, timeout: float) -> None:
        if result.timed_out:
            self._say(f"timed out after {timeout:g}s: killed (exit {result.code})")
        else:
            self._say(f"exit {result.code}")
        for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            last = tail(text, self.tail_lines)
            if last:
                self._say(f"{name}:\n" + "\n".join("  " + line for line in last.split("\n")))

    def abort(self) -> None:
        """Ask the running command (if any) to stop and refuse new ones until reset_abort().

        Only sets a flag and sends a signal, so it is safe inside a signal handler.
        """
        self._abort_requested = True
        child = self._child
        if child is not None:
            self._kill(child, signal.SIGTERM)

    def reset_abort(self) -> None:
        self._abort_requested = False

    # -- services ---------------------------------------------------------------------

    def service_state(self, name: str) -> dict:
        """{"enabled": bool | None, "active": bool | None}; None when unknown or simulated."""
        state: dict = {"enabled": None, "active": None}
        # Simulated runs answer with empty output, which reads as unknown.
        enabled = self.run([*self.systemctl, "is-enabled", name], timeout=STATE_TIMEOUT)
        word = enabled.stdout.strip().split("\n")[0] if enabled.stdout.strip() else ""
        if word in ("enabled", "enabled-runtime"):
            state["enabled"] = True
        elif word in ("disabled", "masked", "masked-runtime"):
            state["enabled"] = False
        active = self.run([*self.systemctl, "is-active", name], timeout=STATE_TIMEOUT)
        word = active.stdout.strip().split("\n")[0] if active.stdout.strip() else ""
        if word in ("active", "reloading", "activating", "refreshing"):
            state["active"] = True
        elif word in ("inactive", "failed", "deactivating"):
            state["active"] = False
        return state

    def service(self, name: str, action: str) -> CommandResult:
        """systemctl ACTION NAME for one of SERVICE_ACTIONS."""
        if action not in SERVICE_ACTIONS:
            raise ValueError(f"unknown service action {action!r}")
        return self.run([*self.systemctl, action, name], timeout=SERVICE_TIMEOUT)
