"""Proving that Jitsi works: the new configuration checked before any restart (configs),
the running services checked after them (report), meetings in progress asked before a run
that would drop them (probes.meetings).

Part of the imperative shell: it runs commands and opens connections. The session builds
what to expect from the answers and the plan (expectation_for_run) or from the host as it
is (expectation_for_host, for `jitsi-wizard verify`).

    probes     bounded HTTP GETs, jicofo's meeting counts, the certificate served for a name
    report     Endpoints, Expectation, Finding, Report; verify()
    configs    prosodyctl check config, a HOCON parse of jicofo.conf and jvb.conf
    bridge     the main host's pinned certificate; a videobridge seen from the main host

The XMPP client and the one deadline for every exchange are in checks/ (xmpp, deadline):
the checks before the plan use them too.
"""

from __future__ import annotations

import secrets as _random
from typing import TYPE_CHECKING

from jitsiwizard.health.report import Endpoints, Expectation, Finding, Login, Report, verify
from jitsiwizard.host import prosody_auth

if TYPE_CHECKING:
    from jitsiwizard.answers.model import Answers
    from jitsiwizard.host.facts import HostFacts
    from jitsiwizard.plan.steps import Plan

__all__ = ["Endpoints", "Expectation", "Finding", "Login", "Report", "describe_checks",
           "describe_verification", "expectation_for_host", "expectation_for_run", "verify"]

# Restarting these drops every meeting in progress.
DISRUPTIVE = ("prosody", "jicofo", "jitsi-videobridge2")


def _ldap_logins(answers: Answers) -> tuple[list[Login], str]:
    ldap = answers.auth.ldap
    logins: list[Login] = []
    password = _random.token_urlsafe(12)
    why = "no LDAP test user in the answers (auth.ldap.test_user)"
    if ldap is not None and ldap.test_user and ldap.test_password is not None:
        password = ldap.test_password.value
        logins.append(Login(ldap.test_user, password, True,
                            "the LDAP test user (auth.ldap.test_user)"))
        why = ""
    # An LDAP module that does not escape user names lets `*` in with a real password.
    logins.append(Login("*", password, False, "the user name `*` must be refused"))
    return logins, why


def _local_logins(answers: Answers, plan: Plan) -> tuple[list[Login], str]:
    touched = {prosody_auth.registered_name([str(a) for a in getattr(step, "argv", [])])
               for step in plan.steps} - {None}
    for user in answers.auth.users:
        if user.name in touched and user.password is not None and not user.remove:
            return [Login(user.name, user.password.value, True,
                          "a user this run created or changed")], ""
    return [], ("no login tried: this run created or changed no local user, so no "
                "password is known")


def expectation_for_run(answers: Answers, plan: Plan) -> Expectation:
    """What the host should show after applying `plan` for `answers` (the cert file and the
    units are filled in by the session once the run is done)."""
    policy = answers.auth.policy
    expect = Expectation(answers.host.hostname, policy,
                         bool(answers.auth.guests and policy != "open"))
    if policy == "ldap":
        expect.logins, expect.skipped_logins = _ldap_logins(answers)
    elif policy == "local":
        expect.logins, expect.skipped_logins = _local_logins(answers, plan)
    return expect


def expectation_for_host(facts: HostFacts) -> Expectation:
    """What the host should show as it is configured now (no password is known)."""
    policy = facts.policy or "open"
    expect = Expectation(facts.hostname or "", policy, bool(facts.guests),
                         units=["prosody", "jicofo", "jitsi-videobridge2", "nginx"],
                         restarted=False, cert_file=facts.cert_file)
    if policy == "ldap":
        expect.logins = [Login("*", _random.token_urlsafe(12), False,
                               "the user name `*` must be refused")]
    elif policy == "local":
        expect.skipped_logins = "no login tried: no password is known outside a run"
    return expect


# --- the preview: what a run will check, in the words of the checks themselves ---------------

def describe_checks(services: set[str], endpoints: Endpoints, simulate: bool) -> list[str]:
    """What check_configs will run before the first restart of `services`."""
    from jitsiwizard.paths import JICOFO_CONF, JVB_CONF, PROSODY_CFG

    lines = []
    if "prosody" in services:
        config = endpoints.prosody_config or PROSODY_CFG
        lines.append(f"`{' '.join(endpoints.prosodyctl)} --config {config} check config` "
                     "accepts the new Prosody files"
                     + (" (not run: --simulate)" if simulate and not endpoints.prosody_config
                        else ""))
    for service, path in (("jicofo", JICOFO_CONF), ("jitsi-videobridge2", JVB_CONF)):
        if service in services:
            lines.append(f"{path} parses as HOCON, as {service} reads it")
    return lines


def describe_verification(expect: Expectation, endpoints: Endpoints, simulate: bool
                          ) -> list[str]:
    """What verify() will try after the last step, for `expect`."""
    from jitsiwizard.health.report import SASL_EXPECTED

    live = endpoints.given or not simulate
    lines = []
    if expect.units:
        lines.append(f"units {', '.join(expect.units)} are active"
                     + (" (not checked: --simulate)" if simulate else ""))
    if not live:
        return lines + ["the services are not probed: this run only records its commands "
                        "(--simulate)"]
    needed, refused = SASL_EXPECTED[expect.policy]
    where = f"{endpoints.c2s_host}:{endpoints.c2s_port}"
    lines.append(f"XMPP on {where}: {expect.hostname} offers STARTTLS with a certificate it "
                 f"proves, and SASL {' and '.join(needed)}"
                 + (f", not {' or '.join(refused)}" if refused else ""))
    lines.append(f"guest.{expect.hostname} " + ("accepts anonymous guests" if expect.guests
                                                else "does not exist"))
    for login in expect.logins:
        lines.append(f"login as {login.user}@{expect.hostname} "
                     + ("succeeds" if login.expect else "is refused") + f" ({login.why})")
    if not expect.logins and expect.skipped_logins:
        lines.append(expect.skipped_logins)
    lines.append(f"jicofo answers {endpoints.jicofo_url}/about/health")
    lines.append(f"the videobridge answers {endpoints.bridge_url}/about/health")
    lines.append(f"https on {endpoints.https_host}:{endpoints.https_port} serves a "
                 f"certificate for {expect.hostname}"
                 + (f" ({expect.cert_file})" if expect.cert_file else ""))
    return lines
