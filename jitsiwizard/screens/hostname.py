"""Step 2: the meeting server's name, validated as it is typed."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Input, Static

from jitsiwizard.answers.validate import check_hostname
from jitsiwizard.screens.base import WizardScreen, problems_text
from jitsiwizard.screens.steps import problems_on
from jitsiwizard.screens.widgets import Field

INTRO = ("The fully qualified name people type to reach the meetings, e.g. "
         "meet.example.org. Its DNS record must point at this server (the next step checks).")


class HostnameScreen(WizardScreen):
    NAME = "hostname"
    TITLE = "Hostname"
    INTRO = INTRO
    HELP = (INTRO + "\n\nThe name must have at least two labels, letters, digits and inner "
            "hyphens only; international names are converted to their ASCII form. An IP "
            "address does not work: certificates are issued to names.\n\nOn a host where "
            "Jitsi is already installed the name is fixed: renaming an installed Jitsi is "
            "not supported (reinstall it for a new name).")

    def compose_body(self) -> ComposeResult:
        yield Field("Hostname", placeholder="meet.example.org", id="hostname")
        yield Static("", id="hostname-check", classes="check-line")
        yield Static("", id="hostname-note", classes="note")

    def refresh_from_form(self) -> None:
        box = self.query_one("#hostname", Input)
        if box.value != self.form.answers.host.hostname:
            box.value = self.form.answers.host.hostname
        self.show_check(box.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "hostname":
            self.form.answers.host.hostname = event.value.strip()
            self.show_check(event.value)

    def show_check(self, value: str) -> None:
        line = self.query_one("#hostname-check", Static)
        note = self.query_one("#hostname-note", Static)
        name, error = check_hostname(value)
        if not value.strip():
            line.update(Text("Type the name, e.g. meet.example.org", "dim"))
        elif error:
            line.update(Text.assemble(("[FAIL] ", "bold red"), f"{value.strip()!r} {error}"))
        else:
            shown = f"{name} (as typed: {value.strip()})" if name != value.strip() else name
            line.update(Text.assemble(("[ OK ] ", "bold green"), shown))
        installed = self.app.facts.hostname if self.app.facts.jitsi_installed else None
        if installed and name and not error and name != installed:
            note.update(Text.assemble(
                ("Note: ", "bold yellow"),
                f"Jitsi on this host serves {installed}; renaming an installed Jitsi is not "
                f"supported. Keep {installed}, or reinstall Jitsi for the new name."))
        else:
            note.update("")

    def check_before_next(self) -> list:
        return problems_on("hostname", self.form)

    def show_problems(self, problems) -> None:
        self.query_one("#hostname-check", Static).update(
            problems_text(self.screen_problems(problems)))
        self.query_one("#hostname", Input).focus()
