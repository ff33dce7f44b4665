"""The one workflow that both faces drive: the CLI (replay, plan, check, rollback, status) and
the screens. It loads and validates answers, reads the host, runs the pre-checks and the
live checks, builds the plan, applies it (planning again after a fresh install), saves the
answers, rolls back, and reports status. Neither face holds a step of its own: `cli.py` parses
arguments and prints, the screens show the session's state and call it.

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
from jitsiwizard.workflow.live_checks import LiveChecks
from jitsiwizard.workflow.planned import Planned
from jitsiwizard.workflow.run_guards import RunGuards

if TYPE_CHECKING:
    from jitsiwizard.answers.load import LoadedAnswers
    from jitsiwizard.answers.model import Answers
    from jitsiwizard.answers.secrets import Redactor
    from jitsiwizard.apply.runner import Runner
    from jitsiwizard.health import Endpoints
    from jitsiwizard.host.facts import HostFacts
    from jitsiwizard.host.reader import HostReader
    from jitsiwizard.plan.steps import Plan
    from jitsiwizard.workflow.form import WizardForm

NOT_PLANNED_SIMULATED = ("the install was only simulated, so there are no Jitsi files to "
                         "configure yet: the configuration is planned after a real install")


@dataclass
class Session(LiveChecks, RunGuards):
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
    # seconds, or a guard that outlives the wizard undoes it ("skip": no confirmation).
    confirm_firewall: str = "ask"
    firewall_window: float = 60.0
    main_certificate_file: str | None = None  # a bridge host: the main's PEM, not fetched

    def __post_init__(self) -> None:
        self.facts: HostFacts | None = None
        self._host_reader: HostReader | None = None
        self._runner: Runner | None = None
        self._not_planned: str | None = None  # set by replan() when it could plan nothing

    # -- how printed commands must be typed to act on the same tree ---------------------

    @property
    def cli_options(self) -> str:
        """What a printed command needs to act on the same tree the same way."""
        if self.root.is_real:
            return " --simulate" if self.simulate else ""
        from shlex import quote

        return f" --root {quote(str(self.root.base))}" + (" --simulate" if self.simulate
                                                           else "")

    def command(self, words: str) -> str:
        """`jitsi-wizard WORDS` as the admin can paste it."""
        return f"jitsi-wizard {words}{self.cli_options}"

    # -- the host ------------------------------------------------------------------------

    def read_host(self) -> HostFacts:
        reader, self._host_reader = self._host_reader, None
        if reader is not None:  # started by prefetch_host() just before
            self.facts = reader.facts()
            return self.facts
        from jitsiwizard.host.facts import read_facts

        self.facts = read_facts(self.root)
        return self.facts

    def prefetch_host(self) -> None:
        """Start reading the host alongside what the caller does next (the wizard imports
        its screens); the next read_host() returns that read."""
        from jitsiwizard.host.reader import HostReader

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
        from jitsiwizard.plan.firewall import connected_ssh_port

        return connected_ssh_port(self.environ)

    # -- answers -------------------------------------------------------------------------

    @staticmethod
    def load_answers(path: str) -> LoadedAnswers:
        from jitsiwizard.answers.load import load_file

        return load_file(path)

    @staticmethod
    def load_for_edit(path: str) -> LoadedAnswers:
        """An answers file to open in the wizard: as strict as replay, except for passwords
        that cannot be read here (they are typed in the wizard). Raises UserError /
        ProblemList."""
        from jitsiwizard.workflow.form import load_for_edit

        return load_for_edit(path)[0]

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
        if self.certificate_worth_keeping(facts):
            form.answers.cert.mode = "keep"  # changing a working certificate is a choice
        return form

    def certificate_worth_keeping(self, facts) -> bool:
        """Whether the certificate nginx serves covers the host and is not about to expire."""
        from jitsiwizard.checks.certs import still_good

        if not (facts.jitsi_installed and facts.cert_file and facts.hostname):
            return False
        return still_good(self.root.read_text(facts.cert_file), facts.hostname)

    @staticmethod
    def check_hostname(value: str) -> tuple[str, str | None]:
        """(the name as it will be used, the problem with it or None)."""
        from jitsiwizard.answers.validate import check_hostname

        return check_hostname(value)

    @staticmethod
    def check_user_name(value: str) -> str | None:
        """A local user's name: the problem with it, or None."""
        from jitsiwizard.answers.validate import check_user_name

        return check_user_name(value)

    @staticmethod
    def check_user_password(value: str) -> str | None:
        """A local user's new password, by the rule answers files follow too."""
        from jitsiwizard.answers.validate import check_user_password

        return check_user_password(value)

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
        self.preview_phases(plan, answers)
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
        from jitsiwizard.plan.steps import FileChange

        steps = []

        prefix = f"file:{self.root.path(SECRETS_DIR)}/"
        for secret in answers.secrets():
            if not secret.ref.startswith(prefix):
                continue
            target = f"{SECRETS_DIR}/{secret.ref[len(prefix):]}"
            if self.root.read_text(target) == secret.value:
                continue
            steps.append(FileChange(target, secret.value, "a password typed in the wizard, "
                                    "for replaying its answers", self.root.read_text(target),
                                    0o600, secret=True))
        first_restart = next((i for i, s in enumerate(plan.steps) if s.kind == "service"),
                             len(plan.steps))
        plan.steps[first_restart:first_restart] = steps
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
                    main_certificate=getattr(self, "main_host", None)), answers)
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
        from jitsiwizard.workflow.bridges import preflight

        return preflight(self, answers)

    def bridge_add(self, name: str, address: str):
        from jitsiwizard.workflow.bridges import plan_add

        return plan_add(self, name, address)

    def bridge_remove(self, name: str):
        from jitsiwizard.workflow.bridges import plan_remove

        return plan_remove(self, name)

    def bridge_list(self) -> list[dict]:
        from jitsiwizard.workflow.bridges import list_bridges

        return list_bridges(self)

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

    # -- applying ------------------------------------------------------------------------

    def apply(self, planned: Planned, *, on_event: Callable[[str, int, str], None],
              log: Callable[[str], None] | None = None):
        """Apply the plan as one transaction; returns the run's outcome. The answers used are
        kept with the run, and, once it succeeded, as the host's last answers."""
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
            self._save_verification(outcome.verification)
        if outcome.status == "applied" and self._not_planned:
            outcome.not_planned = self._not_planned  # both faces say so where the admin looks
        return outcome

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

    def runs(self) -> list:
        from jitsiwizard.apply import list_runs
        from jitsiwizard.apply.firewall_guard import firewall_state

        runs = list_runs(self.root)
        for run in runs:
            run.firewall = firewall_state(self.root, run.run_id)
        return runs

    def status(self) -> dict:
        """What the host has now, as data both faces show."""
        from jitsiwizard.workflow.bridges import main_of_this_bridge, read_registry

        facts = self.read_host()
        runs = self.runs()
        interrupted = self.interrupted()
        return {
            "bridges": [str(e.get("name")) for e in read_registry(self.root)],
            "videobridge_of": main_of_this_bridge(self.root),
            "os": facts.release, "jitsi_installed": facts.jitsi_installed,
            "generation": facts.generation, "hostname": facts.hostname,
            "policy": facts.policy, "authentication_module": facts.main_auth,
            "guests": facts.guests, "anonymousdomain": facts.anonymousdomain,
            "jicofo_authentication": facts.jicofo_auth,
            "legacy_jicofo_key": facts.legacy_auth_key,
            "ldap": None if facts.ldap is None else {
                "backend": facts.ldap.backend, "file": facts.ldap.file,
                "server": facts.ldap.server, "base": facts.ldap.base},
            "users": sorted(facts.users), "certificate": facts.cert_file,
            "key": facts.key_file,
            "packages": {k: v for k, v in facts.packages.items()
                         if k.startswith(("jitsi", "jicofo", "prosody", "nginx", "lua-ldap"))},
            "warnings": facts.warnings,
            "last_run": runs[-1].run_id if runs else None,
            "last_run_status": runs[-1].status if runs else None,
            "last_run_firewall": runs[-1].firewall if runs else None,
            "interrupted_run": interrupted.run_id if interrupted else None,
            "last_verification": self._verification_line(),
            **self._changed_since_last_run(facts),
        }

    def _changed_since_last_run(self, facts: HostFacts) -> dict:
        """The files the wizard wrote that changed since (outside its own lines: a package
        upgrade or an admin; inside: a hand edit the next run refuses), their diff with secret
        values redacted, and the packages upgraded since the last run."""
        from jitsiwizard.answers.secrets import Redactor
        from jitsiwizard.apply.drift import changed_files, upgraded_packages

        redact = Redactor()
        for value in facts.secrets:
            redact.add_value(value)
        changed = []
        for item in changed_files(self.root):
            redact.add_found("\n".join(line[2:] for line in item.diff))
            changed.append({"path": item.path, "inside": item.inside, "gone": item.gone,
                            "diff": [redact(line) for line in item.diff]})
        return {"changed_since_last_run": changed,
                "upgraded_since_last_run": [f"{name} {old} -> {new}" for name, old, new
                                            in upgraded_packages(self.root)]}

    def _verification_line(self) -> dict | None:
        doc = self.last_verification()
        if doc is None:
            return None
        findings = doc.get("findings") if isinstance(doc.get("findings"), list) else []
        failed = [f"{f.get('name')}: {f.get('evidence')}" for f in findings
                  if isinstance(f, dict) and f.get("ok") is False]
        return {"ok": bool(doc.get("ok")), "when": str(doc.get("when", "?")),
                "failed": failed}
