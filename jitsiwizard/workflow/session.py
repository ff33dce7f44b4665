"""The one workflow that both faces drive: the command line (cli/) and the screens
(screens/). It reads the host, makes the form the screens edit, runs the pre-checks, builds
the plan, runs it (`run`: apply, planning again after a fresh install; save the answers;
start the firewall's countdown), rolls back, and reports status. Neither face holds a step of
its own: the command line parses arguments and prints, the screens show the session's state
and call it.

The session is made of parts, each given what it needs from the session's settings:

    checks        the live checks (DNS, ports, LDAP) and the outside probe  live_checks.py
    verification  the checks around the restarts, `verify`, the last report  verification.py
    firewall      a firewall change confirmed in time, or undone            firewall.py

and uses meetings.py (meetings in progress), status.py (`status`, `runs`) and bridges.py
(extra videobridges).

Heavy pieces (the planner, the transaction, the checks with dnspython and ldap3) are imported
when first used, so the wizard's first screen and `--help` stay quick.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from jitsiwizard.errors import EXIT_INTERRUPTED, Problem, ProblemList, UserError
from jitsiwizard.paths import RUNS_DIR, SAVED_ANSWERS, SECRETS_DIR
from jitsiwizard.rootfs import Root
from jitsiwizard.workflow.firewall import FirewallConfirmation
from jitsiwizard.workflow.live_checks import LiveChecks
from jitsiwizard.workflow.planned import Planned
from jitsiwizard.workflow.verification import Verification

if TYPE_CHECKING:
    from jitsiwizard.answers.load import LoadedAnswers
    from jitsiwizard.answers.model import Answers
    from jitsiwizard.answers.secrets import Redactor
    from jitsiwizard.apply.runner import Runner
    from jitsiwizard.apply.transaction import Phases, RunOutcome
    from jitsiwizard.health import Endpoints, Report
    from jitsiwizard.host.facts import HostFacts
    from jitsiwizard.plan.steps import Plan
    from jitsiwizard.workflow.form import WizardForm
    from jitsiwizard.workflow.host_reader import HostReader
    from jitsiwizard.workflow.meetings import MeetingsCheck

NOT_PLANNED_SIMULATED = ("the install was only simulated, so there are no Jitsi files to "
                         "configure yet: the configuration is planned after a real install")


@dataclass
class RunResult:
    """What `Session.run` did, as both faces show it."""

    outcome: RunOutcome  # the transaction's
    saved: str | None = None  # where the answers were saved (once applied)
    notes: list[str] = field(default_factory=list)  # on secrets the saved answers leave out
    # The end of the admin's window to confirm the firewall change (time.time()); None
    # when there is nothing to confirm.
    deadline: float | None = None
    # Why the countdown could not start: the run stays applied, the change unguarded.
    guard_error: Exception | None = None


@dataclass
class Session:
    """The workflow on one host (`root`). Its settings (the fields below) are fixed once it
    is made: its parts (checks, verification, firewall) are made from them."""

    root: Root
    simulate: bool = False
    force: bool = False
    resolver: str | None = None  # ADDR[:PORT] for DNS and LDAP name lookups
    check_timeout: float = 5.0
    demo: bool = False  # the demo's example host name is never looked up
    demo_kept: bool = False  # the demo's tree stays after it ends (--keep-demo)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    endpoints: Endpoints | None = None  # where the verification looks; None: this host's
    keep_on_failure: bool = False  # a failed verification keeps the changes
    # A firewall change must be confirmed from the running session within firewall_window
    # seconds, or a guard that outlives the wizard undoes it ("elsewhere": from another
    # process, after this one ends; "skip": no confirmation).
    confirm_firewall: str = "ask"
    firewall_window: float = 60.0
    main_certificate_file: str | None = None  # a bridge host: the main's PEM, not fetched

    def __post_init__(self) -> None:
        self.facts: HostFacts | None = None
        self._host_reader: HostReader | None = None
        self._runner: Runner | None = None
        self._not_planned: str | None = None  # set by replan() when it could plan nothing
        self.main_host = None  # a bridge host: the main's certificate (a fact), set by plan()
        self.checks = LiveChecks(self.root, resolver=self.resolver, timeout=self.check_timeout,
                                 demo=self.demo)

        def verify_bridge(answers: Answers, restarted: list, units: Runner) -> Report:
            from jitsiwizard.workflow.bridges import verify_bridge

            return verify_bridge(self, answers, restarted, units)

        self.verification = Verification(
            self.root, simulate=self.simulate, endpoints=self.endpoints,
            keep_on_failure=self.keep_on_failure, read_host=self.read_host,
            verify_bridge=verify_bridge)
        self.firewall = FirewallConfirmation(self.root, simulate=self.simulate,
                                             mode=self.confirm_firewall,
                                             window=self.firewall_window)

    def the_endpoints(self) -> Endpoints:
        """Where the verification looks: the endpoints given, else this host's own."""
        from jitsiwizard.health import Endpoints

        return self.endpoints if self.endpoints is not None else Endpoints()

    def command(self, words: str) -> str:
        """`jitsi-wizard WORDS` as the admin can paste it: with what it needs to act on the
        same tree the same way."""
        options = " --simulate" if self.simulate else ""
        if not self.root.is_real:
            from shlex import quote

            options = f" --root {quote(str(self.root.base))}" + options
        return f"jitsi-wizard {words}{options}"

    # -- the host ------------------------------------------------------------------------

    def read_host(self) -> HostFacts:
        reader, self._host_reader = self._host_reader, None
        if reader is not None:  # started by prefetch_host() just before
            self.facts = reader.facts()
            return self.facts
        from jitsiwizard.workflow.host_reader import read_host_facts

        self.facts = read_host_facts(self.root)
        return self.facts

    def prefetch_host(self) -> None:
        """Start reading the host alongside what the caller does next (the wizard imports
        its screens); the next read_host() returns that read."""
        from jitsiwizard.workflow.host_reader import HostReader

        self._host_reader = HostReader(self.root)

    def interrupted(self):
        """The run left half done, if any (only a host with recorded runs can have one)."""
        if not self.root.exists(RUNS_DIR):
            return None
        from jitsiwizard.apply import interrupted_run

        return interrupted_run(self.root)

    def refuse_if_interrupted(self) -> None:
        run = self.interrupted()
        if run is not None:
            raise UserError(
                f"run {run.run_id} (started {run.started}) was interrupted before it finished",
                f"undo it with `{self.command(f'rollback {run.run_id}')}`, then run again",
                exit_code=EXIT_INTERRUPTED)

    def require_permission(self) -> None:
        """Changing a host needs root on a real host, and --simulate under another root."""
        if not self.root.is_real and not self.simulate:
            # Commands (systemctl, prosodyctl, apt-get) act on this system, not inside DIR.
            raise UserError(f"--root {self.root.base} needs --simulate: commands cannot run "
                            "inside another root", "add --simulate (files under the root are "
                            "still written), or drop --root to change this system",
                            field="--root")
        if self.root.is_real and not self.simulate and os.geteuid() != 0:
            raise UserError("changing this system needs root",
                            "run it with sudo, or add --dry-run to only see the plan")

    def ssh_port_in_use(self) -> int | None:
        """The port that must stay open: the one the admin is connected through, else the
        first port sshd's config names."""
        from jitsiwizard.plan.firewall import detect_ssh_port

        return detect_ssh_port(self.root, self.environ)

    def connected_ssh_port(self) -> int | None:
        """The port of the SSH connection the admin is on, if any."""
        from jitsiwizard.plan.firewall import connected_ssh_port

        return connected_ssh_port(self.environ)

    # -- answers -------------------------------------------------------------------------

    def form_for_host(self, edit: str | None = None) -> WizardForm:
        """What the screens edit: from an answers file (--edit), else the host as it is."""
        from jitsiwizard.workflow.form import WizardForm

        facts = self.facts if self.facts is not None else self.read_host()
        if edit:
            return WizardForm.from_file(facts, self.root, edit)
        bridge_of = None
        if not facts.jitsi_installed:  # perhaps an extra videobridge the wizard set up
            from jitsiwizard.workflow.bridges import main_of_this_bridge

            bridge_of = main_of_this_bridge(self.root)
        form = WizardForm.for_host(facts, self.root, bridge_of)
        if _certificate_worth_keeping(self.root, facts):
            form.answers.cert.mode = "keep"  # changing a working certificate is a choice
        return form

    # -- checks before planning ------------------------------------------------------------

    def own_certificate_problems(self, answers: Answers,
                                 facts: HostFacts | None = None) -> list[Problem]:
        """The admin's own certificate files, read with openssl (errors and warnings)."""
        from jitsiwizard.checks.certs import own_cert_problems

        if answers.cert.mode != "own":
            return []
        facts = facts if facts is not None else (self.facts or self.read_host())
        try:
            return own_cert_problems(answers, facts, self.root)
        except UserError as exc:
            return [Problem(exc.field or "cert", exc.message, exc.hint)]

    def certificate_route(self, answers: Answers) -> tuple[str, str]:
        """(route, why) the plan will take for the certificate on this host."""
        from jitsiwizard.plan.certs import choose_route

        return choose_route(self.facts or self.read_host(), answers, self.root)

    # -- the plan --------------------------------------------------------------------------

    @staticmethod
    def redactor(answers: Answers) -> Redactor:
        from jitsiwizard.answers.secrets import Redactor

        redact = Redactor()
        for secret in answers.secrets():
            redact.add_secret(secret)
        return redact

    def plan(self, loaded: LoadedAnswers) -> Planned:
        """Read the host afresh and plan these answers on it. Raises UserError or
        ProblemList (the admin's input; exit code 2)."""
        from jitsiwizard.answers.files import file_problems
        from jitsiwizard.plan.meeting import build

        answers = loaded.answers
        problems = file_problems(answers, self.root)
        if problems:
            raise ProblemList(problems, "the files the answers name")
        facts = self.read_host()
        warnings = list(loaded.warnings)
        problems = self.own_certificate_problems(answers, facts)
        if any(not p.warning for p in problems):
            raise ProblemList(problems, "the certificate files")
        warnings += problems
        self.main_host = None  # a fact about the main host, kept for replan()
        if answers.is_bridge:
            from jitsiwizard.workflow.bridges import main_host_certificate

            self.main_host = main_host_certificate(self, answers, self.main_certificate_file)
        ssh_port = self.ssh_port_in_use() if answers.firewall.manage else None
        plan = self._store_secrets(build(answers, facts, self.root, force=self.force,
                                         ssh_port_in_use=ssh_port,
                                         main_certificate=self.main_host), answers)
        self.verification.preview(plan, answers)
        redact = self.redactor(answers)
        for value in facts.secrets:  # found in the host's files: masked like the answers'
            redact.add_value(value)
        return Planned(loaded, facts, plan, redact, warnings)

    def _store_secrets(self, plan: Plan, answers: Answers) -> Plan:
        """Passwords typed in the wizard go to root-only files under SECRETS_DIR, which the
        saved answers refer to. They are written by the run itself, so a rollback removes
        them with everything else; before the restarts, so a run that cannot store them
        stops before touching services. (On a fresh host the configuration is planned again
        after the install, and so are these.)"""
        from jitsiwizard.plan.builder import Builder

        build = Builder(self.facts if self.facts is not None else self.read_host(), self.root,
                        self.force)
        prefix = f"file:{self.root.path(SECRETS_DIR)}/"
        for secret in answers.secrets():
            if secret.ref.startswith(prefix):
                build.file(f"{SECRETS_DIR}/{secret.ref[len(prefix):]}", secret.value,
                           "a password typed in the wizard, for replaying its answers",
                           mode=0o600, secret=True)
        plan.insert_before_restarts(build.plan.steps)
        return plan

    def replan(self, answers: Answers) -> Callable[[], Plan]:
        """After the install steps of a fresh host: plan the configuration against the files
        the packages created."""
        from jitsiwizard.plan.steps import Plan

        def replan() -> Plan:
            from jitsiwizard.plan.meeting import build

            facts = self.read_host()
            if self.configurable(answers, facts):
                return self._store_secrets(build(
                    answers, facts, self.root, force=self.force,
                    ssh_port_in_use=(self.ssh_port_in_use() if answers.firewall.manage
                                     else None),
                    main_certificate=self.main_host), answers)
            if self.simulate:
                self._not_planned = NOT_PLANNED_SIMULATED
                return self._store_secrets(Plan(notes=[NOT_PLANNED_SIMULATED]), answers)
            raise UserError("jitsi-meet was installed but its configuration files are "
                            "missing", "look at the run log for apt's messages; `dpkg -s "
                            "jitsi-meet` shows the package state")

        return replan

    @staticmethod
    def configurable(answers: Answers, facts: HostFacts) -> bool:
        """The packages this role configures are installed (else the run installs first)."""
        if answers.is_bridge:
            return facts.bridge_installed
        return facts.jitsi_installed

    # -- extra videobridges (workflow/bridges.py) --------------------------------------

    def bridge_preflight(self, answers: Answers) -> list:
        """A videobridge host's checks of its main host (name, TLS with the pinned
        certificate, its account's login)."""
        from jitsiwizard.workflow.bridges import preflight

        return preflight(self, answers)

    def apply_plan(self, plan: Plan, redact: Redactor, *,
                   on_event: Callable[[str, int, str], None]):
        """A run without answers to save or services to verify (`bridge add`/`remove`),
        journaled like every run, so `rollback` undoes it."""
        from jitsiwizard.apply import apply
        from jitsiwizard.apply.runner import Runner

        self.require_permission()
        self.refuse_if_interrupted()
        runner = Runner(self.root, simulate=self.simulate, redact=redact)
        return apply(plan, self.root, runner, redact=redact, on_event=on_event)

    # -- running the plan --------------------------------------------------------------

    def meetings(self, planned: Planned) -> MeetingsCheck:
        """Whether applying would drop meetings (asked of jicofo only when the plan restarts
        what carries them)."""
        from jitsiwizard.workflow.meetings import meetings_in_progress

        return meetings_in_progress(planned, self.the_endpoints(), simulate=self.simulate)

    def run(self, planned: Planned, *, on_event: Callable[[str, int, str], None],
            log: Callable[[str], None] | None = None) -> RunResult:
        """The whole run, as both faces start it: apply the plan as one transaction, keep
        the verification's report, save the answers once applied (or once the host already
        matched them), and start the admin's window to confirm a firewall change. Raises
        what applying or saving raises; a countdown that cannot start is reported in the
        result (the run stays applied)."""
        outcome = self._apply(planned, on_event=on_event, log=log)
        result = RunResult(outcome)
        if outcome.status in ("applied", "nothing-to-do"):
            result.saved, result.notes = self.save_answers(planned.answers)
        try:  # at once: the admin's window starts now
            result.deadline = self.firewall.start_countdown(outcome)
        except Exception as exc:  # the faces say the change is not guarded
            result.guard_error = exc
        return result

    def _apply(self, planned: Planned, *, on_event: Callable[[str, int, str], None],
               log: Callable[[str], None] | None) -> RunOutcome:
        """Apply the plan as one transaction; returns the run's outcome. The answers used are
        kept with the run; the verification's report as the last one."""
        from jitsiwizard.answers.save import dumps
        from jitsiwizard.apply import apply
        from jitsiwizard.apply.runner import Runner

        answers = planned.answers
        redact = planned.redact
        replan = None if self.configurable(answers, planned.facts) else self.replan(answers)
        text, _ = dumps(answers)
        self._runner = Runner(self.root, simulate=self.simulate, redact=redact, log=log)
        phases = self._phases(planned, redact, log)
        self._not_planned = None
        try:
            outcome = apply(planned.plan, self.root, self._runner, redact=redact,
                            answers_text=text, replan=replan, on_event=on_event,
                            phases=phases)
        finally:
            self._runner = None
        if outcome.verification is not None:
            self.verification.keep(outcome.verification)
        if outcome.status == "applied" and self._not_planned:
            outcome.not_planned = self._not_planned  # both faces say so where the admin looks
        return outcome

    def _phases(self, planned: Planned, redact: Redactor, log) -> Phases:
        """What the run checks around its restarts, and the guard it starts before its first
        firewall command when the change must be confirmed."""
        phases = self.verification.phases(planned, redact, log)
        if self.firewall.guarded:
            phases.guard_firewall = self.firewall.start_guard
        return phases

    def abort(self) -> None:
        """Stop the command in progress (a hang-up during apply): the run then rolls back."""
        runner = self._runner
        if runner is not None:
            runner.abort()

    def save_answers(self, answers: Answers) -> tuple[str, list[str]]:
        """Keep the answers of the last run for replay (mode 0600, secrets as references).
        Returns (the file's path as the admin reaches it, notes on secrets left out)."""
        from jitsiwizard.answers.save import dumps
        from jitsiwizard.apply.fsio import private_dir, write_private

        text, notes = dumps(answers)
        path = self.root.path(SAVED_ANSWERS)
        private_dir(path.parent)
        write_private(path, text.encode("utf-8"))
        return str(path), notes

    # -- rollback, runs, status ----------------------------------------------------------

    def rollback(self, run_id: str | None = None):
        from jitsiwizard.answers.secrets import Redactor
        from jitsiwizard.apply import rollback
        from jitsiwizard.apply.runner import Runner

        redact = Redactor()
        for value in self.read_host().secrets:
            redact.add_value(value)
        return rollback(self.root, Runner(self.root, simulate=self.simulate, redact=redact),
                        run_id, redact=redact, force=self.force)

    def status(self) -> dict:
        """What the host has now, as data both faces show."""
        from jitsiwizard.workflow.status import host_status

        return host_status(self.root, self.read_host(), self.interrupted(),
                           self.verification.last())


def _certificate_worth_keeping(root: Root, facts: HostFacts) -> bool:
    """Whether the certificate nginx serves covers the host and is not about to expire."""
    from jitsiwizard.checks.certs import still_good

    if not (facts.jitsi_installed and facts.cert_file and facts.hostname):
        return False
    return still_good(root.read_text(facts.cert_file), facts.hostname)
