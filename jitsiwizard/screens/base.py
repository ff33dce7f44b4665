"""What every wizard screen shares: the step line, the navigation keys and buttons, help, a
spinner for slow work, confirmation dialogs, and the way check results are shown."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.scrollbar import ScrollBarRender
from textual.widgets import Button, Static

from jitsiwizard.screens.steps import LABELS, MEETING_SERVER, problems_on, steps_of

if TYPE_CHECKING:
    from textual.widgets import Input

# The Linux console's fonts lack most symbols: plain ASCII marks read the same everywhere.
STATUS_MARK = {"ok": " OK ", "warn": "WARN", "fail": "FAIL"}
STATUS_STYLE = {"ok": "bold green", "warn": "bold yellow", "fail": "bold red"}
SPINNER_FRAMES = "|/-\\"
MIN_SIZE = (80, 24)  # the terminal the screens are laid out for


def plain_console() -> bool:
    """True on terminals whose fonts lack block and box characters (the Linux console)."""
    return os.environ.get("TERM", "") in ("linux", "vt100", "vt220", "dumb")


def result_text(results, *, evidence: bool = True, width: int = 0) -> Text:
    """Check results as text: a status mark and the summary, then what was seen and the fix.
    With `width` (the widget's), a long line wraps under its own text, not back to the first
    column."""
    text = Text()
    for number, result in enumerate(results):
        if number:
            text.append("\n")
        mark = f"[{STATUS_MARK.get(result.status, result.status)}] "
        hanging(text, mark, STATUS_STYLE.get(result.status, ""), result.summary, "", width)
        if evidence:
            for line in result.evidence:
                text.append("\n")
                hanging(text, "       saw: ", "dim", line, "dim", width)
        if result.fix and result.status != "ok":
            text.append("\n")
            hanging(text, "       fix: ", "bold", result.fix, "", width)
    return text


def hanging(text: Text, label: str, label_style: str, body: str, style: str,
            width: int) -> None:
    """`label` then `body`, wrapped to `width` with the lines after the first indented under
    the body (words are kept whole, --options too; only a word longer than a line breaks)."""
    import textwrap

    room = width - len(label)
    lines = (textwrap.wrap(body, room, break_on_hyphens=False) if room >= 20 else []) or [body]
    text.append(label, label_style)
    text.append(lines[0], style)
    for line in lines[1:]:
        text.append("\n" + " " * len(label) + line, style)


def text_width(widget) -> int:
    """The width a Static has for its text: its own once laid out, else the screen's less
    the body's padding and scroll bar."""
    return widget.content_region.width or max(widget.app.size.width - 4, 0)


def problems_text(problems, *, tint: bool = False) -> Text:
    """Problems as "error: FIELD: message" lines (the words carry the kind without colour),
    each with its fix; `tint`: the message in the kind's colour too (under a field)."""
    text = Text()
    for number, problem in enumerate(problems):
        if number:
            text.append("\n")
        kind = "warning" if problem.warning else "error"
        colour = "yellow" if problem.warning else "red"
        text.append(f"{kind}: ", f"bold {colour}")
        text.append(f"{problem.field}: {problem.message}", colour if tint else "")
        if problem.hint:
            text.append(f"\n  fix: {problem.hint}", "dim")
    return text


class StepLine(Static):
    """Where the admin is: every step's name, the current one highlighted."""

    def __init__(self, current: str, simulated: bool = False):
        super().__init__(id="steps")
        self.current = current
        self.simulated = simulated

    def on_mount(self) -> None:
        self.show()

    def on_resize(self) -> None:
        self.show()

    def show(self) -> None:
        steps = steps_of(getattr(self.app, "role", MEETING_SERVER))
        names = [step.name for step in steps]
        text = Text(no_wrap=True, overflow="crop")
        reached = True
        for step in steps:
            if text:
                text.append("  ")
            if step.name == self.current:
                text.append(f" {step.label} ", "bold reverse")
                reached = False
            else:
                text.append(step.label, "" if reached else "dim")
        width, height = self.app.size
        if len(text) + (5 if self.simulated else 0) > width - 1:  # the line has a padding
            # Too narrow for every step: where the admin is, in words.
            number = names.index(self.current) + 1 if self.current in names else 0
            text = Text(no_wrap=True, overflow="crop")
            text.append(f" Step {number} of {len(steps)}: {LABELS[self.current]} ",
                        "bold reverse")
        if self.simulated:
            text.append("  SIM", "bold reverse")
        if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
            text.append(f"  {width}x{height}: needs {MIN_SIZE[0]}x{MIN_SIZE[1]}", "bold")
        self.update(text)


class AsciiScrollBarRender(ScrollBarRender):
    """Scroll bars without block glyphs, for the Linux console: the thumb is reverse video."""

    VERTICAL_BARS: ClassVar[list[str]] = [" "] * 8
    HORIZONTAL_BARS: ClassVar[list[str]] = [" "] * 8


def use_ascii_scrollbars() -> None:
    from textual.scrollbar import ScrollBar

    ScrollBar.renderer = AsciiScrollBarRender


class Spinner(Static):
    """A one-line activity mark for slow work, in plain ASCII."""

    def __init__(self, **kw):
        super().__init__("", **kw)
        self._frame = 0
        self._label = ""
        self._timer = None

    def start(self, label: str) -> None:
        self._label = label
        self._frame = 0
        if self._timer is None:
            self._timer = self.set_interval(0.15, self._tick)
        self._show()

    def stop(self, label: str = "") -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.update(Text(label))

    @property
    def running(self) -> bool:
        return self._timer is not None

    def _tick(self) -> None:
        self._frame = (self._frame + 1) % len(SPINNER_FRAMES)
        self._show()

    def _show(self) -> None:
        self.update(Text.assemble((SPINNER_FRAMES[self._frame], "bold"), " ", self._label))


class KeyHints(Static):
    """The screen's keys on one line at the bottom, as Textual's Footer shows them but drawn
    as one piece of text: the Footer builds a widget per key, which the first screen pays
    for (about 20 ms of a 300 ms start)."""

    DEFAULT_CSS = """
    KeyHints { dock: bottom; height: 1; background: $footer-background; }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._changed)
        self._changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _changed(self, screen) -> None:
        text = Text()
        seen: set[str] = set()
        for _node, binding, enabled, _tip in screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            key = self.app.get_key_display(binding)
            text.append(f" {key} ", "bold" if enabled else "dim")
            text.append(f"{binding.description} ", "" if enabled else "dim")
        self.update(text)


class WizardScreen(Screen):
    """One step of the wizard. Subclasses give NAME, TITLE, HELP and compose_body(); they
    edit `self.form.answers` and call the core, nothing more."""

    # The styles of the steps after Welcome: loaded (once, for the app) with the first of
    # them, so that the first screen parses only app.tcss.
    CSS_PATH: ClassVar = str(Path(__file__).with_name("steps.tcss"))
    NAME: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    INTRO: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    NEXT_LABEL: ClassVar[str] = "Next >"
    HAS_BACK: ClassVar[bool] = True  # a "< Back" button (the first and the last step have none)

    BINDINGS: ClassVar = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next"),
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
    ]

    @property
    def form(self):
        return self.app.form

    def compose(self) -> ComposeResult:
        yield StepLine(self.NAME, self.app.simulate)
        with VerticalScroll(id="body"):
            yield Static(self.TITLE, classes="title")
            if self.INTRO:
                yield Static(self.INTRO, classes="intro")
            yield from self.compose_body()
        with Horizontal(id="nav"):
            yield Spinner(id="status")
            if self.HAS_BACK:
                yield Button("< Back", id="back", compact=True)
            yield Button(self.NEXT_LABEL, id="next", compact=True, variant="primary")
        yield KeyHints()

    def compose_body(self) -> ComposeResult:
        return iter(())

    @property
    def status(self) -> Spinner:
        return self.query_one("#status", Spinner)

    def on_mount(self) -> None:
        if plain_console():
            self.add_class("plain")
        # Widgets nested a few levels deep are mounted after this event: arrive (fill them
        # in) once the screen has been laid out.
        self.call_after_refresh(self._mounted)

    def _mounted(self) -> None:
        self._composed = True
        if self.entering:
            self.arrive()

    entering = False  # set by the app when it switches to this screen
    _composed = False

    def on_screen_resume(self) -> None:
        # Also sent when a dialog on top closes (only a real arrival reloads the screen), and
        # possibly before a new screen's widgets exist (then on_mount arrives instead).
        if self.entering and self._composed:
            self.arrive()

    def arrive(self) -> None:
        self.entering = False
        self.query_one(StepLine).show()  # the role may have changed since it was drawn
        self._problems_shown = False  # problems from an earlier visit may be fixed since
        self.refresh_from_form()
        self.update_problems()
        # A step opens at its top (its title and what it is for), wherever it was left.
        self.query_one("#body").scroll_home(animate=False, immediate=True)
        self.focus_first()

    def refresh_from_form(self) -> None:
        """Show the form's current values (it may have changed on another screen)."""

    def focus_first(self) -> None:
        """The step's first field, tick or choice; Next when it has none. Never a button in
        the body ("Check again"): Enter there would act, where it should go on."""
        body = self.query_one("#body")
        for widget in self.focus_chain:  # in Tab order, shown widgets only
            if (widget is not body and body in widget.ancestors
                    and not isinstance(widget, Button)):
                widget.focus()
                return
        self.query_one("#next", Button).focus()

    # -- navigation ---------------------------------------------------------------------

    def field_submitted(self, field: Input) -> None:
        """Enter moves to the next field of the step, and from the last one goes on (as Next
        does, with its checks); it never lands on "< Back"."""
        body = self.query_one("#body")
        chain = self.focus_chain
        if field in chain:
            for widget in chain[chain.index(field) + 1:]:
                if body in widget.ancestors:
                    widget.focus()
                    return
        self.action_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        # Textual calls this handler once per class that defines it: a subclass that calls
        # super() would otherwise move on twice (Welcome straight to DNS).
        if event.button.id == "back":
            event.stop()
            event.prevent_default()
            self.action_back()
        elif event.button.id == "next":
            event.stop()
            event.prevent_default()
            self.action_next()

    def action_back(self) -> None:
        if self.can_leave():
            self.app.go_back(self.NAME)

    def action_next(self) -> None:
        if not self.can_leave():
            return
        problems = self.check_before_next()
        if problems:
            self.show_problems(problems)
            return
        warning = self.warning_before_next()
        if warning:
            def answered(go_on: bool | None) -> None:
                if go_on:
                    self.accept_warning()
                    self.app.go_next(self.NAME)

            self.app.push_screen(ConfirmDialog(warning, yes="Continue anyway", no="Stay"),
                                 answered)
            return
        self.app.go_next(self.NAME)

    def can_leave(self) -> bool:
        """False while leaving would lose or break something (a run in progress)."""
        return True

    def check_before_next(self) -> list:
        """Problems (errors) that keep the admin on this screen."""
        return []

    # The Static under the step's fields for the problems that have no widget of their own
    # on the screen (the others show under theirs); "": a notification.
    PROBLEMS_BOX: ClassVar[str] = ""
    _problems_shown = False  # kept up to date as the admin edits, once shown

    def screen_problems(self, problems) -> list:
        """The problems in the screen's words (labels, not answers-file keys)."""
        from jitsiwizard.workflow.form import on_screen

        return [on_screen(p, self.form.answers) for p in problems]

    def forget_stale_check(self, key: tuple, button: str, results: str, verb: str) -> bool:
        """A setting changed: the last live check (made for `self.tested_for`) no longer
        says anything about `key`. Says so on screen (unless a check is running: its own
        result will be out of date); returns whether the screen must drop its results."""
        tested = getattr(self, "tested_for", None)
        if tested is None or tested == key:
            return False
        self.tested_for = None
        if not self.query_one(button, Button).disabled:
            self.query_one(results, Static).update(Text(
                f"The settings changed since the last {verb}: {verb} again.", "dim"))
            if not self.status.running:  # "... test passed" no longer holds
                self.status.stop("")
        return True

    def field_lines(self) -> dict:
        """The error line of each answers key whose widget is shown, by key."""
        from jitsiwizard.screens.widgets import FieldError

        lines: dict = {}
        for line in self.query(FieldError):
            node = line.target
            while node is not None and node is not self and node.display:
                node = node.parent
            if node is self and line.key not in lines:
                lines[line.key] = line
        return lines

    def live_problems(self) -> list:
        """What a live check of the screen found (the certificate files): shown under the
        fields whether or not Next was pressed; the screen shows the rest itself."""
        return []

    def place_problems(self, problems) -> list:
        """Each problem (and each live one) once, under its field's widget; those with no
        widget on the screen in the step's box. Returns the error lines with an error, top
        first."""
        from jitsiwizard.screens.widgets import FieldError

        lines = self.field_lines()
        live = self.live_problems()
        found: dict = {key: [] for key in lines}
        seen, rest = set(), []
        for problem in [*live, *problems]:
            if (problem.field, problem.message) in seen:
                continue
            seen.add((problem.field, problem.message))
            if problem.field in found:
                found[problem.field].append(problem)
            elif not any(problem is p for p in live):
                rest.append(problem)
        at_fault = []
        for line in self.query(FieldError):
            mine = found.get(line.key, []) if lines.get(line.key) is line else []
            line.show(problems_text(self.screen_problems(mine), tint=True) if mine else "")
            if any(not p.warning for p in mine):
                at_fault.append(line)
        if self.PROBLEMS_BOX:
            box = self.query_one(self.PROBLEMS_BOX, Static)
            text = problems_text(self.screen_problems(rest))
            if text != box.content:
                box.update(text)
        return at_fault

    def show_problems(self, problems) -> None:
        """Show the problems (Next refused) in the screen's words, each under its field, and
        take the admin to the first field at fault."""
        if not self.PROBLEMS_BOX:
            problems = self.screen_problems(problems)
            self.notify("\n".join(f"{p.field}: {p.message}" for p in problems),
                        title="Please fix", severity="error", markup=False)
            return
        self._problems_shown = bool(problems)
        at_fault = self.place_problems(problems)
        if at_fault:
            line = at_fault[0]
            line.target.focus(scroll_visible=False)
            # The error line, then the widget above it: both in view, even at 80x24.
            self.call_after_refresh(line.scroll_visible, animate=False)
            self.call_after_refresh(line.target.scroll_visible, animate=False)
        else:
            self.query_one(self.PROBLEMS_BOX, Static).scroll_visible(animate=False)

    def update_problems(self) -> None:
        """After an edit: problems on screen that are fixed go, the rest stay (and the live
        check's are shown as they stand)."""
        if self.PROBLEMS_BOX:
            problems = self.current_problems() if self._problems_shown else []
            self._problems_shown = bool(problems)
            self.place_problems(problems)

    def current_problems(self) -> list:
        """The step's validation errors as the answers stand now."""
        return problems_on(self.NAME, self.form)

    def on_input_changed(self) -> None:
        self.update_problems()  # after the subclass's own handler (Textual calls both)

    def on_checkbox_changed(self) -> None:
        self.update_problems()

    def on_radio_set_changed(self) -> None:
        self.update_problems()

    def warning_before_next(self) -> str:
        """A warning to confirm before going on (a failed check); "" when there is none."""
        return ""

    def accept_warning(self) -> None:
        """The admin chose to go on despite the warning."""

    def action_help(self) -> None:
        self.app.push_screen(HelpDialog(self.TITLE, self.HELP or self.INTRO))


def focus_soon(screen, selector: str, tries: int = 100) -> None:
    """Focus the first widget matching `selector` once it is there: a screen's on_mount can
    run before the widgets nested in its containers are mounted (on a busy host), and a
    query then would fail. Looks again every 10 ms, for a second at most."""
    found = screen.query(selector)
    if found:
        found.first().focus()
    elif tries > 0 and screen.is_attached:
        screen.set_timer(0.01, lambda: focus_soon(screen, selector, tries - 1))


class ConfirmDialog(ModalScreen[bool]):
    """A question with two answers; Esc means no."""

    BINDINGS: ClassVar = [Binding("escape", "no", "No"),
                          Binding("left", "app.focus_previous", show=False),
                          Binding("right", "app.focus_next", show=False)]

    def __init__(self, message: str, *, yes: str = "Yes", no: str = "No",
                 title: str = "Please confirm"):
        super().__init__()
        self.message = message
        self.yes = yes
        self.no = no
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="title")
            yield Static(Text(self.message), classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.no, id="no", compact=True)
                yield Button(self.yes, id="yes", compact=True, variant="warning")

    def on_mount(self) -> None:
        if plain_console():
            self.add_class("plain")
        focus_soon(self, "#no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_no(self) -> None:
        self.dismiss(False)


class HelpDialog(ModalScreen[None]):
    BINDINGS: ClassVar = [Binding("escape", "close", "Close"), Binding("f1", "close", "Close"),
                          Binding("q", "close", show=False)]

    def __init__(self, title: str, text: str):
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help"):
            yield Static(f"Help: {self.title_text}", classes="title")
            with VerticalScroll(classes="help-body"):
                # The keys first: they are what a first-time admin looks for.
                yield Static(Text(KEYS_HELP + "\n\n" + self.text), classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", compact=True)

    def on_mount(self) -> None:
        if plain_console():
            self.add_class("plain")
        # The text has the focus, so arrows and Page Up/Down scroll it; Esc or F1 closes.
        focus_soon(self, ".help-body")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


KEYS_HELP = """\
Keys
  Tab, Shift+Tab  move between fields
  Enter           the next field; from the last one, the next step
                  (on a button: presses it)
  Ctrl+N, Esc     the next step, the previous step
  F1 or ?         this help: arrows, PgUp/PgDn scroll, Esc closes
  Ctrl+Q          quit
Nothing on this host changes before you choose Apply on the Review step."""
