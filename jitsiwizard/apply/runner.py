"""The one way commands run: argv lists, a timeout each, output captured and logged redacted."""

from __future__ import annotations

import codecs
import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

from jitsiwizard.answers.secrets import Redactor, Secret
from jitsiwizard.plan.steps import TargetPath
from jitsiwizard.rootfs import Root

SERVICE_ACTIONS = ("restart", "reload", "start", "stop", "enable", "disable")
SERVICE_TIMEOUT = 120.0
STATE_TIMEOUT = 10.0
# After an abort (a signal during apply) a command gets this long to exit on SIGTERM.
ABORT_GRACE = 5.0
# How long output is still read after the command exited or was killed: a grandchild that
# left the process group may hold the pipes open indefinitely.
COLLECT_GRACE = 5.0
STREAM_LINES = 5000  # ordinary output lines of one command logged as they arrive
# A "line" without a newline is logged once it reaches this length (memory stays bounded).
MAX_LOG_LINE = 8192
READ_SIZE = 65536  # bytes per read from, and per write to, a pipe
# apt's progress lines (APT::Status-Fd): always logged, they drive the package progress bar.
APT_STATUS_PREFIXES = ("pmstatus:", "dlstatus:")


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


class _LiveLog:
    """Output lines of one command on their way to the log, as they arrive.

    After `limit` ordinary lines only apt's status lines are logged at once; the rest are
    counted and the last `keep` of them logged when the command ends."""

    def __init__(self, say: Callable[[str], None], limit: int, keep: int):
        self.say = say
        self.limit = limit
        self.shown = 0
        self.held: deque[str] = deque(maxlen=max(0, keep))
        self.skipped = 0

    def line(self, text: str) -> None:
        if text.lstrip().startswith(APT_STATUS_PREFIXES):
            self.say(text)
        elif self.shown < self.limit:
            self.shown += 1
            self.say(text)
        else:
            self.skipped += 1
            self.held.append(text)

    def finish(self) -> None:
        if not self.skipped:
            return
        unseen = self.skipped - len(self.held)
        if unseen:
            self.say(f"({unseen} lines of output not logged; the last {len(self.held)}:)")
        for text in self.held:
            self.say(text)
        self.held.clear()
        self.skipped = 0


class _Stream:
    """One output pipe: every byte kept for the result; each complete line logged."""

    def __init__(self, prefix: str, live: _LiveLog):
        self.prefix = prefix
        self.live = live
        self.chunks: list[bytes] = []
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.partial = ""

    def feed(self, data: bytes) -> None:
        self.chunks.append(data)
        *lines, self.partial = (self.partial + self.decoder.decode(data)).split("\n")
        for line in lines:
            self._line(line)
        if len(self.partial) >= MAX_LOG_LINE:
            self._line(self.partial)
            self.partial = ""

    def end(self) -> None:
        self._line(self.partial + self.decoder.decode(b"", final=True))
        self.partial = ""

    def _line(self, line: str) -> None:
        # A carriage return redraws a progress display: each state is a line of its own.
        for piece in line.split("\r"):
            if piece.strip():
                self.live.line(self.prefix + piece)

    def text(self) -> str:
        # As Popen's text mode gives it: UTF-8 with replacement, universal newlines.
        data = b"".join(self.chunks).decode("utf-8", "replace")
        return data.replace("\r\n", "\n").replace("\r", "\n")


class _Pipes:
    """A child's standard streams, served from one thread: input fed, output read and
    logged line by line as it arrives."""

    def __init__(self, child: subprocess.Popen, data: str | None, live: _LiveLog):
        self.child = child
        self.closed = False
        self.selector = selectors.DefaultSelector()
        self.out = _Stream("  ", live)
        self.err = _Stream("  stderr: ", live)
        self.selector.register(child.stdout, selectors.EVENT_READ, self.out)
        self.selector.register(child.stderr, selectors.EVENT_READ, self.err)
        self.stdin = child.stdin
        self.pending = memoryview((data or "").encode("utf-8", "replace"))
        if self.stdin is not None:
            if self.pending:
                os.set_blocking(self.stdin.fileno(), False)
                self.selector.register(self.stdin, selectors.EVENT_WRITE, None)
            else:
                self._close_stdin()

    @property
    def done(self) -> bool:
        """Both output streams reached their end (or were given up)."""
        return self.closed or not any(key.data is not None
                                      for key in self.selector.get_map().values())

    def pump(self, timeout: float) -> None:
        for key, _ in self.selector.select(max(0.0, timeout)):
            if key.data is None:
                self._write()
                continue
            try:
                chunk = os.read(key.fd, READ_SIZE)
            except BlockingIOError:
                continue
            if chunk:
                key.data.feed(chunk)
            else:
                self.selector.unregister(key.fileobj)
                key.data.end()

    def _write(self) -> None:
        try:
            written = os.write(self.stdin.fileno(), self.pending[:READ_SIZE])
        except BlockingIOError:
            return
        except BrokenPipeError:
            written = len(self.pending)  # the child stopped reading: as communicate() does
        self.pending = self.pending[written:]
        if not self.pending:
            self.selector.unregister(self.stdin)
            self._close_stdin()

    def _close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self.stdin.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fileobj)
            if key.data is not None:
                key.data.end()
        self.selector.close()
        for stream in (self.child.stdin, self.child.stdout, self.child.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def output(self) -> tuple[str, str]:
        return self.out.text(), self.err.text()


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
        # Output lines of one command logged as they arrive; past that, only apt's status
        # lines, and the last `tail_lines` after the command ends.
        self.stream_lines = STREAM_LINES
        self.tail_lines = 20
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
        data = stdin.value if isinstance(stdin, Secret) else stdin
        child = self._spawn(asked, real, data, env)
        if isinstance(child, CommandResult):
            return child
        self._child = child
        live = _LiveLog(self._say, self.stream_lines, self.tail_lines)
        pipes = _Pipes(child, data, live)
        try:
            timed_out = self._wait(child, pipes, timeout)
        except BaseException:
            self._kill(child, signal.SIGKILL)
            self._collect(child, pipes)
            raise
        finally:
            self._child = None
            pipes.close()
            live.finish()
        out, err = pipes.output()
        if timed_out:
            return CommandResult(asked, 124, out, err, timed_out=True)
        return CommandResult(asked, child.returncode, out, err)

    @staticmethod
    def _spawn(asked: list[str], real: list[str], data: str | None,
               env: dict | None) -> subprocess.Popen | CommandResult:
        """The command started in a process group of its own, or why it could not start."""
        full_env = None
        if env:
            full_env = dict(os.environ)
            full_env.update({str(k): str(v) for k, v in env.items()})
        try:
            return subprocess.Popen(
                real, stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env,
                start_new_session=True)
        except FileNotFoundError:
            return CommandResult(asked, 127, "", f"{real[0]}: command not found")
        except PermissionError:
            return CommandResult(asked, 126, "", f"{real[0]}: permission denied (not executable)")
        except OSError as exc:
            return CommandResult(asked, 126, "", f"{real[0]}: cannot run: {exc.strerror}")

    def _wait(self, child: subprocess.Popen, pipes: _Pipes, timeout: float) -> bool:
        """Feed and drain the child until it ends, is killed at its deadline, or is stopped
        by an abort (SIGTERM, then SIGKILL after ABORT_GRACE); True when it timed out."""
        deadline = time.monotonic() + timeout
        abort_deadline: float | None = None
        exited_at: float | None = None
        while True:
            if self._abort_requested and abort_deadline is None:
                abort_deadline = time.monotonic() + ABORT_GRACE
                self._kill(child, signal.SIGTERM)
            now = time.monotonic()
            limit = deadline if abort_deadline is None else min(deadline, abort_deadline)
            if now >= limit:
                self._kill(child, signal.SIGKILL)
                self._collect(child, pipes)
                return abort_deadline is None or deadline <= abort_deadline
            # Short slices so an abort is noticed even if it raced the start.
            wait = min(limit - now, 0.5)
            if pipes.done:
                try:
                    child.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    continue
                return False
            if child.poll() is not None:
                if exited_at is None:
                    exited_at = now
                if now - exited_at >= COLLECT_GRACE:
                    return False  # a grandchild outside the group holds the pipes open
            pipes.pump(wait)

    @staticmethod
    def _kill(child: subprocess.Popen, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, sig)

    @staticmethod
    def _collect(child: subprocess.Popen, pipes: _Pipes) -> None:
        # A grandchild that left the group may hold the pipes open: do not wait for it forever.
        end = time.monotonic() + COLLECT_GRACE
        while not pipes.done and time.monotonic() < end:
            pipes.pump(end - time.monotonic())
        pipes.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=COLLECT_GRACE)

    def _log_result(self, result: CommandResult, timeout: float) -> None:
        # The output itself was logged line by line while the command ran.
        if result.timed_out:
            self._say(f"timed out after {timeout:g}s: killed (exit {result.code})")
        else:
            self._say(f"exit {result.code}")

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
