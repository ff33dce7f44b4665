"""Reachability from outside: temporary listeners here, a prober on another machine.

`listen` opens a TCP or UDP listener on each port that is not in use and waits for the
token; `probe` (run elsewhere) sends the token to each port and reads the listener's reply.
A TCP listener also understands `GET /TOKEN` so plain curl works, and a UDP datagram holding
the token is enough, so `nc -u` works. Only a message with the right token counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass

from jitsiwizard.checks.ports import Port, listeners, port_label

REPLY = b"jitsi-wizard-probe ok"
REACHED = "reached"
NOT_REACHED = "not_reached"
SKIPPED = "skipped"  # the port was in use: no listener
REFUSED = "refused"
NO_ANSWER = "no_answer"
OTHER = "other_service"  # something else answered on that port
ERROR = "error"


def new_token() -> str:
    return secrets.token_hex(8)


@dataclass
class Outcome:
    """What became of one port in a reachability probe, in the exchange's own words (reached,
    not_reached, skipped, refused, no_answer, other_service, error). Not a CheckResult: it
    reports what one listener or prober saw, port by port, as `probe` and `probe-listen`
    print it and the Firewall step shows it; it judges no configuration (the ports checks'
    CheckResults do)."""

    port: Port
    status: str
    detail: str = ""

    def to_json(self) -> dict:
        return {"port": port_label(self.port), "status": self.status, "detail": self.detail}


# --- the listening side ------------------------------------------------------------------------

def _bind(port: Port, address: str | None) -> socket.socket:
    """A socket bound to the port on every address (dual-stack when IPv6 works), or on one."""
    kind = socket.SOCK_STREAM if port[1] == "tcp" else socket.SOCK_DGRAM
    if address:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        candidates = [(family, address)]
    else:
        candidates = [(socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")]
    last: OSError | None = None
    for family, host in candidates:
        sock = socket.socket(family, kind)
        try:
            if family == socket.AF_INET6 and not address:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port[0]))
            if kind == socket.SOCK_STREAM:
                sock.listen(64)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise
            last = exc  # e.g. IPv6 disabled: try IPv4
    raise last or OSError("cannot bind")


def _peer(address) -> str:
    host = address[0]
    if host.startswith("::ffff:"):
        host = host[7:]
    return host


class _Listening:
    def __init__(self, token: str, wanted: list[Port],
                 on_reached: Callable[[int, str, str], None] | None = None):
        self.token = token.encode("ascii")
        self.reached: dict[Port, str] = {}
        self.wanted = wanted
        self.on_reached = on_reached
        self.all_reached = asyncio.Event()
        self.any_reached = asyncio.Event()

    def mark(self, port: Port, peer: str) -> None:
        if port not in self.reached:
            self.reached[port] = peer
            if self.on_reached is not None:
                self.on_reached(port[0], port[1], peer)
        self.any_reached.set()
        if all(p in self.reached for p in self.wanted):
            self.all_reached.set()

    def reply(self, port: Port) -> bytes:
        return REPLY + f" {port_label(port)}\n".encode("ascii")

    def tcp_handler(self, port: Port):
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                data = await asyncio.wait_for(reader.readline(), 5)
                if self.token in data:
                    self.mark(port, _peer(writer.get_extra_info("peername")))
                    body = self.reply(port)
                    if data.startswith(b"GET "):
                        body = (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                                + body)
                    writer.write(body)
                    await asyncio.wait_for(writer.drain(), 5)
            except (asyncio.TimeoutError, OSError, ValueError):
                pass  # a stranger or a broken connection: not a probe
            finally:
                writer.close()

        return handle

    def udp_protocol(self, port: Port):
        listening = self

        class Protocol(asyncio.DatagramProtocol):
            def connection_made(self, transport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr) -> None:
                if listening.token in data:
                    listening.mark(port, _peer(addr))
                    self.transport.sendto(listening.reply(port), addr)

        return Protocol


async def listen(ports: list[Port], token: str, *, timeout: float, settle: float = 10.0,
                 address: str | None = None,
                 on_ready: Callable[[list[Port], list[Outcome]], None] | None = None,
                 on_reached: Callable[[int, str, str], None] | None = None,
                 proc: str = "/proc") -> list[Outcome]:
    """Listen on each free port until every one was reached, or `settle` seconds after the
    first probe arrived (a prober tries all ports at once: what has not arrived by then is
    blocked), or `timeout` passes. Cancelling the task closes every listener at once.

    `on_reached(number, proto, peer)` is called once per port, the moment the first probe
    with the token arrives there, so a caller can tick ports off before listening ends. It
    runs on the loop that runs `listen`: a caller on another thread (a UI) must hand it
    over, e.g. with Textual's `app.call_from_thread`. It must not block."""
    sockets, skipped = _bind_free(ports, address, proc)
    state = _Listening(token, list(sockets), on_reached)
    loop = asyncio.get_running_loop()
    servers = []
    transports = []
    try:
        for port, sock in sockets.items():
            if port[1] == "tcp":
                servers.append(await asyncio.start_server(state.tcp_handler(port), sock=sock))
            else:
                transport, _ = await loop.create_datagram_endpoint(state.udp_protocol(port),
                                                                   sock=sock)
                transports.append(transport)
        if on_ready is not None:
            on_ready(list(sockets), skipped)
        if sockets:
            await _until_reached(state, timeout, settle)
    finally:
        for server in servers:
            server.close()
        for transport in transports:
            transport.close()
        for sock in sockets.values():
            sock.close()
    outcomes = []
    for port in ports:
        if port in state.reached:
            outcomes.append(Outcome(port, REACHED, f"from {state.reached[port]}"))
        elif port in sockets:
            outcomes.append(Outcome(port, NOT_REACHED, "no probe arrived (blocked on the "
                                    "way, or not probed)"))
    return outcomes + skipped


def _bind_free(ports: list[Port], address: str | None,
               proc: str) -> tuple[dict[Port, socket.socket], list[Outcome]]:
    """A bound socket for each port not in use, and the skipped ports (who holds each)."""
    skipped: list[Outcome] = []
    sockets: dict[Port, socket.socket] = {}
    for port in ports:
        try:
            sockets[port] = _bind(port, address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                who = ", ".join(lst.text() for lst in listeners(port[0], port[1], proc))
                detail = f"in use by {who}" if who else "in use"
                skipped.append(Outcome(port, SKIPPED, detail + ": not probed"))
            else:
                skipped.append(Outcome(port, SKIPPED, f"cannot listen: {exc.strerror or exc}"))
    return sockets, skipped


async def _until_reached(state: _Listening, timeout: float, settle: float) -> None:
    """Until every port was reached, or `settle` seconds after the first, or `timeout`."""
    async def settled() -> None:
        await state.any_reached.wait()
        await asyncio.sleep(settle)

    waits = [asyncio.ensure_future(state.all_reached.wait()),
             asyncio.ensure_future(settled())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


def outside_commands(host: str, token: str, ports: list[Port],
                     default_ports: list[Port]) -> list[str]:
    """The one-line commands an admin runs on another machine."""
    extra = ("" if ports == default_ports else
             " --ports " + ",".join(port_label(p) for p in ports))
    wizard = f"jitsi-wizard probe {host} {token}{extra}"
    plain = []
    for number, proto in ports:
        if proto == "tcp":
            plain.append(f"curl -m 5 http://{host}:{number}/{token}")
        else:
            plain.append(f"echo {token} | nc -u -w 3 {host} {number}")
    return [wizard, "; ".join(plain)]


# --- the probing side ----------------------------------------------------------------------

async def _probe_tcp(host: str, port: Port, token: str, timeout: float) -> Outcome:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port[0]), timeout)
    except asyncio.TimeoutError:
        return Outcome(port, NO_ANSWER, f"no answer within {timeout:g} s: dropped by a "
                       "firewall on the way, or the host is down")
    except ConnectionRefusedError:
        return Outcome(port, REFUSED, "connection refused: nothing listens there, or a "
                       "firewall rejects it")
    except OSError as exc:
        return Outcome(port, ERROR, exc.strerror or str(exc))
    try:
        writer.write(token.encode("ascii") + b"\n")
        reply = await asyncio.wait_for(reader.read(256), timeout)
    except (asyncio.TimeoutError, OSError):
        reply = b""
    finally:
        writer.close()
    if REPLY in reply:
        return Outcome(port, REACHED, "the wizard's listener answered")
    return Outcome(port, OTHER, "the port is open, but not the wizard's listener answered "
                   "(another service, or probe-listen is not running)")


async def _probe_udp(host: str, port: Port, token: str, timeout: float) -> Outcome:
    loop = asyncio.get_running_loop()
    answer: asyncio.Future = loop.create_future()

    class Protocol(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr) -> None:
            if not answer.done() and REPLY in data:
                answer.set_result(REACHED)

        def error_received(self, exc: Exception) -> None:
            if not answer.done() and isinstance(exc, ConnectionRefusedError):
                answer.set_result(REFUSED)

    try:
        transport, _ = await loop.create_datagram_endpoint(Protocol, remote_addr=(host, port[0]))
    except OSError as exc:
        return Outcome(port, ERROR, exc.strerror or str(exc))
    try:
        deadline = loop.time() + timeout
        # UDP may lose a datagram: resend a few times within the timeout.
        while not answer.done() and loop.time() < deadline:
            transport.sendto(token.encode("ascii") + b"\n")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(answer),
                                       min(0.5, max(0.0, deadline - loop.time())))
    finally:
        transport.close()
    if answer.done() and answer.result() == REACHED:
        return Outcome(port, REACHED, "the wizard's listener answered")
    if answer.done():
        return Outcome(port, REFUSED, "port unreachable: nothing listens there, or a "
                       "firewall rejects it")
    return Outcome(port, NO_ANSWER, f"no answer within {timeout:g} s: dropped by a firewall "
                   "on the way (or lost)")


async def probe(host: str, token: str, ports: list[Port], *, timeout: float) -> list[Outcome]:
    """Send the token to every port at once; each port is bounded by `timeout`."""
    return list(await asyncio.gather(*(
        (_probe_tcp if port[1] == "tcp" else _probe_udp)(host, port, token, timeout)
        for port in ports)))
