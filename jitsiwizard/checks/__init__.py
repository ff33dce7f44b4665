"""Preflight checks: DNS, ports and firewall, LDAP. Async, concurrent, each bounded in time.

Every check returns CheckResults (status ok / warn / fail, evidence, the fix to try). The
libraries that talk to servers (dnspython, ldap3) are imported inside the checks, so importing
this package stays cheap for the TUI.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from jitsiwizard.checks.result import FAIL, OK, WARN, CheckResult, worst
from jitsiwizard.errors import UserError

if TYPE_CHECKING:
    from jitsiwizard.answers.model import Answers
    from jitsiwizard.checks.ports import Port
    from jitsiwizard.rootfs import Root

__all__ = ["COTURN_PORTS", "FAIL", "JITSI_PORTS", "OK", "WARN", "CheckResult", "check_dns",
           "check_ldap", "check_local_ports", "run_checks", "worst"]

# Loaded on first use: the CLI imports this package to register its sub-commands, and the
# check modules (with their socket and parsing code) are not needed for that.
_LAZY = {"check_dns": "dnscheck", "parse_resolver": "dnscheck", "check_ldap": "ldapcheck",
         "check_local_ports": "ports", "COTURN_PORTS": "ports", "JITSI_PORTS": "ports",
         "Port": "ports"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"jitsiwizard.checks.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


async def guarded(prefix: str, job: Awaitable[list[CheckResult]], timeout: float,
                  grace: float) -> list[CheckResult]:
    """A check that overruns (its own `timeout`, plus `grace` to report) or breaks becomes a
    failed result; the others still report."""
    import asyncio

    try:
        return await asyncio.wait_for(job, timeout + grace)
    except UserError:
        raise  # the admin's input: the caller reports it like any other input error
    except asyncio.TimeoutError:
        return [CheckResult(f"{prefix}.timeout", FAIL,
                            f"the {prefix} checks did not finish within {timeout:g} s", [],
                            "run the check again; if it repeats, the server is not answering",
                            {"reason": "timeout"})]
    except Exception as exc:  # a bug must not hide the other checks' findings
        return [CheckResult(f"{prefix}.error", FAIL, f"the {prefix} check stopped with an "
                            f"error: {exc.__class__.__name__}: {exc}", [],
                            "report this; the other checks are still valid",
                            {"reason": "error"})]


async def run_checks(answers: Answers, *, resolver: str | None = None, timeout: float = 5.0,
                     host_addresses: list[str] | None = None, root: Root | None = None,
                     ports: list[Port] | None = None, authoritative_port: int = 53,
                     ldap_resolver: str | None = None,
                     grace: float = 1.0) -> list[CheckResult]:
    """Every check the answers call for, run concurrently: the whole takes about as long as
    the slowest single check, and each is bounded by `timeout`.

    `resolver` (ADDR[:PORT]) is used for the DNS checks; LDAP server names go through the
    system resolver (as Prosody's will) unless `ldap_resolver` is given.
    """
    import asyncio

    from jitsiwizard.checks.dnscheck import check_dns, parse_resolver
    from jitsiwizard.checks.ldapcheck import check_ldap
    from jitsiwizard.checks.ports import check_local_ports

    if resolver is not None:
        parse_resolver(resolver)  # a bad address is the admin's input error: raise it now
    jobs = [
        guarded("dns", check_dns(answers.host.hostname, resolver=resolver, timeout=timeout,
                                  host_addresses=host_addresses,
                                  public_address=answers.host.public_address,
                                  authoritative_port=authoritative_port), timeout, grace),
        guarded("ports", check_local_ports(ports=ports, ssh_port=answers.firewall.ssh_port,
                                            timeout=timeout, root=root,
                                            manage_firewall=answers.firewall.manage),
                timeout, grace),
    ]
    if answers.auth.policy == "ldap" and answers.auth.ldap is not None:
        jobs.append(guarded("ldap", check_ldap(answers.auth.ldap, timeout,
                                               resolver=ldap_resolver,
                                               host=answers.host.hostname), timeout, grace))
    found = await asyncio.gather(*jobs)
    return [result for results in found for result in results]
