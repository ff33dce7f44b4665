"""Runs cut short: SIGKILL at every step boundary and in the middle of a write, signals during
a command and during rollback, and a second run while one is in progress."""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

import pytest

from jitsiwizard.answers.secrets import Redactor
from jitsiwizard.apply import apply, interrupted_run, list_runs, rollback
from jitsiwizard.errors import EXIT_INTERRUPTED, UserError
from jitsiwizard.paths import STATE_DIR
from jitsiwizard.plan.steps import Command, FileChange, Plan
from tests.apply_support import (
    UNITS,
    run_child,
    sample_host,
    sample_steps,
    systemctl_state,
    tree_state,
)
from tests.lab.proc import wait_for


@pytest.fixture
def host(tmp_path):
    return sample_host(tmp_path)


def _leftover_temp_files(base: Path) -> list[Path]:
    return [p for p in base.rglob("*.tmp") if STATE_DIR.lstrip("/") not in str(p)]


# sample_steps: 1 edit through a link, 2 new file in new dirs, 3 link, 4 remove,
# 5 command with snapshot and undo, 6 service restart, 7 edit.
KILL_POINTS = [f"step:{n}" for n in range(1, 8)] + ["write:1", "write:2", "write:7"]


@pytest.mark.parametrize("kill", KILL_POINTS)
def test_sigkill_then_rollback_restores_everything(host, tmp_path, kill):
    base, root, runner, state_file = host
    before = tree_state(base)
    plan = Plan(sample_steps(root, state_file))
    child = run_child(root, plan, tmp_path, kill=kill, systemctl=list(runner.systemctl))
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr

    info = interrupted_run(root)
    assert info is not None and info.status == "applying"
    leftovers = _leftover_temp_files(base)
    if kill.startswith("write:"):
        # Killed with half a temp file written: the target itself is untouched.
        assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0
    with pytest.raises(UserError) as refused:
        apply(plan, root, runner, redact=Redactor())
    assert refused.value.exit_code == EXIT_INTERRUPTED and info.run_id in refused.value.message

    outcome = rollback(root, runner, redact=Redactor())
    assert (outcome.run_id, outcome.rollback_errors) == (info.run_id, [])
    assert tree_state(base) == before
    assert _leftover_temp_files(base) == []
    assert interrupted_run(root) is None
    assert list_runs(root)[-1].status == "rolled-back"
    assert systemctl_state(state_file)["units"]["prosody"] == UNITS["prosody"]
    restarts = [c for c in systemctl_state(state_file)["calls"] if c[0] == "restart"]
    if kill in ("step:7", "write:7"):  # restarted on the new file: again on the old one
        assert "internal_hashed" in restarts[0][2] and "jitsi-anonymous" in restarts[-1][2]
    else:
        assert restarts == []


def test_rollback_cut_short_can_be_run_again(host, tmp_path):
    base, root, runner, state_file = host
    before = tree_state(base)
    plan = Plan(sample_steps(root, state_file) + [Command(["false"], "fails")])
    child = run_child(root, plan, tmp_path, kill="rollback:6", systemctl=list(runner.systemctl))
    assert child.returncode == -signal.SIGKILL
    info = interrupted_run(root)
    assert info is not None and info.status == "rolling-back"
    assert tree_state(base) != before
    outcome = rollback(root, runner, redact=Redactor())
    assert outcome.rollback_errors == []
    assert tree_state(base) == before
    # The command's undo ran exactly once, over both rollback attempts.
    calls = systemctl_state(state_file)["calls"]
    assert calls.count(["enable", "undo-marker"]) == 1


def _writer(fifo: Path) -> int | None:
    """A write end of the fifo once a reader has it open (the command is running)."""
    try:
        return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            return None
        raise


def _not_pending(pid: int, signum: int) -> bool:
    """True once the kernel has handed `signum` to the process."""
    with open(f"/proc/{pid}/status") as fh:
        masks = dict(line.split(":", 1) for line in fh if line.startswith(("SigPnd", "ShdPnd")))
    bit = 1 << (signum - 1)
    return not any(int(value.strip(), 16) & bit for value in masks.values())


def _finish(child) -> dict:
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, out + err
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
def test_signal_during_a_command_rolls_back(host, tmp_path, signum):
    base, root, runner, _ = host
    before = tree_state(base)
    fifo = tmp_path / "command-waits-here"
    os.mkfifo(fifo)
    steps = sample_steps(root, tmp_path / "unused.json")[:4] + [
        Command(["cat", str(fifo)], "a command that waits", timeout=60)]
    child = run_child(root, Plan(steps), tmp_path, wait=False)
    writer = None
    try:
        writer = wait_for(lambda: _writer(fifo), 20, "the command to start")
        # While it runs, a second run or a rollback is refused, and nothing is "interrupted".
        with pytest.raises(UserError) as refused:
            apply(Plan(steps), root, runner, redact=Redactor())
        assert refused.value.message == \
            f"another jitsi-wizard run is in progress (pid {child.pid})"
        with pytest.raises(UserError, match="in progress"):
            rollback(root, runner, redact=Redactor())
        assert interrupted_run(root) is None
        assert list_runs(root)[-1].status == "applying"
        child.send_signal(signum)
        outcome = _finish(child)
    finally:
        if writer is not None:
            os.close(writer)
        if child.poll() is None:
            child.kill()
            child.wait()
    assert (outcome["status"], outcome["failed_step"]) == ("rolled-back", 5)
    assert f"interrupted by {signal.Signals(signum).name}" in outcome["error"]
    assert tree_state(base) == before
    assert interrupted_run(root) is None


def test_signals_during_rollback_are_ignored_until_done(host, tmp_path):
    base, root, runner, _ = host
    before = tree_state(base)
    command_fifo, undo_fifo = tmp_path / "command", tmp_path / "undo"
    os.mkfifo(command_fifo)
    os.mkfifo(undo_fifo)
    steps = [
        FileChange("/etc/jitsi/meet/config.js", "var config = {};\n", "rewrite",
                   before=(base / "etc/jitsi/meet/config.js").read_text()),
        Command(["true"], "has an undo that waits", undo=["cat", str(undo_fifo)]),
        Command(["cat", str(command_fifo)], "waits", timeout=60),
    ]
    child = run_child(root, Plan(steps), tmp_path, wait=False)
    writers = []
    try:
        writers.append(wait_for(lambda: _writer(command_fifo), 20, "the command to start"))
        child.send_signal(signal.SIGHUP)
        writers.append(wait_for(lambda: _writer(undo_fifo), 20, "the rollback's undo to start"))
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            child.send_signal(signum)
            wait_for(lambda s=signum: _not_pending(child.pid, s), 10, "the signal to arrive")
        assert child.poll() is None  # still rolling back
        os.close(writers.pop())  # the undo command reads EOF and finishes
        outcome = _finish(child)
    finally:
        for fd in writers:
            os.close(fd)
        if child.poll() is None:
            child.kill()
            child.wait()
    assert outcome["status"] == "rolled-back" and "SIGHUP" in outcome["error"]
    assert outcome["rollback_errors"] == []
    assert tree_state(base) == before
    log = Path(outcome["log_path"]).read_text()
    assert "ignored SIGHUP, SIGINT, SIGTERM until the rollback was done" in log


def test_signal_handlers_are_restored_after_apply(host):
    base, root, runner, _ = host
    marker = signal.getsignal(signal.SIGHUP)
    # Whatever SIGINT had before (SIG_IGN when started from a background job or nohup).
    sigint_before = signal.getsignal(signal.SIGINT)

    def mine(signum, frame):
        pass

    signal.signal(signal.SIGHUP, mine)
    try:
        apply(Plan([FileChange("/etc/x", "x\n", "x")]), root, runner, redact=Redactor())
        assert signal.getsignal(signal.SIGHUP) is mine
        assert signal.getsignal(signal.SIGINT) is sigint_before
    finally:
        signal.signal(signal.SIGHUP, marker)


def test_child_script_runs_on_its_own(host, tmp_path):
    # The helper itself: a clean run reports "applied" and exits 0.
    base, root, _, state_file = host
    child = run_child(root, Plan([FileChange("/etc/x", "x\n", "x")]), tmp_path)
    assert child.returncode == 0 and json.loads(child.stdout.splitlines()[-1])["status"] == \
        "applied"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_just_after_the_run_is_recorded_rolls_it_back(host, monkeypatch, signum):
    """The window between "applying" on disk and the handlers: a signal there must end in a
    rolled-back run, not one stuck as applying (which blocks the next start)."""
    from jitsiwizard.apply.journal import Journal

    base, root, runner, _ = host
    real_create = Journal.create.__func__

    def create_then_signal(cls, *args, **kwargs):
        journal = real_create(cls, *args, **kwargs)
        os.kill(os.getpid(), signum)
        return journal

    monkeypatch.setattr(Journal, "create", classmethod(create_then_signal))
    outcome = apply(Plan([FileChange("/etc/x", "x\n", "x")]), root, runner, redact=Redactor())
    assert outcome.status == "rolled-back"
    assert interrupted_run(root) is None
    assert not (base / "etc/x").exists()
