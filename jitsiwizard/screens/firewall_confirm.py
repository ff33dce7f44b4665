"""The firewall confirm-or-revert dialog, shown on the Apply step after a run that changed the
firewall: a countdown to the deadline of the guard the run started, with Keep and Undo now.
The dialog only reports the admin's choice, and says at once if the guard died (the session
then undoes the change itself): nothing here runs a firewall command."""

from __future__ import annotations

import math
import time
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from jitsiwizard.screens.base import focus_soon, plain_console

TICK = 0.2  # seconds between looks at the clock: the shown second changes on time

# What the dialog returns.
KEEP, UNDO, EXPIRED = "keep", "undo", "expired"


def countdown_text(seconds: int) -> str:
    return ("The firewall was changed. From another terminal, open a NEW SSH connection to "
            f"this host; then choose Keep within {seconds} s. Otherwise it is undone; the "
            "rest of the run stays applied.")


class FirewallDialog(ModalScreen[str]):
    """Keep or undo the firewall change before `deadline` (time.time()); dismissed with
    KEEP, UNDO, or EXPIRED when the deadline passes unanswered."""

    BINDINGS: ClassVar = [Binding("left", "app.focus_previous", show=False),
                          Binding("right", "app.focus_next", show=False)]

    def __init__(self, deadline: float, clock=time.time, guard_alive=lambda: True,
                 undo_commands=lambda: []):
        super().__init__()
        self.deadline = deadline
        self.clock = clock
        self.shown: int | None = None  # the seconds on screen
        self._timer = None
        # The guard is watched: if it dies before a decision, the dialog says so at once
        # (the wizard then undoes the change itself at the deadline).
        self.guard_alive = guard_alive
        self.undo_commands = undo_commands
        self.guard_lost = False

    @property
    def remaining(self) -> int:
        return max(0, math.ceil(self.deadline - self.clock()))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Keep the firewall change?", classes="title")
            yield Static("", id="firewall-countdown", classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Undo now", id="undo", compact=True)
                yield Button("Keep", id="keep", compact=True, variant="warning")

    def on_mount(self) -> None:
        if plain_console():
            self.add_class("plain")
        # Enter by habit must not keep a change nobody has tried: the focus is on Undo now.
        focus_soon(self, "#undo")
        self._tick()
        self._timer = self.set_interval(TICK, self._tick)

    def _tick(self) -> None:
        left = self.remaining
        lost = not self.guard_lost and not self.guard_alive()
        if left != self.shown or lost:
            self.shown = left
            self.guard_lost = self.guard_lost or lost
            text = Text(countdown_text(left))
            if self.guard_lost:
                text.append("\n\nThe firewall guard stopped before a decision: this wizard "
                            "undoes the change itself at the deadline unless you keep it. If "
                            "this session ends first, nothing will. These commands undo it:",
                            "bold red")
                for command in self.undo_commands():
                    text.append(f"\n  {command}")
            self.query_one("#firewall-countdown", Static).update(text)
        if left <= 0 and self.app.screen is self:  # (under the quit question: once it goes)
            self._end(EXPIRED)

    def _end(self, choice: str) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
            self.dismiss(choice)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._end(KEEP if event.button.id == "keep" else UNDO)
