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

if TYPE_CHECKING:
    from jitsiwizard.answers import LoadedAnswers
    from jitsiwizard.checks.result import CheckResult
    from jitsiwizard.form import WizardForm
    from jitsiwizard.host import HostFacts
    from jitsiwizard.model import Answers, LdapAnswers
    from jitsiwizard.runner import Runner
    from jitsiwizard.secrets import Redactor
    from jitsiwizard.steps import Plan

# Beyond a check's own timeout, the time its clean-up may take before it is cut off. The one
# bound for every check, whichever face runs it.
CHECK_GRACE = 1.0


@dataclass
class Planned:
    """A plan ready to show and apply, with what it was built from."""

    loaded: LoadedAnswers
    facts: HostFacts
    plan: Plan
    redact: Redactor
    warnings: list[Problem] = field(default_factory=list)  # the answers' and the checks'

    @property
    def answers(self) -> Answers:
        return self.loaded.answers


@dataclass
class Session:
    root: Root
    simulate: bool = False
    force: bool = False
    resolver: str | None = None  # ADDR[:PORT] for DNS and LDAP name lookups
    check_timeout: float = 5.0
    demo: bool = False  # the demo's example host name is never looked up
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def __post_init__(self) -> None:
        self.facts: HostFacts | None = None
        self._runner: Runner | None = None

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
        from jitsiwizard.host import read_facts

        self.facts = read_facts(self.root)
        return self.facts

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
        from jitsiwizard.firewall import detect_ssh_port

        return detect_ssh_port(self.root, self.environ)

    def connected_ssh_port(self) -> int | None:
        from jitsiwizard.firewall import connected_ssh_port

        return connected_ssh_port(self.environ)

    # -- answers -------------------------------------------------------------------------

    @staticmethod
    def load_answers(path: str) -> LoadedAnswers:
        from jitsiwizard.answers import load_file

        return load_file(path)

    @staticmethod
    def load_for_edit(path: str) -> LoadedAnswers:
        """An answers file to open in the wizard: as strict as replay, except for passwords
        that cannot be read here (they are typed in the wizard). Raises UserError /
        ProblemList."""
        from jitsiwizard.form import load_for_edit

        return load_for_edit(path)[0]

    def form_for_host(self, edit: str | None = None) -> WizardForm:
        """What the screens edit: from an answers file (--edit), else the host as it is."""
        from jitsiwizard.form import WizardForm

        facts = self.facts if self.facts is not None else self.read_host()
        if edit:
            return WizardForm.from_file(facts, self.root, edit)
        return WizardForm.for_host(facts, self.root)

    @staticmethod
    def check_hostname(value: str) -> tuple[str, str | None]:
        """(the name as it will be used, the problem with it or None)."""
        from jitsiwizard.validate import check_hostname

        return check_hostname(value)

    @staticmethod
    def check_user_name(value: str) -> str | None:
        """A local user's name: the problem with it, or None."""
        from jitsiwizard.validate import check_user_name

        return check_user_name(value)

    @staticmethod
    def check_user_password(value: str) -> str | None:
        """A local user's new password, by the rule answers files follow too."""
        from jitsiwizard.validate import check_user_password

        return check_user_password(value)

    # -- checks before planning ------------------------------------------------------------

    def own_certificate_problems(self, answers: Answers,
                                 facts: HostFacts | None = None) -> list[Problem]:
        """The admin's own certificate files, read with openssl (errors and warnings)."""
        from jitsiwizard.certs.files import own_cert_problems

        if answers.cert.mode != "own":
            return []
        facts = facts if facts is not None else (self.facts or self.read_host())
        try:
            return own_cert_problems(answers, facts, self.root)
        except UserError as exc:
            return [Problem(exc.field or "cert", exc.message, exc.hint)]

    def certificate_route(self, answers: Answers) -> tuple[str, str]:
        """(route, why) the plan will take for the certificate on this host."""
        from jitsiwizard.certs.plan import choose_route

        return choose_route(self.facts or self.read_host(), answers, self.root)

    # -- the plan --------------------------------------------------------------------------

    @staticmethod
    def redactor(answers: Answers) -> Redactor:
        from jitsiwizard.secrets import Redactor

        redact = Redactor()
        for secret in answers.secrets():
            redact.add_secret(secret)
        return redact

    def plan(self, loaded: LoadedAnswers) -> Planned:
        """Read the host afresh and plan these answers on it. Raises UserError or
        ProblemList (the admin's input; exit code 2)."""
        from jitsiwizard.plan import build

        facts = self.read_host()
        answers = loaded.answers
        warnings = list(loaded.warnings)
        problems = self.own_certificate_problems(answers, facts)
        if any(not p.warning for p in problems):
            raise ProblemList(problems, "the certificate files")
        warnings += problems
        ssh_port = self.ssh_port_in_use() if answers.firewall.manage else None
        plan = build(answers, facts, self.root, force=self.force, ssh_port_in_use=ssh_port)
        # Before the restarts: a run that cannot store them stops before touching services.
        first_restart = next((i for i, s in enumerate(plan.steps) if s.kind == "service"),
                             len(plan.steps))
        plan.steps[first_restart:first_restart] = self._secret_steps(answers)
        return Planned(loaded, facts, plan, self.redactor(answers), warnings)

    def _secret_steps(self, answers: Answers) -> list:
        """Passwords typed in the wizard go to root-only files under SECRETS_DIR, which the
        saved answers refer to. They are written by the run itself, so a rollback removes
        them with everything else."""
        from jitsiwizard.steps import FileChange

        prefix = f"file:{self.root.path(SECRETS_DIR)}/"
        steps = []
        for secret in answers.secrets():
            if not secret.ref.startswith(prefix):
                continue
            target = f"{SECRETS_DIR}/{secret.ref[len(prefix):]}"
            if self.root.read_text(target) == secret.value:
                continue
            steps.append(FileChange(target, secret.value, "a password typed in the wizard, "
                                    "for replaying its answers", self.root.read_text(target),
                                    0o600, secret=True))
        return steps

    def replan(self, answers: Answers) -> Callable[[], Plan]:
        """After the install steps of a fresh host: plan the configuration against the files
        the packages created."""
        from jitsiwizard.steps import Plan

        def replan() -> Plan:
            from jitsiwizard.plan import build

            facts = self.read_host()
            if facts.jitsi_installed:
                return build(answers, facts, self.root, force=self.force,
                             ssh_port_in_use=(self.ssh_port_in_use()
                                              if answers.firewall.manage else None))
            if self.simulate:
                return Plan(notes=["the install was only simulated, so there are no Jitsi "
                                   "files to configure yet: the configuration is planned "
                                   "after a real install"])
            raise UserError("jitsi-meet was installed but its configuration files are "
                            "missing", "look at the run log for apt's messages; `dpkg -s "
                            "jitsi-meet` shows the package state")

        return replan

    # -- the live checks -----------------------------------------------------------------

    def _bounded(self, name: str, job) -> list[CheckResult]:
        """Run one check's coroutine to its end in this thread (a screen's worker), within
        its timeout plus CHECK_GRACE, never raising."""
        import asyncio

        from jitsiwizard.checks import guarded

        try:
            return asyncio.run(guarded(name, job, self.check_timeout, CHECK_GRACE))
        except UserError as exc:
            from jitsiwizard.checks.result import FAIL, CheckResult

            return [CheckResult(name, FAIL, f"the check could not run: {exc.message}", [],
                                exc.hint, {"reason": "error"})]

    def check_dns(self, hostname: str, public_address: str = "") -> list[CheckResult]:
        if self.demo and self.resolver is None:
            from jitsiwizard.checks.result import WARN, CheckResult

            return [CheckResult(
                "dns.demo", WARN, f"demo: {hostname} is not looked up in DNS", [
                    "the demo host is an example: nothing is sent off this machine"],
                "on a real host this screen shows the A and AAAA records; add --resolver "
                "ADDR[:PORT] to the demo to try it against a DNS server", {"reason": "demo"})]
        from jitsiwizard.checks.dnscheck import check_dns

        return self._bounded("dns", check_dns(hostname, resolver=self.resolver,
                                              timeout=self.check_timeout,
                                              public_address=public_address))

    def check_ports(self, ssh_port: int, manage: bool) -> list[CheckResult]:
        from jitsiwizard.checks.ports import check_local_ports

        return self._bounded("ports", check_local_ports(
            ssh_port=ssh_port, timeout=self.check_timeout, root=self.root,
            manage_firewall=manage))

    def ldap_as_seen_here(self, ldap: LdapAnswers) -> LdapAnswers:
        """The LDAP answers with the CA file read under the root, like every other path."""
        import copy

        ldap = copy.deepcopy(ldap)
        if ldap.ca_file.startswith("/"):
            ldap.ca_file = str(self.root.path(ldap.ca_file))
        return ldap

    def check_ldap(self, ldap: LdapAnswers, hostname: str) -> list[CheckResult]:
        from jitsiwizard.checks.ldapcheck import check_ldap

        return self._bounded("ldap", check_ldap(self.ldap_as_seen_here(ldap),
                                                self.check_timeout, resolver=self.resolver,
                                                host=hostname))

    def run_checks(self, answers: Answers,
                   host_addresses: list[str] | None = None) -> list[CheckResult]:
        """Every check the answers call for, concurrently, each bounded like the others."""
        import asyncio

        from jitsiwizard.checks import run_checks

        if answers.auth.ldap is not None:
            import copy

            answers = copy.copy(answers)
            answers.auth = copy.copy(answers.auth)
            answers.auth.ldap = self.ldap_as_seen_here(answers.auth.ldap)
        return asyncio.run(run_checks(answers, resolver=self.resolver,
                                      timeout=self.check_timeout, root=self.root,
                                      host_addresses=host_addresses,
                                      ldap_resolver=self.resolver, grace=CHECK_GRACE))

    # -- applying ------------------------------------------------------------------------

    def apply(self, planned: Planned, *, on_event: Callable[[str, int, str], None],
              log: Callable[[str], None] | None = None):
        """Apply the plan as one transaction; returns the run's outcome. The answers used are
        kept with the run, and, once it succeeded, as the host's last answers."""
        from jitsiwizard.answers import dumps
        from jitsiwizard.apply import apply
        from jitsiwizard.runner import Runner

        answers = planned.answers
        redact = planned.redact
        replan = None if planned.facts.jitsi_installed else self.replan(answers)
        text, _ = dumps(answers)
        self._runner = Runner(self.root, simulate=self.simulate, redact=redact, log=log)
        try:
            return apply(planned.plan, self.root, self._runner, redact=redact,
                         answers_text=text, replan=replan, on_event=on_event)
        finally:
            self._runner = None

    def abort(self) -> None:
        """Stop the command in progress (a hang-up during apply): the run then rolls back."""
        runner = self._runner
        if runner is not None:
            runner.abort()

    def save_answers(self, answers: Answers) -> tuple[str, list[str]]:
        """Keep the answers of the last run for replay (mode 0600, secrets as references).
        Returns (the file's path as the admin reaches it, notes on secrets left out)."""
        from jitsiwizard.answers import dumps
        from jitsiwizard.apply.fsio import private_dir, write_private

        text, notes = dumps(answers)
        path = self.root.path(SAVED_ANSWERS)
        private_dir(path.parent)
        write_private(path, text.encode("utf-8"))
        return str(path), notes

    # -- rollback, runs, status ----------------------------------------------------------

    def rollback(self, run_id: str | None = None):
        from jitsiwizard.apply import rollback
        from jitsiwizard.runner import Runner
        from jitsiwizard.secrets import Redactor

        redact = Redactor()
        return rollback(self.root, Runner(self.root, simulate=self.simulate, redact=redact),
                        run_id, redact=redact)

    def runs(self) -> list:
        from jitsiwizard.apply import list_runs

        return list_runs(self.root)

    def status(self) -> dict:
        """What the host has now, as data both faces show."""
        facts = self.read_host()
        runs = self.runs()
        interrupted = self.interrupted()
        return {
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
            "interrupted_run": interrupted.run_id if interrupted else None,
        }

    # -- the outside probe -----------------------------------------------------------------

    @staticmethod
    def jitsi_ports() -> list:
        from jitsiwizard.checks.ports import JITSI_PORTS

        return list(JITSI_PORTS)

    @staticmethod
    def port_label(port) -> str:
        from jitsiwizard.checks.ports import port_label

        return port_label(port)

    async def listen_for_probe(self, host: str, ports: list, *, timeout: float, settle: float,
                               address: str, on_ready: Callable, on_reached: Callable) -> list:
        """Listen on the ports not in use until a probe from outside reaches them (or the
        timeout). `on_ready(listening, skipped, commands)` gets the commands to run on the
        other machine; `on_reached(number, proto, peer)` fires as each port is reached."""
        from jitsiwizard.checks.ports import JITSI_PORTS
        from jitsiwizard.checks.probe import listen, new_token, outside_commands

        token = new_token()

        def ready(listening, skipped) -> None:
            commands = (outside_commands(host, token, listening, JITSI_PORTS)
                        if listening else [])
            on_ready(listening, skipped, commands)

        return await listen(ports, token, timeout=timeout, settle=settle, address=address,
                            on_ready=ready, on_reached=on_reached)
