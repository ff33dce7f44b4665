"""What guards a run, as the wizard's screens show it (issue 14): the Apply question on the
Review step says whether people are in meetings (jicofo's /stats, a stand-in here) and then
defaults to Stay; after a run that changed the firewall, a countdown dialog keeps the change
only if the admin chooses Keep in time, and otherwise the session's guard undoes it.

ufw itself would change this machine's firewall: the firewall tests put the stand-in
(tests/lab/ufw_standin.py) on PATH and run a plan that holds only its commands, for real."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button

from jitsiwizard.answers.model import LocalUser
from jitsiwizard.apply.transaction import Phases
from jitsiwizard.health import Endpoints
from jitsiwizard.rootfs import Root
from jitsiwizard.screens.base import ConfirmDialog
from jitsiwizard.screens.firewall_confirm import FirewallDialog
from jitsiwizard.workflow.form import typed
from tests.lab.jitsi_standins import StandIn
from tests.lab.proc import free_port
from tests.lab.ufw_standin import state as ufw_state
from tests.test_tui_support import (
    SIZE,
    FixedChecks,
    confirm,
    loaded,
    make_app,
    press,
    screen_text,
    tui_root,
    wait_screen,
    wait_until,
)

# -- meetings in progress ------------------------------------------------------------------


def asking_jicofo(root: Path, url: str):
    """The wizard, commands simulated, asking jicofo at `url` (given endpoints are probed
    even under simulate)."""
    session = FixedChecks(Root(root), endpoints=Endpoints(jicofo_url=url, timeout=2.0,
                                                          given=True, settle=0))
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


# -- firewall: confirm or revert -----------------------------------------------------------






class RealFirewallRun(FixedChecks):
    """Commands run for real (the plan holds only ufw's, which is the stand-in), with the
    firewall guard the session starts. The verification after the run is left out: it has
    tests of its own, and here it would probe this machine's Prosody."""

    def __init__(self, root: Root, window: float):
        super().__init__(root, simulate=False, firewall_window=window)

    def _phases(self, planned, redact, log):
        return Phases(guard_firewall=super()._phases(planned, redact, log).guard_firewall)


async def firewall_dialog(pilot) -> FirewallDialog:
    """From Review, with the firewall managed: the plan is ufw's commands only; Apply."""
    app = pilot.app
    await loaded(pilot)
    app.form.answers.firewall.manage = True
    app.form.answers.firewall.ssh_port = 22
    app.go("review")
    await wait_screen(pilot, "review")
    assert {(s.kind, str(s.argv[0])) for s in app.plan.steps} == {("command", "ufw")}, (
        app.plan.render())
    await press(pilot, "ctrl+n")
    await confirm(pilot)
    return await wait_until(pilot, lambda: isinstance(app.screen, FirewallDialog)
                            and app.screen.query("#undo") and app.screen.shown is not None
                            and app.screen, "the firewall dialog", 30)


def firewall_app(request, window: float):
    root = tui_root(request, extra_packages={"ufw": "0.36.2-1"})
    return make_app(root, checks=RealFirewallRun(Root(root), window))


def outcome_text(apply) -> str:
    """What the Apply step says of the run, the firewall included."""
    return " ".join(str(apply.query_one("#apply-outcome").render()).split())


def countdown(dialog: FirewallDialog) -> str:
    return " ".join(str(dialog.query_one("#firewall-countdown").render()).split())


async def test_keep_keeps_the_firewall_change(request, ufw):
    app = firewall_app(request, window=30.0)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await firewall_dialog(pilot)
        assert ufw_state(ufw)["enabled"]
        assert "open a NEW SSH connection to this host; then choose Keep within" in (
            countdown(dialog))
        assert app.exit_code == 1  # quitting now would leave the change to be undone
        await press(pilot, "ctrl+q")  # the quit question says what quitting now means
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        assert "firewall change is not kept: it is undone" in app.screen.message
        await press(pilot, "escape")
        await wait_until(pilot, lambda: app.screen is dialog, "the firewall dialog again")
        await press(pilot, "right")  # from Undo now (the focus) to Keep
        await wait_until(pilot, lambda: dialog.query_one("#keep").has_focus, "Keep")
        await press(pilot, "enter")
        apply = app.screen_named("apply")
        await wait_until(pilot, lambda: apply.firewall == "kept", "the change to be kept")
        assert "Firewall: the change was kept" in outcome_text(apply)
        run_id = app.outcome.run_id
        # The guard saw the confirmation and ended without undoing anything.
        assert app.session.firewall.outcome(run_id, timeout=20) == "confirmed"
        assert ufw_state(ufw)["enabled"] and "443/tcp" in ufw_state(ufw)["rules"]
        assert app.exit_code == 0
        await press(pilot, "ctrl+n")
        await wait_screen(pilot, "done")
        await wait_until(pilot, lambda: "Firewall      the change was kept" in screen_text(app),
                         "the Done step to say the change was kept")


async def test_when_the_countdown_runs_out_the_guard_undoes_the_change(request, ufw):
    app = firewall_app(request, window=3.0)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await firewall_dialog(pilot)
        first = dialog.shown
        assert f"choose Keep within {first} s" in countdown(dialog)
        # The seconds go down on screen while nobody answers.
        await wait_until(pilot, lambda: dialog.shown is not None and dialog.shown < first,
                         "the countdown to go down")
        assert f"choose Keep within {dialog.shown} s" in countdown(dialog)
        # The quit question over the dialog until the deadline has passed: answered Stay,
        # it leaves the dialog to end its countdown.
        await press(pilot, "ctrl+q")
        question = await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog)
                                    and app.screen, "the quit question")
        await wait_until(pilot, lambda: dialog.shown == 0, "the countdown's end", 10)
        await pilot.pause()
        assert app.screen is question  # the dialog did not close it under the admin
        await press(pilot, "escape")
        await wait_until(pilot, lambda: app.screen is not question, "the question to close")
        apply = app.screen_named("apply")
        await wait_until(pilot, lambda: apply.firewall == "undone", "the change undone", 30)
        assert app.screen is apply
        shown = outcome_text(apply)
        assert "Firewall: the change was not kept and was undone" in shown
        assert f"rollback {app.outcome.run_id}" in shown
        after = ufw_state(ufw)
        assert (after["enabled"], after["rules"]) == (False, [])
        assert app.exit_code == 1  # like replay
        await press(pilot, "ctrl+n")
        await wait_screen(pilot, "done")
        await wait_until(pilot, lambda: "was undone" in " ".join(screen_text(app).split()),
                         "the Done step to say the change was undone")


async def test_undo_now_has_the_guard_undo_it_before_the_deadline(request, ufw):
    app = firewall_app(request, window=120.0)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await firewall_dialog(pilot)
        assert dialog.query_one("#undo").has_focus
        await press(pilot, "enter")
        apply = app.screen_named("apply")
        # Well before the 120 s deadline: the guard acted on the request.
        await wait_until(pilot, lambda: apply.firewall == "undone", "the change undone", 30)
        assert ufw_state(ufw)["enabled"] is False
        assert app.exit_code == 1


async def test_a_dead_guard_is_said_at_once_and_the_wizard_undoes_the_change(request, ufw):
    """The guard is killed while the dialog counts down: the dialog says so at once, with
    the commands that undo the change; Undo now then has the wizard undo it itself."""
    import json
    import os
    import signal

    app = firewall_app(request, window=120.0)
    async with app.run_test(size=SIZE) as pilot:
        dialog = await firewall_dialog(pilot)
        run_dir = Path(app.session.root.path("/var/lib/jitsi-wizard/runs")) / \
            app.outcome.run_id
        armed = json.loads((run_dir / "firewall-guard-armed").read_text())
        os.kill(armed["guard_pid"], signal.SIGKILL)
        await wait_until(pilot, lambda: "guard stopped before a decision" in countdown(dialog),
                         "the dialog to say the guard is gone", 10)
        assert "ufw " in countdown(dialog)
        await press(pilot, "enter")  # Undo now
        apply = app.screen_named("apply")
        await wait_until(pilot, lambda: apply.firewall == "undone", "the change undone", 30)
        assert ufw_state(ufw)["enabled"] is False
