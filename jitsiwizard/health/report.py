"""After the restarts: does Jitsi work as the answers say? Each check gives a Finding with
the evidence in words an admin can act on.

The endpoints are parameters (tests point them at real Prosody, slapd and nginx on loopback
and at stand-ins for jicofo and the bridge); the defaults are a real host's.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jitsiwizard.apply.runner import Runner
    from jitsiwizard.rootfs import Root

# How long the restarted services get to come back before a check counts as failed.
SETTLE_TIMEOUT = 30.0


@dataclass
class Endpoints:
    c2s_host: str = "127.0.0.1"
    c2s_port: int = 5222
    xmpp_ca: str | None = None  # None: Prosody's own certificate for the host, else system CAs
    jicofo_url: str = "http://127.0.0.1:8888"
    bridge_url: str = "http://127.0.0.1:8080"
    https_host: str = "127.0.0.1"
    https_port: int = 443
    prosody_config: str | None = None  # None: /etc/prosody/prosody.cfg.lua under the root
    prosodyctl: tuple[str, ...] = ("prosodyctl",)
    systemctl: tuple[str, ...] | None = None  # None: the run's own (recorded with --simulate)
    timeout: float = 5.0  # each probe
    settle: float = SETTLE_TIMEOUT  # all of them, retried until they pass
    given: bool = False  # set explicitly (tests, odd ports): probed even with --simulate


@dataclass
class Login:
    user: str
    password: str = field(repr=False)
    expect: bool  # True: must log in; False: must be refused
    why: str


@dataclass
class Expectation:
    """What the host should show once the run's services are back."""

    hostname: str
    policy: str
    guests: bool
    units: list[str] = field(default_factory=list)
    restarted: bool = True  # the units were just restarted by a run (not: a later check)
    logins: list[Login] = field(default_factory=list)
    skipped_logins: str = ""  # why no login is tried
    cert_file: str | None = None  # the certificate nginx should serve (path on the host)


@dataclass
class Finding:
    name: str
    ok: bool | None  # None: not checked (the evidence says why)
    evidence: str
    fix: str = ""

    def render(self) -> str:
        word = {True: "ok", False: "FAILED", None: "skipped"}[self.ok]
        text = f"{word:>7}  {self.name}: {self.evidence}"
        return text + (f"\n         fix: {self.fix}" if self.fix and self.ok is False else "")


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    when: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"))

    @property
    def ok(self) -> bool:
        return all(f.ok is not False for f in self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.ok is False]

    def summary(self) -> str:
        failed = self.failures
        if failed:
            return "; ".join(f"{f.name}: {f.evidence}" for f in failed)
        checked = sum(f.ok is True for f in self.findings)
        skipped = sum(f.ok is None for f in self.findings)
        return f"{checked} check(s) passed" + (f", {skipped} skipped" if skipped else "")

    def render(self) -> str:
        return "\n".join(f.render() for f in self.findings)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "when": self.when,
                "findings": [asdict(f) for f in self.findings]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


# The main host's SASL mechanisms after STARTTLS, per policy: (needed, refused). Every release
# the wizard supports offers these (internal_hashed: SCRAM-SHA-1 and PLAIN, with
# SCRAM-SHA-1-PLUS where TLS channel binding works, and OAUTHBEARER from Prosody 13 on;
# mod_auth_ldap binds as the user, so PLAIN only). SCRAM on an LDAP host means Prosody still
# runs its internal store; ANONYMOUS on a secured one means anyone may start a meeting.
SASL_EXPECTED = {
    "open": (("ANONYMOUS",), ()),
    "local": (("SCRAM-SHA-1", "PLAIN"), ("ANONYMOUS",)),
    "ldap": (("PLAIN",), ("ANONYMOUS", "SCRAM-SHA-1")),
}


def _units(expect: Expectation, runner: Runner) -> list[Finding]:
    found = []
    if runner.simulate:
        if expect.units:
            found.append(Finding("units", None, f"{', '.join(expect.units)} not checked: "
                                 "commands are only recorded (--simulate)"))
        return found
    for name in expect.units:
        state = runner.service_state(name)
        if state.get("active"):
            found.append(Finding(f"unit {name}", True, "active"))
        else:
            said = "not active after the restart" if expect.restarted else "not active"
            found.append(Finding(f"unit {name}", False, said,
                                 f"`journalctl -u {name} -n 50` shows why"))
    return found


def _xmpp_ca(expect: Expectation, endpoints: Endpoints, root: Root) -> str | None:
    if endpoints.xmpp_ca:
        return endpoints.xmpp_ca
    own = f"/etc/prosody/certs/{expect.hostname}.crt"
    return str(root.path(own)) if root.exists(own) else None


def _xmpp(expect: Expectation, endpoints: Endpoints, root: Root) -> list[Finding]:
    from jitsiwizard.checks.xmpp import StreamError, XmppError, probe

    where = f"{endpoints.c2s_host}:{endpoints.c2s_port}"
    ca = _xmpp_ca(expect, endpoints, root)
    kw = {"ca": ca, "timeout": endpoints.timeout}
    found: list[Finding] = []
    host = expect.hostname
    try:
        main = probe(endpoints.c2s_host, endpoints.c2s_port, host, **kw)
    except XmppError as exc:
        return [Finding("prosody c2s", False, f"{host} on {where}: {exc}",
                        "`journalctl -u prosody -n 50` and /var/log/prosody/prosody.log")]
    found.append(Finding("prosody c2s", True, f"{host} on {where} accepts clients with TLS"))
    offered = ", ".join(main.mechanisms) or "none"
    needed, refused = SASL_EXPECTED[expect.policy]
    ok = set(needed) <= set(main.mechanisms) and not set(refused) & set(main.mechanisms)
    want = " and ".join(needed) + (f", and not {' or '.join(refused)}" if refused else "")
    found.append(Finding(f"{host} SASL", ok, f"offers {offered}; the {expect.policy} policy "
                         f"needs {want}",
                         "" if ok else "Prosody did not load the new authentication line: "
                         "check /var/log/prosody/prosody.log for a module that failed"))
    guest = f"guest.{host}"
    try:
        seen = probe(endpoints.c2s_host, endpoints.c2s_port, guest, **kw)
        exists, said = True, f"exists and offers {', '.join(seen.mechanisms) or 'nothing'}"
        anonymous = "ANONYMOUS" in seen.mechanisms
    except StreamError as exc:
        exists, said, anonymous = False, f"does not exist ({exc.condition})", False
    except XmppError as exc:
        exists, said, anonymous = None, str(exc), False
    if expect.guests:
        ok = bool(exists and anonymous)
        found.append(Finding(f"{guest}", ok, f"{said}; guests need ANONYMOUS"))
    else:
        ok = exists is False
        found.append(Finding(f"{guest}", ok, f"{said}; with guests off it must not exist"))
    for login in expect.logins:
        found.append(_login(endpoints, host, login, kw))
    if not expect.logins and expect.skipped_logins:
        found.append(Finding("login", None, expect.skipped_logins))
    return found


def _login(endpoints: Endpoints, host: str, login: Login, kw: dict) -> Finding:
    from jitsiwizard.checks.xmpp import XmppError, probe

    name = f"login {login.user}@{host}"
    try:
        seen = probe(endpoints.c2s_host, endpoints.c2s_port, host, username=login.user,
                     password=login.password, **kw)
    except XmppError as exc:
        return Finding(name, False, f"{login.why}: {exc}")
    said = seen.login + (f" ({seen.text})" if seen.text else "")
    if login.expect:
        ok = seen.login == "success"
        fix = ("" if ok else "for LDAP: can the prosody user reach the directory with the CA "
               "it is given? /var/log/prosody/prosody.log says; for local users: "
               "`prosodyctl passwd`")
        return Finding(name, ok, f"{login.why}: {said}", fix)
    ok = seen.login == "not-authorized"
    return Finding(name, ok, f"{login.why}: {said}",
                   "" if ok else "the LDAP setup does not escape user names: do not use "
                   "this host until it is fixed")


def _health(name: str, url: str, timeout: float) -> Finding:
    from jitsiwizard.health.probes import ProbeError, http_get

    try:
        answer = http_get(url, timeout)
    except ProbeError as exc:
        return Finding(name, False, str(exc), "is the service running? `systemctl status "
                       + ("jicofo`" if "jicofo" in name else "jitsi-videobridge2`"))
    if answer.status == 200:
        return Finding(name, True, f"{url}: healthy (HTTP 200)")
    body = " ".join(answer.body.split())[:200]
    return Finding(name, False, f"{url}: HTTP {answer.status} {body}".rstrip(),
                   "its log under /var/log/jitsi/ says why")


def _certificate(expect: Expectation, endpoints: Endpoints, root: Root) -> Finding:
    from jitsiwizard.checks.certs import format_utc, read_first_cert
    from jitsiwizard.health.probes import ProbeError, colons, pem_sha256, served_certificate

    where = f"{endpoints.https_host}:{endpoints.https_port}"
    name = "certificate served"
    if not expect.cert_file:
        return Finding(name, None, "no nginx site names a certificate")
    wanted_text = root.read_text(expect.cert_file) or ""
    wanted = pem_sha256(wanted_text)
    if wanted is None:
        return Finding(name, False, f"{expect.cert_file} holds no readable certificate")
    try:
        served = served_certificate(endpoints.https_host, endpoints.https_port,
                                    expect.hostname, endpoints.timeout)
    except ProbeError as exc:
        return Finding(name, False, str(exc), "`nginx -t` and `systemctl status nginx`")
    info = read_first_cert(served.pem)
    if served.sha256 != wanted:
        what = f" ({info.subject})" if info else ""
        return Finding(name, False, f"nginx on {where} serves {colons(served.sha256)[:23]}..."
                       f"{what} for {expect.hostname}, not {expect.cert_file} "
                       f"({colons(wanted)[:23]}...)",
                       "is another server block or an old nginx process answering? "
                       "`systemctl reload nginx`")
    if info is not None and info.not_after <= datetime.now(timezone.utc):
        return Finding(name, False, f"nginx serves {expect.cert_file}, which expired on "
                       f"{format_utc(info.not_after)}", "renew it: `certbot renew`")
    until = f", valid until {format_utc(info.not_after)}" if info else ""
    return Finding(name, True, f"nginx on {where} serves {expect.cert_file} for "
                   f"{expect.hostname} (SHA-256 {colons(wanted)[:23]}...{until})")


def run_once(expect: Expectation, endpoints: Endpoints, root: Root,
             runner: Runner) -> Report:
    report = Report(_units(expect, runner))
    live = endpoints.given or not runner.simulate
    if not live:
        report.findings.append(Finding(
            "services", None, "not probed: this run only recorded its commands (--simulate), "
            "so nothing was restarted; give the endpoints to probe test servers"))
        return report
    report.findings += _xmpp(expect, endpoints, root)
    report.findings.append(_health("jicofo health", f"{endpoints.jicofo_url}/about/health",
                                   endpoints.timeout))
    report.findings.append(_health("bridge health", f"{endpoints.bridge_url}/about/health",
                                   endpoints.timeout))
    report.findings.append(_certificate(expect, endpoints, root))
    return report


def verify(expect: Expectation, endpoints: Endpoints, root: Root, runner: Runner,
           *, settle: float | None = None) -> Report:
    """Every check; while one fails and the bound `settle` has not passed, all are tried
    again (services take a while to come back after a restart)."""
    deadline = time.monotonic() + (endpoints.settle if settle is None else settle)
    while True:
        report = run_once(expect, endpoints, root, runner)
        if report.ok or time.monotonic() >= deadline:
            return report
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
