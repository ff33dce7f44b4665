"""The checks as the screens call them: blocking calls meant for a thread worker, each bounded
by the check's own timeout plus a margin, never raising. The check modules (and dnspython,
ldap3) are imported on first use, so they cost nothing at start-up."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass

from jitsiwizard.model import LdapAnswers
from jitsiwizard.rootfs import Root

# Beyond the check's own timeout: the time its clean-up may take before we stop waiting.
MARGIN = 2.0


@dataclass
class CheckRunner:
    root: Root
    resolver: str | None = None  # ADDR[:PORT] for the DNS and LDAP name lookups
    timeout: float = 5.0

    def _run(self, name: str, make, limit: float):
        from jitsiwizard.checks.result import FAIL, CheckResult

        async def bounded():
            return await asyncio.wait_for(make(), limit)

        try:
            return asyncio.run(bounded())
        except asyncio.TimeoutError:
            return [CheckResult(name, FAIL, f"no result within {limit:g} s (timeout)", [],
                                "try again; if it keeps timing out, check the network path",
                                {"reason": "timeout"})]
        except Exception as exc:  # a check that breaks must not take the wizard with it
            message = getattr(exc, "message", "") or str(exc) or exc.__class__.__name__
            return [CheckResult(name, FAIL, f"the check could not run: {message}", [],
                                getattr(exc, "hint", ""), {"reason": "error"})]

    def dns(self, hostname: str, public_address: str = "") -> list:
        from jitsiwizard.checks.dnscheck import check_dns

        return self._run("dns", lambda: check_dns(
            hostname, resolver=self.resolver, timeout=self.timeout,
            public_address=public_address), self.timeout + MARGIN)

    def ports(self, ssh_port: int, manage: bool) -> list:
        from jitsiwizard.checks.ports import check_local_ports

        return self._run("ports", lambda: check_local_ports(
            ssh_port=ssh_port, timeout=self.timeout, root=self.root,
            manage_firewall=manage), self.timeout + MARGIN)

    def ldap(self, ldap: LdapAnswers) -> list:
        from jitsiwizard.checks.ldapcheck import check_ldap

        ldap = copy.deepcopy(ldap)
        # The live test talks to the directory; relative to the root like every other path.
        if ldap.ca_file.startswith("/"):
            ldap.ca_file = str(self.root.path(ldap.ca_file))
        return self._run("ldap", lambda: check_ldap(ldap, self.timeout,
                                                    resolver=self.resolver),
                         self.timeout + MARGIN)

    def own_certificate(self, answers, facts) -> list:
        """The problems of the answers' own certificate files (read under the host's root)."""
        from jitsiwizard.certs.files import own_cert_problems
        from jitsiwizard.errors import Problem, UserError

        try:
            return own_cert_problems(answers, facts, self.root)
        except UserError as exc:
            return [Problem(exc.field or "cert", exc.message, exc.hint)]


class DemoCheckRunner(CheckRunner):
    """`--demo` without `--resolver`: the example host name is not looked up, so the demo
    sends nothing off this machine. Everything else runs as on a real host."""

    def dns(self, hostname: str, public_address: str = "") -> list:
        from jitsiwizard.checks.result import WARN, CheckResult

        return [CheckResult(
            "dns.demo", WARN, f"demo: {hostname} is not looked up in DNS", [
                "the demo host is an example: nothing is sent off this machine"],
            "on a real host this screen shows the A and AAAA records; add --resolver "
            "ADDR[:PORT] to the demo to try it against a DNS server", {"reason": "demo"})]
