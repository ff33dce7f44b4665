"""What guards a run, as the wizard's screens show it (issue 14): the Apply question on the
Review step says whether people are in meetings (jicofo's /stats, a stand-in here) and then
defaults to Stay."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button

from jitsiwizard.form import typed
from jitsiwizard.health import Endpoints
from jitsiwizard.model import LocalUser
from jitsiwizard.rootfs import Root
from jitsiwizard.screens.base import ConfirmDialog
from tests.lab.jitsi_standins import StandIn
from tests.lab.proc import free_port
from tests.test_tui_support import (
    SIZE,
    FixedChecks,
    confirm,
    loaded,
    make_app,
    press,
    tui_root,
    wait_screen,
    wait_until,
)

# -- meetings in progress ------------------------------------------------------------------


def asking_jicofo(root: Path, url: str):
    """The wizard, commands simulated, asking jicofo at `url` (given endpoints are probed
    even under simulate)."""
    session = FixedChecks(Root(root))
    session.endpoints = Endpoints(jicofo_url=url, timeout=2.0, given=True, settle=0)
    return make_app(root, checks=session)


async def apply_question(pilot) -> ConfirmDialog:
    """A plan that restarts Prosody, jicofo and the bridge (a local user), then Apply..."""
    app = pilot.app
    await loaded(pilot)
    app.form.answers.auth.policy = "local"
    app.form.answers.auth.users.append(LocalUser("alice", typed("pass-word-1")))
    app.go("review")
    await wait_screen(pilot, "review")
    assert any(s.kind == "service" and s.name == "prosody" for s in app.plan.steps)
    await press(pilot, "ctrl+n")
    return await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog)
                            and app.screen.query("#no") and app.screen.query_one("#no").has_focus
                            and app.screen, "the apply question")


def dialog_text(dialog: ConfirmDialog) -> str:
    return " ".join(str(dialog.query_one(".dialog-text").render()).split())


async def test_live_meetings_are_counted_and_stay_is_the_default(request):
    root = tui_root(request)
    with StandIn(conferences=2, participants=5) as jicofo:
        app = asking_jicofo(root, jicofo.url)
        async with app.run_test(size=SIZE) as pilot:
            dialog = await apply_question(pilot)
            said = dialog_text(dialog)
            assert "2 meetings with 5 people are running: applying drops them" in said
            assert jicofo.asked == ["/stats"]
            stay = dialog.query_one("#no", Button)
            assert str(stay.label) == "Stay" and stay.has_focus
            await press(pilot, "enter")  # the default: nothing is applied
            await wait_until(pilot, lambda: app.screen is not dialog, "the question to close")
            assert app.current_step() == "review" and app.outcome is None


async def test_no_meeting_says_so(request):
    root = tui_root(request)
    with StandIn() as jicofo:
        app = asking_jicofo(root, jicofo.url)
        async with app.run_test(size=SIZE) as pilot:
            dialog = await apply_question(pilot)
            assert "no meeting is running (jicofo says 0)" in dialog_text(dialog)
            assert str(dialog.query_one("#yes", Button).label) == "Apply"
            await confirm(pilot)
            await wait_screen(pilot, "apply", 30)
            await wait_until(pilot, lambda: app.outcome is not None, "the run", 30)


async def test_a_silent_jicofo_is_reported_not_taken_as_zero(request):
    root = tui_root(request)
    app = asking_jicofo(root, f"http://127.0.0.1:{free_port()}")
    async with app.run_test(size=SIZE) as pilot:
        dialog = await apply_question(pilot)
        said = dialog_text(dialog)
        assert "jicofo did not say whether meetings are running" in said
        assert "no meeting" not in said.lower()
        stay = dialog.query_one("#no", Button)
        assert str(stay.label) == "Stay" and stay.has_focus


async def test_a_simulation_says_jicofo_was_not_asked(request):
    app = make_app(tui_root(request))  # simulated, no endpoints given
    async with app.run_test(size=SIZE) as pilot:
        dialog = await apply_question(pilot)
        assert "meetings in progress not asked: this run only records its commands" in (
            dialog_text(dialog))
