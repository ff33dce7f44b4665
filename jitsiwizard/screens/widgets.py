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
    """A radio button whose state reads without colour: ( ) and (*)."""

    @property
    def _button(self) -> Content:
        return Content.assemble(("(*)" if self.value else "( )",
                                 self.get_visual_style("toggle--button")))


class Tick(Checkbox):
    """A check box whose state reads without colour: [ ] and [x]."""

    @property
    def _button(self) -> Content:
        return Content.assemble(("[x]" if self.value else "[ ]",
                                 self.get_visual_style("toggle--button")))
