"""Step 7: the plan, step by step, with a diff viewer for each file; secrets redacted. The
answers go through the same validation as replay, the plan through the same builder."""

from __future__ import annotations

from shlex import quote
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from jitsiwizard.screens.base import (
    ConfirmDialog,
    KeyHints,
    WizardScreen,
    focus_soon,
    hanging,
    plain_console,
    text_width,
)
from jitsiwizard.screens.steps import LABELS, step_of
from jitsiwizard.workflow.form import on_screen

INTRO = "Everything the run would do, in order. Nothing has changed yet."


def fold(line: str, width: int | None) -> list[str]:
    """A diff line cut to `width`: the parts after the first keep its mark (+, - or a space)
    and are indented, so a long line never runs on at the first column, where it would read
    as a line of its own."""
    if width is None or len(line) <= width or width < 12:
        return [line]
    if not line.startswith(("+", "-", " ", "@")):  # the plan's own words: whole words
        import textwrap

        return textwrap.wrap(line, width, subsequent_indent="     ",
                             break_on_hyphens=False) or [line]
    mark = line[:1] if line[:1] in ("+", "-", " ") and not line.startswith(("+++", "---")) \
        else " "
    parts = [line[:width]]
    rest = line[width:]
    room = width - 5
    while rest:
        parts.append(f"{mark}    {rest[:room]}")
        rest = rest[room:]
    return parts


def diff_text(text: str, width: int | None = None) -> Text:
    """A unified diff, coloured by line kind (the marks stay for monochrome terminals),
    with lines longer than `width` folded under themselves."""
    out = Text()
    for line in (part for whole in text.splitlines() for part in fold(whole, width)):
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        else:
            style = ""
        out.append(line + "\n", style)
    return out


class StepsList(OptionList):
    BINDINGS: ClassVar = [Binding("d", "screen.show_all", "Whole plan")]


class ReviewScreen(WizardScreen):
    NAME = "review"
    TITLE = "Review the plan"
    INTRO = INTRO
    NEXT_LABEL = "Apply..."
    HELP = (INTRO + "\n\nNotes come first: warnings about this host and what the plan "
            "decided (the certificate route, for example). Then every step: files to "
            "create, edit or remove, commands to run, services to restart, checks of the "
            "outcome. Highlight a step and press Enter to see its diff; D shows the whole "
            "plan with every diff. Passwords never appear: they are shown as <redacted>.\n\n"
            "Apply runs the plan as one transaction: a backup of every file is taken first, "
            "and if any step fails, everything is rolled back. Before asking, the wizard asks "
            "jicofo whether meetings are running when the plan restarts Prosody, jicofo or "
            "the bridge: a restart drops them. To change something, go back with Esc.")

    def __init__(self):
        super().__init__()
        self.ready = False
        self.error = False
        self.asking = False  # jicofo is being asked about meetings before the Apply question

    def compose_body(self) -> ComposeResult:
        yield Static("", id="plan-notes", classes="notes")
        yield Static("", id="plan-summary", classes="section")
        yield StepsList(id="steps-list")

    def refresh_from_form(self) -> None:
        self.ready = False
        self.error = False
        self.asking = False
        self.app.planned = None
        self.query_one("#plan-notes", Static).update("")
        self.query_one("#plan-summary", Static).update(Text("Building the plan...", "dim"))
        self.query_one("#steps-list", StepsList).clear_options()
        self.query_one("#steps-list").display = True
        self.query_one("#next", Button).label = self.NEXT_LABEL
        self.status.start("building the plan")
        self.build_plan()

    def focus_first(self) -> None:
        self.query_one("#steps-list", StepsList).focus()

    @work(thread=True, exclusive=True, group="plan")
    def build_plan(self) -> None:
        from jitsiwizard.errors import ProblemList, UserError

        app = self.app
        try:
            planned = app.session.plan(app.form.build())
        except ProblemList as exc:
            app.call_from_thread(self.show_error, exc.problems, None)
            return
        except UserError as exc:
            app.call_from_thread(self.show_error, [], exc)
            return
        app.call_from_thread(self.show_plan, planned)

    def show_error(self, problems, error) -> None:
        self.error = True
        self.status.stop("the plan could not be built")
        text = Text()
        text.append("The plan cannot be built yet:\n", "bold red")
        width = text_width(self.query_one("#plan-summary", Static))
        # Every line wraps under its own text, not back at the first column.
        if error is not None:
            where = step_of(error.field) if error.field else ""
            hanging(text, "", "", error.message, "", width)
            if error.hint:
                text.append("\n")
                hanging(text, "  fix: ", "dim", error.hint, "dim", width)
            if where in LABELS:
                text.append(f"\n  (step: {LABELS[where]})", "dim")
        for problem in problems:
            if problem.warning:
                continue
            where = LABELS.get(step_of(problem.field), "")
            problem = on_screen(problem, self.app.form.answers)
            hanging(text, "- ", "", f"{problem.field}: {problem.message}", "", width)
            if problem.hint:
                text.append("\n")
                hanging(text, "    fix: ", "dim", problem.hint, "dim", width)
            if where:
                text.append(f"\n    (step: {where})", "dim")
            text.append("\n")
        text.append("\nPress Esc to go back and change it.")
        self.query_one("#plan-summary", Static).update(text)

    def show_plan(self, planned) -> None:
        self.app.planned = planned
        plan, redact = planned.plan, planned.redact
        self.ready = True
        self.status.stop("")
        notes = Text()
        warnings = [p.message for p in planned.warnings]
        notes_box = self.query_one("#plan-notes", Static)
        for number, note in enumerate(plan.notes + warnings):
            if number:
                notes.append("\n")
            hanging(notes, "note: ", "bold yellow", redact(note), "", text_width(notes_box))
        notes_box.update(notes)
        notes_box.display = bool(plan.notes or warnings)
        steps = self.query_one("#steps-list", StepsList)
        summary = self.query_one("#plan-summary", Static)
        if plan.is_empty:
            summary.update("Nothing to change: the host already matches these answers. "
                           "Finish saves the answers for replay.")
            self.query_one("#next", Button).label = "Finish"
            steps.display = False  # no empty box
            return
        files = len(plan.file_steps())
        summary.update(f"{len(plan.steps)} steps, {files} file change(s). Enter on a step "
                       "shows its diff; D shows the whole plan.")
        # A step a line, or several under its own text (not back at the number's column).
        width = max(text_width(steps) - 2, 0)  # less the highlight's padding
        for number, step in enumerate(plan.steps, 1):
            if number == plan.checks_before and plan.checks:
                steps.add_option(_phase_option("check", PHASES["check"][0], width))
            prompt = Text()
            hanging(prompt, f"{number:>2}. ", "", redact(step.describe()), "", width)
            steps.add_option(Option(prompt, id=str(number)))
        if plan.verification:
            steps.add_option(_phase_option("verify", PHASES["verify"][0], width))
        steps.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        plan = self.app.plan
        if plan is None or not event.option.id:
            return
        event.stop()
        redact = self.app.redact
        if event.option.id in PHASES:
            title, lines = PHASES[event.option.id][1], (
                plan.checks if event.option.id == "check" else plan.verification)
            self.app.push_screen(TextDialog(title, Text(
                "\n".join(f"- {redact(line)}" for line in lines))))
            return
        number = int(event.option.id)
        step = plan.steps[number - 1]
        diff = getattr(step, "diff", None)
        body = diff() if diff else ""
        text = Text(redact(step.describe()) + "\n\n", "bold")
        if body:
            text.append_text(diff_text(redact(body), self.viewer_width()))
        elif diff is not None:
            text.append("(no content difference)", "dim")
        else:
            text.append(_step_details(step, redact))
        self.app.push_screen(TextDialog(f"Step {number} of {len(plan.steps)}", text))

    def action_show_all(self) -> None:
        if self.app.plan is not None:
            self.app.push_screen(TextDialog("The whole plan", diff_text(
                self.app.plan.render(self.app.redact), self.viewer_width())))

    def viewer_width(self) -> int:
        return self.app.size.width - 4  # the viewer's padding and its scroll bar

    def can_leave(self) -> bool:
        return True

    def action_next(self) -> None:
        if not self.ready:
            self.notify("The plan is not ready." if not self.error else
                        "The plan could not be built: go back (Esc) and fix the answers.",
                        severity="warning")
            return
        plan = self.app.plan
        if plan.is_empty:
            self.app.go("done")
            return
        if self.asking:
            return  # the question comes when jicofo has answered
        # Whether people are in meetings is asked of jicofo over HTTP: off the UI thread,
        # bounded by the session's own probe timeout.
        self.asking = True
        self.status.start("asking jicofo whether meetings are running")
        self.ask_meetings(self.app.planned)

    @property
    def holds_keys(self) -> bool:
        """Keys typed behind Next wait for the question it brings (see keys.py)."""
        return self.asking

    @work(thread=True, exclusive=True, group="meetings")
    def ask_meetings(self, planned) -> None:
        app = self.app
        try:
            check = app.session.meetings(planned)
            said, disruptive = check.message(), check.disruptive
        except Exception as exc:  # unknown is not zero: asked as if people were in meetings
            said = f"jicofo could not be asked whether meetings are running ({exc})"
            disruptive = True
        app.call_from_thread(self.ask_apply, planned, said, disruptive)

    def ask_apply(self, planned, said: str, disruptive: bool) -> None:
        self.asking = False
        self.status.stop("")
        if self.app.planned is not planned or self.app.current_step() != self.NAME:
            return  # the admin went back meanwhile: this plan is no longer the one shown
        plan = planned.plan
        where = "this host" if self.app.root.is_real else str(self.app.root.base)
        how = " (commands are only recorded: simulation)" if self.app.simulate else ""
        question = (f"Apply {len(plan.steps)} steps to {where}{how}? Every change is backed "
                    "up first and rolled back if a step fails.")

        def answered(go: bool | None) -> None:
            if go:
                self.app.go("apply")

        if disruptive:  # Stay has the focus: Enter by habit drops nobody
            dialog = ConfirmDialog(f"{said}.\n\n{question}", yes="Apply anyway", no="Stay",
                                   title="Meetings in progress")
        else:
            dialog = ConfirmDialog(question + (f"\n\n{said}." if said else ""), yes="Apply",
                                   no="Not yet", title="Apply")
        self.app.push_screen(dialog, answered)


# A step's details, in words: (attribute, label).
DETAILS = (("argv", "command"), ("undo", "undone by"), ("timeout", "time limit"),
           ("env", "environment"), ("snapshot", "backed up first"), ("name", "service"),
           ("action", "action"), ("args", "checks"))


def _shown(value) -> str:
    """A value as an admin reads it: commands as typed in a shell, lists one per line."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return " ".join(quote(str(v)) for v in value)
    return str(value)


def _step_details(step, redact) -> str:
    lines = []
    for name, label in DETAILS:
        if name == "name" and getattr(step, "kind", "") != "service":
            continue  # a verifier's key: the summary already says what is checked
        value = getattr(step, name, None)
        if value in (None, (), [], {}, ""):
            continue
        if name == "timeout":
            shown = f"{value:g} s" if isinstance(value, (int, float)) else str(value)
        elif name == "snapshot":
            shown = "\n".join(f"  {path}" for path in value)
            lines.append(f"{label}:\n{shown}")
            continue
        elif name in ("argv", "undo") and value and isinstance(value[0], (list, tuple)):
            shown = "; ".join(_shown(v) for v in value)  # several commands
        else:
            shown = _shown(value)
        lines.append(f"{label}: {shown}")
    otherwise = getattr(step, "otherwise", None)
    if otherwise:
        lines.append("if not, instead:")
        lines += [f"  - {sub.describe()}" for sub in otherwise]
    return redact("\n".join(lines))


class TextDialog(ModalScreen[None]):
    """A full-screen, scrollable text viewer (diffs, the whole plan, logs)."""

    BINDINGS: ClassVar = [Binding("escape,q", "close", "Close")]

    def __init__(self, title: str, text: Text):
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="viewer"):
            yield Static(self.title_text, classes="title")
            with VerticalScroll(id="viewer-body"):
                yield Static(self.text)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", compact=True)
        yield KeyHints()

    def on_mount(self) -> None:
        if plain_console():
            self.add_class("plain")
        focus_soon(self, "#viewer-body")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


# The checks around the restarts, listed among the steps where the run does them:
# (the line in the list, the title of what Enter shows).
PHASES = {
    "check": ("check the new configuration before the first restart",
              "Checked before the first restart"),
    "verify": ("verify that Jitsi works, after the last step", "Verified after the last step"),
}


def _phase_option(kind: str, text: str, width: int) -> Option:
    prompt = Text()
    hanging(prompt, f"[{kind}] ", "bold", text, "", width)
    return Option(prompt, id=kind)
