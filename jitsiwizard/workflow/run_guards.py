"""What guards a run, as part of `Session` (see session.py): the service checks before the
restarts and the verification after them, meetings in progress, the last verification, and
firewall changes over SSH (confirm or revert). Kept apart so that each module stays
readable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jitsiwizard.paths import LAST_VERIFICATION

if TYPE_CHECKING:
    from jitsiwizard.answers.secrets import Redactor
    from jitsiwizard.apply.runner import Runner
    from jitsiwizard.health import Endpoints, Report
    from jitsiwizard.workflow.planned import Planned


@dataclass
class MeetingsCheck:
    """Meetings in progress, asked of jicofo before a run that restarts what carries them."""

    restarts: list[str] = field(default_factory=list)  # the disruptive services restarted
    asked: str = ""  # the URL asked; "" when not asked
    conferences: int = 0
    participants: int = 0
    error: str = ""  # jicofo did not answer: unknown, not zero
    skipped: str = ""  # why jicofo was not asked

    @property
    def disruptive(self) -> bool:
        """Applying would (or might, when jicofo did not answer) drop people's meetings."""
        return bool(self.restarts and self.asked and (self.error or self.conferences
                                                      or self.participants))

    def message(self) -> str:
        if not self.restarts:
            return ""
        if self.skipped:
            return f"meetings in progress not asked: {self.skipped}"
        if self.error:
            return (f"jicofo did not say whether meetings are running ({self.error}); "
                    f"applying restarts {', '.join(self.restarts)} and drops any meeting")
        if self.conferences or self.participants:
            return (f"{self.conferences} meetings with {self.participants} people are "
                    "running: applying drops them")
        return "no meeting is running (jicofo says 0)"


class RunGuards:
    """Mixed into Session: uses its root, simulate, endpoints, keep_on_failure,
    confirm_firewall and firewall_window."""

    # -- checks around the restarts --------------------------------------------------------

    def the_endpoints(self) -> Endpoints:
        from jitsiwizard.health import Endpoints

        return self.endpoints if self.endpoints is not None else Endpoints()

    def _probe_runners(self, redact: Redactor | None, log) -> tuple[Runner, Runner]:
        """(for prosodyctl, for systemctl): live on a real run; with --simulate, each only
        when its own endpoint was given (a test's Prosody configuration, a stand-in
        systemctl): the tree's own prosody.cfg.lua names the real /etc."""
        from jitsiwizard.apply.runner import Runner

        endpoints = self.the_endpoints()
        checker = Runner(self.root,
                         simulate=self.simulate and endpoints.prosody_config is None,
                         redact=redact, log=log)
        units = Runner(self.root, simulate=self.simulate and endpoints.systemctl is None,
                       redact=redact, log=log)
        if endpoints.systemctl is not None:
            units.systemctl = tuple(endpoints.systemctl)
        return checker, units

    def _phases(self, planned: Planned, redact: Redactor, log):
        from jitsiwizard.apply.transaction import Phases
        from jitsiwizard.health import expectation_for_run, verify
        from jitsiwizard.health.configs import check_configs

        endpoints = self.the_endpoints()
        checker, units = self._probe_runners(redact, log)

        def configs(services: set) -> list:
            return check_configs(services, self.root, checker, endpoints)

        def guard_firewall(run_id: str) -> None:
            from jitsiwizard.apply import firewall_guard

            firewall_guard.arm(self.root, run_id, self.firewall_window)

        def after(restarted: list) -> Report:
            if planned.answers.is_bridge:
                from jitsiwizard.workflow.bridges import verify_bridge

                return verify_bridge(self, planned.answers, restarted, units)
            expect = expectation_for_run(planned.answers, planned.plan)
            expect.units = list(restarted)
            expect.cert_file = self.read_host().cert_file
            return verify(expect, endpoints, self.root, units)

        guarded = not self.simulate and self.confirm_firewall != "skip"
        return Phases(configs, after, self.keep_on_failure,
                      guard_firewall if guarded else None)

    def preview_phases(self, plan, answers) -> None:
        """Put on the plan what the run will check before its first restart and verify
        after its last step, as _phases() will do it, so the preview shows every phase."""
        from jitsiwizard.health import (
            describe_checks,
            describe_verification,
            expectation_for_run,
        )

        endpoints = self.the_endpoints()
        services = [s for s in plan.steps if s.kind == "service"]
        if not services:
            return
        # A run under --root only records its commands (it is refused otherwise): the
        # preview of `plan --root` is of that run, as the wizard's under --root is.
        simulate = self.simulate or not self.root.is_real
        plan.checks = describe_checks({s.name for s in services}, endpoints, simulate)
        if answers.is_bridge:
            bridge = answers.bridge
            plan.verification = [
                f"login as {bridge.username}@{bridge.domain} on the main host, over TLS with "
                "the pinned certificate" + (" (not asked: --simulate)" if simulate
                                            and not endpoints.given else ""),
                "whether the bridge sits in the brewery is seen from the main host: "
                "`jitsi-wizard bridge list` there"]
        else:
            expect = expectation_for_run(answers, plan)
            expect.units = sorted({s.name for s in services})
            plan.verification = describe_verification(expect, endpoints, simulate)
        if self.keep_on_failure:
            plan.verification.append("a failure keeps the changes (--keep-on-failure)")
        else:
            plan.verification.append("a failure rolls the whole run back")

    def meetings(self, planned: Planned) -> MeetingsCheck:
        """Whether applying would drop meetings: jicofo's /stats, asked only when the plan
        restarts Prosody, jicofo or the bridge."""
        from jitsiwizard.health import DISRUPTIVE
        from jitsiwizard.health.probes import ProbeError, meetings

        restarts = sorted({s.name for s in planned.plan.steps
                           if s.kind == "service" and s.name in DISRUPTIVE})
        check = MeetingsCheck(restarts)
        if not restarts:
            return check
        if planned.answers.is_bridge:
            check.skipped = ("jicofo runs on the main host; it moves this bridge's "
                             "conferences to another bridge while it restarts")
            return check
        endpoints = self.the_endpoints()
        if self.simulate and not endpoints.given:
            check.skipped = "this run only records its commands (--simulate)"
            return check
        check.asked = f"{endpoints.jicofo_url}/stats"
        try:
            seen = meetings(check.asked, endpoints.timeout)
        except ProbeError as exc:
            check.error = str(exc)
            return check
        check.conferences, check.participants = seen.conferences, seen.participants
        return check

    def verify_now(self) -> Report:
        """`jitsi-wizard verify`: the checks against the host as it is configured now."""
        from jitsiwizard.health import Finding, Report, expectation_for_host, verify

        facts = self.read_host()
        if not facts.jitsi_installed:
            report = Report([Finding("jitsi", False, "Jitsi Meet is not installed",
                                     "run `jitsi-wizard` to install it")])
        else:
            _, units = self._probe_runners(None, None)
            report = verify(expectation_for_host(facts), self.the_endpoints(), self.root,
                            units, settle=0)
        self._save_verification(report.to_dict())
        return report

    def _save_verification(self, doc: dict) -> None:
        import json

        from jitsiwizard.apply.fsio import private_dir, write_private

        path = self.root.path(LAST_VERIFICATION)
        try:
            private_dir(path.parent)
            write_private(path, json.dumps(doc, indent=2).encode())
        except OSError:
            pass  # not root on a real host: the report was shown, it is only not kept

    def last_verification(self) -> dict | None:
        from jitsiwizard.apply.fsio import read_json

        doc = read_json(self.root.path(LAST_VERIFICATION))
        return doc if isinstance(doc, dict) else None

    # -- firewall changes over SSH: confirm or revert ----------------------------------------

    def firewall_needs_confirming(self, planned: Planned) -> bool:
        """Whether applying may change the firewall in a way the admin must confirm (on a
        fresh host the firewall steps come with the configuration, after the install)."""
        if self.confirm_firewall == "skip" or self.simulate:
            return False
        if not planned.facts.jitsi_installed:
            return planned.answers.firewall.manage
        return any(s.kind == "command" and s.argv and str(s.argv[0]) == "ufw"
                   for s in planned.plan.steps)

    def arm_firewall_revert(self, outcome) -> float | None:
        """After an applied run whose firewall change a guard watches (the run started it
        before its first firewall command): start the admin's window. Returns the deadline
        (time.time()), or None when there is nothing to confirm."""
        from jitsiwizard.apply import firewall_guard

        if (outcome.status != "applied" or self.confirm_firewall == "skip" or self.simulate
                or firewall_guard.guard_alive(self.root, outcome.run_id) is None):
            return None
        return firewall_guard.start_countdown(self.root, outcome.run_id, self.firewall_window)

    def firewall_guard_alive(self, run_id: str) -> bool:
        from jitsiwizard.apply import firewall_guard

        return bool(firewall_guard.guard_alive(self.root, run_id))

    def firewall_undo_commands(self, run_id: str) -> list[str]:
        """The commands that undo the run's firewall change, ready to paste."""
        from jitsiwizard.apply import firewall_guard

        return firewall_guard.undo_commands(self.root, run_id)

    def confirm_firewall_change(self, run_id: str) -> bool:
        """Keep the firewall change; False when the guard already undid it."""
        from jitsiwizard.apply import firewall_guard

        return firewall_guard.confirm(self.root, run_id)

    def undo_firewall_change_now(self, run_id: str) -> None:
        """Have the guard undo the change now instead of at its deadline (it stays the
        one that undoes it: see firewall_guard_outcome)."""
        from jitsiwizard.apply import firewall_guard

        firewall_guard.undo_now(self.root, run_id)

    def firewall_guard_outcome(self, run_id: str, timeout: float = 0.0) -> str | None:
        """How the guard ended ("confirmed", "reverted", "failed", "gone"), waiting up to
        `timeout` seconds for it; None while it still runs."""
        import time

        from jitsiwizard.apply import firewall_guard

        end = time.monotonic() + timeout
        while True:
            outcome = firewall_guard.guard_outcome(self.root, run_id)
            if outcome is not None:
                return outcome
            if firewall_guard.guard_alive(self.root, run_id) is False:
                # The guard died before a decision: this process undoes the change itself.
                return self._undo_firewall_here(run_id)
            if time.monotonic() >= end:
                return None
            time.sleep(0.2)  # another process's file: nothing to wait on but the file

    def _undo_firewall_here(self, run_id: str) -> str:
        from jitsiwizard.apply import firewall_guard
        from jitsiwizard.errors import UserError

        try:
            return firewall_guard.revert_unless_confirmed(self.root, run_id)
        except UserError:  # the state lock stayed taken
            return "failed"
