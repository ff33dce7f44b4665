"""Peers that misbehave, for tests/test_hostile_peers.py: a TCP server on 127.0.0.1 that runs
one behaviour per connection, each in a thread of its own, and keeps every byte it received
(after STARTTLS, the decrypted ones), so that a test can show a password never arrived.

A behaviour is a function of a Conn: it reads what the client sends, then answers too slowly,
too much, or wrongly. Behaviours end when the client goes away or the peer stops; pacing
(a byte a second) waits on the peer's stop event, so stopping never waits for a drip.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path
from typing import Callable

NS_STREAM = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
STREAM_HEADER = (f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                 f"xmlns:stream='{NS_STREAM}' id='hostile' from='peer' version='1.0'>")


class Gone(Exception):
    """The client went away, or the peer is stopping."""


class Conn:
    def __init__(self, sock: socket.socket, peer: Peer):
        self.sock = sock
        self.peer = peer
        self.buf = b""
        sock.settimeout(0.1)  # so that reads notice the peer stopping

    def _recv(self) -> bytes:
        while not self.peer.stopping.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                raise Gone() from None
            if not data:
                raise Gone()
            self.peer.record(data)
            return data
        raise Gone()

    def read_until(self, marker: bytes, limit: int = 64 * 1024) -> bytes:
        """What came up to and including `marker` (the rest stays buffered)."""
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise Gone()
            self.buf += self._recv()
        head, _, self.buf = self.buf.partition(marker)
        return head + marker

    def drain(self) -> None:
        """Read (and record) until the client goes away."""
        while True:
            self._recv()

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError:
            raise Gone() from None

    def pace(self, seconds: float) -> None:
        """Let `seconds` pass (the misbehaviour's own pace), unless the peer stops."""
        if self.peer.stopping.wait(seconds):
            raise Gone()

    def drip(self, data: bytes, every: float = 0.2) -> None:
        """`data` a byte at a time, one every `every` seconds."""
        for i in range(len(data)):
            self.send(data[i:i + 1])
            self.pace(every)

    def drip_forever(self, byte: bytes = b"a", every: float = 0.2) -> None:
        while True:
            self.drip(byte, every)

    def flood(self, chunk: bytes, limit: int = 64 * 1024 * 1024) -> None:
        """`chunk` again and again, as fast as the client reads, up to `limit` bytes."""
        sent = 0
        while sent < limit and not self.peer.stopping.is_set():
            try:
                self.sock.sendall(chunk)
            except socket.timeout:
                continue  # the client is not reading right now
            except OSError:
                raise Gone() from None
            sent += len(chunk)

    def starttls(self, cert: Path, key: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        self.sock.settimeout(5)
        try:
            self.sock = context.wrap_socket(self.sock, server_side=True)
        except (OSError, ssl.SSLError):
            raise Gone() from None  # the client refused the certificate, as it should
        self.sock.settimeout(0.1)


Behaviour = Callable[[Conn], None]


class Peer:
    """`with Peer(behaviour) as peer:` listens on 127.0.0.1:`peer.port` until the block
    ends; `peer.heard(b"...")` says whether those bytes arrived."""

    def __init__(self, behaviour: Behaviour):
        self.behaviour = behaviour
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.received = bytearray()
        self.connections = 0
        self.threads: list[threading.Thread] = []

    def record(self, data: bytes) -> None:
        with self.lock:
            self.received += data

    def heard(self, data: bytes) -> bool:
        with self.lock:
            return data in self.received

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            worker = threading.Thread(target=self._serve, args=(sock,), daemon=True)
            self.threads.append(worker)
            worker.start()

    def _serve(self, sock: socket.socket) -> None:
        conn = Conn(sock, self)
        with contextlib.suppress(Gone):
            self.behaviour(conn)
            conn.drain()  # after its answer, keep listening (and recording)
        with contextlib.suppress(OSError):
            conn.sock.close()

    def __enter__(self) -> Peer:
        worker = threading.Thread(target=self._accept, daemon=True)
        self.threads.append(worker)
        worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for worker in list(self.threads):
            worker.join(5)
        self.listener.close()
        assert not any(w.is_alive() for w in self.threads), "a hostile peer did not stop"


# -- HTTP ---------------------------------------------------------------------------------------

def http_request(conn: Conn) -> None:
    conn.read_until(b"\r\n\r\n")


def http_answer(body: bytes, *, status: str = "200 OK", chunked: bool = False) -> Behaviour:
    """A well-formed answer with `body` (JSON that may hold anything)."""
    def behave(conn: Conn) -> None:
        http_request(conn)
        if chunked:
            half = len(body) // 2
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part)
                              for part in (body[:half], body[half:]) if part)
            conn.send(f"HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                      + chunks + b"0\r\n\r\n")
        else:
            conn.send(f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
                      "Content-Type: application/json\r\n\r\n".encode() + body)
    return behave


def drip_body(conn: Conn) -> None:
    """Announces a small body, then sends it a byte every 0.2 s."""
    http_request(conn)
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    conn.drip_forever(b"{")


def drip_headers(conn: Conn) -> None:
    """A status line, then one header line every 0.2 s, never the end of the headers."""
    http_request(conn)
    conn.send(b"HTTP/1.1 200 OK\r\n")
    while True:
        conn.send(b"X-Drip: 1\r\n")
        conn.pace(0.2)


def header_flood(conn: Conn) -> None:
    http_request(conn)
    conn.send(b"HTTP/1.1 200 OK\r\n")
    conn.flood(b"X-Flood: " + b"f" * 1000 + b"\r\n")


def many_headers(conn: Conn) -> None:
    http_request(conn)
    conn.send(b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * 100 + b"Content-Length: 2\r\n\r\n{}")


def huge_body(conn: Conn) -> None:
    """No length: a body that never ends, as fast as the client reads."""
    http_request(conn)
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    conn.flood(b"[" * 65536)


def huge_length(conn: Conn) -> None:
    """Announces 100000 bytes, then sends one a second (the case seen in the field)."""
    http_request(conn)
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    conn.drip_forever(b"{", 1.0)


def not_http(conn: Conn) -> None:
    http_request(conn)
    conn.send(b"SSH-2.0-OpenSSH_9.2\r\n\x00\xff\xfe garbage\r\n\r\n")


def silent(conn: Conn) -> None:
    """Accepts the connection, reads, never answers."""
    conn.drain()


def tls_drip(conn: Conn) -> None:
    """The start of a TLS handshake record, then its bytes one every 0.2 s."""
    conn.send(b"\x16\x03\x03\x40\x00")
    conn.drip_forever(b"\x02")


def tls_server(cert: Path, key: Path) -> Behaviour:
    def behave(conn: Conn) -> None:
        conn.starttls(cert, key)
    return behave


# -- XMPP ---------------------------------------------------------------------------------------

def xmpp_open(conn: Conn) -> None:
    """Read the client's stream header."""
    conn.read_until(b"version='1.0'>")


def xmpp_drip(conn: Conn) -> None:
    """The server's stream header a byte every 0.2 s."""
    xmpp_open(conn)
    conn.drip(STREAM_HEADER.encode())


def xmpp_huge_header(conn: Conn) -> None:
    """A stream header whose attribute never ends, as fast as the client reads."""
    xmpp_open(conn)
    conn.send(STREAM_HEADER[:-1].encode() + b" padding='")
    conn.flood(b"x" * 65536)


def xmpp_dtd(conn: Conn) -> None:
    """A DTD whose "<!" comes split over two reads (and holds no other "<!")."""
    xmpp_open(conn)
    for part in (b"<?xml version='1.0'?>", b"<"):
        conn.send(part)
        conn.pace(0.05)
    conn.send(b"!DOCTYPE stream:stream>" + STREAM_HEADER[21:].encode())


def xmpp_http(conn: Conn) -> None:
    """An HTTP server where Prosody should be: it answers, but not XMPP."""
    conn.read_until(b">")
    conn.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    raise Gone()


def xmpp_starttls(cert: Path, key: Path) -> Behaviour:
    """Enough of a c2s server to reach a login: STARTTLS with `cert`, then PLAIN offered;
    whatever the client sends after TLS is recorded (a password would be)."""
    def behave(conn: Conn) -> None:
        xmpp_open(conn)
        conn.send(STREAM_HEADER.encode() + f"<stream:features><starttls xmlns='{NS_TLS}'>"
                  "<required/></starttls></stream:features>".encode())
        conn.read_until(b"/>")
        conn.send(f"<proceed xmlns='{NS_TLS}'/>".encode())
        conn.starttls(cert, key)
        xmpp_open(conn)
        conn.send(STREAM_HEADER.encode() + f"<stream:features><mechanisms xmlns='{NS_SASL}'>"
                  "<mechanism>PLAIN</mechanism></mechanisms></stream:features>".encode())
        conn.read_until(b"</auth>")
        conn.send(f"<failure xmlns='{NS_SASL}'><not-authorized/></failure>".encode())
    return behave


def xmpp_tls_drip(conn: Conn) -> None:
    """STARTTLS proceeds, then the TLS handshake comes a byte every 0.2 s."""
    xmpp_open(conn)
    conn.send(STREAM_HEADER.encode() + f"<stream:features><starttls xmlns='{NS_TLS}'/>"
              "</stream:features>".encode())
    conn.read_until(b"/>")
    conn.send(f"<proceed xmlns='{NS_TLS}'/>".encode())
    tls_drip(conn)
