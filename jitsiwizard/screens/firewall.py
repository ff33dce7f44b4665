"""Step 4: the ports Jitsi needs. What this host's firewall says (local analysis), an optional
probe from outside (a command to run elsewhere; ports are ticked off as probes arrive), and
optional ufw management."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, HorizontalScroll
from textual.widgets import Button, Checkbox, Input, Static

from jitsiwizard.screens.base import WizardScreen, result_text, text_width
from jitsiwizard.screens.steps import problems_on
from jitsiwizard.screens.widgets import Field, Tick

INTRO = ("Jitsi needs 80/tcp (certificates), 443/tcp (web) and 10000/udp (media) open from "
         "the internet, and your SSH port must stay open.")
PROBE_TIMEOUT = 300.0  # how long the listeners wait for a probe from outside
PROBE_SETTLE = 10.0


class FirewallScreen(WizardScreen):
    NAME = "firewall"
    TITLE = "Firewall"
    INTRO = INTRO
    HELP = (INTRO + "\n\nThis host: what listens on each port, and whether the local "
            "firewall (nftables, iptables or ufw) lets it in. Ctrl+R checks again.\n\nFrom "
            "outside: a firewall in front of the host (the provider's security group, a "
            "router) is invisible from here. Choose 'Listen for a probe' (Ctrl+L), then run "
            "the command shown on a machine elsewhere: each port that a probe reaches is "
            "ticked off as it arrives; Ctrl+L again stops listening (it also stops when you "
            "leave this step, or after 5 minutes). Ports already used by a service (nginx "
            "on 443) cannot be listened on and are skipped.\n\nManage ufw: the plan adds "
            "rules for your SSH port first, then Jitsi's ports, and enables ufw. Give the "
            "SSH port you are connected through.")
    BINDINGS: ClassVar = [*WizardScreen.BINDINGS, Binding("ctrl+r", "recheck", "Re-check"),
                          Binding("ctrl+l", "probe", "Probe/stop")]

    def __init__(self):
        super().__init__()
        self.checked_for: tuple[int, bool] | None = None
        self.results: list | None = None
        self.accepted_for: tuple[int, bool] | None = None
        self.probe_lines: dict = {}  # port -> (status, detail)
        self.probe_commands: list[str] = []
        # Which ports the outside probe listens on, where, and for how long; tests narrow
        # them to free high ports on loopback.
        self.probe_ports: list | None = None  # None: Jitsi's ports
        self.probe_address: str | None = None  # None: every address
        self.probe_timeout = PROBE_TIMEOUT

    def compose_body(self) -> ComposeResult:
        yield Static("This host", classes="section")
        yield Static("", id="port-results", classes="results")
        with Horizontal(classes="buttons"):
            yield Button("Check again", id="recheck", compact=True)
        yield Static("Managed firewall", classes="section")
        yield Tick("Let the wizard manage ufw (SSH first, then Jitsi's ports)",
                       id="manage", compact=True)
        yield Field("SSH port", id="ssh-port", type="integer", key="firewall.ssh_port")
        yield Static("", id="ssh-note", classes="note")
        yield Static("", id="firewall-problems", classes="check-line")
        yield Static("From outside (optional)", classes="section")
        with Horizontal(classes="buttons"):
            yield Button("Listen for a probe", id="probe", compact=True)
        yield Static("", id="probe-help", classes="note")
        # The commands on one line each, ready to copy: the box scrolls sideways rather than
        # wrapping them.
        with HorizontalScroll(id="probe-commands-box"):
            yield Static("", id="probe-commands")
        yield Static("", id="probe-text", classes="results")

    def refresh_from_form(self) -> None:
        fw = self.form.answers.firewall
        self.query_one("#manage", Checkbox).value = fw.manage
        box = self.query_one("#ssh-port", Input)
        if box.value != str(fw.ssh_port):
            box.value = str(fw.ssh_port)
        self.show_ssh_note()
        if self.checked_for != self.key():
            self.start_check()

    def key(self) -> tuple[int, bool]:
        fw = self.form.answers.firewall
        return fw.ssh_port, fw.manage

    def show_ssh_note(self) -> None:
        port = self.app.session.connected_ssh_port()
        note = self.query_one("#ssh-note", Static)
        if port is not None and port != self.form.answers.firewall.ssh_port:
            note.update(Text.assemble(("Note: ", "bold yellow"),
                                      f"you are connected through SSH port {port}"))
        else:
            note.update("")

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if event.checkbox.id == "manage":
            self.form.answers.firewall.manage = event.value

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "ssh-port":
            value = event.value.strip()
            self.form.answers.firewall.ssh_port = int(value) if value.isdigit() else 0
            self.show_ssh_note()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "recheck":
            event.stop()
            self.action_recheck()
        elif event.button.id == "probe":
            event.stop()
            self.toggle_probe()
        else:
            super().on_button_pressed(event)

    # -- local analysis --------------------------------------------------------------------

    def action_recheck(self) -> None:
        self.start_check()

    def start_check(self) -> None:
        self.checked_for = self.key()
        self.results = None
        self.accepted_for = None
        self.status.start("reading listeners and firewall rules")
        self.query_one("#port-results", Static).update(Text("Checking...", "dim"))
        ssh_port, manage = self.key()
        self.run_check(ssh_port, manage)

    @work(thread=True, exclusive=True, group="ports")
    def run_check(self, ssh_port: int, manage: bool) -> None:
        results = self.app.session.checks.ports(ssh_port or 22, manage,
                                               self.form.answers.is_bridge)
        self.app.call_from_thread(self.check_done, (ssh_port, manage), results)

    def check_done(self, key, results: list) -> None:
        if key != self.checked_for:
            return
        self.results = results
        self.status.stop("port check done")
        box = self.query_one("#port-results", Static)
        box.update(result_text(results, width=text_width(box)))

    # -- the probe from outside ------------------------------------------------------------

    def action_probe(self) -> None:
        self.toggle_probe()

    def probe_running(self) -> bool:
        return any(w.node is self and w.group == "probe" and w.is_running
                   for w in self.workers)

    def toggle_probe(self) -> None:
        button = self.query_one("#probe", Button)
        if self.probe_running():
            self.workers.cancel_group(self, "probe")
            button.label = "Listen for a probe"
            for port, (status, _detail) in list(self.probe_lines.items()):
                if status == "wait":
                    self.probe_lines[port] = ("stop", "not reached before listening stopped")
            self.show_probe(ended="Stopped listening.")
            return
        button.label = "Stop listening"
        self.probe_lines = {}
        self.probe_commands = []
        self.query_one("#probe-text", Static).update(Text("Opening listeners...", "dim"))
        self.query_one("#probe-commands-box").display = False
        self.listen_for_probe()

    @work(exclusive=True, group="probe")
    async def listen_for_probe(self) -> None:
        """Listeners are plain asyncio sockets: they run on the UI's own loop, never
        blocking it, and stop at once when the worker is cancelled (Stop, leaving the
        screen, quitting). So the callbacks below already run on the UI thread."""
        session = self.app.session
        host = self.form.answers.host.hostname or "THIS-HOST"
        ports = list(self.probe_ports or session.checks.jitsi_ports(self.form.answers.is_bridge))

        def ready(listening, skipped, commands) -> None:
            for port in listening:
                self.probe_lines[port] = ("wait", "listening")
            for outcome in skipped:
                self.probe_lines[outcome.port] = ("skip", outcome.detail)
            if commands:
                self.probe_commands = commands
            self.show_probe()

        def reached(number: int, proto: str, peer: str) -> None:
            self.probe_lines[(number, proto)] = ("ok", f"reached from {peer}")
            self.show_probe()

        outcomes = await session.checks.listen_for_probe(
            host, ports, timeout=self.probe_timeout, settle=PROBE_SETTLE,
            address=self.probe_address, on_ready=ready, on_reached=reached)
        for outcome in outcomes:
            mark = {"reached": "ok", "skipped": "skip"}.get(outcome.status, "fail")
            self.probe_lines[outcome.port] = (mark, outcome.detail)
        self.show_probe(ended="Listening ended.")
        self.query_one("#probe", Button).label = "Listen for a probe"

    def show_probe(self, ended: str = "") -> None:
        port_label = self.app.session.checks.port_label
        text = Text()
        showing = bool(self.probe_commands and not ended)
        help_line = self.query_one("#probe-help", Static)
        help_line.update(Text("On a machine outside this network, run one of these (each "
                              "is one line):", "bold"))
        help_line.display = showing
        box = self.query_one("#probe-commands-box")
        box.display = showing
        if showing:
            self.query_one("#probe-commands", Static).update(Text(
                f"{self.probe_commands[0]}\n# or, without the wizard:\n"
                f"{self.probe_commands[1]}"))
        marks = {"ok": ("[ OK ]", "bold green"), "wait": ("[WAIT]", "bold"),
                 "skip": ("[SKIP]", "dim"), "fail": ("[FAIL]", "bold red"),
                 "stop": ("[STOP]", "bold")}
        for port, (status, detail) in self.probe_lines.items():
            mark, style = marks[status]
            text.append(mark, style)
            text.append(f" {port_label(port)}: {detail}\n")
        if ended:
            text.append(ended, "dim")
        self.query_one("#probe-text", Static).update(text)

    # -- leaving ---------------------------------------------------------------------------

    def check_before_next(self) -> list:
        return problems_on("firewall", self.form)

    PROBLEMS_BOX = "#firewall-problems"

    def warning_before_next(self) -> str:
        if self.accepted_for == self.key() or self.results is None:
            return ""
        failed = [r for r in self.results if r.status == "fail"]
        if not failed:
            return ""
        return ("The port check found problems:\n" + "\n".join(f"- {r.summary}"
                                                               for r in failed)
                + "\n\nContinue anyway?")

    def accept_warning(self) -> None:
        self.accepted_for = self.key()

    def on_screen_suspend(self) -> None:
        if self.probe_running():
            self.toggle_probe()
