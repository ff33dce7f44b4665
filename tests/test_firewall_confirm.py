"""Firewall changes over SSH, confirm or revert: a run that changed the firewall is followed
by a guard that undoes the change unless the admin confirms in time, and that guard outlives
the wizard (SIGKILL included). ufw itself would change this machine's firewall: a stand-in
(tests/lab/ufw_standin.py) keeps ufw's state in a file instead, and commands run for real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jitsiwizard import fixtures
from jitsiwizard.answers import loads
from jitsiwizard.apply import apply
from jitsiwizard.cli import main
from jitsiwizard.rootfs import Root
from jitsiwizard.runner import Runner
from jitsiwizard.session import Session
from tests.lab.ufw_standin import state as ufw_state

from .conftest import answers_toml

ANSWERS = answers_toml("open") + "\n[firewall]\nmanage = true\nssh_port = 22\n"






def host(tmp_path) -> Root:
    """A configured host (open policy) with ufw installed but not enabled."""
    return Root(str(fixtures.build(tmp_path / "root", extra_packages={"ufw": "0.36.2-1"})))


def firewall_run(root: Root, window: float):
    """Apply the firewall steps for real (the stand-in's ufw); the session arms its guard."""
    session = Session(root, firewall_window=window)
    planned = session.plan(loads(ANSWERS))
    assert {s.kind for s in planned.plan.steps} == {"command"}, planned.plan.render()
    outcome = apply(planned.plan, root, Runner(root), redact=planned.redact)
    assert outcome.status == "applied", outcome.error
    return session, outcome


def test_an_unconfirmed_change_is_undone_and_a_rollback_does_not_undo_it_again(tmp_path, ufw):
    root = host(tmp_path)
    session, outcome = firewall_run(root, window=1.0)
    assert ufw_state(ufw)["enabled"] and "443/tcp" in ufw_state(ufw)["rules"]
    assert session.arm_firewall_revert(outcome) is not None
    assert session.firewall_guard_outcome(outcome.run_id, timeout=20) == "reverted"
    after = ufw_state(ufw)
    assert (after["enabled"], after["rules"]) == (False, [])
    assert not session.confirm_firewall_change(outcome.run_id)  # too late: it was undone

    calls = len(after["calls"])
    assert not session.rollback(outcome.run_id).rollback_errors
    assert len(ufw_state(ufw)["calls"]) == calls  # its undo commands are not run twice


def test_a_confirmed_change_stays(tmp_path, ufw):
    root = host(tmp_path)
    session, outcome = firewall_run(root, window=30.0)
    assert session.arm_firewall_revert(outcome) is not None
    assert session.confirm_firewall_change(outcome.run_id)
    assert session.firewall_guard_outcome(outcome.run_id, timeout=20) == "confirmed"
    after = ufw_state(ufw)
    assert after["enabled"] and {"22/tcp", "80/tcp", "443/tcp", "10000/udp"} <= set(
        after["rules"])


CHILD = """
import sys
from jitsiwizard.answers import loads
from jitsiwizard.apply import apply
from jitsiwizard.rootfs import Root
from jitsiwizard.runner import Runner
from jitsiwizard.session import Session
root = Root(sys.argv[1])
session = Session(root, firewall_window=float(sys.argv[2]))
planned = session.plan(loads(sys.stdin.readline().replace("\\\\n", "\\n")))
outcome = apply(planned.plan, root, Runner(root), redact=planned.redact)
session.arm_firewall_revert(outcome)
print(outcome.run_id, flush=True)
sys.stdin.readline()  # waits for a confirmation that never comes
"""


def test_the_change_is_undone_after_the_wizard_is_killed(tmp_path, ufw):
    root = host(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(root.base), "2"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parent.parent)
    try:
        child.stdin.write(ANSWERS.replace("\n", "\\n") + "\n")
        child.stdin.flush()
        run_id = child.stdout.readline().strip()
        assert run_id, "the child did not apply"
        assert ufw_state(ufw)["enabled"]
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    started = time.monotonic()
    outcome = Session(root).firewall_guard_outcome(run_id, timeout=20)
    assert outcome == "reverted", f"after {time.monotonic() - started:.1f} s: {outcome}"
    assert ufw_state(ufw)["enabled"] is False


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
