"""Extra videobridges, for the session: what each bridge command does, in order. On a bridge
host, the main host's certificate (fetched and checked against the pin) and the preflight
checks; on the main host, `bridge add`, `bridge list` and `bridge remove`, each applied as a
journaled run. Part of the imperative shell, beside session.py (which delegates here).

The work itself lives with its layer: the exchanges with Prosody (the certificate, the
verification after a run, the brewery) in health/bridge.py, the preflight in checks/bridge.py,
the registry in host/bridges.py, the add and remove plans in plan/extra_bridges.py.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from shlex import quote
from typing import TYPE_CHECKING, Callable, Protocol

from jitsiwizard.answers.spec import RESERVED_BRIDGE_USERS
from jitsiwizard.answers.validate import control_character
from jitsiwizard.errors import UserError
from jitsiwizard.host.bridges import main_of_this_bridge, read_registry
from jitsiwizard.paths import BRIDGES_FILE
from jitsiwizard.plan.extra_bridges import (
    CHECKER,
    CHECKER_SECRET,
    ON_BRIDGE,
    account_dir,
    add_steps,
    bridge_paths,
    remove_steps,
    ufw_rule,
)

if TYPE_CHECKING:
    from jitsiwizard.answers.model import Answers
    from jitsiwizard.checks.result import CheckResult
    from jitsiwizard.health import Endpoints, Report
    from jitsiwizard.host.facts import HostFacts
    from jitsiwizard.plan.videobridge import MainCertificate
    from jitsiwizard.rootfs import Root

__all__ = ["CHECKER", "CHECKER_SECRET", "BridgeRun", "check_address", "check_name",
           "interface_names", "list_bridges", "main_certificate", "main_host_certificate",
           "main_of_this_bridge", "plan_add", "plan_remove", "preflight", "read_registry",
           "verify_bridge"]


class Session(Protocol):
    """What this module uses of jitsiwizard.workflow.session.Session (which calls it)."""

    root: Root
    simulate: bool
    force: bool
    check_timeout: float
    endpoints: Endpoints | None

    def read_host(self) -> HostFacts: ...

    def the_endpoints(self) -> Endpoints: ...

    def command(self, words: str) -> str: ...

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # always fullmatch: `$` allows a final "\n"


# --- on the bridge host ----------------------------------------------------------------------

def main_host_certificate(session: Session, answers: Answers,
                          pem_file: str | None = None) -> MainCertificate:
    """The main host's certificate for the plan, checked against the pin: from `pem_file`
    when given (--main-certificate), else fetched from the main host."""
    from jitsiwizard.health.bridge import (
        certificate_from_file,
        fetch_main_certificate,
        main_endpoint,
    )

    bridge = answers.bridge
    if pem_file:
        return certificate_from_file(pem_file, bridge.main_certificate_sha256)
    host, port = main_endpoint(session.endpoints, bridge)
    return fetch_main_certificate(host, port, bridge, session.check_timeout)


def preflight(session: Session, answers: Answers) -> list[CheckResult]:
    """Before planning a bridge host: the main host resolves, its 5222/tcp answers with TLS
    and the pinned certificate, and the bridge's account logs in (checks/bridge.py)."""
    from jitsiwizard.checks.bridge import bridge_checks
    from jitsiwizard.health.bridge import main_endpoint

    host, port = main_endpoint(session.endpoints, answers.bridge)
    return bridge_checks(answers.bridge, host, port, session.check_timeout)


def verify_bridge(session: Session, answers: Answers, restarted: list, units) -> Report:
    """After the restart on a bridge host: its account still logs in to the main host
    (health/bridge.py); not asked when the run only recorded its commands."""
    from jitsiwizard.health.bridge import main_endpoint
    from jitsiwizard.health.bridge import verify_bridge as verify

    asked = not (session.simulate and not session.the_endpoints().given)
    host, port = main_endpoint(session.endpoints, answers.bridge)
    return verify(answers.bridge, host, port, session.check_timeout, asked=asked)


# --- on the main host: what the admin typed ---------------------------------------------------

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


# --- on the main host: the commands -----------------------------------------------------------

def main_certificate(session: Session, host: str) -> tuple[str, str]:
    """(PEM, SHA-256) of the certificate this host's Prosody presents for auth.HOST: asked
    of Prosody itself (--xmpp, default 127.0.0.1:5222); with --simulate and no --xmpp, read
    from the file auth.HOST's ssl block names."""
    from jitsiwizard.health.bridge import own_certificate, served_certificate

    ends = session.the_endpoints()
    domain = f"auth.{host}"
    if not (session.simulate and not ends.given):
        return served_certificate(ends.c2s_host, ends.c2s_port, domain, session.check_timeout)
    pem, seen, path = own_certificate(session.root, domain)
    if not seen:
        raise UserError(f"no certificate for {domain} at {path}", "give Prosody's client "
                        "port with --xmpp ADDR:PORT so the wizard can ask it", field="--xmpp")
    return pem, seen


@dataclass
class BridgeRun:
    """What `bridge add` or `bridge remove` will do, ready for Session.apply_plan."""

    plan: object  # Plan
    redact: object  # Redactor
    answers_path: str = ""  # as the admin reaches it
    secret_path: str = ""
    commands: tuple[str, ...] = ()  # to run next, printed as they can be pasted


def plan_add(session: Session, name: str, address: str) -> BridgeRun:
    """`bridge add NAME --address ADDRESS`: refused for a name or an account that exists;
    the new host's password made here, the plan from plan/extra_bridges.py."""
    import secrets as random

    from jitsiwizard.answers.secrets import Redactor
    from jitsiwizard.host.bridges import wizard_manages_firewall
    from jitsiwizard.plan.builder import Builder

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
    if session.root.exists(f"{account_dir(host)}/accounts/{name}.dat"):
        raise UserError(f"auth.{host} already has an account {name}",
                        "choose another name for the bridge", field="NAME")
    _, fingerprint = main_certificate(session, host)
    redact = Redactor()
    password = random.token_urlsafe(32)
    redact.add(password)
    firewall = wizard_manages_firewall(session.root)
    checker = None
    if session.root.read_text(CHECKER_SECRET) is None:  # the first bridge
        checker = random.token_urlsafe(32)
        redact.add(checker)
    b = Builder(facts, session.root, session.force)
    add_steps(b, host, name, address, password=password, checker=checker,
              fingerprint=fingerprint, entries=entries, firewall=firewall)
    real_answers, real_secret = (str(session.root.path(p)) for p in bridge_paths(name))
    return BridgeRun(b.plan, redact, real_answers, real_secret,
                     _next_commands(name, address, real_answers, real_secret))


def _next_commands(name: str, address: str, answers: str, secret: str) -> tuple[str, str]:
    """What the admin runs next: copy the two files to the new host, run the wizard there."""
    target = f"[{address}]" if ":" in address else address  # scp reads host:path
    scp = ["scp", "-p", answers, secret, f"root@{target}:{ON_BRIDGE}/"]
    # ssh hands the words after the host to the remote shell, joined: quoted once for it.
    remote = [quote(word) for word in ("jitsi-wizard", "--answers",
                                       f"{ON_BRIDGE}/bridge-{name}.toml")]
    return pasted(scp), pasted(["ssh", "-t", f"root@{address}", *remote])


def pasted(words: list[str]) -> str:
    """A command line as the admin pastes it: every word quoted for the shell, so a value
    can only be the one word it is."""
    return " ".join(quote(word) for word in words)


def plan_remove(session: Session, name: str) -> BridgeRun:
    """`bridge remove NAME`, for a bridge the registry holds."""
    from jitsiwizard.answers.secrets import Redactor
    from jitsiwizard.plan.builder import Builder

    check_name(name)
    facts = session.read_host()
    entries = read_registry(session.root)
    entry = next((e for e in entries if e.get("name") == name), None)
    if entry is None or facts.hostname is None:
        known = ", ".join(str(e.get("name")) for e in entries) or "none"
        raise UserError(f"there is no bridge {name} (bridges: {known})",
                        f"see `{session.command('bridge list')}`", field="NAME")
    address = str(entry.get("address", ""))
    rule = None
    if entry.get("firewall") and address:
        # As recorded by `bridge add`: the zone's interface may be gone since.
        rule = ufw_rule(check_address(address, field=BRIDGES_FILE, zone_ok=_IFNAME.fullmatch))
    b = Builder(facts, session.root, session.force)
    remove_steps(b, facts.hostname, name, address, rule, entries)
    return BridgeRun(b.plan, Redactor())


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
    from jitsiwizard.health.bridge import brewery_occupants, own_certificate

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
