"""Firewall changes over SSH, confirm or revert: a run that changed the firewall is followed
by a guard that undoes the change unless the admin confirms in time, and that guard outlives
the wizard (SIGKILL included). ufw itself would change this machine's firewall: a stand-in
(tests/lab/ufw_standin.py) keeps ufw's state in a file instead, and commands run for real."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jitsiwizard import fixtures
from jitsiwizard.answers.load import loads
from jitsiwizard.apply import apply
from jitsiwizard.apply.runner import Runner
from jitsiwizard.apply.transaction import Phases
from jitsiwizard.cli.main import main
from jitsiwizard.rootfs import Root
from jitsiwizard.workflow.session import Session
from jitsiwizard.workflow.status import runs as recorded_runs
from tests.lab.proc import wait_for
from tests.lab.ufw_standin import state as ufw_state

from .conftest import answers_toml

ANSWERS = answers_toml("open") + "\n[firewall]\nmanage = true\nssh_port = 22\n"






def host(tmp_path) -> Root:
    """A configured host (open policy) with ufw installed but not enabled."""
    return Root(str(fixtures.build(tmp_path / "root", extra_packages={"ufw": "0.36.2-1"})))


def guarded(session: Session, planned) -> Phases:
    """The session's firewall guard, without the checks around restarts (this plan has
    none, and the verification would probe this machine's Prosody)."""
    return Phases(guard_firewall=session._phases(planned, planned.redact, None).guard_firewall)


def firewall_run(root: Root, window: float):
    """Apply the firewall steps for real (the stand-in's ufw); the run starts its guard."""
    session = Session(root, firewall_window=window)
    planned = session.plan(loads(ANSWERS))
    assert {s.kind for s in planned.plan.steps} == {"command"}, planned.plan.render()
    outcome = apply(planned.plan, root, Runner(root), redact=planned.redact,
                    phases=guarded(session, planned))
    assert outcome.status == "applied", outcome.error
    return session, outcome


def test_an_unconfirmed_change_is_undone_and_a_rollback_does_not_undo_it_again(tmp_path, ufw):
    root = host(tmp_path)
    session, outcome = firewall_run(root, window=1.0)
    assert ufw_state(ufw)["enabled"] and "443/tcp" in ufw_state(ufw)["rules"]
    assert session.firewall.start_countdown(outcome) is not None
    assert session.firewall.outcome(outcome.run_id, timeout=20) == "reverted"
    after = ufw_state(ufw)
    assert (after["enabled"], after["rules"]) == (False, [])
    assert not session.firewall.confirm(outcome.run_id)  # too late: it was undone

    calls = len(after["calls"])
    assert not session.rollback(outcome.run_id).rollback_errors
    assert len(ufw_state(ufw)["calls"]) == calls  # its undo commands are not run twice


def test_a_confirmed_change_stays(tmp_path, ufw):
    root = host(tmp_path)
    session, outcome = firewall_run(root, window=30.0)
    assert session.firewall.start_countdown(outcome) is not None
    assert session.firewall.confirm(outcome.run_id)
    assert session.firewall.outcome(outcome.run_id, timeout=20) == "confirmed"
    after = ufw_state(ufw)
    assert after["enabled"] and {"22/tcp", "80/tcp", "443/tcp", "10000/udp"} <= set(
        after["rules"])


CHILD = """
import sys
from jitsiwizard.answers.load import loads
from jitsiwizard.apply import apply
from jitsiwizard.rootfs import Root
from jitsiwizard.apply.runner import Runner
from jitsiwizard.workflow.session import Session
from tests.test_firewall_confirm import guarded
root = Root(sys.argv[1])
session = Session(root, firewall_window=float(sys.argv[2]))
planned = session.plan(loads(sys.stdin.readline().replace("\\\\n", "\\n")))
outcome = apply(planned.plan, root, Runner(root), redact=planned.redact,
                phases=guarded(session, planned))
session.firewall.start_countdown(outcome)
print(outcome.run_id, flush=True)
sys.stdin.readline()  # waits for a confirmation that never comes
"""


def applied_by_child(script: str, root: Root, window: float):
    """A wizard in a process of its own (`script`) that applies ANSWERS with a firewall
    window of `window` seconds: (the process, the run's id once applied)."""
    child = subprocess.Popen([sys.executable, "-c", script, str(root.base), str(window)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parent.parent)
    child.stdin.write(ANSWERS.replace("\n", "\\n") + "\n")
    child.stdin.flush()
    run_id = child.stdout.readline().strip()
    if not run_id:
        child.kill()
        child.wait(timeout=10)
    assert run_id, "the child did not apply"
    return child, run_id


def test_the_change_is_undone_after_the_wizard_is_killed(tmp_path, ufw):
    root = host(tmp_path)
    child, run_id = applied_by_child(CHILD, root, 2)
    try:
        assert ufw_state(ufw)["enabled"]
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    started = time.monotonic()
    outcome = Session(root).firewall.outcome(run_id, timeout=20)
    assert outcome == "reverted", f"after {time.monotonic() - started:.1f} s: {outcome}"
    assert ufw_state(ufw)["enabled"] is False


@pytest.mark.parametrize("confirmed", [True, False], ids=["confirmed", "not-confirmed"])
def test_a_change_handed_to_another_process_outlives_the_wizard_until_its_deadline(
        tmp_path, ufw, confirmed):
    """The Ansible module's case: the wizard ends once the run is applied, and the play
    confirms later over a new connection. The wizard's end is expected then: a confirmation
    keeps the change, and without one the deadline undoes it."""
    root = host(tmp_path)
    child, run_id = applied_by_child(HANDED_OFF, root, 30 if confirmed else 3)
    try:
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
    session = Session(root)
    # The guard has seen the wizard gone (it looks every 0.2 s) and waits on.
    assert session.firewall.outcome(run_id, timeout=1) is None
    assert session.firewall.guard_alive(run_id) and ufw_state(ufw)["enabled"]
    if confirmed:
        assert session.firewall.confirm(run_id)
        assert session.firewall.outcome(run_id, timeout=20) == "confirmed"
        assert ufw_state(ufw)["enabled"]
    else:
        assert session.firewall.outcome(run_id, timeout=20) == "reverted"
        assert ufw_state(ufw)["enabled"] is False


HANDED_OFF = """
import sys
from jitsiwizard.answers.load import loads
from jitsiwizard.apply import apply
from jitsiwizard.rootfs import Root
from jitsiwizard.apply.runner import Runner
from jitsiwizard.workflow.session import Session
from tests.test_firewall_confirm import guarded
root = Root(sys.argv[1])
session = Session(root, firewall_window=float(sys.argv[2]), confirm_firewall="elsewhere")
planned = session.plan(loads(sys.stdin.readline().replace("\\\\n", "\\n")))
outcome = apply(planned.plan, root, Runner(root), redact=planned.redact,
                phases=guarded(session, planned))
session.firewall.start_countdown(outcome)
print(outcome.run_id, flush=True)  # and ends, as the module does
"""


def test_replay_without_a_terminal_refuses_an_unconfirmable_change(tmp_path, ufw, capsys,
                                                                    monkeypatch):
    root = host(tmp_path)
    answers = tmp_path / "a.toml"
    answers.write_text(ANSWERS)
    answers.chmod(0o600)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))  # noqa: SIM115 - closed with the test
    monkeypatch.setattr(Session, "require_permission", lambda self: None)  # a real run
    code = main(["--answers", str(answers), "--root", str(root.base), "--skip-checks"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--confirm-firewall" in err and "terminal" in err
    assert not ufw.exists()  # ufw was never called


# -- a signal at every phase boundary: the change is confirmed, guarded or undone -------------

RACE_CHILD = """
import sys
from jitsiwizard.answers.load import loads
from jitsiwizard.apply import apply
from jitsiwizard.rootfs import Root
from jitsiwizard.apply.runner import Runner
from jitsiwizard.workflow.session import Session
from tests.test_firewall_confirm import ANSWERS, guarded
root, stop_at = Root(sys.argv[1]), sys.argv[2]
session = Session(root, firewall_window=30.0)
planned = session.plan(loads(ANSWERS))

def event(kind, number, text):
    if f"{kind}:{number}" == stop_at:
        print("at", stop_at, flush=True)
        sys.stdin.readline()  # the test signals this process here, then lets it go on

outcome = apply(planned.plan, root, Runner(root), redact=planned.redact, on_event=event,
                phases=guarded(session, planned))
event("countdown", 0, "")
session.firewall.start_countdown(outcome)
event("asked", 0, "")
sys.stdin.readline()  # the admin never answers
"""

SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGKILL)


def boundaries(tmp_path) -> list[str]:
    """Every point between two phases of a firewall-changing run, as the events name them."""
    planned = Session(host(tmp_path)).plan(loads(ANSWERS))
    count = len(planned.plan.steps)
    assert count >= 5, planned.plan.render()
    return ([f"{kind}:{n}" for n in range(1, count + 1) for kind in ("step", "done")]
            + [f"applied:{count}", "countdown:0", "asked:0"])


def race_trial(base: Path, stop_at: str, signum: int) -> str:
    """Pause the wizard at `stop_at`, signal it, let it go on; then wait (bounded) until its
    firewall change is undone and its guard has ended. Returns what went wrong, or ""."""
    root = host(base)
    ufw = base / "ufw-state.json"
    env = {**os.environ, "JW_UFW_STATE": str(ufw)}
    child = subprocess.Popen([sys.executable, "-c", RACE_CHILD, str(root.base), stop_at],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=env, cwd=Path(__file__).resolve().parent.parent)
    try:
        if child.stdout.readline().split() != ["at", stop_at]:
            return f"the wizard never reached {stop_at}"
        child.send_signal(signum)
        with contextlib.suppress(BrokenPipeError):
            child.stdin.write("\n")
            child.stdin.close()  # and nobody answers the question, if it comes
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    deadline = time.monotonic() + 30
    runs = recorded_runs(root)
    while time.monotonic() < deadline:
        now = ufw_state(ufw) if ufw.exists() else {"enabled": False, "rules": []}
        guard = [r.firewall for r in runs]
        if (now["enabled"], now["rules"]) == (False, []) and "pending" not in guard:
            return ""
        time.sleep(0.1)  # the guard is another process: its files are all there is to watch
        runs = recorded_runs(root)
    return f"after 30 s: ufw {now}, runs {[(r.status, r.firewall) for r in runs]}"


def test_a_signal_at_every_phase_boundary_leaves_no_unguarded_firewall_change(tmp_path, ufw):
    """At least 50 trials: every boundary of the run, each with SIGHUP, SIGTERM, SIGINT and
    SIGKILL. Nobody confirms, so each must end with the firewall as it was (undone by the
    rollback, or by the guard), and no guard left waiting."""
    from concurrent.futures import ThreadPoolExecutor

    trials = [(at, signum) for at in boundaries(tmp_path / "plan") for signum in SIGNALS]
    assert len(trials) >= 50
    with ThreadPoolExecutor(max_workers=6) as pool:
        problems = list(pool.map(
            lambda item: race_trial(tmp_path / f"t{item[0]}", *item[1]), enumerate(trials)))
    failed = [f"{at} {signal.Signals(signum).name}: {problem}"
              for (at, signum), problem in zip(trials, problems) if problem]
    assert failed == []


def test_a_dead_guard_is_replaced_by_the_wizard_itself(tmp_path, ufw):
    """The guard is killed during the countdown: the run says the change's fate is unknown,
    with the commands that undo it, and the wizard, still running, undoes the change itself
    when it looks for the guard's outcome (the terminal face does at the deadline)."""
    root = host(tmp_path)
    session, outcome = firewall_run(root, window=2.0)
    deadline = session.firewall.start_countdown(outcome)
    assert session.firewall.guard_alive(outcome.run_id)
    assert recorded_runs(root)[-1].firewall == "pending"
    armed = json.loads((root.path(f"/var/lib/jitsi-wizard/runs/{outcome.run_id}")
                        / "firewall-guard-armed").read_text())
    os.kill(armed["guard_pid"], signal.SIGKILL)
    wait_for(lambda: not session.firewall.guard_alive(outcome.run_id), 10, "the guard to die")
    assert recorded_runs(root)[-1].firewall == "unknown"
    assert session.firewall.undo_commands(outcome.run_id)[0].startswith("ufw ")
    assert session.firewall.outcome(outcome.run_id, timeout=5) == "reverted"
    assert time.time() <= deadline + 10
    after = ufw_state(ufw)
    assert (after["enabled"], after["rules"]) == (False, [])
    assert recorded_runs(root)[-1].firewall == "undone"
