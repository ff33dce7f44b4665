"""Signals during a run (SignalGuard: stop and roll back, or note and go on), and the
test-only points where a run kills itself. (A "guard" elsewhere in apply is the firewall
guard: firewall_guard.py.)"""

from __future__ import annotations

import os
import signal
import threading

from jitsiwizard.apply.runner import Runner

HANDLED_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)

# Test-only fault injection, used by the SIGKILL tests: "step:N" kills the process before step N
# (1-based), "write:N" in the middle of step N's file write (half the temp file written),
# "rollback:N" before the N-th undo action of a rollback. Never set it on a real host.
TEST_KILL_ENV = "JITSI_WIZARD_TEST_KILL"


class Interrupted(Exception):
    """A handled signal arrived during apply; the run stops and is rolled back."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SignalGuard:
    """During apply, SIGHUP/SIGTERM/SIGINT stop the current command and lead to a rollback;
    during rollback they are noted and ignored. The handlers only set flags and send signals,
    so whatever the main thread was doing (a write, a journal entry) finishes first."""

    def __init__(self, runner: Runner, *, rolling_back: bool = False):
        self.runner = runner
        self.rolling_back = rolling_back
        self.received: int | None = None
        self.ignored: list[int] = []
        self.installed = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> SignalGuard:
        # Python only lets the main thread set handlers; a caller on another thread keeps
        # its own signal handling.
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
            self.installed = True
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.rolling_back:
            self.ignored.append(signum)
            return
        if self.received is None:
            self.received = signum
        self.runner.abort()

    def start_rollback(self) -> None:
        self.rolling_back = True
        self.runner.reset_abort()

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self.runner.reset_abort()
        # A hang-up or SIGTERM that came too late to roll the run back (it is recorded as
        # applied) still ends the process, as it would have without these handlers: a
        # firewall change then falls to its guard, which undoes it. Ctrl+C there only leads
        # on to the question, where the admin decides.
        late = self.received
        if late in (signal.SIGHUP, signal.SIGTERM) and not self.rolling_back and \
                self.installed:
            signal.raise_signal(late)


def kill_point() -> tuple[str, int] | None:
    """The point TEST_KILL_ENV names, as ("step" | "write" | "rollback", N), or None."""
    spec = os.environ.get(TEST_KILL_ENV, "")
    kind, _, number = spec.partition(":")
    if kind in ("step", "write", "rollback") and number.isdigit():
        return kind, int(number)
    return None


def die_here() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
