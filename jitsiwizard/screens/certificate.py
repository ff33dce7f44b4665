"""Step 5: the TLS certificate: the mode (each with a one-line explanation), the ACME account's
e-mail and server, or the admin's own files, validated as they are typed."""

from __future__ import annotations

import copy

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Checkbox, Input, RadioButton, RadioSet, Static

from jitsiwizard.answers.model import ACME_SERVERS
from jitsiwizard.screens.base import WizardScreen, hanging, problems_text, text_width
from jitsiwizard.screens.steps import problems_on
from jitsiwizard.screens.widgets import Choice, Choices, Field, Tick
from jitsiwizard.workflow.form import choice_words, screen_words

INTRO = "How the web server gets its TLS certificate. Browsers and the apps need a trusted one."
MODES = (
    ("keep", "The certificate nginx serves now, as it is (no change)"),
    ("letsencrypt", "Let's Encrypt, through Jitsi's own helper (renews itself)"),
    ("certbot", "Let's Encrypt or another ACME CA, through certbot"),
    ("own", "Your own certificate: full-chain and key files (PEM)"),
    ("self-signed", "Self-signed: browsers warn, apps refuse; trials only"),
)
SERVERS = (("production", "Let's Encrypt"), ("staging", "LE staging (test)"),
           ("custom", "Other ACME URL"))
TOS_URL = "https://letsencrypt.org/repository/"
VALIDATE_DELAY = 0.4  # seconds after the last key press before the files are checked


class CertificateScreen(WizardScreen):
    NAME = "certificate"
    TITLE = "Certificate"
    INTRO = INTRO
    HELP = (INTRO + "\n\nLet's Encrypt (helper): the jitsi-meet package's script; needs DNS "
            "pointing here and port 80 reachable. If it leaves a self-signed certificate, "
            "the run switches to certbot by itself.\ncertbot: the distribution's certbot; "
            "works with any ACME server (staging for trials, or a private CA's URL).\nOwn: "
            "files you already have: the certificate with its intermediates (full chain) and "
            "the unencrypted private key. They are checked as you type: readable, matching, "
            "naming this host, in date, chain complete.\nSelf-signed: a new certificate made "
            "here; browsers warn and the mobile apps refuse it.\nKeep: the certificate nginx "
            "serves now stays as it is; chosen at first when it is valid for this host and "
            "not about to expire, so that a certificate change is a choice.\n\n"
            f"The e-mail receives "
            f"expiry warnings. Read the terms at {TOS_URL} before agreeing.")

    def __init__(self):
        super().__init__()
        self._validate_timer: Timer | None = None
        self._validated_for: tuple | None = None
        self.own_problems: list = []

    def compose_body(self) -> ComposeResult:
        with Choices(id="mode", compact=True):
            for mode, label in MODES:
                if mode == "keep" and not self.form.facts.cert_file:
                    continue  # nothing to keep on a host without Jitsi's site yet
                yield Choice(f"{mode:<12}{label}", id=f"mode-{mode}", compact=True)
        with Vertical(id="acme"):
            yield Field("E-mail", placeholder="admin@example.org", id="email", key="host.email")
            yield Static("ACME server", classes="field-label")
            with Choices(id="server", compact=True, classes="inline"):
                for key, label in SERVERS:
                    yield Choice(label, id=f"server-{key}", compact=True)
            yield Field("ACME URL", placeholder="https://acme.example.org/directory",
                        id="acme-url", field_id="acme-url-field", key="cert.acme_server")
            tos = Tick(f"I agree to the ACME server's terms ({TOS_URL})", id="tos",
                       compact=True, key="cert.agree_tos")
            yield tos
            yield tos.error
        with Vertical(id="own"):
            yield Field("Certificate", placeholder="/etc/ssl/meet.example.org.crt",
                        id="cert-file", key="cert.cert_file")
            yield Field("Private key", placeholder="/etc/ssl/meet.example.org.key",
                        id="key-file", key="cert.key_file")
            yield Static("", id="own-check", classes="results")
        yield Static("", id="cert-problems", classes="check-line")
        yield Static("", id="route", classes="note")

    # -- showing the form ------------------------------------------------------------------

    def refresh_from_form(self) -> None:
        cert, host = self.form.answers.cert, self.form.answers.host
        if cert.mode == "keep" and not self.query(f"#mode-{cert.mode}"):
            cert.mode = "self-signed"  # an answers file's "keep" on a host with nothing yet
        self.query_one(f"#mode-{cert.mode}", RadioButton).value = True
        server = cert.acme_server if cert.acme_server in ACME_SERVERS else "custom"
        self.query_one(f"#server-{server}", RadioButton).value = True
        for widget_id, value in (("email", host.email), ("cert-file", cert.cert_file),
                                 ("key-file", cert.key_file),
                                 ("acme-url", "" if server != "custom" else cert.acme_server)):
            box = self.query_one(f"#{widget_id}", Input)
            if box.value != value:
                box.value = value
        self.query_one("#tos", Checkbox).value = cert.agree_tos
        self.show_mode()

    def show_mode(self) -> None:
        cert = self.form.answers.cert
        self.query_one("#acme").display = cert.mode in ("letsencrypt", "certbot")
        self.query_one("#own").display = cert.mode == "own"
        custom = cert.acme_server not in ACME_SERVERS
        self.query_one("#acme-url-field").display = custom
        # The terms are the chosen server's: Let's Encrypt's page only for Let's Encrypt.
        self.query_one("#tos", Checkbox).label = (
            "I agree to the ACME server's terms (its directory links them)" if custom
            else f"I agree to the ACME server's terms ({TOS_URL})")
        if cert.mode == "own":
            self.schedule_validation()
        self.show_route()

    def show_route(self) -> None:
        """Which route the plan will take for this mode on this host, and why."""
        from jitsiwizard.errors import UserError

        route = self.query_one("#route", Static)
        cert = self.form.answers.cert
        if cert.mode == "own" and not (cert.cert_file and cert.key_file):
            self.show_route_text(route, "your files: give the certificate and its key above; "
                                 "nginx will serve them")
            return
        if cert.mode in ("letsencrypt", "certbot") and not cert.acme_server:
            self.show_route_text(route, "certbot: type the ACME server's directory URL above")
            return
        try:
            chosen, reason = self.app.session.certificate_route(self.form.answers)
        except UserError:
            route.update("")
            return
        reason = screen_words(choice_words(reason))
        words = {"keep": "nothing to change", "helper": "Jitsi's helper script",
                 "certbot": "certbot", "own": "your files", "self-signed": "a new "
                 "self-signed certificate"}
        self.show_route_text(route, f"{words.get(chosen, chosen)}: {reason}")

    @staticmethod
    def show_route_text(route: Static, text: str) -> None:
        shown = Text()
        hanging(shown, "Route: ", "bold", text, "", text_width(route))
        route.update(shown)

    # -- edits -----------------------------------------------------------------------------

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        cert = self.form.answers.cert
        pressed = event.pressed.id or ""
        if event.radio_set.id == "mode":
            cert.mode = pressed[len("mode-"):]
        elif event.radio_set.id == "server":
            key = pressed[len("server-"):]
            cert.acme_server = (key if key != "custom"
                                else self.query_one("#acme-url", Input).value.strip())
        self.show_mode()

    def on_input_changed(self, event: Input.Changed) -> None:
        cert, host = self.form.answers.cert, self.form.answers.host
        value = event.value.strip()
        if event.input.id == "email":
            host.email = value
        elif event.input.id == "acme-url":
            if cert.acme_server not in ACME_SERVERS or value:
                cert.acme_server = value
        elif event.input.id == "cert-file":
            cert.cert_file = value
            self.schedule_validation()
        elif event.input.id == "key-file":
            cert.key_file = value
            self.schedule_validation()
        else:
            return
        self.show_route()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "tos":
            self.form.answers.cert.agree_tos = event.value

    # -- own files, checked as typed -------------------------------------------------------

    def schedule_validation(self) -> None:
        if self._validate_timer is not None:
            self._validate_timer.stop()
        cert = self.form.answers.cert
        if (cert.cert_file, cert.key_file, self.form.answers.host.hostname) != \
                self._validated_for:
            # What is on screen is about other files: say so rather than show it as current
            # (update_problems, after every edit, takes their lines away).
            self.own_problems = []
            self.query_one("#own-check", Static).update(Text("Checking the files...", "dim"))
        self._validate_timer = self.set_timer(VALIDATE_DELAY, self.start_validation)

    def start_validation(self) -> None:
        cert = self.form.answers.cert
        key = (cert.cert_file, cert.key_file, self.form.answers.host.hostname)
        if key == self._validated_for:
            return
        self._validated_for = key
        if not (cert.cert_file and cert.key_file):
            self.own_problems = []
            self.query_one("#own-check", Static).update(
                Text("Give both files; they are checked as you type.", "dim"))
            self.update_problems()
            return
        self.status.start("checking the certificate files")
        self.validate_files(*key)

    @work(thread=True, exclusive=True, group="own-cert")
    def validate_files(self, cert_file: str, key_file: str, hostname: str) -> None:
        answers = copy.deepcopy(self.form.answers)
        answers.cert.cert_file, answers.cert.key_file = cert_file, key_file
        answers.host.hostname = hostname
        problems = self.app.session.own_certificate_problems(answers)
        self.app.call_from_thread(self.validated, (cert_file, key_file, hostname), problems)

    def live_problems(self) -> list:
        return self.own_problems  # under the file they are about (place_problems)

    def validated(self, key: tuple, problems: list) -> None:
        if key != self._validated_for:
            return
        self.own_problems = problems
        self.status.stop("")
        lines = self.field_lines()
        apart = [p for p in problems if p.field not in lines]  # about neither file alone
        if any(not p.warning and p.field in lines for p in problems):
            text = Text.assemble(("[FAIL] ", "bold red"), "not a usable pair: see the errors "
                                 "under the files")
        elif any(not p.warning for p in problems):
            text = Text()
        else:
            text = Text.assemble(("[ OK ] ", "bold green"), f"a valid pair for {key[2]}")
        if apart:
            if text:
                text.append("\n")
            text.append_text(problems_text(self.screen_problems(apart)))
        self.query_one("#own-check", Static).update(text)
        self.update_problems()

    # -- leaving ---------------------------------------------------------------------------

    def check_before_next(self) -> list:
        problems = problems_on("certificate", self.form)
        if not problems and self.form.answers.cert.mode == "own":
            self.start_validation()  # the files may have changed since
            if self.status.running:
                self.notify("The certificate files are being checked; try again in a moment.")
                return [_Waiting()]
            problems = [p for p in self.own_problems if not p.warning]
        return problems

    PROBLEMS_BOX = "#cert-problems"

    def show_problems(self, problems) -> None:
        if problems and isinstance(problems[0], _Waiting):
            return
        super().show_problems(problems)
        lines = self.field_lines()
        if problems and problems[0] in self.own_problems and not any(
                p.field in lines for p in problems):
            # Shown beside the files' check (once is enough): bring it into view.
            self.query_one("#own-check").scroll_visible(animate=False)


class _Waiting:
    """Stands for "a check is still running" in the problem list."""

    field = ""
    message = "still checking"
    warning = False
