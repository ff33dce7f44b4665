"""The runner passes a command's output to its log line by line while the command runs, so
the Apply screen's package bar moves with apt's status lines."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from jitsiwizard.answers.secrets import Redactor
from jitsiwizard.apply.runner import ABORT_GRACE, Runner
from jitsiwizard.rootfs import Root
from jitsiwizard.screens.apply import apt_status
from tests.lab.proc import wait_for

SECRET = "hunter2-secret"

# Prints a status line, then one more for each line read from the fifo in argv[1]; a stderr
# line after the second. It cannot exit before the test has written to the fifo twice.
STEPPED = f"""
import sys
gate = open(sys.argv[1])
print("pmstatus:jitsi-meet:42.0:Installing jitsi-meet {SECRET}", flush=True)
gate.readline()
print("pmstatus:jitsi-meet:80.0:Configuring jitsi-meet", flush=True)
print("warning: a stderr line", file=sys.stderr, flush=True)
gate.readline()
print("done")
"""


class Gate:
    """A fifo the child reads its go-aheads from; opened read-write so that opening never
    waits for the child."""

    def __init__(self, path):
        self.path = path
        os.mkfifo(path)
        self.fd = os.open(path, os.O_RDWR)

    def release(self) -> None:
        os.write(self.fd, b"go\n")

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture
def gate(tmp_path):
    opened = Gate(tmp_path / "gate")
    yield opened
    opened.close()


class Background:
    """runner.run in a thread, so the test can act while the command runs."""

    def __init__(self, runner: Runner, argv: list, timeout: float):
        self.result = None
        self.thread = threading.Thread(target=self._run, args=(runner, argv, timeout),
                                       daemon=True)
        self.thread.start()

    def _run(self, runner, argv, timeout):
        self.result = runner.run(argv, timeout=timeout)

    def join(self, timeout: float):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the command did not end"
        return self.result


def streaming_runner(tmp_path) -> tuple[Runner, list]:
    redact = Redactor()
    redact.add(SECRET)
    lines: list = []
    return Runner(Root(tmp_path), log=lines.append, redact=redact), lines


def test_lines_reach_the_log_while_the_command_runs_redacted(tmp_path, gate):
    runner, lines = streaming_runner(tmp_path)
    running = Background(runner, [sys.executable, "-c", STEPPED, str(gate.path)], timeout=30)
    wait_for(lambda: any(line.startswith("  pmstatus") for line in lines), 10,
             "the first status line")
    assert running.thread.is_alive() and running.result is None  # the child waits on the gate
    first = next(line for line in lines if line.startswith("  pmstatus"))
    assert SECRET not in first and "<redacted>" in first
    assert apt_status(first) == ("install", 42.0, "Installing jitsi-meet <redacted>")
    assert not any(line.startswith("exit") for line in lines)
    gate.release()
    wait_for(lambda: any(line.startswith("  stderr:") for line in lines), 10,
             "the stderr line")
    assert running.thread.is_alive()
    assert "  stderr: warning: a stderr line" in lines
    assert any(apt_status(line) == ("install", 80.0, "Configuring jitsi-meet") for line in lines)
    gate.release()
    result = running.join(10)
    assert result.code == 0
    # The result keeps the whole output, as the caller's checks need it.
    assert result.stdout.splitlines() == [
        f"pmstatus:jitsi-meet:42.0:Installing jitsi-meet {SECRET}",
        "pmstatus:jitsi-meet:80.0:Configuring jitsi-meet", "done"]
    assert result.stderr == "warning: a stderr line\n"
    # Each output line once, then only the exit code.
    assert lines[-1] == "exit 0"
    assert lines[1] == "  pmstatus:jitsi-meet:42.0:Installing jitsi-meet <redacted>"
    assert sorted(lines[2:4]) == ["  pmstatus:jitsi-meet:80.0:Configuring jitsi-meet",
                                  "  stderr: warning: a stderr line"]  # two pipes: any order
    assert lines[4:] == ["  done", "exit 0"]
    assert all(SECRET not in line for line in lines)


def test_timeout_while_streaming_kills_and_keeps_what_was_said(tmp_path, gate):
    runner, lines = streaming_runner(tmp_path)
    result = runner.run([sys.executable, "-c", STEPPED, str(gate.path)], timeout=2)
    assert (result.code, result.timed_out) == (124, True)
    assert result.stdout.startswith("pmstatus:jitsi-meet:42.0:")
    assert any(line.startswith("  pmstatus:jitsi-meet:42.0:") for line in lines)
    assert lines[-1] == "timed out after 2s: killed (exit 124)"


def test_abort_while_streaming_stops_the_command(tmp_path, gate):
    runner, lines = streaming_runner(tmp_path)
    running = Background(runner, [sys.executable, "-c", STEPPED, str(gate.path)], timeout=60)
    wait_for(lambda: any(line.startswith("  pmstatus") for line in lines), 10,
             "the first status line")
    started = time.monotonic()
    runner.abort()
    result = running.join(ABORT_GRACE + 5)
    assert time.monotonic() - started < ABORT_GRACE  # SIGTERM ended it, not the grace kill
    assert result.code != 0 and not result.timed_out
    assert lines[-1] == f"exit {result.code}"
    assert runner.run(["true"], timeout=5).code == 130  # refused until reset_abort()


def test_long_output_is_logged_bounded_and_kept_whole(tmp_path):
    status = "pmstatus:jitsi-meet:99.0:Installing jitsi-meet"
    script = ("import sys\n"
              "for n in range(20000): print('line', n)\n"
              f"print('{status}')\n"
              "sys.stdout.write('x' * 200000)\n")
    runner, lines = streaming_runner(tmp_path)
    runner.stream_lines, runner.tail_lines = 100, 5
    result = runner.run([sys.executable, "-c", script], timeout=30)
    assert result.code == 0
    assert result.stdout == "".join(f"line {n}\n" for n in range(20000)) + status + "\n" + (
        "x" * 200000)
    assert lines[1:101] == [f"  line {n}" for n in range(100)]
    # apt's status lines pass the limit: the package bar keeps moving.
    assert "  " + status in lines
    assert any(line.startswith("(") and "not logged" in line for line in lines)
    assert "  line 19999" in lines and "  line 19000" not in lines
    assert len(lines) < 200
    assert max(len(line) for line in lines) < 100000  # a line without an end is cut up
    assert lines[-1] == "exit 0"
