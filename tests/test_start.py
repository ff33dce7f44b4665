"""The entry point holds the garbage collector off while the program starts, and every path
turns it back on: the wizard once its first screen is drawn, every other command before it
runs, and an error on the way out."""

from __future__ import annotations

import gc

import pytest

from jitsiwizard import collector, start
from jitsiwizard.rootfs import Root
from jitsiwizard.screens.app import WizardApp
from tests.test_tui_support import SIZE, FixedChecks, loaded


@pytest.fixture(autouse=True)
def collector_back_on():
    yield
    gc.unfreeze()
    gc.enable()


def test_a_command_other_than_the_wizard_runs_with_the_collector_on(monkeypatch):
    seen = []
    monkeypatch.setattr("sys.argv", ["jitsi-wizard", "example-answers"])
    monkeypatch.setattr("jitsiwizard.cli.main.cmd_example",
                        lambda args: seen.append(gc.isenabled()) or 0)
    assert start.main() == 0
    assert seen == [True]
    assert gc.isenabled()


def test_bad_arguments_leave_the_collector_on(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["jitsi-wizard", "--no-such-option"])
    assert start.main() == 2
    assert gc.isenabled()


async def test_the_wizard_turns_it_on_once_its_first_screen_is_drawn(make_root):
    collector.hold()
    calls = []

    def first_frame():
        calls.append(app.screen.NAME if hasattr(app.screen, "NAME") else None)
        collector.release()

    app = WizardApp(FixedChecks(Root(make_root())), first_frame=first_frame)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.pause()
        assert calls == ["welcome"]
        assert gc.isenabled()
