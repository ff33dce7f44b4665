"""Local view of the ports Jitsi needs: who listens on them, and what the firewall says."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

from jitsiwizard.checks.result import FAIL, OK, WARN, CheckResult, in_thread
from jitsiwizard.checks.rules import NftRuleset, iptables_to_nft
from jitsiwizard.errors import UserError
from jitsiwizard.formats.ufw import Decision, Packet, ufw_decide, ufw_rules
from jitsiwizard.rootfs import Root

Port = tuple[int, str]  # (number, "tcp" | "udp")

JITSI_PORTS: list[Port] = [(80, "tcp"), (443, "tcp"), (10000, "udp")]
COTURN_PORTS: list[Port] = [(3478, "udp"), (5349, "tcp")]
PURPOSE = {(80, "tcp"): "HTTP (Let's Encrypt validation, redirect to HTTPS)",
           (443, "tcp"): "HTTPS (web app and signalling)",
           (10000, "udp"): "media (videobridge)",
           (3478, "udp"): "TURN", (5349, "tcp"): "TURN over TLS"}
# Who may hold a port on a Jitsi host without being in the way.
EXPECTED_OWNERS = {(80, "tcp"): ("nginx", "apache2"), (443, "tcp"): ("nginx", "apache2"),
                   (10000, "udp"): ("jitsi-videobridge",), (3478, "udp"): ("turnserver",),
                   (5349, "tcp"): ("turnserver",)}
_TCP_LISTEN = "0A"
_UDP_UNCONNECTED = "07"


def port_label(port: Port) -> str:
    return f"{port[0]}/{port[1]}"


def parse_ports(text: str) -> list[Port]:
    """"80/tcp,443/tcp,10000/udp" -> [(80, "tcp"), ...]."""
    ports: list[Port] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        number, _, proto = part.partition("/")
        proto = proto.lower() or "tcp"
        if not number.isdigit() or not 0 < int(number) < 65536 or proto not in ("tcp", "udp"):
            raise UserError(f"{part!r} is not a port", "write ports as 80/tcp,10000/udp",
                            field="--ports")
        if (int(number), proto) not in ports:
            ports.append((int(number), proto))
    if not ports:
        raise UserError("no ports given", "write ports as 80/tcp,10000/udp", field="--ports")
    return ports


# --- who listens ------------------------------------------------------------------------------

@dataclass
class Listener:
    address: str
    pid: int | None  # None when the socket's owner is not visible (another user, not root)
    process: str

    def text(self) -> str:
        who = f"{self.process} (pid {self.pid})" if self.pid else self.process
        return f"{who} on {self.address}"


def _hex_address(text: str) -> str:
    import ipaddress

    address, port = text.split(":")
    raw = bytes.fromhex(address)
    # The kernel prints each 32-bit word in host (little-endian) order.
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(raw)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"{host}:{int(port, 16)}"


def _socket_inodes(port: int, proto: str, proc: str) -> dict[str, str]:
    """inode -> local address of sockets bound to `port` (listening for TCP)."""
    found: dict[str, str] = {}
    wanted_state = _TCP_LISTEN if proto == "tcp" else _UDP_UNCONNECTED
    for name in (proto, proto + "6"):
        try:
            with open(os.path.join(proc, "net", name), encoding="ascii") as fh:
                lines = fh.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != wanted_state:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                found[fields[9]] = _hex_address(fields[1])
    return found


def _process_name(proc: str, pid: str) -> str:
    try:
        with open(os.path.join(proc, pid, "comm"), encoding="utf-8", errors="replace") as fh:
            comm = fh.read().strip()
        with open(os.path.join(proc, pid, "cmdline"), "rb") as fh:
            cmdline = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return "?"
    if comm == "java":  # name the Jitsi Java services by what they run
        for name in ("jitsi-videobridge", "jicofo"):
            if name in cmdline or name.replace("-", "") in cmdline:
                return name
    return comm


def listeners(port: int, proto: str, proc: str = "/proc") -> list[Listener]:
    """Who holds `port`/`proto` on this host (in the caller's network namespace)."""
    inodes = _socket_inodes(port, proto, proc)
    if not inodes:
        return []
    owners: dict[str, tuple[int, str]] = {}
    for pid in (p for p in os.listdir(proc) if p.isdigit()):
        fd_dir = os.path.join(proc, pid, "fd")
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                owners.setdefault(link[8:-1], (int(pid), _process_name(proc, pid)))
    return [Listener(address, *owners.get(inode, (None, "a process not visible here "
                                                          "(run as root to see which)")))
            for inode, address in inodes.items()]


def _listener_result(port: Port, found: list[Listener]) -> CheckResult:
    name = f"ports.listen.{port_label(port)}"
    label = port_label(port)
    purpose = PURPOSE.get(port, "")
    if not found:
        return CheckResult(name, OK, f"{label} is free", [f"nothing listens on {label}"],
                           data={"listeners": []})
    expected = EXPECTED_OWNERS.get(port, ())
    evidence = [f"{label}: {listener.text()}" for listener in found]
    data = {"listeners": [{"address": lst.address, "pid": lst.pid, "process": lst.process}
                          for lst in found]}
    others = [lst for lst in found if lst.process not in expected]
    if not others:
        return CheckResult(name, OK, f"{label} is served by {found[0].process}, as expected",
                           evidence, data=data)
    who = others[0].process + (f" (pid {others[0].pid})" if others[0].pid else "")
    needed = f" for {purpose}" if purpose else ""
    return CheckResult(name, FAIL, f"{label} is taken by {who}; Jitsi needs it{needed}",
                       evidence, f"stop or reconfigure {others[0].process} so that {label} is "
                       f"free (e.g. systemctl disable --now {others[0].process}), then check "
                       "again", data)


# --- what the firewall says -------------------------------------------------------------------

@dataclass
class FirewallView:
    source: str  # "ufw", "nftables", "iptables-legacy", or "" when there are no rules
    decide: Callable[[Packet], Decision | None]
    evidence: list[str]
    problem: str = ""  # could not read the rules


def _run(argv: Sequence[str], timeout: float) -> tuple[int, str, str]:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              check=False)
    except FileNotFoundError:
        return 127, "", f"{argv[0]}: not installed"
    except subprocess.TimeoutExpired:
        return 124, "", f"{' '.join(argv)}: no answer within {timeout:g} s"
    except OSError as exc:
        return 126, "", f"{argv[0]}: {exc.strerror}"
    return done.returncode, done.stdout, done.stderr


def _ufw_view(root: Root) -> FirewallView | None:
    conf = root.read_text("/etc/ufw/ufw.conf") or ""
    if not any(line.strip().replace(" ", "") in ("ENABLED=yes", 'ENABLED="yes"')
               for line in conf.splitlines()):
        return None
    defaults = root.read_text("/etc/default/ufw") or ""
    policy = "DROP"
    for line in defaults.splitlines():
        if line.strip().startswith("DEFAULT_INPUT_POLICY="):
            policy = line.split("=", 1)[1].strip().strip('"')
    rules4 = ufw_rules(root.read_text("/etc/ufw/user.rules") or "")
    rules6 = ufw_rules(root.read_text("/etc/ufw/user6.rules") or "")

    def decide(packet: Packet) -> Decision:
        return ufw_decide(rules4 if packet.family == "ip" else rules6,
                          "accept" if policy == "ACCEPT" else "drop", packet)

    evidence = [f"ufw is enabled (/etc/ufw/ufw.conf), default incoming policy {policy}, "
                f"{len(rules4)} rule(s)"]
    return FirewallView("ufw", decide, evidence)


def read_firewall(root: Root, *, nft: Sequence[str] = ("nft",), timeout: float = 5.0,
                  iptables_legacy_save: Sequence[str] | None = None) -> FirewallView:
    """What decides inbound traffic here: ufw when enabled, else nftables (which includes
    iptables-nft rules) and, when present, legacy iptables."""
    view = _ufw_view(root)
    if view is not None:
        return view
    evidence: list[str] = []
    problems: list[str] = []
    found = [("nftables", _nft_decider(nft, timeout, evidence, problems))]
    legacy = iptables_legacy_save
    if legacy is None and shutil.which("iptables-legacy-save"):
        legacy = ("iptables-legacy-save",)
    if legacy:
        found.append(("legacy iptables", _legacy_decider(legacy, timeout, evidence, problems)))
    deciders = [decide for _, decide in found if decide is not None]
    sources = [source for source, decide in found if decide is not None]
    return FirewallView(" and ".join(sources), _every_one(deciders), evidence,
                        "; ".join(problems))


def _nft_decider(nft: Sequence[str], timeout: float, evidence: list[str],
                 problems: list[str]):
    """nftables' decision on a packet, or None when its input chains filter nothing (or it
    cannot be read: said in `problems`)."""
    code, out, err = _run([*nft, "-j", "list", "ruleset"], timeout)
    if code == 127:
        evidence.append("nft is not installed")
        return None
    if code != 0:
        problems.append(f"nft -j list ruleset failed: {(err or out).strip()[:200]}")
        return None
    try:
        ruleset = NftRuleset(json.loads(out or "{}"))
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"cannot read nft's output: {exc}")
        return None
    if ruleset.empty:
        evidence.append("nftables: no input chains (nothing filtered)")
        return None
    chains = ruleset.input_chains("ip") + [
        c for c in ruleset.input_chains("ip6") if c not in ruleset.input_chains("ip")]
    evidence.append("nftables input chains: " + ", ".join(
        f"{f} {t} {c} (policy {ruleset.chains[(f, t, c)].get('policy', 'accept')})"
        for f, t, c in chains))
    return ruleset.decide


def _legacy_decider(legacy: Sequence[str], timeout: float, evidence: list[str],
                    problems: list[str]):
    """Legacy iptables' decision (its filter table's INPUT chain), or None without rules."""
    code, out, err = _run([*legacy], timeout)
    if code == 0 and ":INPUT" in out:
        legacy_rules = NftRuleset(iptables_to_nft(out))
        if not legacy_rules.empty:
            evidence.append("legacy iptables rules in the filter table's INPUT chain")
            return legacy_rules.decide
    elif code != 0:
        problems.append(f"iptables-legacy-save failed: {(err or out).strip()[:200]}")
    return None


def _every_one(deciders: list):
    """One decision from several filters: every filter a packet crosses must let it
    through (None when none of them filters it)."""
    def decide(packet: Packet) -> Decision | None:
        final = None
        for one in deciders:
            decision = one(packet)
            if decision is None:
                continue
            if not decision.allowed:
                return decision
            if final is None:
                final = decision
            else:
                final.doubts += decision.doubts
                final.only_from += decision.only_from
        return final

    return decide


def firewall_result(view: FirewallView, ports: list[Port], ssh_port: int | None,
                    manage: bool = False) -> CheckResult:
    """`ports.firewall`: whether the rules `view` read let `ports` and SSH in (`manage`: the
    plan will open what ufw blocks)."""
    name = "ports.firewall"
    evidence = list(view.evidence)
    if view.problem and not view.source:
        return CheckResult(name, WARN, "could not read the firewall rules", evidence
                           + [view.problem], "run the check as root, or look at `nft list "
                           "ruleset` / `ufw status` yourself", {"reason": "unreadable"})
    if view.problem:
        evidence.append(f"not read: {view.problem}")
    wanted = list(ports)
    if ssh_port:
        wanted.append((ssh_port, "tcp"))
    blocked, doubtful, allowed, blocked_ports = _decide_ports(view, wanted, ssh_port, evidence)
    data = {"source": view.source, "blocked": blocked, "uncertain": doubtful}
    if not view.source:
        return CheckResult(name, OK, "no firewall rules filter inbound traffic on this host",
                           evidence, "", data)
    if blocked:
        return _blocked_result(view, blocked, blocked_ports, manage, evidence, data)
    if doubtful:
        return CheckResult(name, WARN, "could not tell for certain whether the firewall "
                           "allows " + ", ".join(doubtful), evidence,
                           "read the rules named above, or run `jitsi-wizard probe-listen` to "
                           "test from outside", data)
    return CheckResult(name, OK, f"the {view.source} firewall allows "
                       + ", ".join(allowed), evidence, "", data)


def _decide_ports(view: FirewallView, wanted: list[Port], ssh_port: int | None,
                  evidence: list[str]) -> tuple[list[str], list[str], list[str], list[Port]]:
    """Each port over IPv4 and IPv6 through the rules: (blocked, uncertain, allowed, the
    blocked ports); what decided each goes to `evidence`."""
    blocked, doubtful, allowed = [], [], []
    blocked_ports: list[Port] = []
    for port in wanted:
        label = port_label(port)
        if ssh_port and port == (ssh_port, "tcp"):
            label += " (SSH)"
        for family in ("ip", "ip6"):
            decision = view.decide(Packet(port[1], port[0], family))
            shown = label if family == "ip" else f"{label} over IPv6"
            if decision is None:
                if family == "ip":
                    allowed.append(label)
                    evidence.append(f"{shown}: allowed (no rule filters it)")
                continue
            verdict = "allowed" if decision.allowed else "blocked"
            line = f"{shown}: {verdict} by {decision.why}"
            if decision.only_from:
                line += "; allowed only from " + "; ".join(decision.only_from)
            if family == "ip6" and decision.allowed and label in allowed:
                continue  # same as IPv4: say it once
            evidence.append(line)
            evidence += [f"{shown}: {doubt}" for doubt in decision.doubts]
            if not decision.allowed:
                blocked.append(shown)
                if port not in blocked_ports:
                    blocked_ports.append(port)
            elif decision.doubts:
                doubtful.append(shown)
            elif family == "ip":
                allowed.append(label)
    return blocked, doubtful, allowed, blocked_ports


def _blocked_result(view: FirewallView, blocked: list[str], blocked_ports: list[Port],
                    manage: bool, evidence: list[str], data: dict) -> CheckResult:
    """Ports the rules block: a warning when the plan's ufw opens them, else how to."""
    name = "ports.firewall"
    ssh_blocked = [b for b in blocked if "(SSH)" in b]
    if manage and view.source == "ufw" and not ssh_blocked:
        return CheckResult(name, WARN, "the firewall blocks " + ", ".join(blocked)
                           + "; the plan opens them", evidence, "", data)
    if view.source == "ufw":
        fix = "allow them inbound: " + "; ".join(
            f"ufw allow {port_label(p)}" for p in blocked_ports)
    else:
        number, proto = blocked_ports[0]
        example = (f"nft insert rule inet filter input {proto} dport {number} accept"
                   if "nftables" in view.source else
                   f"iptables -I INPUT -p {proto} --dport {number} -j ACCEPT")
        fix = (f"allow them inbound in your {view.source} rules, before any rule that "
               f"drops them (e.g. {example})")
    if manage and view.source != "ufw":
        fix += "; the wizard manages ufw only and cannot open ports that these rules drop"
    return CheckResult(name, FAIL, f"the {view.source} firewall blocks "
                       + ", ".join(blocked), evidence, fix, data)


def _local_checks(ports: list[Port], ssh_port: int | None, root: Root, proc: str,
                  nft: Sequence[str], timeout: float, manage: bool,
                  iptables_legacy_save: Sequence[str] | None) -> list[CheckResult]:
    results = [_listener_result(port, listeners(port[0], port[1], proc)) for port in ports]
    view = read_firewall(root, nft=nft, timeout=timeout,
                         iptables_legacy_save=iptables_legacy_save)
    results.append(firewall_result(view, ports, ssh_port, manage))
    return results


async def check_local_ports(*, ports: list[Port] | None = None, ssh_port: int | None = 22,
                            timeout: float = 5.0, root: Root | None = None,
                            proc: str = "/proc", nft: Sequence[str] = ("nft",),
                            manage_firewall: bool = False,
                            iptables_legacy_save: Sequence[str] | None = None,
                            ) -> list[CheckResult]:
    """`ports.listen.<port>/<proto>` for each port (is something else holding it?) and
    `ports.firewall` (do the host's rules let the ports and SSH in?)."""
    ports = list(ports or JITSI_PORTS)
    root = root or Root("/")
    try:
        return await asyncio.wait_for(
            in_thread(_local_checks, ports, ssh_port, root, proc, nft, timeout,
                      manage_firewall, iptables_legacy_save), timeout)
    except asyncio.TimeoutError:
        return [CheckResult("ports.local", WARN,
                            f"reading listeners and firewall rules took over {timeout:g} s",
                            [], "run `ss -lntup` and `nft list ruleset` yourself",
                            {"reason": "timeout"})]
