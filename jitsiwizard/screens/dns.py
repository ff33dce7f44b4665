"""Step 3: do the name's DNS records point here? Checked live in a worker, re-checked on a key;
behind NAT, the videobridge's address mapping is offered."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, Input, Static

from jitsiwizard.screens.base import WizardScreen, result_text, text_width
from jitsiwizard.screens.steps import problems_on
from jitsiwizard.screens.widgets import Field

INTRO = ("Browsers, the certificate authority and the apps find this server through DNS: "
         "an A record (and AAAA with IPv6) must name this host's address.")
NAT_REASONS = ("nat", "nat_mapped")


class DnsScreen(WizardScreen):
    NAME = "dns"
    TITLE = "DNS"
    INTRO = INTRO
    HELP = (INTRO + "\n\nThe check asks the resolver and the zone's own name servers at the "
            "same time, so a record added a minute ago shows as 'wait' rather than "
            "'missing'. Ctrl+R checks again (after you changed a record).\n\nBehind NAT (the "
            "name points at a public address this host does not have), the videobridge "
            "must announce the public address: the mapping below adds it to jvb.conf. "
            "Forward 80/tcp, 443/tcp and 10000/udp to this host on the NAT router.\n\nA "
            "failed check does not block you: you can continue anyway (for example when DNS "
            "is set up later), but Let's Encrypt needs working DNS.")
    BINDINGS: ClassVar = [*WizardScreen.BINDINGS, Binding("ctrl+r", "recheck", "Re-check")]

    def __init__(self):
        super().__init__()
        self.checked_for: tuple[str, str] | None = None  # (hostname, public address) checked
        self.results: list | None = None
        self.accepted_for: tuple[str, str] | None = None  # warnings accepted for these

    def compose_body(self) -> ComposeResult:
        yield Static("", id="dns-results", classes="results")
        with Horizontal(classes="buttons"):
            yield Button("Check again", id="recheck", compact=True)
        yield Static("Videobridge behind NAT (leave empty when the host has a public "
                     "address)", classes="section")
        yield Static("", id="nat-detected", classes="note")
        with Horizontal(classes="buttons", id="nat-buttons") as nat:
            nat.display = False  # until a mapping is detected
            yield Button("Use the detected mapping", id="use-nat", compact=True)
        yield Field("Public address", placeholder="only behind NAT: the name's public IPv4",
                    id="public", key="host.public_address")
        yield Field("Local address", placeholder="e.g. 192.168.1.10", id="local",
                    key="host.local_address")
        yield Static("", id="nat-problems", classes="check-line")

    def refresh_from_form(self) -> None:
        host = self.form.answers.host
        for widget_id, value in (("public", host.public_address),
                                 ("local", host.local_address)):
            box = self.query_one(f"#{widget_id}", Input)
            if box.value != value:
                box.value = value
        if self.checked_for != self.key():
            self.start_check()
        else:
            self.show_results()

    def key(self) -> tuple[str, str]:
        host = self.form.answers.host
        return host.hostname, host.public_address

    def on_input_changed(self, event: Input.Changed) -> None:
        host = self.form.answers.host
        if event.input.id == "public":
            host.public_address = event.value.strip()
        elif event.input.id == "local":
            host.local_address = event.value.strip()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "recheck":
            event.stop()
            self.action_recheck()
        elif event.button.id == "use-nat":
            event.stop()
            mapping = self.nat_mapping()
            if mapping:
                self.query_one("#public", Input).value = mapping["public_address"]
                self.query_one("#local", Input).value = mapping["local_address"]
        else:
            super().on_button_pressed(event)

    def action_recheck(self) -> None:
        self.start_check()

    def start_check(self) -> None:
        hostname, public = self.key()
        self.checked_for = (hostname, public)
        self.results = None
        self.accepted_for = None
        self.status.start(f"checking DNS (up to {self.app.session.check_timeout:g} s)")
        self.query_one("#dns-results", Static).update(Text("Checking...", "dim"))
        self.run_check(hostname, public)

    @work(thread=True, exclusive=True, group="dns")
    def run_check(self, hostname: str, public: str) -> None:
        results = self.app.session.checks.dns(hostname, public)
        self.app.call_from_thread(self.check_done, (hostname, public), results)

    def check_done(self, key: tuple[str, str], results: list) -> None:
        if key != self.checked_for:
            return  # an older check, overtaken by a newer one
        self.results = results
        worst = max((r.status for r in results), key=("ok", "warn", "fail").index,
                    default="ok")
        self.status.stop(f"DNS check: {worst}")
        self.show_results()

    def nat_mapping(self) -> dict | None:
        for result in self.results or []:
            data = result.data or {}
            if data.get("reason") in NAT_REASONS and data.get("public_address"):
                return data
        return None

    def show_results(self) -> None:
        if self.results is None:
            return
        box = self.query_one("#dns-results", Static)
        box.update(result_text(self.results, width=text_width(box)))
        mapping = self.nat_mapping()
        self.query_one("#nat-buttons").display = mapping is not None
        detected = self.query_one("#nat-detected", Static)
        if mapping:
            detected.update(Text.assemble(
                ("NAT detected: ", "bold"), f"this host has {mapping['local_address']}, the "
                f"name points at {mapping['public_address']}."))
        else:
            detected.update("")

    # -- leaving ---------------------------------------------------------------------------

    def check_before_next(self) -> list:
        return problems_on("dns", self.form)

    PROBLEMS_BOX = "#nat-problems"

    def warning_before_next(self) -> str:
        if self.accepted_for == self.key():
            return ""
        if self.results is None:
            return ("The DNS check has not finished. Continue without its result? Let's "
                    "Encrypt and the meeting clients need DNS that points here.")
        failed = [r for r in self.results if r.status == "fail"]
        if failed:
            return ("The DNS check failed:\n" + "\n".join(f"- {r.summary}" for r in failed)
                    + "\n\nContinue anyway? (Let's Encrypt will fail until DNS points here.)")
        return ""

    def accept_warning(self) -> None:
        self.accepted_for = self.key()
