"""Ports: who listens (real sockets), what the firewall says (real nftables rules inside a
network namespace; ufw and legacy iptables from their files), and whether the outside
reaches the ports (probe-listen and probe across a veth pair, through nftables drops)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import pytest

from jitsiwizard.checks import ports as ports_module
from jitsiwizard.checks.ports import check_local_ports, parse_ports
from jitsiwizard.checks.probe import listen, probe
from jitsiwizard.errors import UserError
from jitsiwizard.rootfs import Root
from tests.lab import netns
from tests.lab.proc import free_port, wait_for

pytestmark = pytest.mark.lab

WIZARD = [sys.executable, "-m", "jitsiwizard.cli.checks"]
JITSI = [(80, "tcp"), (443, "tcp"), (10000, "udp")]


@pytest.fixture(scope="module")
def pair():
    # scripts/test runs as root with iproute2 and nftables: no namespaces is a failure here.
    reason = netns.available()
    assert not reason, reason
    with netns.NetnsPair() as made:
        yield made


@pytest.fixture
def rules(pair):
    """rules(text): replace the server namespace's nftables ruleset."""

    def load(text: str) -> None:
        pair.nft("flush ruleset\n" + text)

    yield load
    pair.nft("flush ruleset\n")


def by_name(results):
    return {r.name: r for r in results}


async def firewall(pair, tmp_path, ssh_port=22, **kw):
    results = await check_local_ports(ports=JITSI, ssh_port=ssh_port,
                                      root=Root(tmp_path), nft=(*pair.prefix(pair.server), "nft"),
                                      **kw)
    return by_name(results)["ports.firewall"]


# --- listeners --------------------------------------------------------------------------------

async def test_a_port_held_by_another_program_is_named(tmp_path, pair):
    tcp_port, udp_port = free_port("tcp"), free_port("udp")
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", tcp_port))
        tcp.listen(1)
        udp.bind(("127.0.0.1", udp_port))
        results = by_name(await check_local_ports(
            ports=[(tcp_port, "tcp"), (udp_port, "udp")], root=Root(tmp_path),
            nft=(*pair.prefix(pair.server), "nft")))
    for label in (f"{tcp_port}/tcp", f"{udp_port}/udp"):
        result = results[f"ports.listen.{label}"]
        assert result.status == "fail", result.render()
        assert f"(pid {os.getpid()})" in result.summary
        assert result.data["listeners"][0]["pid"] == os.getpid()
        assert "127.0.0.1" in result.evidence[0]


async def test_expected_owner_and_free_port(tmp_path, pair, monkeypatch):
    own = Path(f"/proc/{os.getpid()}/comm").read_text().strip()
    held, free = free_port("tcp"), free_port("tcp")
    monkeypatch.setitem(ports_module.EXPECTED_OWNERS, (held, "tcp"), (own,))
    with socket.socket() as tcp:
        tcp.bind(("127.0.0.1", held))
        tcp.listen(1)
        results = by_name(await check_local_ports(
            ports=[(held, "tcp"), (free, "tcp")], root=Root(tmp_path),
            nft=(*pair.prefix(pair.server), "nft")))
    assert results[f"ports.listen.{held}/tcp"].status == "ok"
    assert "as expected" in results[f"ports.listen.{held}/tcp"].summary
    assert results[f"ports.listen.{free}/tcp"].summary == f"{free}/tcp is free"


# --- nftables rules, read from a namespace ------------------------------------------------------

async def test_no_rules_means_open(pair, rules, tmp_path):
    rules("")
    result = await firewall(pair, tmp_path)
    assert result.status == "ok"
    assert result.data["source"] == ""


async def test_drop_rules_block_named_ports(pair, rules, tmp_path):
    rules("""table inet filter {
      chain input { type filter hook input priority 0; policy accept;
        tcp dport 443 drop
        udp dport 10000 drop
      }
    }""")
    result = await firewall(pair, tmp_path)
    assert result.status == "fail"
    assert result.data["blocked"] == ["443/tcp", "443/tcp over IPv6", "10000/udp",
                                      "10000/udp over IPv6"]
    assert any("443/tcp: blocked by inet filter input rule" in line and "tcp dport 443 drop"
               in line for line in result.evidence)
    assert "nft insert rule inet filter input tcp dport 443 accept" in result.fix


async def test_default_drop_with_accepts(pair, rules, tmp_path):
    rules("""table inet filter {
      set web { type inet_service; elements = { 80, 443 } }
      chain input { type filter hook input priority 0; policy drop;
        iifname "lo" accept
        ct state established,related accept
        tcp dport 22 accept
        tcp dport @web accept
        ip saddr 10.0.0.0/8 udp dport 10000 accept
      }
    }""")
    result = await firewall(pair, tmp_path)
    assert result.status == "fail"
    assert result.data["blocked"] == ["10000/udp", "10000/udp over IPv6"]
    evidence = "\n".join(result.evidence)
    assert "allowed only from ip saddr 10.0.0.0/8" in evidence
    assert "22/tcp (SSH): allowed" in evidence and "80/tcp: allowed" in evidence


async def test_jumps_vmaps_and_a_closed_ssh_port(pair, rules, tmp_path):
    rules("""table ip filter {
      chain jitsi {
        tcp dport vmap { 80 : accept, 443 : accept }
        udp dport 10000 accept
        return
      }
      chain input { type filter hook input priority 0; policy drop;
        jump jitsi
        tcp dport 2222 accept
      }
    }""")
    result = await firewall(pair, tmp_path, ssh_port=22)
    assert result.status == "fail"
    assert result.data["blocked"] == ["22/tcp (SSH)"]
    assert "SSH" in result.summary
    allowed = await firewall(pair, tmp_path, ssh_port=2222)
    assert allowed.status == "ok", allowed.render()


async def test_rules_it_cannot_read_make_a_warning(pair, rules, tmp_path):
    rules("""table inet filter {
      chain input { type filter hook input priority 0; policy accept;
        meta mark 0x1 drop
      }
    }""")
    result = await firewall(pair, tmp_path)
    assert result.status == "warn"
    assert "cannot tell whether it applies" in "\n".join(result.evidence)


# --- ufw and legacy iptables, from their files --------------------------------------------------

UFW_RULES = """*filter
### RULES ###

### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 22 -j ACCEPT

### tuple ### allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 80 -j ACCEPT

### tuple ### allow udp 10000 0.0.0.0/0 any 10.0.0.0/8 in
-A ufw-user-input -p udp --dport 10000 -s 10.0.0.0/8 -j ACCEPT

### END RULES ###
COMMIT
"""


def ufw_root(tmp_path: Path) -> Root:
    (tmp_path / "etc/ufw").mkdir(parents=True)
    (tmp_path / "etc/default").mkdir(parents=True)
    (tmp_path / "etc/ufw/ufw.conf").write_text("# managed by ufw\nENABLED=yes\nLOGLEVEL=low\n")
    (tmp_path / "etc/default/ufw").write_text('IPV6=yes\nDEFAULT_INPUT_POLICY="DROP"\n')
    (tmp_path / "etc/ufw/user.rules").write_text(UFW_RULES)
    (tmp_path / "etc/ufw/user6.rules").write_text(UFW_RULES.replace("0.0.0.0/0", "::/0"))
    return Root(tmp_path)


async def test_enabled_ufw_is_read_from_its_rules(tmp_path, pair):
    root = ufw_root(tmp_path)
    results = by_name(await check_local_ports(ports=JITSI, root=root,
                                              nft=(*pair.prefix(pair.server), "nft")))
    result = results["ports.firewall"]
    assert (result.status, result.data["source"]) == ("fail", "ufw")
    assert result.data["blocked"] == ["443/tcp", "443/tcp over IPv6", "10000/udp",
                                      "10000/udp over IPv6"]
    assert "ufw allow 443/tcp; ufw allow 10000/udp" in result.fix
    assert "allowed only from ufw allow 10000/udp from 10.0.0.0/8" in "\n".join(result.evidence)
    # When the wizard manages ufw, the plan opens them: a warning, not a failure.
    managed = by_name(await check_local_ports(ports=JITSI, root=root, manage_firewall=True,
                                              nft=(*pair.prefix(pair.server), "nft")))
    assert managed["ports.firewall"].status == "warn"


LEGACY = """# Generated by iptables-save v1.8.7 on Mon Jan  1 00:00:00 2024
*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp --dport 443 -j DNAT --to-destination 10.0.0.9
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:jitsi - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -j jitsi
-A INPUT -p udp -j REJECT --reject-with icmp-port-unreachable
-A jitsi -p tcp -m multiport --dports 80,443 -m comment --comment "web" -j ACCEPT
-A jitsi -p udp -m udp --dport 10000:10010 -j ACCEPT
COMMIT
"""


async def test_legacy_iptables_rules(tmp_path, pair):
    saved = tmp_path / "iptables.txt"
    saved.write_text(LEGACY)
    results = by_name(await check_local_ports(
        ports=JITSI + [(3478, "udp")], root=Root(tmp_path),
        nft=(*pair.prefix(pair.server), "nft"), iptables_legacy_save=("cat", str(saved))))
    result = results["ports.firewall"]
    assert result.data["blocked"] == ["3478/udp"], result.render()
    assert result.data["source"] == "legacy iptables"
    assert "iptables -I INPUT -p udp --dport 3478 -j ACCEPT" in result.fix
    assert "filter INPUT rule 5" in "\n".join(result.evidence)


def test_parse_ports():
    assert parse_ports("80/tcp, 10000/UDP,443") == [(80, "tcp"), (10000, "udp"), (443, "tcp")]
    for bad in ("", "80/sctp", "x/tcp", "70000/tcp"):
        with pytest.raises(UserError):
            parse_ports(bad)


# --- reachability from outside ---------------------------------------------------------------

async def test_probe_tells_open_from_blocked_through_nftables(pair, rules, tmp_path):
    """probe-listen in the server namespace, probe from the outside one, nftables dropping
    443/tcp and 10000/udp on the server: both halves agree, for TCP and UDP."""
    rules("""table inet filter {
      chain input { type filter hook input priority 0; policy accept;
        tcp dport 443 drop
        udp dport 10000 drop
      }
    }""")
    listened = "80/tcp,443/tcp,10000/udp,3478/udp"
    listener = pair.start_process(pair.server, [
        *WIZARD, "probe-listen", "--host", pair.server_address, "--ports", listened,
        "--timeout", "30", "--settle", "1", "--token", "t0k3n", "--json"],
        tmp_path / "listen.log")
    try:
        wait_for(lambda: "listening on" in listener.log_text(), 10, "probe-listen")
        log = listener.log_text()
        assert f"jitsi-wizard probe {pair.server_address} t0k3n --ports {listened}" in log
        assert f"curl -m 5 http://{pair.server_address}:80/t0k3n" in log
        # 5349/tcp and 5000/udp: nothing listens and nothing drops them.
        outside = pair.run(pair.outside, [
            *WIZARD, "probe", pair.server_address, "t0k3n", "--ports",
            listened + ",5349/tcp,5000/udp", "--timeout", "1.5", "--json"])
        assert outside.returncode == 1, outside.stderr
        seen = {o["port"]: o["status"] for o in json.loads(outside.stdout)}
        assert seen == {"80/tcp": "reached", "443/tcp": "no_answer", "10000/udp": "no_answer",
                        "3478/udp": "reached", "5349/tcp": "refused", "5000/udp": "refused"}
        listener.popen.wait(timeout=20)
    finally:
        listener.stop()
    assert listener.popen.returncode == 1
    log = (tmp_path / "listen.log").read_text()
    report = json.loads(log[log.index("["):])
    assert {o["port"]: o["status"] for o in report} == {
        "80/tcp": "reached", "443/tcp": "not_reached", "10000/udp": "not_reached",
        "3478/udp": "reached"}
    assert all(o["detail"] == f"from {pair.outside_address}" for o in report
               if o["status"] == "reached")

    # The local reading of the same rules agrees with what the outside saw.
    result = await firewall(pair, tmp_path)
    assert [b for b in result.data["blocked"] if "IPv6" not in b] == ["443/tcp", "10000/udp"]


async def test_listener_skips_ports_in_use_and_answers_curl_style(tmp_path):
    held, tcp_free, udp_free = free_port("tcp"), free_port("tcp"), free_port("udp")
    ready = asyncio.Event()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", held))
        busy.listen(1)
        listening = asyncio.ensure_future(listen(
            [(held, "tcp"), (tcp_free, "tcp"), (udp_free, "udp")], "abc", timeout=10,
            address="127.0.0.1", on_ready=lambda *_: ready.set()))
        await asyncio.wait_for(ready.wait(), 5)
        # What `curl http://HOST:PORT/TOKEN` sends.
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp_free)
        writer.write(b"GET /abc HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        assert reply.startswith(b"HTTP/1.0 200 OK") and b"jitsi-wizard-probe ok" in reply
        # A wrong token is not counted.
        wrong = await probe("127.0.0.1", "not-it", [(udp_free, "udp")], timeout=0.6)
        assert wrong[0].status == "no_answer"
        right = await probe("127.0.0.1", "abc", [(udp_free, "udp")], timeout=3)
        assert right[0].status == "reached"
        outcomes = {o.port: o for o in await asyncio.wait_for(listening, 5)}
    assert outcomes[(held, "tcp")].status == "skipped"
    assert f"(pid {os.getpid()})" in outcomes[(held, "tcp")].detail
    assert outcomes[(tcp_free, "tcp")].status == outcomes[(udp_free, "udp")].status == "reached"
