"""A videobridge host's preflight, before its plan: the main host resolves, its XMPP port
answers with STARTTLS and the pinned certificate, and the bridge's account logs in there.
Each finding is a CheckResult, shown like every other check (the bridge's screen, the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jitsiwizard.checks.result import FAIL, OK, CheckResult

if TYPE_CHECKING:
    from jitsiwizard.answers.model import BridgeAnswers


def bridge_checks(bridge: BridgeAnswers, host: str, port: int,
                  timeout: float) -> list[CheckResult]:
    """The checks in order, up to the first that fails (what follows it cannot be known):
    the main host reached at host:port resolves, answers with TLS and the pinned
    certificate, and lets bridge.username log in. The password goes to no other server."""
    from jitsiwizard.checks.deadline import Deadline
    from jitsiwizard.checks.xmpp import PinMismatch, XmppError, probe

    resolves = "main host resolves"
    try:
        addresses = sorted({info[4][0] for info in Deadline(timeout).resolve(host, port)})
    except OSError as exc:
        return [CheckResult("bridge.resolve", FAIL, resolves, [f"{host}: {exc}"],
                            f"give bridge.main_address = \"ADDR\" (the main host's address), "
                            f"or make {host} resolve on this host")]
    checks = [CheckResult("bridge.resolve", OK, resolves, [f"{host} is {', '.join(addresses)}"])]
    tls = f"TLS on {host}:{port}"
    try:
        seen = probe(host, port, bridge.domain, ca=None, timeout=timeout,
                     pin=bridge.main_certificate_sha256, username=bridge.username,
                     password=bridge.password.value if bridge.password else "")
    except PinMismatch as exc:
        return checks + [CheckResult("bridge.tls", FAIL, tls, [str(exc)],
                                     "run `jitsi-wizard bridge add` on the main host again if "
                                     "its certificate changed; else this is not the main host")]
    except XmppError as exc:
        return checks + [CheckResult("bridge.tls", FAIL, tls, [str(exc)],
                                     reach_fix(exc, host, port, bridge.domain))]
    checks.append(CheckResult("bridge.tls", OK, tls, ["STARTTLS with the pinned certificate "
                                                      f"{seen.certificate_sha256[:16]}..."]))
    ok = seen.login == "success"
    checks.append(CheckResult(
        "bridge.login", OK if ok else FAIL, f"login {bridge.username}@{bridge.domain}",
        ["accepted" if ok else f"refused: {seen.login} {seen.text}".strip()],
        "the account may have been removed on the main host: run `jitsi-wizard bridge add` "
        "there again and use the new answers file"))
    return checks


def reach_fix(exc: Exception, host: str, port: int, domain: str) -> str:
    """The fix for an XMPP exchange that failed, after what was seen: no connection (the
    firewall or the service), an XMPP server without `domain`, or a port that answered but
    not as Prosody does (something else listens there)."""
    from jitsiwizard.checks.xmpp import StreamError, Unreachable

    if isinstance(exc, Unreachable) and exc.refused:
        return (f"nothing accepts connections on {host}:{port}: Prosody must run on the main "
                f"host and listen there (`systemctl status prosody` on {host}); a firewall "
                "that rejects rather than drops says the same, so check "
                "`jitsi-wizard bridge add NAME --address THIS-HOST` opened the port")
    if isinstance(exc, Unreachable):
        return (f"the main host's firewall must let this host reach {port}/tcp (`jitsi-wizard "
                "bridge add NAME --address THIS-HOST` opens it), and Prosody must run there")
    if isinstance(exc, StreamError):
        return (f"the XMPP server on {host}:{port} does not serve {domain}: is bridge.main the "
                "main host's name?")
    said = "answered" if getattr(exc, "answered", False) else "accepted the connection"
    return (f"{host}:{port} {said} but not as the main host's Prosody does: something else "
            "listens on that port, or bridge.main_address (--xmpp) names the wrong host")
