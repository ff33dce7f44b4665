"""Step 8: the run. Progress per step, a live log, a progress bar (and one for package
installs, from apt's status lines), the outcome; on failure, what was rolled back and why.
After a run that changed the firewall, the countdown dialog (firewall_confirm.py): the
change is kept only if the admin confirms in time; otherwise the session's guard undoes it.

The run happens in a thread worker; it reports through messages, which never block it."""

from __future__ import annotations

import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Button, RichLog, Static

from jitsiwizard.screens.base import WizardScreen

INTRO = "Each change is backed up before it is made; if a step fails, all are undone."
MARKS = {"todo": ("[    ]", "dim"), "run": ("[ .. ]", "bold"), "done": ("[ OK ]", "bold green"),
         "failed": ("[FAIL]", "bold red"), "undone": ("[UNDO]", "bold yellow"),
         "fallback": ("[ALT ]", "bold yellow")}
BAR_WIDTH = 40


def bar_text(label: str, done: float, total: float) -> Text:
    """An ASCII progress bar (every terminal font has # and .)."""
    share = 0.0 if total <= 0 else max(0.0, min(1.0, done / total))
    filled = round(share * BAR_WIDTH)
    return Text.assemble(f"{label:<9}[", ("#" * filled, "bold"), "." * (BAR_WIDTH - filled),
                         f"] {share * 100:3.0f}%")


def apt_status(line: str) -> tuple[str, float, str] | None:
    """apt's status-fd lines ("pmstatus:PKG:PERCENT:TEXT", "dlstatus:...") as (kind, percent,
    text); None for any other line."""
    for raw in line.splitlines():
        raw = raw.strip()
        kind, _, rest = raw.partition(":")
        if kind not in ("pmstatus", "dlstatus"):
            continue
        parts = rest.split(":", 2)
        if len(parts) < 3:
            continue
        try:
            percent = float(parts[1])
        except ValueError:
            continue
        return ("download" if kind == "dlstatus" else "install"), percent, parts[2]
    return None


class ApplyEvent(Message):
    def __init__(self, kind: str, number: int, text: str):
        super().__init__()
        self.kind, self.number, self.text = kind, number, text


class ApplyLog(Message):
    def __init__(self, line: str):
        super().__init__()
        self.line = line


class ApplyFinished(Message):
    """The run's result (Session.run), or None and why the run did not start."""

    def __init__(self, result, error: str = ""):
        super().__init__()
        self.result, self.error = result, error


class FirewallSettled(Message):
    """How the firewall guard ended ("confirmed", "reverted", "failed", "gone"; None: it
    had not ended when the wait's bound ran out)."""

    def __init__(self, outcome: str | None):
        super().__init__()
        self.outcome = outcome


# After the deadline, how long the guard may take: it may wait for the state lock (30 s)
# and then runs the undo commands.
GUARD_WAIT = 60.0
# The firewall's state after the run, as the Apply and Done steps say it.
FIREWALL_WORDS = {
    "pending": "changed; waiting for Keep (it is undone otherwise)",
    "waiting": "not kept: waiting for the guard to undo the change",
    "kept": "the change was kept",
    "undone": "the change was not kept and was undone; the rest of the run stays applied",
    "gone": "the run was rolled back before the guard acted: nothing of it stays",
}


class StepsBox(VerticalScroll):
    """The steps, scrolled to keep the one it follows in view, also when its height changes
    (when the run ends the outcome below takes room, and the last step slid out of view)."""

    follow_y = 0

    def follow(self, y: int) -> None:
        self.follow_y = y
        self.call_after_refresh(self.scroll_to, y=y, animate=False)

    def on_resize(self) -> None:
        self.follow(self.follow_y)


class ApplyScreen(WizardScreen):
    NAME = "apply"
    TITLE = "Apply"
    INTRO = INTRO
    NEXT_LABEL = "Next >"
    HELP = (INTRO + "\n\nEach step is marked as it starts and ends; the log shows every "
            "command and its output (passwords redacted). If a step fails, every change of "
            "this run is undone in reverse order, services are put back as they were, and "
            "the reason is shown here.\n\nQuitting is refused while the run is in progress: "
            "stopping halfway would leave the host half configured. If the connection drops, "
            "the run is rolled back, and a later start of the wizard finds any run left "
            "half done and offers its rollback first.")
    def __init__(self):
        super().__init__()
        self.started_for = None  # the plan this screen ran
        self.running = False
        self.marks: dict[int, str] = {}
        self.descriptions: dict[int, str] = {}
        self.total = 0
        self.finished = 0
        # The firewall change of the run: None (none to confirm), "pending" (the dialog is
        # up), "waiting" (for the guard), "kept", "undone", "gone" or "failed".
        self.firewall: str | None = None
        self.firewall_problem = ""  # what went wrong when undoing it failed
        self.applied_text = Text()  # the outcome, without the firewall's line

    def compose_body(self) -> ComposeResult:
        yield Static("", id="apply-bar")
        yield Static("", id="package-bar")
        with StepsBox(id="apply-steps-box"):
            yield Static("", id="apply-steps", classes="steps")
        yield Static("", id="apply-outcome", classes="outcome")
        # min_width: wrap to the log's own width (the default, 78, scrolls sideways at 80x24)
        yield RichLog(id="apply-log", wrap=True, markup=False, max_lines=5000, min_width=20)

    def refresh_from_form(self) -> None:
        plan = self.app.plan
        if plan is None or plan is self.started_for:
            return
        self.start(plan)

    def focus_first(self) -> None:
        self.query_one("#apply-log", RichLog).focus()

    # -- starting --------------------------------------------------------------------------

    def start(self, plan) -> None:
        app = self.app
        self.started_for = plan
        self.running = True
        self.total = len(plan.steps)
        self.finished = 0
        self.firewall, self.firewall_problem = None, ""
        self.marks = {n: "todo" for n in range(1, self.total + 1)}
        self.descriptions = {n: app.redact(s.describe()) for n, s in enumerate(plan.steps, 1)}
        self.query_one("#apply-log", RichLog).clear()
        self.query_one("#apply-outcome", Static).update("")
        self.query_one("#package-bar", Static).display = False
        self.query_one("#next", Button).disabled = True
        self.query_one("#back", Button).disabled = True
        self.show_steps()
        app.begin_apply()
        self.status.start("applying; quitting is refused until the run ends")
        self.run_plan(app.planned)

    @work(thread=True, exclusive=True, group="apply")
    def run_plan(self, planned) -> None:
        from jitsiwizard.errors import UserError

        session = self.app.session
        post = self.post_message

        def event(kind: str, number: int, text: str) -> None:
            post(ApplyEvent(kind, number, text))

        def log(line: str) -> None:
            post(ApplyLog(line))  # thread-safe and never blocks the run

        try:
            result = session.run(planned, on_event=event, log=log)
        except UserError as exc:
            post(ApplyFinished(None, planned.redact(exc.render())))
            return
        except Exception as exc:  # shown to the admin; the run's own log has the details
            post(ApplyFinished(None, planned.redact(f"{exc.__class__.__name__}: {exc}")))
            return
        post(ApplyFinished(result))

    # -- progress --------------------------------------------------------------------------

    def on_apply_event(self, message: ApplyEvent) -> None:
        kind, number = message.kind, message.number
        log = self.query_one("#apply-log", RichLog)
        if number > self.total:
            self.total = number
        if kind == "step":
            self.marks[number] = "run"
            self.descriptions[number] = message.text
        elif kind == "done":
            if self.marks.get(number) == "run":
                self.marks[number] = "done"
            self.finished = max(self.finished, number)
        elif kind == "fallback":
            self.marks[number] = "fallback"
            log.write(Text(f"fallback: {message.text}", "bold yellow"))
        elif kind == "replan":
            log.write(Text(f"replanning: {message.text}", "bold"))
        elif kind == "failed":
            if number:
                self.marks[number] = "failed"
            log.write(Text(f"FAILED at step {number}: {message.text}", "bold red"))
        elif kind == "rollback":
            for step, mark in self.marks.items():
                if mark in ("done", "fallback"):
                    self.marks[step] = "undone"
            self.status.start("rolling back every change of this run")
            log.write(Text(message.text, "bold yellow"))
        elif kind == "rolled-back":
            log.write(Text(f"rolled back: {message.text}", "bold yellow"))
        self.show_steps()

    def on_apply_log(self, message: ApplyLog) -> None:
        self.query_one("#apply-log", RichLog).write(Text(message.line))
        status = apt_status(message.line)
        if status is not None:
            kind, percent, text = status
            bar = self.query_one("#package-bar", Static)
            bar.display = True
            bar.update(Text.assemble(bar_text("Packages", percent, 100), f"  {kind}: {text}"))

    def show_steps(self) -> None:
        done = sum(1 for m in self.marks.values() if m in ("done", "fallback"))
        self.query_one("#apply-bar", Static).update(Text.assemble(
            bar_text("Steps", done, self.total), f"  {done} of {self.total}"))
        text = Text(no_wrap=True, overflow="ellipsis")  # a step a line: the list follows it
        for number in sorted(self.marks):
            mark, style = MARKS[self.marks[number]]
            text.append(mark, style)
            text.append(f" {number:>2}. {self.descriptions.get(number, '')}")
            if number != self.total:
                text.append("\n")
        self.query_one("#apply-steps", Static).update(text)
        # Follow the run: the running step (or the last one that ended) stays in view, with
        # a little of what came before it.
        current = [n for n, m in self.marks.items() if m in ("run", "failed")]
        if not current:
            current = [n for n, m in self.marks.items() if m != "todo"] or [1]
        self.query_one(StepsBox).follow(max(0, current[-1] - 3))

    def on_apply_finished(self, message: ApplyFinished) -> None:
        app = self.app
        app.end_apply()
        self.running = False
        result = message.result
        if result is None:
            app.outcome, app.saved_answers, app.saved_notes = None, None, []
        else:
            app.outcome, app.saved_answers, app.saved_notes = (result.outcome, result.saved,
                                                               result.notes)
        outcome = app.outcome
        box = self.query_one("#apply-outcome", Static)
        self.query_one("#back", Button).disabled = False
        if outcome is None:
            self.status.stop("the run did not start")
            box.update(Text.assemble(("The run did not start: ", "bold red"), message.error,
                                     "\nNothing was changed. Esc goes back to the review."))
            return
        if outcome.status in ("applied", "nothing-to-do"):
            from jitsiwizard.errors import EXIT_OK

            app.exit_code = EXIT_OK
            self.status.stop("applied")
            self.query_one("#next", Button).disabled = False
            fallbacks = "".join(f"\nfallback taken: {f}" for f in outcome.fallbacks)
            self.applied_text = Text.assemble(("Applied. ", "bold green"),
                                              f"Run {outcome.run_id}; log {outcome.log_path}"
                                              f"{fallbacks}")
            if result.guard_error is not None:
                error = result.guard_error
                self.firewall = "failed"
                self.firewall_problem = (f"the guard that undoes it unless kept did not "
                                         f"start ({error.__class__.__name__}: {error}); the "
                                         "change stays")
            if result.deadline is not None:
                self.ask_firewall(result.deadline)
                return
            self.show_applied()
            self.query_one("#next", Button).focus()
            return
        from jitsiwizard.errors import EXIT_ROLLED_BACK

        app.exit_code = EXIT_ROLLED_BACK
        self.status.stop("failed and rolled back")
        text = Text()
        text.append(f"Step {outcome.failed_step} failed: " if outcome.failed_step else
                    "The run failed: ", "bold red")
        text.append(f"{outcome.error}\n")
        if outcome.rollback_errors:
            text.append("The rollback could not restore everything:\n", "bold red")
            for problem in outcome.rollback_errors:
                text.append(f"  - {problem}\n")
        else:
            text.append("Every change of this run was rolled back: the host is as it was "
                        "before.\n", "bold")
        text.append(f"Details: {outcome.log_path}\nEsc goes back to the review; Ctrl+Q quits.")
        box.update(text)

    # -- the firewall: keep or undo ---------------------------------------------------------

    def ask_firewall(self, deadline: float) -> None:
        from jitsiwizard.errors import EXIT_CHECKS_FAILED
        from jitsiwizard.screens.firewall_confirm import FirewallDialog

        self.firewall = "pending"
        # Quitting now leaves the change to the guard, which undoes it: exit 1, like replay.
        self.app.exit_code = EXIT_CHECKS_FAILED
        self.query_one("#next", Button).disabled = True
        self.status.stop("the firewall change waits for Keep")
        self.show_applied()
        session, run_id = self.app.session, self.app.outcome.run_id
        dialog = FirewallDialog(deadline, guard_alive=lambda: session.firewall.guard_alive(run_id),
                                undo_commands=lambda: session.firewall.undo_commands(run_id))
        self.app.push_screen(dialog, lambda choice: self.firewall_answered(choice, deadline))

    def firewall_answered(self, choice: str | None, deadline: float) -> None:
        from jitsiwizard.screens.firewall_confirm import KEEP, UNDO

        session, run_id = self.app.session, self.app.outcome.run_id
        try:
            if choice == KEEP and session.firewall.confirm(run_id):
                self.firewall_settled("confirmed")
                return
            if choice == UNDO:
                session.firewall.undo_now(run_id)
        except OSError as exc:  # the marker could not be written: the guard decides alone
            self.notify(f"{exc}", title="Firewall", severity="error", markup=False)
        # Undoing is the guard's, whatever the reason: wait for it to say how it ended.
        self.firewall = "waiting"
        self.show_applied()
        self.status.start("waiting for the firewall guard to undo the change")
        self.wait_for_guard(run_id, max(0.0, deadline - time.time()) + GUARD_WAIT)

    @work(thread=True, exclusive=True, group="firewall")
    def wait_for_guard(self, run_id: str, bound: float) -> None:
        try:
            outcome = self.app.session.firewall.outcome(run_id, timeout=bound)
        except OSError:
            outcome = None
        self.post_message(FirewallSettled(outcome))

    def on_firewall_settled(self, message: FirewallSettled) -> None:
        self.firewall_settled(message.outcome)

    def firewall_settled(self, outcome: str | None) -> None:
        from jitsiwizard.errors import EXIT_CHECKS_FAILED, EXIT_OK

        if outcome == "confirmed":
            self.firewall = "kept"
        elif outcome == "reverted":
            self.firewall = "undone"
        elif outcome == "gone":
            self.firewall = "gone"
        else:
            self.firewall = "failed"
            self.firewall_problem = ("not kept, and undoing it did not finish "
                                     f"({outcome or 'the guard has not ended'}): check "
                                     "`ufw status` and the run log")
        self.app.exit_code = EXIT_OK if self.firewall == "kept" else EXIT_CHECKS_FAILED
        self.status.stop(f"firewall: {self.firewall}")
        self.show_applied()
        next_button = self.query_one("#next", Button)
        next_button.disabled = False
        next_button.focus()

    def firewall_summary(self) -> str:
        """The firewall change in words, for this step and Done; "" when there was none."""
        if self.firewall is None:
            return ""
        if self.firewall == "failed":
            return self.firewall_problem
        return FIREWALL_WORDS[self.firewall]

    def show_applied(self) -> None:
        text = self.applied_text.copy()
        said = self.firewall_summary()
        if said:
            text.append("\nFirewall: ", "bold")
            text.append(said, "" if self.firewall in ("kept", "pending", "waiting")
                        else "bold yellow")
            if self.firewall == "undone":
                run_id = self.app.outcome.run_id
                text.append(f"\nUndo the rest with: "
                            f"{self.app.session.command(f'rollback {run_id}')}")
        if self.firewall not in ("pending", "waiting"):
            text.append("\nNext shows the summary.")
        self.query_one("#apply-outcome", Static).update(text)

    # -- leaving ---------------------------------------------------------------------------

    def can_leave(self) -> bool:
        if self.running:
            self.notify("The run is in progress; wait for it to finish.", severity="warning")
            return False
        if self.firewall in ("pending", "waiting"):
            self.notify("The firewall change is not settled yet: Keep it, or wait for it to "
                        "be undone.", severity="warning")
            return False
        return True

    def action_back(self) -> None:
        if not self.can_leave():
            return
        outcome = self.app.outcome
        if outcome is not None and outcome.status == "applied":
            self.notify("The run is done: it can be undone with `jitsi-wizard rollback`. "
                        "Next shows the summary.", markup=False)
            return
        self.app.go_back(self.NAME)

    def action_next(self) -> None:
        if not self.can_leave():
            return
        outcome = self.app.outcome
        if outcome is None or outcome.status not in ("applied", "nothing-to-do"):
            self.notify("Nothing was applied. Esc goes back to the review.", severity="warning")
            return
        self.app.go_next(self.NAME)
