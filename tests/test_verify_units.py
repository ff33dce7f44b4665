"""After the restarts, every restarted unit must be active: checked with systemctl, here a
stand-in that answers as systemctl does (this machine runs no systemd), for one unit that
came back and one that did not."""

from __future__ import annotations

import sys

from jitsiwizard.apply.runner import Runner
from jitsiwizard.health import Expectation
from jitsiwizard.health.report import _units
from jitsiwizard.rootfs import Root

# `systemctl is-active NAME` / `is-enabled NAME`, as systemctl prints them: the units in
# JW_ACTIVE_UNITS are active, every other one failed (exit code 3, like systemctl's).
SYSTEMCTL = """\
import os, sys
verb, name = sys.argv[1], sys.argv[2]
active = name in os.environ.get("JW_ACTIVE_UNITS", "").split(",")
if verb == "is-enabled":
    print("enabled")
    raise SystemExit(0)
print("active" if active else "failed")
raise SystemExit(0 if active else 3)
"""


def test_a_unit_that_did_not_come_back_fails_with_where_to_look(tmp_path, monkeypatch):
    script = tmp_path / "systemctl.py"
    script.write_text(SYSTEMCTL)
    monkeypatch.setenv("JW_ACTIVE_UNITS", "prosody,jicofo")
    runner = Runner(Root(str(tmp_path)))
    runner.systemctl = (sys.executable, str(script))
    expect = Expectation("meet.example.org", "open", False,
                         units=["prosody", "jicofo", "jitsi-videobridge2"])
    found = {f.name: f for f in _units(expect, runner)}
    assert (found["unit prosody"].ok, found["unit jicofo"].ok) == (True, True)
    bridge = found["unit jitsi-videobridge2"]
    assert bridge.ok is False
    assert "not active" in bridge.evidence and "journalctl -u jitsi-videobridge2" in bridge.fix


def test_a_simulated_run_says_the_units_were_not_checked(tmp_path):
    expect = Expectation("meet.example.org", "open", False, units=["prosody"])
    [finding] = _units(expect, Runner(Root(str(tmp_path)), simulate=True))
    assert finding.ok is None and "not checked" in finding.evidence


def test_a_later_check_does_not_speak_of_a_restart(tmp_path, monkeypatch):
    """`verify` on a host nobody just restarted: a unit is "not active", not "not active
    after the restart"."""
    script = tmp_path / "systemctl.py"
    script.write_text(SYSTEMCTL)
    monkeypatch.setenv("JW_ACTIVE_UNITS", "")
    runner = Runner(Root(str(tmp_path)))
    runner.systemctl = (sys.executable, str(script))
    expect = Expectation("meet.example.org", "open", False, units=["jicofo"], restarted=False)
    [finding] = _units(expect, runner)
    assert (finding.ok, finding.evidence) == (False, "not active")
