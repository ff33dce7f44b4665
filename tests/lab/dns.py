"""Real DNS servers on loopback for tests: an authoritative dnsmasq, and one that never answers."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path

from tests.lab.proc import Proc, wait_for


def free_dns_port(address: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `address` (DNS servers listen on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((address, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((address, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no port free for both UDP and TCP on {address}")


def _answers(address: str, port: int) -> bool:
    """True once the server answers a DNS query (any rcode). Over TCP, because a UDP query to
    a port not yet bound waits its whole timeout instead of failing at once."""
    import dns.exception
    import dns.message
    import dns.query

    try:
        dns.query.tcp(dns.message.make_query("probe.invalid.", "A"), address, port=port,
                      timeout=1)
        return True
    except (OSError, dns.exception.Timeout):
        return False


class Dnsmasq:
    """A real dnsmasq on `address`:<free port>, authoritative for `zone`.

    `records` maps a name (relative to the zone, or fully qualified) to (ipv4, ipv6), either
    may be None; `cnames` maps alias -> target. The zone's NS is `ns1.<zone>`, which resolves
    to `ns_address` (default: this server's own address), so a checker that looks up the
    zone's authoritative servers finds this one (or another lab server on the same port).
    An unknown name in the zone answers NXDOMAIN; a name with only an A record answers
    "no data" for AAAA; names outside the zone are REFUSED.
    """

    def __init__(self, tmp_path: Path, zone: str,
                 records: dict[str, tuple[str | None, str | None]],
                 cnames: dict[str, str] | None = None, *, address: str = "127.0.0.1",
                 port: int | None = None, ns_address: str | None = None):
        self.dir = Path(tmp_path) / f"dnsmasq-{zone}-{address}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.zone = zone.rstrip(".")
        self.records = dict(records)
        self.cnames = dict(cnames or {})
        self.address = address
        self.port = port or free_dns_port(address)
        self.ns_address = ns_address or address
        self.proc: Proc | None = None

    def fqdn(self, name: str) -> str:
        name = name.rstrip(".")
        if name == self.zone or name.endswith("." + self.zone):
            return name
        return f"{name}.{self.zone}"

    def argv(self) -> list[str]:
        ns = f"ns1.{self.zone}"
        argv = ["dnsmasq", "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null",
                f"--port={self.port}", f"--listen-address={self.address}", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--user=root", f"--pid-file={self.dir / 'pid'}",
                f"--auth-server={ns},{self.address}", f"--auth-zone={self.zone}",
                f"--host-record={ns},{self.ns_address}"]
        for name, (ipv4, ipv6) in self.records.items():
            addrs = [a for a in (ipv4, ipv6) if a]
            if addrs:
                argv.append(f"--host-record={self.fqdn(name)},{','.join(addrs)}")
        for alias, target in self.cnames.items():
            argv.append(f"--cname={self.fqdn(alias)},{self.fqdn(target)}")
        return argv

    def start(self) -> Dnsmasq:
        self.proc = Proc(self.argv(), log=self.dir / "dnsmasq.log")
        proc = self.proc

        def ready() -> bool:
            if not proc.alive():
                raise RuntimeError(f"dnsmasq exited early:\n{proc.log_text()[-3000:]}")
            return _answers(self.address, self.port)

        wait_for(ready, 10, f"dnsmasq on {self.address}:{self.port}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    @property
    def resolver(self) -> str:
        """The ADDR:PORT form the checks and `--resolver` take."""
        return f"{self.address}:{self.port}"

    def __enter__(self) -> Dnsmasq:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SilentDns:
    """A DNS server that receives queries and never answers (UDP bound and read, TCP
    accepted and left open): a resolver that hangs, to prove timeouts are bounded."""

    def __init__(self, address: str = "127.0.0.1"):
        self.address = address
        self.port = free_dns_port(address)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def start(self) -> SilentDns:
        # A bound UDP socket that nobody reads still swallows the packets: no ICMP
        # "port unreachable" comes back, so the client waits its full timeout.
        self.udp.bind((self.address, self.port))
        self.tcp.bind((self.address, self.port))
        self.tcp.listen(16)  # the kernel completes handshakes; nobody ever reads
        return self

    def stop(self) -> None:
        self.udp.close()
        self.tcp.close()

    @property
    def resolver(self) -> str:
        return f"{self.address}:{self.port}"

    def __enter__(self) -> SilentDns:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RefusingDns:
    """A resolver that answers every query over UDP with REFUSED, as a broken or
    restricted resolver does. (dnsmasq refuses names outside its zone only from 2.86 on:
    Debian 11's answers them with an empty NOERROR.)"""

    def __init__(self, address: str = "127.0.0.1"):
        self.address = address
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((address, 0))
        self.port = self.udp.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        import dns.exception
        import dns.message
        import dns.rcode

        while True:
            try:
                data, peer = self.udp.recvfrom(4096)
            except OSError:  # closed by stop()
                return
            try:
                reply = dns.message.make_response(dns.message.from_wire(data))
            except dns.exception.DNSException:
                continue
            reply.set_rcode(dns.rcode.REFUSED)
            with contextlib.suppress(OSError):
                self.udp.sendto(reply.to_wire(), peer)

    def start(self) -> RefusingDns:
        self.thread.start()
        return self

    def stop(self) -> None:
        # shutdown() wakes the thread blocked in recvfrom; close() alone may not.
        with contextlib.suppress(OSError):
            self.udp.shutdown(socket.SHUT_RDWR)
        self.udp.close()
        self.thread.join(timeout=5)

    @property
    def resolver(self) -> str:
        return f"{self.address}:{self.port}"

    def __enter__(self) -> RefusingDns:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
