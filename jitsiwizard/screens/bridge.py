"""The Bridge step of an extra videobridge: the main host it serves, its account there, the
main host's certificate pinned by its SHA-256, and a live check (the preflight) that the main
host resolves, answers on 5222/tcp with that certificate, and accepts the login."""

from __future__ import annotations

from types import SimpleNamespace

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Static

from jitsiwizard.errors import ProblemList
from jitsiwizard.screens.base import WizardScreen, result_text
from jitsiwizard.screens.steps import problems_on
from jitsiwizard.screens.widgets import Field
from jitsiwizard.workflow.form import typed

INTRO = ("This host carries video for a main Jitsi host. On the main host, `jitsi-wizard "
         "bridge add NAME --address THIS-HOST` makes this bridge's account and writes an "
         "answers file: type its values here.")
# (widget id, label, the answers key it edits (where the value goes), placeholder)
FIELDS = (
    ("bridge-main", "Main host", "bridge.main", "meet.example.org"),
    ("bridge-user", "Username", "bridge.username", "bridge2"),
    ("bridge-password", "Password", "bridge.password", ""),
    ("bridge-pin", "Certificate SHA-256", "bridge.main_certificate_sha256",
     "64 hex digits, from the answers file of `bridge add`"),
    ("bridge-address", "Main address", "bridge.main_address",
     "optional: its IP when its name does not resolve here"),
    ("bridge-public", "Public address", "host.public_address",
     "optional: this host's public IP when it is behind NAT"),
    ("bridge-local", "Local address", "host.local_address",
     "optional: this host's private IP behind that NAT"),
)


def check_text(checks) -> Text:
    """The preflight's checks (CheckResults) as the other steps show check results: a mark,
    what was checked and seen, and the fix of a failure."""
    return result_text(checks)


class BridgeScreen(WizardScreen):
    NAME = "bridge"
    TITLE = "Bridge"
    INTRO = INTRO
    HELP = (INTRO + "\n\nMain host: the main host's name, the one its meetings are served "
            "under (its XMPP domain); the bridge logs in to auth.MAIN as Username.\n"
            "Certificate SHA-256: the main host's Prosody certificate, pinned; the bridge "
            "trusts exactly that certificate, fetched and checked before the plan is "
            "built.\nMain address: only when the main host's name does not resolve here.\n"
            "Public and local address: only when this host is behind NAT (the bridge "
            "announces the public one).\n\n'Check the connection' resolves the main host, "
            "connects to its 5222/tcp with TLS, checks the pinned certificate and logs in. "
            "Next asks before going on without a passing check.\n\nThe password is never "
            "shown; it is stored for replay in a root-only file under "
            "/var/lib/jitsi-wizard/secrets when the plan is applied.")
    PROBLEMS_BOX = "#bridge-problems"

    def __init__(self):
        super().__init__()
        self._form_seen = None
        self._given = None  # the password the form came with, kept unless retyped
        # The preflight: the settings it ran with, its checks (None while it runs), and the
        # settings the admin chose to go on with despite it.
        self.tested_for: tuple | None = None
        self.checks: list | None = None
        self.accepted_for: tuple | None = None

    def compose_body(self) -> ComposeResult:
        for widget_id, label, where, placeholder in FIELDS:
            yield Field(label, placeholder=placeholder, id=widget_id, key=where,
                        password=widget_id == "bridge-password")
        with Horizontal(classes="buttons"):
            yield Button("Check the connection", id="bridge-check", compact=True)
        yield Static("", id="bridge-results", classes="results")
        yield Static("", id="bridge-problems", classes="check-line")

    def _target(self, where: str):
        section, attr = where.split(".", 1)
        answers = self.form.answers
        return (answers.bridge if section == "bridge" else answers.host), attr

    def refresh_from_form(self) -> None:
        bridge = self.form.answers.bridge
        if self._form_seen is not self.form:
            self._form_seen = self.form
            self._given = bridge.password
        for widget_id, _, where, _ in FIELDS:
            box = self.query_one(f"#{widget_id}", Input)
            if where == "bridge.password":
                if self._given is not None and not box.value:
                    box.placeholder = "(unchanged: type to replace)"
                continue
            target, attr = self._target(where)
            if box.value != getattr(target, attr):
                box.value = getattr(target, attr)

    def on_input_changed(self, event: Input.Changed) -> None:
        where = {widget_id: where for widget_id, _, where, _ in FIELDS}.get(
            event.input.id or "")
        if where is None:
            return
        target, attr = self._target(where)
        if where == "bridge.password":
            target.password = typed(event.value) or self._given  # empty keeps what it had
        else:
            setattr(target, attr, event.value.strip())
        self.settings_changed()

    def key(self) -> tuple:
        """The settings as they stand: a check holds only for the settings it ran with."""
        bridge = self.form.answers.bridge
        return (bridge.main, bridge.main_address, bridge.username,
                bridge.password.value if bridge.password else None,
                bridge.main_certificate_sha256)

    def settings_changed(self) -> None:
        if self.forget_stale_check(self.key(), "#bridge-check", "#bridge-results", "check"):
            self.checks = None

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "bridge-check":
            event.stop()
            self.action_check()
            return
        super().on_button_pressed(event)

    # -- the preflight ---------------------------------------------------------------------

    def action_check(self) -> None:
        box = self.query_one("#bridge-results", Static)
        problems = problems_on("bridge", self.form)
        if problems:
            self.show_problems(problems)
            box.update("")
            return
        try:
            answers = self.form.build().answers
        except ProblemList:
            answers = self.form.answers  # other steps have errors; this one is fine
        box.update(Text("Checking the main host...", "dim"))
        self.tested_for = self.key()
        self.checks = None
        self.status.start(f"checking the main host (up to {self.app.session.check_timeout:g} s"
                          " a step)")
        self.query_one("#bridge-check", Button).disabled = True
        self.preflight(answers)

    @work(thread=True, exclusive=True, group="bridge")
    def preflight(self, answers) -> None:
        key = self.tested_for
        try:
            checks = self.app.session.bridge_preflight(answers)
        except Exception as exc:  # noqa: BLE001 - shown as a failed check, never a traceback
            checks = [SimpleNamespace(name="bridge.preflight", status="fail", ok=False,
                                      summary="the connection check", evidence=[str(exc)],
                                      fix="check the values above")]  # as a CheckResult
        self.app.call_from_thread(self.checked, checks, key)

    def checked(self, checks: list, key: tuple | None = None) -> None:
        button = self.query_one("#bridge-check", Button)
        button.disabled = False
        if self.focused is None:  # it lost the focus while disabled: Enter checks again
            button.focus()
        current = key is None or key == self.tested_for
        if current:
            self.checks = checks
        failed = [c for c in checks if not c.ok]
        head = Text()
        if failed:
            head.append("The check failed: ", "bold red")
            head.append(failed[0].summary)
            self.status.stop("bridge check failed")
        else:
            head.append("The main host accepts this bridge", "bold green")
            self.status.stop("bridge check passed")
        head.append("\n")
        head.append_text(check_text(checks))
        if not current:
            head.append("\nThe settings changed while it ran: check again.", "bold")
        self.query_one("#bridge-results", Static).update(head)

    # -- leaving ---------------------------------------------------------------------------

    def check_before_next(self) -> list:
        return self.current_problems()

    def warning_before_next(self) -> str:
        if self.accepted_for == self.key():
            return ""
        if self.tested_for != self.key():
            return ("The connection check was not run with these settings. Continue without "
                    "it? If the main host refuses this bridge, it carries no meetings.")
        if self.checks is None:
            return "The connection check has not finished. Continue without its result?"
        failed = [c for c in self.checks if not c.ok]
        if failed:
            return ("The connection check failed:\n"
                    + "\n".join(f"- {c.summary}: {'; '.join(c.evidence)}" for c in failed)
                    + "\n\nContinue anyway? The bridge carries no meetings until the main "
                    "host accepts it.")
        return ""

    def accept_warning(self) -> None:
        self.accepted_for = self.key()
