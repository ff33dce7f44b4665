"""The wizard's edges: what it loads at start-up, what it refuses, how it reports a broken
answers file."""

from __future__ import annotations

import subprocess
import sys

from jitsiwizard.cli import main as cli
from jitsiwizard.errors import EXIT_BAD_INPUT
from tests.test_tui_support import SIZE, loaded, make_app, press, tui_root, wait_until

# What only the workers may load: the checks and their network libraries, the templates.
HEAVY = ("jitsiwizard.checks", "ldap3", "dns", "jinja2", "jitsiwizard.plan.meeting",
         "jitsiwizard.certs", "jitsiwizard.plan.videobridge", "jitsiwizard.plan.builder",
         "jitsiwizard.workflow.bridges", "jitsiwizard.health", "jitsiwizard.apply")


def test_first_screen_loads_no_checks_templates_or_plan(request):
    root = tui_root(request)
    probe = (
        "import asyncio, sys\n"
        "from jitsiwizard.screens.app import WizardApp\n"
        "from jitsiwizard.rootfs import Root\n"
        "from jitsiwizard.workflow.session import Session\n"
        f"app = WizardApp(Session(Root({str(root)!r}), simulate=True))\n"
        "async def main():\n"
        "    async with app.run_test(size=(80, 24)) as pilot:\n"
        "        while app.facts is None:\n"
        "            await pilot.pause()\n"
        f"heavy = {HEAVY!r}\n"
        "asyncio.run(main())\n"
        # whole module names: jitsiwizard.workflow.planned (a small dataclass) is not the planner
        "print(sorted(m for m in sys.modules\n"
        "             if any(m == h or m.startswith(h + '.') for h in heavy)))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]", out


async def test_quitting_is_refused_while_a_run_is_in_progress(request):
    root = tui_root(request)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.applying = True  # as between begin_apply() and end_apply()
        await press(pilot, "ctrl+q")
        await wait_until(pilot, lambda: app._notifications, "the refusal")
        assert "half done" in list(app._notifications)[-1].message
        assert app.screen.NAME == "welcome" and app.return_value is None
        app.applying = False
        await press(pilot, "ctrl+q")
        await wait_until(pilot, lambda: app.screen.query("#yes"), "the quit question")


def test_edit_with_a_broken_file_names_the_key_before_any_screen(request, tmp_path, capsys):
    root = tui_root(request)
    answers = tmp_path / "answers.toml"
    answers.write_text('[host]\nhostname = "meet.example.org"\n[auth]\npolicy = "ldpa"\n')
    assert cli.main(["--root", str(root), "--edit", str(answers)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "auth.policy" in err and "'ldpa' is not a policy" in err


async def test_a_hangup_during_a_run_aborts_its_command_and_handlers_are_restored(request):
    """apply() sets its own signal handlers only on the main thread; the wizard runs it in a
    worker, so the wizard forwards SIGHUP and SIGTERM to the session's runner for the run's
    length."""
    import signal

    class Runner:
        aborted = False

        def abort(self):
            self.aborted = True

    root = tui_root(request)
    app = make_app(root)
    before = signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGTERM)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        runner = Runner()
        app.session._runner = runner  # what session.run holds while the run is going
        app.begin_apply()
        try:
            handler = signal.getsignal(signal.SIGHUP)
            assert handler == app._on_session_signal
            assert signal.getsignal(signal.SIGTERM) == app._on_session_signal
            handler(signal.SIGHUP, None)  # what the kernel would call on a hang-up
            assert runner.aborted and app.applying
        finally:
            app.end_apply()
        assert (signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGTERM)) == before
        assert not app.applying


def test_apt_status_lines_drive_the_package_bar():
    from jitsiwizard.screens.apply import apt_status, bar_text

    line = "pmstatus:jitsi-videobridge2:42.5:Installing jitsi-videobridge2"
    assert apt_status(f"stdout:\n  {line}") == ("install", 42.5, "Installing jitsi-videobridge2")
    assert apt_status("dlstatus:1:10.0:Retrieving file 1 of 9") == ("download", 10.0,
                                                                    "Retrieving file 1 of 9")
    assert apt_status("$ apt-get install -y jitsi-meet") is None
    assert str(bar_text("Packages", 50, 100)).count("#") == 20


async def test_a_dialog_focuses_its_answer_even_if_it_is_mounted_late():
    """A screen's on_mount can run before the widgets nested in its containers are mounted
    (on a busy host): the focus waits for them instead of failing (the wizard stopped with
    NoMatches on '#no' once)."""
    from textual.app import App
    from textual.screen import Screen
    from textual.widgets import Button

    from jitsiwizard.screens.base import focus_soon

    class Late(Screen):
        def on_mount(self) -> None:
            focus_soon(self, "#no")
            self.set_timer(0.05, lambda: self.mount(Button("No", id="no")))

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(Late())

    app = Host()
    async with app.run_test() as pilot:
        await wait_until(pilot, lambda: app.screen.query("#no")
                         and app.screen.query_one("#no").has_focus, "the late button's focus")
