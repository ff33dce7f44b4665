"""The checks around a run's restarts (`session.verification`): the configuration checked
before the first restart, the services verified after the last step, both described on the
plan's preview; `jitsi-wizard verify` against the host as it is now; and the last
verification, kept for `status`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from jitsiwizard.paths import LAST_VERIFICATION

if TYPE_CHECKING:
    from jitsiwizard.answers.model import Answers
    from jitsiwizard.answers.secrets import Redactor
    from jitsiwizard.apply.runner import Runner
    from jitsiwizard.apply.transaction import Phases
    from jitsiwizard.health import Endpoints, Report
    from jitsiwizard.host.facts import HostFacts
    from jitsiwizard.plan.steps import Plan
    from jitsiwizard.rootfs import Root
    from jitsiwizard.workflow.planned import Planned


class Verification:
    """Where it looks is `endpoints` (None: this host's own services); with `simulate`, only
    what an endpoint given explicitly names is probed. `read_host` reads the host afresh
    (the certificate a run leaves); `verify_bridge(answers, restarted, units)` verifies a
    videobridge host's run (its account logs in to the main host). `keep_on_failure`: a
    failed verification keeps the run's changes instead of rolling them back."""

    def __init__(self, root: Root, *, simulate: bool, endpoints: Endpoints | None,
                 keep_on_failure: bool, read_host: Callable[[], HostFacts],
                 verify_bridge: Callable[[Answers, list, Runner], Report]):
        self.root = root
        self.simulate = simulate
        self._endpoints = endpoints
        self.keep_on_failure = keep_on_failure
        self.read_host = read_host
        self.verify_bridge = verify_bridge

    @property
    def endpoints(self) -> Endpoints:
        if self._endpoints is None:  # made when first needed: health is imported late
            from jitsiwizard.health import Endpoints

            self._endpoints = Endpoints()
        return self._endpoints

    def runners(self, redact: Redactor | None, log) -> tuple[Runner, Runner]:
        """(for prosodyctl, for systemctl): live on a real run; with --simulate, each only
        when its own endpoint was given (a test's Prosody configuration, a stand-in
        systemctl): the tree's own prosody.cfg.lua names the real /etc."""
        from jitsiwizard.apply.runner import Runner

        endpoints = self.endpoints
        checker = Runner(self.root,
                         simulate=self.simulate and endpoints.prosody_config is None,
                         redact=redact, log=log)
        units = Runner(self.root, simulate=self.simulate and endpoints.systemctl is None,
                       redact=redact, log=log)
        if endpoints.systemctl is not None:
            units.systemctl = tuple(endpoints.systemctl)
        return checker, units

    def phases(self, planned: Planned, redact: Redactor, log) -> Phases:
        """What the run checks before its first restart and verifies after its last step
        (the firewall guard is the session's to add)."""
        from jitsiwizard.apply.transaction import Phases
        from jitsiwizard.health import expectation_for_run, verify
        from jitsiwizard.health.configs import check_configs

        endpoints = self.endpoints
        checker, units = self.runners(redact, log)

        def configs(services: set) -> list:
            return check_configs(services, self.root, checker, endpoints)

        def after(restarted: list) -> Report:
            if planned.answers.is_bridge:
                return self.verify_bridge(planned.answers, restarted, units)
            expect = expectation_for_run(planned.answers, planned.plan)
            expect.units = list(restarted)
            expect.cert_file = self.read_host().cert_file
            return verify(expect, endpoints, self.root, units)

        return Phases(configs, after, self.keep_on_failure)

    def preview(self, plan: Plan, answers: Answers) -> None:
        """Put on the plan what the run will check before its first restart and verify
        after its last step, as phases() will do it, so the preview shows every phase."""
        from jitsiwizard.health import (
            describe_checks,
            describe_verification,
            expectation_for_run,
        )

        endpoints = self.endpoints
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

    def now(self) -> Report:
        """`jitsi-wizard verify`: the checks against the host as it is configured now."""
        from jitsiwizard.health import Finding, Report, expectation_for_host, verify

        facts = self.read_host()
        if not facts.jitsi_installed:
            report = Report([Finding("jitsi", False, "Jitsi Meet is not installed",
                                     "run `jitsi-wizard` to install it")])
        else:
            _, units = self.runners(None, None)
            report = verify(expectation_for_host(facts), self.endpoints, self.root,
                            units, settle=0)
        self.keep(report.to_dict())
        return report

    def keep(self, doc: dict) -> None:
        """Keep a verification's report as the last one (what `status` says)."""
        import json

        from jitsiwizard.apply.fsio import private_dir, write_private

        path = self.root.path(LAST_VERIFICATION)
        try:
            private_dir(path.parent)
            write_private(path, json.dumps(doc, indent=2).encode())
        except OSError:
            pass  # not root on a real host: the report was shown, it is only not kept

    def last(self) -> dict | None:
        from jitsiwizard.apply.fsio import read_json

        doc = read_json(self.root.path(LAST_VERIFICATION))
        return doc if isinstance(doc, dict) else None
