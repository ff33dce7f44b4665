"""Extra videobridges, for the session: on a bridge host, the main host's certificate
(fetched and checked against the pin) and the preflight checks; on the main host,
`bridge add`, `bridge list` and `bridge remove`, each applied as a journaled run.

Part of the imperative shell, beside session.py (which delegates here to stay small).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import socket
import ssl
from dataclasses import dataclass
from shlex import quote
from typing import TYPE_CHECKING, Callable, Protocol

from jitsiwizard.answers.spec import CHECKER_ACCOUNT, RESERVED_BRIDGE_USERS
from jitsiwizard.answers.validate import control_character
from jitsiwizard.errors import UserError
from jitsiwizard.host.prosody_auth import password_stdin, register_argv, unregister_argv
from jitsiwizard.paths import (
    BRIDGE_TRUST_PEM,
    BRIDGES_DIR,
    BRIDGES_FILE,
    PROSODY_DATA,
    SAVED_ANSWERS,
)

if TYPE_CHECKING:
    from jitsiwizard.answers.model import Answers, BridgeAnswers
    from jitsiwizard.health import Endpoints
    from jitsiwizard.host.facts import HostFacts
    from jitsiwizard.rootfs import Root


class Session(Protocol):
    """What this module uses of jitsiwizard.workflow.session.Session (which calls it)."""

    root: Root
    simulate: bool
    check_timeout: float
    endpoints: Endpoints | None

    def read_host(self) -> HostFacts: ...

    def the_endpoints(self) -> Endpoints: ...

    def command(self, words: str) -> str: ...

XMPP_PORT = 5222
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # always fullmatch: `$` allows a final "\n"


# --- on the bridge host ----------------------------------------------------------------------

def main_endpoint(session: Session, bridge: BridgeAnswers) -> tuple[str, int]:
    """Where the main host's Prosody is reached from here: --xmpp, else main_address or
    main on 5222."""
    ends = session.endpoints
    if ends is not None and ends.given and ends.c2s_host:
        return ends.c2s_host, ends.c2s_port
    return bridge.main_address or bridge.main, XMPP_PORT


def pem_fingerprint(pem: str) -> str:
    try:
        der = ssl.PEM_cert_to_DER_cert(pem.strip() + "\n")
    except ValueError:
        return ""
    return hashlib.sha256(der).hexdigest()


def attach_main_certificate(session: Session, answers: Answers,
                            pem_file: str | None = None) -> None:
    """Give the plan the main host's certificate, after checking it against the pin: from
    `pem_file` when given (--main-certificate), else fetched from the main host."""
    from jitsiwizard.health.xmpp import PinMismatch, XmppError, fetch_certificate

    bridge = answers.bridge
    pin = bridge.main_certificate_sha256
    if pem_file:
        try:
            with open(pem_file, encoding="ascii") as fh:
                pem = fh.read(64 * 1024)
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
        bridge.main_certificate_pem = ssl.DER_cert_to_PEM_cert(ssl.PEM_cert_to_DER_cert(pem))
        return
    host, port = main_endpoint(session, bridge)
    try:
        pem, _ = fetch_certificate(host, port, bridge.domain, timeout=session.check_timeout,
                                   pin=pin)
    except PinMismatch as exc:
        raise UserError(f"{host}:{port} presents a certificate for {bridge.domain} with "
                        f"SHA-256 {exc.seen}, not the pinned {pin}",
                        "if the main host's certificate changed, run `jitsi-wizard bridge add` "
                        "there again; otherwise something else answers on that address",
                        field="bridge.main_certificate_sha256") from None
    except XmppError as exc:
        raise UserError(f"cannot fetch the main host's certificate from {host}:{port}: {exc}",
                        reach_fix(exc, host, port, bridge.domain) + ", or give the "
                        "certificate with --main-certificate FILE",
                        field="bridge.main") from None
    bridge.main_certificate_pem = pem


def reach_fix(exc: Exception, host: str, port: int, domain: str) -> str:
    """The fix for an XMPP exchange that failed, after what was seen: no connection (the
    firewall or the service), an XMPP server without `domain`, or a port that answered but
    not as Prosody does (something else listens there)."""
    from jitsiwizard.health.xmpp import StreamError, Unreachable

    if isinstance(exc, Unreachable):
        return (f"the main host's firewall must let this host reach {port}/tcp (`jitsi-wizard "
                "bridge add NAME --address THIS-HOST` opens it), and Prosody must run there")
    if isinstance(exc, StreamError):
        return (f"the XMPP server on {host}:{port} does not serve {domain}: is bridge.main the "
                "main host's name?")
    said = "answered" if getattr(exc, "answered", False) else "accepted the connection"
    return (f"{host}:{port} {said} but not as the main host's Prosody does: something else "
            "listens on that port, or bridge.main_address (--xmpp) names the wrong host")


@dataclass
class Check:
    name: str
    ok: bool
    evidence: str
    fix: str = ""

    def render(self) -> str:
        text = f"{'ok' if self.ok else 'FAILED':>7}  {self.name}: {self.evidence}"
        return text + (f"\n         fix: {self.fix}" if self.fix and not self.ok else "")


def preflight(session: Session, answers: Answers) -> list[Check]:
    """Before planning a bridge host: the main host resolves, its 5222/tcp answers with TLS
    and the pinned certificate, and the bridge's account logs in."""
    from jitsiwizard.health.deadline import Deadline
    from jitsiwizard.health.xmpp import PinMismatch, XmppError, probe

    bridge = answers.bridge
    host, port = main_endpoint(session, bridge)
    checks: list[Check] = []
    try:
        addresses = sorted({info[4][0] for info in Deadline(session.check_timeout).resolve(
            host, port)})
    except OSError as exc:
        checks.append(Check("main host resolves", False, f"{host}: {exc}",
                            f"give bridge.main_address = \"ADDR\" (the main host's address), "
                            f"or make {host} resolve on this host"))
        return checks
    checks.append(Check("main host resolves", True, f"{host} is {', '.join(addresses)}"))
    try:
        seen = probe(host, port, bridge.domain, ca=None, timeout=session.check_timeout,
                     pin=bridge.main_certificate_sha256, username=bridge.username,
                     password=bridge.password.value if bridge.password else "")
    except PinMismatch as exc:
        checks.append(Check(f"TLS on {host}:{port}", False, str(exc),
                            "run `jitsi-wizard bridge add` on the main host again if its "
                            "certificate changed; else this is not the main host"))
        return checks
    except XmppError as exc:
        checks.append(Check(f"TLS on {host}:{port}", False, str(exc),
                            reach_fix(exc, host, port, bridge.domain)))
        return checks
    checks.append(Check(f"TLS on {host}:{port}", True,
                        f"STARTTLS with the pinned certificate {seen.certificate_sha256[:16]}..."))
    ok = seen.login == "success"
    checks.append(Check(f"login {bridge.username}@{bridge.domain}", ok,
                        "accepted" if ok else f"refused: {seen.login} {seen.text}".strip(),
                        "the account may have been removed on the main host: run "
                        "`jitsi-wizard bridge add` there again and use the new answers file"))
    return checks


def in_brewery(host: str, port: int, bridge: BridgeAnswers, nick: str,
               timeout: float) -> tuple[bool | None, str]:
    """Whether an occupant `nick` is in the brewery now (see brewery_occupants): (answer or
    None when unknown, evidence)."""
    occupants, why = brewery_occupants(host, port, bridge, timeout)
    if occupants is None:
        return None, why
    there = nick in occupants
    return there, ("in " if there else "not in ") + bridge.brewery


def brewery_occupants(host: str, port: int, bridge: BridgeAnswers, timeout: float,
                      expected: str = "the pinned one") -> tuple[list[str] | None, str]:
    """Who is in the brewery now, asked with the account in `bridge` (which must not be a
    bridge's own: Prosody shows a second session of an occupant's account nobody else), over
    TLS with exactly the certificate bridge.main_certificate_sha256 (`expected` says which
    that is): (nicknames, "") or (None, why unknown). Without that certificate, or with
    another one, the password is not sent."""
    from jitsiwizard.health.xmpp import PinMismatch, XmppError, probe

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


# --- on the main host --------------------------------------------------------------------------

def read_registry(root) -> list[dict]:
    from jitsiwizard.apply.fsio import read_json

    doc = read_json(root.path(BRIDGES_FILE))
    entries = doc.get("bridges") if isinstance(doc, dict) else None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def registry_text(entries: list[dict]) -> str:
    return json.dumps({"bridges": entries}, indent=2, sort_keys=True) + "\n"


def wizard_manages_firewall(root) -> bool:
    """Whether the last run's answers say the wizard manages the firewall."""
    from jitsiwizard.answers.load import tomllib  # tomllib, or tomli before Python 3.11

    text = root.read_text(SAVED_ANSWERS)
    try:
        data = tomllib.loads(text or "")
    except tomllib.TOMLDecodeError:
        return False
    firewall = data.get("firewall")
    return isinstance(firewall, dict) and firewall.get("manage") is True


CHECKER = CHECKER_ACCOUNT  # the main host's account that looks into the brewery
CHECKER_SECRET = f"{BRIDGES_DIR}/{CHECKER}.secret"


def bridge_paths(name: str) -> tuple[str, str]:
    """(answers file, secret file) kept for the new host, both 0600."""
    return (f"{BRIDGES_DIR}/{name}/bridge-{name}.toml",
            f"{BRIDGES_DIR}/{name}/bridge-{name}.secret")


def account_dir(main: str) -> str:
    from jitsiwizard.host.facts import prosody_data_dir

    return f"{PROSODY_DATA}/{prosody_data_dir(f'auth.{main}')}"


def ufw_rule(address: str) -> list[str]:
    """The ufw rule words for `address` as check_address wrote it; ufw takes no %zone, so a
    link-local address's zone becomes the interface the rule holds for."""
    base, _, zone = address.partition("%")
    on = ["in", "on", zone] if zone else []
    return [*on, "from", base, "to", "any", "port", str(XMPP_PORT), "proto", "tcp"]


def _shown(value: str) -> str:
    text = repr(value)  # escapes line breaks and control characters
    return text if len(text) <= 60 else text[:55] + "...'"


def check_name(name: str) -> None:
    fix = ("use lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, "
           "at most 64 (it becomes an account of auth.HOST), e.g. bridge2")
    if not name:
        raise UserError("the bridge name is empty", fix, field="NAME")
    if len(name) > 64:
        raise UserError(f"bridge name {_shown(name)} is {len(name)} characters long", fix,
                        field="NAME")
    if name.lower() in RESERVED_BRIDGE_USERS:
        raise UserError(f"{_shown(name)} is an account of the main host's own services "
                        f"(reserved: {', '.join(RESERVED_BRIDGE_USERS)})",
                        "choose another name, e.g. bridge2", field="NAME")
    if not NAME.fullmatch(name):
        why = control_character(name) or "is not valid"
        raise UserError(f"bridge name {_shown(name)} {why}", fix, field="NAME")


def interface_names() -> set[str]:
    """This system's network interfaces, which a %zone must name: the running host's even
    under --root (the bridge is reached from here). Tests replace it."""
    try:
        return {name for _, name in socket.if_nameindex()}
    except OSError:
        return set()


# What Linux takes as an interface name (dev_valid_name): for a zone read back from the
# registry, whose interface may be gone by the time the bridge is removed.
_IFNAME = re.compile(r"(?!\.\.?\Z)[^/:\s%]{1,15}")


def check_address(address: str, field: str = "--address",
                  zone_ok: Callable[[str], bool] | None = None) -> str:
    """The bridge host's address as rules and commands take it (validate.check_host_address),
    a %zone naming an interface of this host (`zone_ok`, by default interface_names())."""
    from jitsiwizard.answers.validate import check_host_address

    known = zone_ok or (lambda zone: zone in interface_names())
    normal, err = check_host_address(address, zone_ok=known)
    if err:
        fix = ("give fe80::...%IFACE with IFACE from `ip -br link`" if "interface" in err
               else "give the address without its %zone" if "%zone" in err
               else "give the new bridge host's own address as this host reaches it, e.g. "
               "192.0.2.20")
        raise UserError(f"{_shown(address)} {err}", fix, field=field)
    return normal


def main_certificate(session: Session, host: str) -> tuple[str, str]:
    """(PEM, SHA-256) of the certificate this host's Prosody presents for auth.HOST: asked
    of Prosody itself (--xmpp, default 127.0.0.1:5222); with --simulate and no --xmpp, read
    from the file auth.HOST's ssl block names."""
    from jitsiwizard.health.xmpp import XmppError, fetch_certificate

    ends = session.the_endpoints()
    domain = f"auth.{host}"
    if not (session.simulate and not ends.given):
        try:
            return fetch_certificate(ends.c2s_host, ends.c2s_port, domain,
                                     timeout=session.check_timeout)
        except XmppError as exc:
            raise UserError(f"cannot read the certificate Prosody presents for {domain} on "
                            f"{ends.c2s_host}:{ends.c2s_port}: {exc}", "start Prosody "
                            "(`systemctl start prosody`), or give its client port with "
                            "--xmpp ADDR:PORT", field="--xmpp") from None
    pem, seen, path = own_certificate(session.root, domain)
    if not seen:
        raise UserError(f"no certificate for {domain} at {path}", "give Prosody's client "
                        "port with --xmpp ADDR:PORT so the wizard can ask it", field="--xmpp")
    return pem, seen


def own_certificate(root, domain: str) -> tuple[str, str, str]:
    """(PEM, SHA-256 of its first certificate or "", path) of the certificate file this
    host's Prosody serves for `domain`: the Jitsi packages' /etc/prosody/certs/DOMAIN.crt,
    which auth.HOST's ssl block names."""
    from jitsiwizard.health.probes import pem_sha256

    path = f"/etc/prosody/certs/{domain}.crt"
    pem = root.read_text(path) or ""
    return pem, pem_sha256(pem) or "", path


@dataclass
class BridgeRun:
    """What `bridge add` or `bridge remove` will do, ready for Session.apply_plan."""

    plan: object  # Plan
    redact: object  # Redactor
    answers_path: str = ""  # as the admin reaches it
    secret_path: str = ""
    commands: tuple[str, ...] = ()  # to run next, printed as they can be pasted


def plan_add(session: Session, name: str, address: str) -> BridgeRun:
    import secrets as random

    from jitsiwizard.answers.model import Answers, BridgeAnswers
    from jitsiwizard.answers.save import dumps
    from jitsiwizard.answers.secrets import Redactor, Secret
    from jitsiwizard.plan.steps import Command, FileChange, Plan

    check_name(name)
    address = check_address(address)
    facts = session.read_host()
    if not facts.jitsi_installed or facts.hostname is None:
        raise UserError("this host is not a Jitsi meeting server",
                        "run `jitsi-wizard bridge add` on the main host", field="bridge")
    host = facts.hostname
    entries = read_registry(session.root)
    if any(e.get("name") == name for e in entries):
        again = session.command(f"bridge remove {quote(name)}")
        raise UserError(f"bridge {name} already exists", f"remove it first with `{again}`, "
                        "or choose another name", field="NAME")
    accounts = account_dir(host)
    if session.root.exists(f"{accounts}/accounts/{name}.dat"):
        raise UserError(f"auth.{host} already has an account {name}",
                        "choose another name for the bridge", field="NAME")
    _, fingerprint = main_certificate(session, host)
    password = random.token_urlsafe(32)
    answers_path, secret_path = bridge_paths(name)
    on_bridge = f"/root/bridge-{name}.secret"
    bridge_answers = Answers(role="videobridge", bridge=BridgeAnswers(
        main=host, username=name, password=Secret(f"file:{on_bridge}", password),
        main_certificate_sha256=fingerprint))
    text, _ = dumps(bridge_answers)
    redact = Redactor()
    redact.add(password)
    plan = Plan()
    jid = f"{name}@auth.{host}"
    plan.steps.append(Command(register_argv(name, f"auth.{host}"), f"create {jid}, the "
                              "bridge's own account",
                              stdin=password_stdin(Secret("generated", password)),
                              snapshot=(accounts,), timeout=60))
    firewall = wizard_manages_firewall(session.root)
    if firewall:
        rule = ufw_rule(address)
        plan.steps.append(Command(["ufw", "allow", *rule], f"let {address} reach Prosody "
                                  f"({XMPP_PORT}/tcp)", timeout=30,
                                  undo=["ufw", "delete", "allow", *rule]))
    else:
        plan.notes.append(f"the wizard does not manage this host's firewall: let {address} "
                          f"reach {XMPP_PORT}/tcp (and only that address)")
    if session.root.read_text(CHECKER_SECRET) is None:
        checker = random.token_urlsafe(32)
        redact.add(checker)
        plan.steps.append(Command(register_argv(CHECKER, f"auth.{host}"),
                                  "an account that only looks who is in the brewery (for "
                                  "`bridge list`)",
                                  stdin=password_stdin(Secret("generated", checker)),
                                  snapshot=(accounts,), timeout=60))
        plan.steps.append(FileChange(CHECKER_SECRET, checker + "\n", "its password",
                                     None, 0o600, secret=True))
    plan.steps.append(FileChange(secret_path, password + "\n", f"the password of {jid}, to "
                                 "copy to the bridge host", session.root.read_text(secret_path),
                                 0o600, secret=True))
    plan.steps.append(FileChange(answers_path, text, f"the answers for the bridge host {name}",
                                 session.root.read_text(answers_path), 0o600))
    entries = entries + [{"name": name, "address": address, "firewall": firewall}]
    plan.steps.append(FileChange(BRIDGES_FILE, registry_text(entries), f"record bridge {name}",
                                 session.root.read_text(BRIDGES_FILE), 0o600))
    real_answers = str(session.root.path(answers_path))
    real_secret = str(session.root.path(secret_path))
    target = f"[{address}]" if ":" in address else address  # scp reads host:path
    scp = ["scp", "-p", real_answers, real_secret, f"root@{target}:/root/"]
    # ssh hands the words after the host to the remote shell, joined: quoted once for it.
    remote = [quote(word) for word in ("jitsi-wizard", "--answers", f"/root/bridge-{name}.toml")]
    commands = (pasted(scp), pasted(["ssh", "-t", f"root@{address}", *remote]))
    return BridgeRun(plan, redact, real_answers, real_secret, commands)


def pasted(words: list[str]) -> str:
    """A command line as the admin pastes it: every word quoted for the shell, so a value
    can only be the one word it is."""
    return " ".join(quote(word) for word in words)


def plan_remove(session: Session, name: str) -> BridgeRun:
    from jitsiwizard.answers.secrets import Redactor
    from jitsiwizard.plan.steps import Command, FileChange, Plan, RemovePath

    check_name(name)
    facts = session.read_host()
    entries = read_registry(session.root)
    entry = next((e for e in entries if e.get("name") == name), None)
    if entry is None or facts.hostname is None:
        known = ", ".join(str(e.get("name")) for e in entries) or "none"
        raise UserError(f"there is no bridge {name} (bridges: {known})",
                        f"see `{session.command('bridge list')}`", field="NAME")
    host = facts.hostname
    jid = f"{name}@auth.{host}"
    plan = Plan()
    plan.steps.append(Command(unregister_argv(name, f"auth.{host}"), f"delete {jid}: the "
                              "bridge can no longer log in", snapshot=(account_dir(host),),
                              timeout=60))
    address = str(entry.get("address", ""))
    if entry.get("firewall") and address:
        # As recorded by `bridge add`: the zone's interface may be gone since.
        rule = ufw_rule(check_address(address, field=BRIDGES_FILE, zone_ok=_IFNAME.fullmatch))
        plan.steps.append(Command(["ufw", "delete", "allow", *rule], f"close {XMPP_PORT}/tcp "
                                  f"to {address}", timeout=30, undo=["ufw", "allow", *rule]))
    for path in bridge_paths(name):
        if session.root.exists(path):
            plan.steps.append(RemovePath(path, f"the bridge {name}'s file is no longer needed"))
    folder = posixpath.dirname(bridge_paths(name)[0])
    if session.root.exists(folder):
        plan.steps.append(RemovePath(folder, f"the bridge {name}'s folder, now empty"))
    rest = [e for e in entries if e.get("name") != name]
    if rest:
        plan.steps.append(FileChange(BRIDGES_FILE, registry_text(rest),
                                     f"forget bridge {name}",
                                     session.root.read_text(BRIDGES_FILE), 0o600))
        return BridgeRun(plan, Redactor())
    # The last bridge: what `bridge add` set up for all of them goes too.
    plan.steps.append(RemovePath(BRIDGES_FILE, f"forget bridge {name}, the last one"))
    if session.root.exists(CHECKER_SECRET):
        plan.steps.append(Command(unregister_argv(CHECKER, f"auth.{host}"),
                                  f"delete {CHECKER}@auth.{host}: with no bridge left, "
                                  "`bridge list` has nothing to look for",
                                  snapshot=(account_dir(host),), timeout=60))
        plan.steps.append(RemovePath(CHECKER_SECRET, "its password"))
    if session.root.exists(BRIDGES_DIR):
        plan.steps.append(RemovePath(BRIDGES_DIR, "the bridges' folder, now empty"))
    return BridgeRun(plan, Redactor())


def list_bridges(session: Session) -> list[dict]:
    """The bridges `bridge add` made, each with whether it is in the brewery MUC now."""
    entries = read_registry(session.root)
    occupants, room, why = _brewery_now(session) if entries else (None, "", "")
    found = []
    for entry in entries:
        name = str(entry.get("name", ""))
        there = None if occupants is None else name in occupants
        found.append({"name": name, "address": entry.get("address", ""), "in_brewery": there,
                      "evidence": why or ("in " if there else "not in ") + room})
    return found


def _brewery_now(session: Session) -> tuple[list[str] | None, str, str]:
    """The brewery's occupants, asked once for every bridge with the checker account, and
    only of a server that presents this host's own Prosody certificate for auth.HOST (the
    password goes nowhere else): (nicknames, the room, "") or (None, "", why not known)."""
    from jitsiwizard.answers.model import BridgeAnswers
    from jitsiwizard.answers.secrets import Secret

    facts = session.read_host()
    ends = session.the_endpoints()
    password = (session.root.read_text(CHECKER_SECRET) or "").rstrip("\n")
    if not password or facts.hostname is None:
        return None, "", f"the {CHECKER} account's password is not kept here: not asked"
    if session.simulate and not ends.given:
        return None, "", "not asked (--simulate without --xmpp)"
    domain = f"auth.{facts.hostname}"
    _, pin, path = own_certificate(session.root, domain)
    if not pin:
        return None, "", (f"not asked: no certificate for {domain} at {path} to check "
                          "Prosody against, so the password was not sent")
    bridge = BridgeAnswers(main=facts.hostname, username=CHECKER,
                           password=Secret("kept", password), main_certificate_sha256=pin)
    occupants, why = brewery_occupants(ends.c2s_host, ends.c2s_port, bridge,
                                       session.check_timeout, expected=f"this host's own {path}")
    return occupants, bridge.brewery, why


def verify_bridge(session: Session, answers: Answers, restarted: list, units) -> object:
    """After the restart on a bridge host: its account still logs in to the main host over
    TLS with the pinned certificate. Whether the bridge sits in the brewery cannot be seen
    from here (Prosody shows a second session of an occupant's account nobody else): the
    main host's `jitsi-wizard bridge list` asks with an account of its own."""
    from jitsiwizard.health import Finding, Report

    bridge = answers.bridge
    ends = session.the_endpoints()
    name = f"login {bridge.username}@{bridge.domain}"
    later = Finding(f"{bridge.username} in {bridge.brewery}", None,
                    "seen from the main host only: run `jitsi-wizard bridge list` there")
    if session.simulate and not ends.given:
        return Report([Finding(name, None, "not asked: this run only records its commands "
                                           "(--simulate)"), later])
    checks = preflight(session, answers)
    failed = [c for c in checks if not c.ok]
    shown = failed[0] if failed else checks[-1]
    return Report([Finding(name, not failed, shown.evidence, shown.fix), later])


def main_of_this_bridge(root) -> str | None:
    """On a bridge host the wizard configured: the main host its shard names."""
    from jitsiwizard.formats.hocon import _hocon_tokens, hocon_get_managed_block
    from jitsiwizard.formats.properties import properties_get
    from jitsiwizard.paths import JVB_CONF, JVB_PROPS
    from jitsiwizard.plan.bridge import LEGACY_SHARD

    props = root.read_text(JVB_PROPS)
    domain = properties_get(props, LEGACY_SHARD + "DOMAIN") if props else None
    if domain is None or root.read_text(BRIDGE_TRUST_PEM) is None:
        block = hocon_get_managed_block(root.read_text(JVB_CONF) or "") or ""
        tokens = [v for kind, v in _hocon_tokens(block) if kind not in ("ws", "nl")]
        domain = tokens[tokens.index("DOMAIN") + 2] if "DOMAIN" in tokens[:-2] else None
    if root.read_text(BRIDGE_TRUST_PEM) is None or not domain:
        return None
    return domain[len("auth."):] if domain.startswith("auth.") else domain
