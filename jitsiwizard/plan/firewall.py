"""Plan steps that open the Jitsi ports with ufw, without ever shutting out the admin's SSH."""

from __future__ import annotations

import re
from collections.abc import Mapping

from jitsiwizard.answers.model import Answers
from jitsiwizard.errors import UserError
from jitsiwizard.formats.ufw import Packet, ufw_rules
from jitsiwizard.host.facts import HostFacts
from jitsiwizard.paths import NGINX_STREAM_CONF, SSHD_CONFIG, TURNSERVER_CONF
from jitsiwizard.plan.builder import Builder
from jitsiwizard.rootfs import FileView

UFW_TIMEOUT = 30.0
_MAX_INCLUDE_DEPTH = 8

JITSI_RULES = [(80, "tcp", "HTTP, for Let's Encrypt and the redirect to HTTPS"),
               (443, "tcp", "HTTPS: the web app and signalling"),
               (10000, "udp", "media to the videobridge")]
COTURN_RULES = [(3478, "udp", "TURN"), (5349, "tcp", "TURN over TLS")]


def turn_rules(facts: HostFacts, files: FileView) -> list[tuple[int, str, str]]:
    """The ports coturn listens on, per /etc/turnserver.conf (coturn's defaults 3478 and
    5349 where it names none). TURN over TLS behind nginx's stream block (the 2020 layout:
    nginx multiplexes 443) needs no port of its own."""
    text = files.read_text(TURNSERVER_CONF)
    if text is None:
        return list(COTURN_RULES) if facts.has_package("coturn") else []
    from jitsiwizard.formats.turnserver import turn_flag, turn_get

    def port(name: str, default: int) -> int:
        value = (turn_get(text, name) or "").strip()
        return int(value) if value.isdigit() and 0 < int(value) < 65536 else default

    plain, tls = port("listening-port", 3478), port("tls-listening-port", 5349)
    rules = [(plain, "udp", "TURN")]
    if not turn_flag(text, "no-tcp"):
        rules.append((plain, "tcp", "TURN over TCP"))
    if not turn_flag(text, "no-tls") and not files.exists(NGINX_STREAM_CONF):
        rules.append((tls, "tcp", "TURN over TLS"))
    return rules


def sshd_ports(files: FileView) -> list[int]:
    """The ports sshd listens on per its config in `files` (Port and ListenAddress lines,
    Include files followed); [22] when the config sets none; [] when there is no config."""
    text = files.read_text(SSHD_CONFIG)
    if text is None:
        return []
    ports: list[int] = []
    _scan_sshd(files, text, ports, 0)
    return ports or [22]


def _scan_sshd(files: FileView, text: str, ports: list[int], depth: int) -> None:
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = re.split(r"\s*=\s*|\s+", line, maxsplit=1)
        key, value = parts[0].lower(), parts[1] if len(parts) > 1 else ""
        if key == "match":
            return  # Port may not appear in Match blocks; the rest is conditional
        found: list[str] = []
        if key == "port":
            found = value.split()
        elif key == "listenaddress" and value:
            # host:port or [v6]:port; a bare IPv6 address has no port of its own
            with_port = re.match(r"^(?:\[[^\]]*\]|[^:\s]+):(\d+)$", value.split()[0])
            found = [with_port.group(1)] if with_port else []
        elif key == "include" and depth < _MAX_INCLUDE_DEPTH:
            for pattern in value.split():
                path = pattern if pattern.startswith("/") else f"/etc/ssh/{pattern}"
                directory, _, name = path.rpartition("/")
                for included in files.glob(directory or "/", name):
                    _scan_sshd(files, files.read_text(included) or "", ports, depth + 1)
        for word in found:
            if word.isdigit() and int(word) not in ports:
                ports.append(int(word))


def connected_ssh_port(environ: Mapping[str, str]) -> int | None:
    """The SSH port the admin came in through (SSH_CONNECTION's server port). Honoured under
    --root too: a plan tried on a copy of this host must not shut out the admin either."""
    fields = environ.get("SSH_CONNECTION", "").split()
    if len(fields) == 4 and fields[3].isdigit():
        return int(fields[3])
    return None


def detect_ssh_port(files: FileView, environ: Mapping[str, str]) -> int | None:
    """The SSH port the admin is connected through, else the first port sshd's config
    names; None when neither is known. The one rule for both faces."""
    port = connected_ssh_port(environ)
    if port is not None:
        return port
    ports = sshd_ports(files)
    return ports[0] if ports else None


def _ufw_state(files: FileView) -> tuple[bool, list]:
    conf = files.read_text("/etc/ufw/ufw.conf") or ""
    enabled = any(line.strip().replace(" ", "").replace('"', "") == "ENABLED=yes"
                  for line in conf.splitlines())
    return enabled, ufw_rules(files.read_text("/etc/ufw/user.rules") or "")


def _already_allowed(rules: list, port: int, proto: str) -> bool:
    """An existing ufw rule already lets this port in from anywhere."""
    packet = Packet(proto, port)
    for rule in rules:
        if rule.covers(packet) and rule.from_anywhere:
            return rule.action in ("allow", "limit")
    return False


def firewall_steps(b: Builder, answers: Answers, ssh_port_in_use: int | None,
                   ports: list | None = None) -> None:
    """ufw steps for the Jitsi ports (or `ports`, (port, proto, purpose) each, for a host of
    another role): the SSH port first, `ufw --force enable` last; nothing unless the wizard
    manages the firewall.

    Refuses (UserError) when the admin's SSH port, given or read from sshd's config, is
    not firewall.ssh_port: enabling the firewall would cut the admin off.
    """
    if not answers.firewall.manage:
        return
    ssh = answers.firewall.ssh_port
    _refuse_shutting_out_ssh(ssh, ssh_port_in_use, sshd_ports(b.files))
    wanted = [(ssh, "tcp", "SSH, so this session and later logins stay possible")]
    wanted += [rule for rule in (JITSI_RULES if ports is None else ports)
               if rule[:2] != (ssh, "tcp")]
    if ports is None:
        wanted += [rule for rule in turn_rules(b.facts, b.files)
                   if not any(rule[:2] == have[:2] for have in wanted)]
    enabled, rules = _ufw_state(b.files)
    b.install(["ufw"], "install ufw, the firewall the wizard manages", timeout=600.0,
              options=("--no-install-recommends",), phase="install",
              undo=["apt-get", "remove", "-y", "ufw"])
    if b.facts.has_package("firewalld"):
        b.note("firewalld is installed: it and ufw would both manage the same rules; "
               "keep only one of them")
    kept = []
    for port, proto, purpose in wanted:
        spec = f"{port}/{proto}"
        if _already_allowed(rules, port, proto):
            kept.append(spec)
            continue
        b.command(["ufw", "allow", spec], f"allow {spec} inbound: {purpose}",
                  timeout=UFW_TIMEOUT, undo=["ufw", "delete", "allow", spec])
    if kept:
        b.note("ufw already allows " + ", ".join(kept))
    if not enabled:
        # Enabling comes after every allow, so SSH is open the moment the firewall is.
        b.command(["ufw", "--force", "enable"],
                  f"enable the firewall (SSH port {ssh} is allowed first; every other "
                  "inbound port is then refused)", timeout=UFW_TIMEOUT, undo=["ufw", "disable"])
        b.note(f"the firewall will be enabled: inbound traffic other than SSH ({ssh}/tcp) "
               "and the Jitsi ports is refused from then on")


def _refuse_shutting_out_ssh(ssh: int, in_use: int | None, configured: list[int]) -> None:
    """Refuse firewall.ssh_port when the admin came in through another port, or (not over
    SSH) when sshd's config names others."""
    if in_use is not None and in_use != ssh:
        raise UserError(
            f"is {ssh}, but you are connected through SSH port {in_use}: "
            "enabling the firewall would shut you out",
            f"set firewall.ssh_port = {in_use} (or firewall.manage = false)",
            field="firewall.ssh_port")
    if in_use is None and configured and ssh not in configured:
        shown = ", ".join(str(p) for p in configured)
        raise UserError(
            f"is {ssh}, but sshd listens on port {shown} ({SSHD_CONFIG}): enabling the "
            "firewall would shut out SSH",
            f"set firewall.ssh_port = {configured[0]} (or firewall.manage = false)",
            field="firewall.ssh_port")
