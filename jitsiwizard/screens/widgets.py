"""Form widgets for the screens that have forms (not needed by the first screen)."""

from __future__ import annotations

from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Checkbox, Input, RadioButton, Static

HINT_WORDS = ("e.g.", "(unchanged", "optional", "only ")


class FieldInput(Input):
    """An input whose Enter is handled by its screen (`field_submitted`: move on, or submit
    a dialog). The app calls it as soon as it reads the Enter key (see WizardApp.on_event),
    so keys typed ahead behind the Enter go to the next field."""

    submits_to_screen = True

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


class Field(Horizontal):
    """A label and a one-line input on one row. The input keeps its text when it gets the
    focus (no select-all: fixing a typo in a pre-filled value must not erase it)."""

    def __init__(self, label: str, *, field_id: str | None = None, **input_options):
        self.input = FieldInput(compact=True, select_on_focus=False, **input_options)
        super().__init__(Static(label, classes="field-label"), self.input, classes="field",
                         id=field_id)


class Choice(RadioButton):
    """A radio button whose state reads without colour: ( ) and (*), (-) when disabled."""

    @property
    def _button(self) -> Content:
        mark = "(-)" if self.disabled else "(*)" if self.value else "( )"
        return Content.assemble((mark, self.get_visual_style("toggle--button")))


class Tick(Checkbox):
    """A check box whose state reads without colour: [ ] and [x], [-] when disabled (the
    grey of a disabled box is lost under NO_COLOR)."""

    @property
    def _button(self) -> Content:
        mark = "[-]" if self.disabled else "[x]" if self.value else "[ ]"
        return Content.assemble((mark, self.get_visual_style("toggle--button")))
