"""Step 1: what the wizard will do, what this host has now, and (first of all) the rollback of
a run that was interrupted."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, RadioSet, Static

from jitsiwizard.answers.model import BridgeAnswers
from jitsiwizard.screens.base import StepLine, WizardScreen
from jitsiwizard.screens.widgets import Choice, Choices

INTRO = ("This wizard sets up Jitsi Meet on this host: its name and DNS, the firewall, the "
         "TLS certificate, and who may start meetings. You see every change (commands and "
         "file diffs) before anything happens; the run is one transaction that can be "
         "rolled back.")
ROLES = (("meeting-server", "This host is the meeting server (the whole Jitsi)"),
         ("videobridge", "This host is an extra videobridge for a main host"))


def facts_text(facts, simulated: bool, root) -> Text:
    rows = [("System", facts.os_name or facts.release or "unknown")]
    if facts.jitsi_installed:
        jitsi = f"installed ({facts.generation} configuration files)"
        version = facts.packages.get("jitsi-meet") or facts.packages.get("jitsi-meet-web")
        if version:
            jitsi = f"{version}, {jitsi}"
    else:
        jitsi = "not installed: the run installs it first"
    rows.append(("Jitsi Meet", jitsi))
    rows.append(("Hostname", facts.hostname or "(none yet)"))
    if facts.jitsi_installed:
        policy = facts.policy or "unknown"
        if facts.main_auth:
            policy += f" ({facts.main_auth})"
        policy += ", guests allowed" if facts.guests else ""
        rows.append(("Who may start", policy))
        if facts.users:
            rows.append(("Local users", ", ".join(sorted(facts.users))))
        if facts.ldap is not None:
            rows.append(("LDAP", f"{facts.ldap.backend} {facts.ldap.server}".strip()))
        rows.append(("Certificate", facts.cert_file or "(not found in the nginx site)"))
    rows.append(("Files under", str(root.base)))
    if simulated:
        rows.append(("Mode", "simulation: commands are only recorded"))
    text = Text()
    for number, (label, value) in enumerate(rows):
        if number:
            text.append("\n")
        text.append(f"{label:<14}", "bold")
        text.append(value)
    return text


MEETING_SERVER = ("This host is the meeting server (Jitsi Meet is installed). Extra "
                  "videobridges run on hosts of their own; to prepare one, see\n"
                  "  jitsi-wizard bridge add --help")


class RollbackButton(Button):
    """Takes the focus once it is on screen: the rollback comes before anything else."""

    def on_mount(self) -> None:
        self.call_after_refresh(self.focus)


class WelcomeScreen(WizardScreen):
    CSS_PATH = None  # app.tcss has all it needs: the first screen parses no more
    HAS_BACK = False
    NAME = "welcome"
    TITLE = "Welcome"
    INTRO = INTRO
    HELP = (INTRO + "\n\nThe table shows what the wizard read from this host. Warnings name "
            "problems found in the current setup (such as an unsafe LDAP module); the plan "
            "on the Review step fixes them.\n\nIf an earlier run was interrupted (the "
            "connection dropped, the machine rebooted), its changes are half done: roll it "
            "back here before anything else.\n\nThis host is: the meeting server (the whole "
            "Jitsi: its name, DNS, certificate and logins), or an extra videobridge that "
            "carries video for a main host (`jitsi-wizard bridge add NAME --address ADDR` on "
            "the main host gives its account; the steps are then Bridge, Firewall, Review). "
            "The choice is offered on a host without Jitsi Meet; a host that runs only the "
            "videobridge starts with the videobridge chosen. A host with Jitsi Meet is the "
            "meeting server: its extra videobridges run on hosts of their own.")
    BINDINGS: ClassVar = [Binding("escape", "back", "Back", show=False)]  # nothing before

    _interrupted_shown: str | None = None  # the run whose rollback offer is on screen

    def compose_body(self) -> ComposeResult:
        app = self.app  # the host is read before the first frame: show it in that frame
        yield Static(facts_text(app.facts, app.simulate, app.root) if app.loaded_host else "",
                     id="facts")
        yield Static("", id="warnings", classes="warnings")
        if self.offers_role():
            with Choices(id="role", compact=True):
                for role, label in ROLES:
                    yield Choice(label, id=f"role-{role}", compact=True)
        else:
            yield Static(MEETING_SERVER, id="role-fact")

    def offers_role(self) -> bool:
        """Whether this host may still become either: a host with Jitsi Meet is the meeting
        server (a videobridge host runs only the bridge, and the plan refuses one here), so
        only an answers file given to --edit, which may say otherwise, brings the choice."""
        app = self.app
        return not (app.loaded_host and app.facts.jitsi_installed) or bool(app.edit_file)

    def refresh_from_form(self) -> None:
        app = self.app
        if not app.loaded_host:
            self.query_one("#facts", Static).update(Text("Reading this host...", "dim"))
            return
        if app.edit_file:
            app.form  # noqa: B018 - the answers file given to --edit says the role
        for choice in self.query(f"#role-{app.role}").results(Choice):
            if not choice.value:
                choice.value = True
        self.query_one(StepLine).show()
        self.query_one("#facts", Static).update(facts_text(app.facts, app.simulate, app.root))
        warnings = Text()
        notes = list(app.facts.warnings)
        if app.edit_file:  # warnings from the answers file given to --edit
            notes += [f"{p.field}: {p.message}" for p in app.form.warnings]
        for number, warning in enumerate(notes):
            if number:
                warnings.append("\n")
            security = warning.startswith("SECURITY")
            warnings.append("! ", "bold red" if security else "bold yellow")
            warnings.append(warning, "bold" if security else "")
        box = self.query_one("#warnings", Static)
        box.update(warnings)
        box.display = bool(notes)
        run = app.interrupted
        shown = run.run_id if run is not None else None
        if shown == self._interrupted_shown:
            return  # already on screen (or already absent): mounting again would race
        self._interrupted_shown = shown
        for box in self.query("#interrupted"):
            box.remove()
        if run is not None:  # rare: built only when needed, the first screen must be quick
            message = Text.assemble(
                ("An earlier run was interrupted", "bold"),
                f" (run {run.run_id}, started {run.started}, {run.status}): some of its "
                "changes are in place, some are not. Roll it back first; the wizard "
                "continues from the restored state.")
            button = RollbackButton(
                "Roll it back now", id="rollback", compact=True, variant="warning")
            self.query_one("#body").mount(
                Vertical(Static(message), Horizontal(button, classes="buttons"),
                         id="interrupted", classes="box"),
                before=self.query_one("#facts"))

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id != "role" or not self.app.loaded_host:
            return
        role = (event.pressed.id or "").replace("role-", "", 1) or "meeting-server"
        if role == self.app.role and not self.app.form_made:
            return  # the host's own role, shown: the form is made when first needed
        answers = self.app.form.answers
        answers.role = role
        if answers.bridge is None:
            answers.bridge = BridgeAnswers()
        self.query_one(StepLine).show()  # the steps that follow depend on the role

    def focus_first(self) -> None:
        # With an interrupted run, the rollback button takes the focus once it is mounted.
        if self.app.interrupted is None:
            self.query_one("#next", Button).focus()

    def can_leave(self) -> bool:
        if not self.app.loaded_host:
            return False
        if self.app.interrupted is not None:
            self.notify("Roll back the interrupted run first.", severity="warning")
            return False
        return not self.status.running

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "rollback":
            event.stop()
            if not self.status.running:
                self.status.start("rolling back the interrupted run")
                event.button.disabled = True
                self.roll_back(self.app.interrupted.run_id)
            return
        super().on_button_pressed(event)

    @work(thread=True, exclusive=True, group="rollback")
    def roll_back(self, run_id: str) -> None:
        from jitsiwizard.errors import UserError

        try:
            outcome = self.app.session.rollback(run_id)
        except UserError as exc:
            self.app.call_from_thread(self.rolled_back, None, exc.render())
            return
        self.app.call_from_thread(self.rolled_back, outcome, "")

    def rolled_back(self, outcome, error: str) -> None:
        self.query_one("#rollback", Button).disabled = False
        if outcome is None:
            self.status.stop("rollback refused")
            self.notify(error, title="Rollback", severity="error", timeout=10, markup=False)
            return
        if outcome.rollback_errors:
            self.status.stop("rollback finished with problems")
            self.notify("\n".join(outcome.rollback_errors) + f"\nDetails: {outcome.log_path}",
                        title="Some changes could not be restored", severity="error",
                        timeout=15, markup=False)
        else:
            self.status.stop(f"run {outcome.run_id} rolled back")
            self.notify(f"Run {outcome.run_id} was rolled back.", title="Rollback")
        self.app.refresh_host()
        self.refresh_from_form()
        self.focus_first()
