"""Form widgets for the screens that have forms (not needed by the first screen)."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding
from textual.containers import Container
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Checkbox, Input, RadioButton, RadioSet, Static

HINT_WORDS = ("e.g.", "(unchanged", "optional", "only ")


class FieldInput(Input):
    """An input whose Enter is handled by its screen (`field_submitted`: move on, or submit
    a dialog). Keys typed ahead behind the Enter reach the next field because the app routes
    each key only once the screen has acted on the one before (keys.py)."""

    def __init__(self, *args, placeholder: str = "", **kw):
        # A hint must not pass for a value (in grey, or with no colour at all): it says
        # "e.g." and is drawn in italics (app.tcss).
        if placeholder and not placeholder.startswith(HINT_WORDS):
            placeholder = f"e.g. {placeholder}"
        super().__init__(*args, placeholder=placeholder, **kw)

    async def action_submit(self) -> None:
        handler = getattr(self.screen, "field_submitted", None)
        if handler is None:
            await super().action_submit()
        else:
            handler(self)


class FieldError(Static):
    """The problems of one answers key (`key`, e.g. "host.email"), on the line right under
    the widget that edits it (`target`, focused when the admin must fix it); hidden when
    there are none. The screen fills it in (WizardScreen.place_problems)."""

    def __init__(self, key: str, target: Widget):
        super().__init__("", classes="field-error")
        self.key = key
        self.target = target
        self.display = False

    def show(self, text) -> None:
        if text != self.content:  # called on every key press: lay out only a change
            self.update(text)
            self.display = bool(text)


class Field(Container):
    """A label and a one-line input on one row and, under the input, the error line of the
    answers key it edits (`key`), if any, laid out as a grid (steps.tcss). The input keeps
    its text when it gets the focus (no select-all: fixing a typo in a pre-filled value must
    not erase it)."""

    def __init__(self, label: str, *, field_id: str | None = None, key: str = "",
                 **input_options):
        self.input = FieldInput(compact=True, select_on_focus=False, **input_options)
        self.error = FieldError(key, self.input) if key else None
        super().__init__(Static(label, classes="field-label"), self.input,
                         *([self.error] if self.error else []), classes="field", id=field_id)


class Choice(RadioButton):
    """A radio button whose state reads without colour: ( ) and (*), (-) when disabled."""

    @property
    def _button(self) -> Content:
        mark = "(-)" if self.disabled else "(*)" if self.value else "( )"
        return Content.assemble((mark, self.get_visual_style("toggle--button")))


def go_on(widget: Widget) -> None:
    """Enter on a tick or on the choice already made: what Enter in a field does (the next
    field, and from the last one the next step)."""
    handler = getattr(widget.screen, "field_submitted", None)
    if handler is not None:
        handler(widget)
    else:
        widget.screen.focus_next()


class Choices(RadioSet, inherit_bindings=False):
    """Choices: the arrows move, Space chooses, Enter chooses and, on the choice already
    made, goes on as in a field (Enter on a step whose choice suits it goes to the next)."""

    BINDINGS: ClassVar = [
        Binding("down,right", "next_button", "Next option", show=False),
        Binding("up,left", "previous_button", "Previous option", show=False),
        Binding("space", "toggle_button", "Choose", show=False),
        Binding("enter", "choose", "Choose", show=False),
    ]

    def action_choose(self) -> None:
        selected = self._selected
        buttons = list(self.query(RadioButton))
        if selected is not None and selected < len(buttons) and buttons[selected].value:
            go_on(self)
        else:
            self.action_toggle_button()


class Tick(Checkbox, inherit_bindings=False):
    """A check box whose state reads without colour: [ ] and [x], [-] when disabled (the
    grey of a disabled box is lost under NO_COLOR). Space ticks it; Enter goes on, as in a
    field. With an answers key, `error` is its error line: the screen yields it right after
    the box."""

    BINDINGS: ClassVar = [
        Binding("space", "toggle_button", "Toggle", show=False),
        Binding("enter", "go_on", "Next field", show=False),
    ]

    def __init__(self, *args, key: str = "", **kw):
        super().__init__(*args, **kw)
        self.error = FieldError(key, self) if key else None

    def action_go_on(self) -> None:
        go_on(self)

    @property
    def _button(self) -> Content:
        mark = "[-]" if self.disabled else "[x]" if self.value else "[ ]"
        return Content.assemble((mark, self.get_visual_style("toggle--button")))
