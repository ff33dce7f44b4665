"""Extra videobridges, seen over the network. On a videobridge host: the main host's Prosody
certificate, fetched (STARTTLS on MAIN:5222) or read from the file the admin gives, and
accepted only when it is the one the answers pin; after a run, whether the bridge's account
still logs in there (verify_bridge). On the main host: the certificate its own Prosody
presents, which `bridge add` pins, and who is in the brewery MUC now (brewery_occupants, for
`bridge list`). A password goes only to a server that presents the expected certificate."""

from __future__ import annotations

import hashlib
import ssl
from typing import TYPE_CHECKING

from jitsiwizard.checks.bridge import reach_fix
from jitsiwizard.errors import UserError
from jitsiwizard.health.report import Finding, Report
from jitsiwizard.plan.videobridge import XMPP_PORT, MainCertificate

if TYPE_CHECKING:
    from jitsiwizard.answers.model import BridgeAnswers
    from jitsiwizard.health.report import Endpoints
    from jitsiwizard.rootfs import FileView

MAX_PEM_FILE = 64 * 1024


def main_endpoint(endpoints: Endpoints | None, bridge: BridgeAnswers) -> tuple[str, int]:
    """Where the main host's Prosody is reached from here: --xmpp, else main_address or
    main on 5222."""
    if endpoints is not None and endpoints.given and endpoints.c2s_host:
        return endpoints.c2s_host, endpoints.c2s_port
    return bridge.main_address or bridge.main, XMPP_PORT


def pem_fingerprint(pem: str) -> str:
    """The SHA-256 (hex) of a PEM certificate; "" when it is none."""
    try:
        der = ssl.PEM_cert_to_DER_cert(pem.strip() + "\n")
    except ValueError:
        return ""
    return hashlib.sha256(der).hexdigest()


def certificate_from_file(pem_file: str, pin: str) -> MainCertificate:
    """The certificate in `pem_file` (--main-certificate), refused unless it is the pinned
    one."""
    try:
        with open(pem_file, encoding="ascii") as fh:
            pem = fh.read(MAX_PEM_FILE)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--main-certificate {pem_file}: cannot read it ({exc})",
                        "give the main host's Prosody certificate as a PEM file",
                        field="--main-certificate") from None
    seen = pem_fingerprint(pem)
    if seen != pin:
        shown = seen or "(not a PEM certificate)"
        raise UserError(f"--main-certificate {pem_file} has SHA-256 {shown}, not the "
                        f"pinned {pin}", "give the certificate the main host's Prosody "
                        "presents for auth.MAIN", field="bridge.main_certificate_sha256")
    return MainCertificate(ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(pem)), seen)


def fetch_main_certificate(host: str, port: int, bridge: BridgeAnswers,
                           timeout: float) -> MainCertificate:
    """The certificate the main host's Prosody presents for auth.MAIN at host:port, refused
    unless it is the pinned one."""
    from jitsiwizard.checks.xmpp import PinMismatch, XmppError, fetch_certificate

    pin = bridge.main_certificate_sha256
    try:
        pem, seen = fetch_certificate(host, port, bridge.domain, timeout=timeout, pin=pin)
    except PinMismatch as exc:
        raise UserError(f"{host}:{port} presents a certificate for {bridge.domain} with "
                        f"SHA-256 {exc.seen}, not the pinned {pin}",
                        "if the main host's certificate changed, run `jitsi-wizard bridge add` "
                        "there again; otherwise something else answers on that address",
                        field="bridge.main_certificate_sha256") from None
    except XmppError as exc:
        raise UserError(f"cannot fetch the main host's certificate from {host}:{port}: {exc}",
                        reach_fix(exc, host, port, bridge.domain) + "; or copy the main "
                        f"host's /etc/prosody/certs/{bridge.domain}.crt here and start "
                        "jitsi-wizard again with --main-certificate FILE (the wizard and "
                        "--answers both take it)",
                        field="bridge.main") from None
    return MainCertificate(pem, seen)


def served_certificate(host: str, port: int, domain: str, timeout: float) -> tuple[str, str]:
    """(PEM, SHA-256) of the certificate this host's Prosody presents for `domain` at
    host:port (--xmpp), as `bridge add` pins it."""
    from jitsiwizard.checks.xmpp import XmppError, fetch_certificate

    try:
        return fetch_certificate(host, port, domain, timeout=timeout)
    except XmppError as exc:
        raise UserError(f"cannot read the certificate Prosody presents for {domain} on "
                        f"{host}:{port}: {exc}", "start Prosody (`systemctl start prosody`), "
                        "or give its client port with --xmpp ADDR:PORT",
                        field="--xmpp") from None


def own_certificate(files: FileView, domain: str) -> tuple[str, str, str]:
    """(PEM, SHA-256 of its first certificate or "", path) of the certificate file this
    host's Prosody serves for `domain`: the Jitsi packages' /etc/prosody/certs/DOMAIN.crt,
    which auth.HOST's ssl block names."""
    from jitsiwizard.health.probes import pem_sha256

    path = f"/etc/prosody/certs/{domain}.crt"
    pem = files.read_text(path) or ""
    return pem, pem_sha256(pem) or "", path


# --- after a run, and the brewery ----------------------------------------------------------

def verify_bridge(bridge: BridgeAnswers, host: str, port: int, timeout: float, *,
                  asked: bool = True) -> Report:
    """After the restart on a bridge host: its account still logs in to the main host at
    host:port over TLS with the pinned certificate (not `asked`: the run only recorded its
    commands). Whether the bridge sits in the brewery cannot be seen from here (Prosody
    shows a second session of an occupant's account nobody else): the main host's
    `jitsi-wizard bridge list` asks with an account of its own."""
    from jitsiwizard.checks.bridge import bridge_checks

    name = f"login {bridge.username}@{bridge.domain}"
    later = Finding(f"{bridge.username} in {bridge.brewery}", None,
                    "seen from the main host only: run `jitsi-wizard bridge list` there")
    if not asked:
        return Report([Finding(name, None, "not asked: this run only records its commands "
                                           "(--simulate)"), later])
    checks = bridge_checks(bridge, host, port, timeout)
    failed = [c for c in checks if not c.ok]
    shown = failed[0] if failed else checks[-1]
    return Report([Finding(name, not failed, "; ".join(shown.evidence), shown.fix), later])


def brewery_occupants(host: str, port: int, bridge: BridgeAnswers, timeout: float,
                      expected: str = "the pinned one") -> tuple[list[str] | None, str]:
    """Who is in the brewery now, asked with the account in `bridge` (which must not be a
    bridge's own: Prosody shows a second session of an occupant's account nobody else), over
    TLS with exactly the certificate bridge.main_certificate_sha256 (`expected` says which
    that is): (nicknames, "") or (None, why unknown). Without that certificate, or with
    another one, the password is not sent."""
    from jitsiwizard.checks.xmpp import PinMismatch, XmppError, probe

    pin = bridge.main_certificate_sha256
    if not pin:
        return None, "not asked: no certificate to check the server against"
    try:
        seen = probe(host, port, bridge.domain, ca=None, timeout=timeout, pin=pin,
                     username=bridge.username,
                     password=bridge.password.value if bridge.password else "",
                     room=bridge.brewery, list_room=True)
    except PinMismatch as exc:
        return None, (f"{host}:{port} presents a certificate with SHA-256 {exc.seen[:16]}... "
                      f"for {bridge.domain}, not {expected} ({pin[:16]}...): nothing was sent; "
                      "is Prosody the one listening there?")
    except XmppError as exc:
        return None, str(exc)
    if seen.login != "success":
        return None, f"the {bridge.username} account does not log in ({seen.login})"
    return seen.occupants, ""
