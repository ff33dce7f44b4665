"""The interactive wizard (Textual): a face over a `Session`, which owns the workflow. Screens
live in jitsiwizard/screens/ and are imported the first time they are shown; the host is read
before the first frame (in a child process while this module is imported, see host_reader),
which then shows what was read; the checks, the plan and the templates are imported by the
workers that need them."""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar

from textual import events
from textual.app import App
from textual.binding import Binding

from jitsiwizard.errors import EXIT_CHECKS_FAILED, UserError
from jitsiwizard.screens.base import ConfirmDialog, plain_console, use_ascii_scrollbars
from jitsiwizard.screens.keys import KeyQueue
from jitsiwizard.screens.steps import BY_NAME, FIRST, steps_of
from jitsiwizard.workflow.session import Session

if TYPE_CHECKING:
    from jitsiwizard.host.facts import HostFacts
    from jitsiwizard.workflow.form import WizardForm

# Signals that end a terminal session; during an apply they roll the run back instead.
SESSION_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


class WizardApp(App):
    CSS_PATH = str(Path(__file__).with_name("app.tcss"))  # absolute: subclasses keep it
    TITLE = "jitsi-wizard"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar = [
        Binding("ctrl+q", "request_quit", "Quit", priority=True),
        Binding("ctrl+c", "request_quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, session: Session, *, edit: str | None = None,
                 first_frame: Callable[[], None] | None = None):
        super().__init__()
        self.first_frame = first_frame  # called once the first screen is drawn
        self.session = session
        self.root = session.root
        self.simulate = session.simulate
        self.edit_file = edit
        # Read by load_host() once the first screen is up; the form on first use.
        self.facts: HostFacts | None = None
        self._form: WizardForm | None = None
        self.interrupted = None
        # Filled in as the admin goes: the plan with what it was built from (Review), the
        # outcome of the run (Apply), where the answers were saved (Done).
        self.planned = None
        self.outcome = None
        self.saved_answers: str | None = None
        self.saved_notes: list[str] = []
        self.exit_code = EXIT_CHECKS_FAILED  # nothing applied, unless a run says otherwise
        self.applying = False
        self._previous_handlers: dict = {}
        self._quit_question: ConfirmDialog | None = None
        self.keys = KeyQueue(self)
        self.farewell: list[str] = []  # Done's lines, printed once the screen is gone

    # What the screens show of the plan under review.
    @property
    def plan(self):
        return self.planned.plan if self.planned is not None else None

    @property
    def loaded(self):
        return self.planned.loaded if self.planned is not None else None

    @property
    def redact(self):
        return self.planned.redact if self.planned is not None else None

    def on_mount(self) -> None:
        self.keys.start()
        if plain_console():
            use_ascii_scrollbars()
        # The host is read before the first frame, which then shows it: one frame fewer
        # than drawing "Reading this host..." first (what the admin waits for is the facts).
        self.load_host()
        self.go(FIRST)
        if self.first_frame is not None:
            self.call_after_refresh(self.first_frame)

    def on_unmount(self) -> None:
        self.keys.stop()

    def load_host(self) -> None:
        """Read the host and start the answers (from it, or from --edit FILE)."""
        self.refresh_host(again=False)  # run_app read it before the screen took over
        if self.is_screen_installed("welcome"):
            welcome = self.get_screen("welcome")
            welcome.refresh_from_form()
            if self.screen is welcome:
                welcome.focus_first()

    @property
    def loaded_host(self) -> bool:
        return self.facts is not None

    @property
    def form(self) -> WizardForm:
        """What the screens edit: from --edit FILE, else from the host's current state."""
        if self._form is None:
            self._form = self.session.form_for_host(self.edit_file)
        return self._form

    # -- navigation --------------------------------------------------------------------

    def screen_named(self, name: str):
        if not self.is_screen_installed(name):
            module_name, class_name = BY_NAME[name].screen.split(":")
            module = importlib.import_module(f"jitsiwizard.screens.{module_name}")
            self.install_screen(getattr(module, class_name)(), name)
        return self.get_screen(name)

    def go(self, name: str) -> None:
        screen = self.screen_named(name)
        screen.entering = True
        if len(self.screen_stack) <= 1:
            self.push_screen(screen)
        else:
            self.switch_screen(screen)

    def current_step(self) -> str:
        for screen in reversed(self.screen_stack):
            name = getattr(screen, "NAME", "")
            if name:
                return name
        return FIRST

    @property
    def form_made(self) -> bool:
        return self._form is not None

    @property
    def role(self) -> str:
        """What this host is to be (chosen on Welcome): it decides which steps there are."""
        if self._form is not None:
            return self._form.answers.role
        # The form is made on first use: the first screen shows the host without it.
        return self.facts.default_role if self.facts is not None else "meeting-server"

    def step_names(self) -> tuple:
        return tuple(step.name for step in steps_of(self.role))

    def go_next(self, leaving: str | None = None) -> None:
        """One step on; `leaving` names the step the request came from, so a request that
        arrives after the step was already left (a repeated key, a late message) is dropped."""
        current = self.current_step()
        if leaving is not None and leaving != current:
            return
        names = self.step_names()
        index = names.index(current)
        if index + 1 < len(names):
            self.go(names[index + 1])

    def go_back(self, leaving: str | None = None) -> None:
        current = self.current_step()
        if leaving is not None and leaving != current:
            return
        names = self.step_names()
        index = names.index(current)
        if index > 0:
            self.go(names[index - 1])

    def refresh_host(self, again: bool = True) -> None:
        """Read the host (again, after a rollback); the answers start afresh from it."""
        self.facts = (self.session.facts if not again and self.session.facts is not None
                      else self.session.read_host())
        self._form = None
        self.interrupted = self.session.interrupted()

    async def on_event(self, event: events.Event) -> None:
        # Keys and pastes go through one queue, each routed once the screen has handled the
        # one before (see keys.py): over SSH they arrive in bursts. Quit keys too: Ctrl+C
        # typed behind the Enter that starts a run meets the run, as it was typed.
        if (isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded
                and self.keys.running):
            self.keys.put(event)
            return
        await super().on_event(event)

    # -- quitting ----------------------------------------------------------------------

    def action_request_quit(self) -> None:
        if self.applying:
            self.notify("Changes are being applied. Quitting now would leave them half done; "
                        "wait for the run to finish (or roll back).", title="Not now",
                        severity="warning")
            return
        if self.current_step() == "done":
            self.exit(self.exit_code)
            return
        if self._quit_question is not None:
            # A second Ctrl+C (or Ctrl+Q) while the quit question is up quits, as a shell's
            # habit over SSH expects, even when it came before the question was drawn (quit
            # keys do not wait in the key queue).
            self.exit(self.exit_code)
            return
        if isinstance(self.screen, ConfirmDialog):
            return  # any other question stays
        pending = (self.is_screen_installed("apply")
                   and getattr(self.get_screen("apply"), "firewall", None) == "pending")
        if pending:
            message = ("Quit the wizard? The changes were applied, but the firewall change is "
                       "not kept: it is undone when the countdown ends (the rest stays).")
        elif self.outcome is not None and self.outcome.status == "applied":
            message = "Quit the wizard? The changes were applied."
        else:
            message = "Quit the wizard? Nothing on this host has been changed."

        def answered(leave: bool | None) -> None:
            self._quit_question = None
            if leave:
                self.exit(self.exit_code)

        self._quit_question = ConfirmDialog(message, yes="Quit", no="Stay", title="Quit")
        self.push_screen(self._quit_question, answered)

    # -- apply: signals from the terminal ----------------------------------------------

    def begin_apply(self) -> None:
        """From now until end_apply, a hang-up or SIGTERM rolls the run back: apply only sets
        its own handlers on the main thread, and the run happens in a worker thread."""
        self.applying = True
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in SESSION_SIGNALS:
            self._previous_handlers[signum] = signal.signal(signum, self._on_session_signal)

    def _on_session_signal(self, signum: int, frame: object) -> None:
        self.session.abort()  # the current command stops; the next step fails; all is undone

    def end_apply(self) -> None:
        self.applying = False
        for signum, previous in self._previous_handlers.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous_handlers.clear()


def run_app(session: Session, edit: str | None = None,
            first_frame: Callable[[], None] | None = None) -> int:
    """Run the wizard; the exit code follows the CLI's (0 applied or nothing to do, 1 nothing
    applied, 3 rolled back)."""
    # A host or an answers file the wizard cannot read is reported before the screen takes
    # over: the message stays on the terminal, and nothing has changed (exit 2).
    session.read_host()
    if edit:
        from jitsiwizard.workflow.form import load_for_edit

        load_for_edit(edit)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError("the interactive wizard needs a terminal",
                        "run it in a terminal (ssh -t), or replay answers with --answers FILE")
    app = WizardApp(session, edit=edit, first_frame=first_frame)
    app.run()
    if app.farewell:  # the commands Done showed stay in the terminal's scrollback
        print("\n".join(app.farewell), flush=True)
    if app.return_code not in (None, 0):
        return app.return_code
    return app.exit_code
