"""The live checks (DNS, ports and firewall, LDAP) and the outside probe, as both faces call
them (`session.checks`): each check bounded by its timeout plus CHECK_GRACE and never
raising."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from jitsiwizard.errors import UserError

if TYPE_CHECKING:
    from jitsiwizard.answers.model import Answers, LdapAnswers
    from jitsiwizard.checks.result import CheckResult
    from jitsiwizard.rootfs import Root

# Beyond a check's own timeout, the time its clean-up may take before it is cut off. The one
# bound for every check, whichever face runs it.
CHECK_GRACE = 1.0


class LiveChecks:
    """The checks against this host and the network, each bounded by `timeout` seconds.
    `resolver` (ADDR[:PORT]) answers the DNS and LDAP name lookups; None: the system's. In
    the demo (`demo`) the example host name is never looked up."""

    def __init__(self, root: Root, *, resolver: str | None = None, timeout: float = 5.0,
                 demo: bool = False):
        self.root = root
        self.resolver = resolver
        self.timeout = timeout
        self.demo = demo

    # -- the live checks -----------------------------------------------------------------

    def _bounded(self, name: str, job) -> list[CheckResult]:
        """Run one check's coroutine to its end in this thread (a screen's worker), within
        its timeout plus CHECK_GRACE, never raising."""
        import asyncio

        from jitsiwizard.checks import guarded

        try:
            return asyncio.run(guarded(name, job, self.timeout, CHECK_GRACE))
        except UserError as exc:
            from jitsiwizard.checks.result import FAIL, CheckResult

            return [CheckResult(name, FAIL, f"the check could not run: {exc.message}", [],
                                exc.hint, {"reason": "error"})]

    def dns(self, hostname: str, public_address: str = "") -> list[CheckResult]:
        if self.demo and self.resolver is None:
            from jitsiwizard.checks.result import WARN, CheckResult

            return [CheckResult(
                "dns.demo", WARN, f"demo: {hostname} is not looked up in DNS", [
                    "the demo host is an example: nothing is sent off this machine"],
                "on a real host this screen shows the A and AAAA records; add --resolver "
                "ADDR[:PORT] to the demo to try it against a DNS server", {"reason": "demo"})]
        from jitsiwizard.checks.dnscheck import check_dns

        return self._bounded("dns", check_dns(hostname, resolver=self.resolver,
                                              timeout=self.timeout,
                                              public_address=public_address))

    def ports(self, ssh_port: int, manage: bool,
                    bridge: bool = False) -> list[CheckResult]:
        from jitsiwizard.checks.ports import check_local_ports

        return self._bounded("ports", check_local_ports(
            ports=self.jitsi_ports(bridge), ssh_port=ssh_port, timeout=self.timeout,
            root=self.root, manage_firewall=manage))

    def ldap_as_seen_here(self, ldap: LdapAnswers) -> LdapAnswers:
        """The LDAP answers with the CA file read under the root, like every other path."""
        import copy

        ldap = copy.deepcopy(ldap)
        if ldap.ca_file.startswith("/"):
            ldap.ca_file = str(self.root.real(ldap.ca_file))  # links followed inside it
        return ldap

    def ldap(self, ldap: LdapAnswers, hostname: str) -> list[CheckResult]:
        from jitsiwizard.answers.files import pem_problem
        from jitsiwizard.checks.ldapcheck import check_ldap

        problem = pem_problem("auth.ldap.ca_file", ldap.ca_file, "certificate",
                              self.root) if ldap.ca_file else None
        if problem is not None:  # before TLS opens it: a FIFO there would block the check
            from jitsiwizard.checks.result import FAIL, CheckResult

            return [CheckResult("ldap", FAIL, f"the CA file: {problem.message}", [],
                                problem.hint, {"reason": "ca_file"})]

        return self._bounded("ldap", check_ldap(self.ldap_as_seen_here(ldap),
                                                self.timeout, resolver=self.resolver,
                                                host=hostname))

    def run_all(self, answers: Answers,
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
                                      timeout=self.timeout, root=self.root,
                                      host_addresses=host_addresses,
                                      ldap_resolver=self.resolver, grace=CHECK_GRACE))

    # -- the outside probe -----------------------------------------------------------------

    @staticmethod
    def jitsi_ports(bridge: bool = False) -> list:
        """The ports people reach this host on: a videobridge host only takes media."""
        from jitsiwizard.checks.ports import JITSI_PORTS

        return [p for p in JITSI_PORTS if p == (10000, "udp")] if bridge else list(JITSI_PORTS)

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
