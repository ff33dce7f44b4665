"""One deadline for a whole network exchange: the name lookup, the connection, the TLS
handshake and every send and receive get only the time that is left of it.

A socket's own timeout (and http.client's, which is the socket's) restarts with every byte,
so a peer that sends a byte a second holds a reader as long as it likes. Here the timeout is
set to the time left before each call, and a call that finds none left raises Expired; the
callers cap how much they read. CPython bounds one TLS handshake, sendall or recv call by the
timeout it starts with, so no single call outlives the deadline either.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time


class Expired(socket.timeout):
    """The deadline passed (a socket.timeout, so handlers of timeouts take it as one)."""


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """The seconds left; Expired when none are."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise Expired(f"took longer than {self.seconds:g}s")
        return left

    def resolve(self, host: str, port: int) -> list[tuple]:
        """getaddrinfo for a TCP connection, within the deadline. An address needs no lookup;
        a name is looked up in a thread, since the resolver takes no timeout (a lookup that
        outlives the deadline is left to finish on its own)."""
        try:
            return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                      flags=socket.AI_NUMERICHOST)
        except (OSError, UnicodeError):
            pass
        found: dict = {}

        def lookup() -> None:
            try:
                found["addresses"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                found["error"] = exc

        worker = threading.Thread(target=lookup, name="jw-resolve", daemon=True)
        worker.start()
        worker.join(self.left())
        if worker.is_alive():
            raise Expired(f"looking up {host} took longer than {self.seconds:g}s")
        error = found.get("error")
        if isinstance(error, UnicodeError):
            raise socket.gaierror(f"{host!r} is not a valid host name")
        if error is not None:
            raise error
        return found["addresses"]

    def connect(self, host: str, port: int) -> socket.socket:
        """A TCP connection to host:port (each of its addresses in turn)."""
        last: OSError = OSError(f"{host} has no address")
        for family, kind, proto, _, address in self.resolve(host, port):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.left())
                sock.connect(address)
                return sock
            except OSError as exc:
                sock.close()
                if isinstance(exc, Expired):
                    raise
                last = exc
        raise last

    def tls(self, sock: socket.socket, context: ssl.SSLContext,
            server_hostname: str) -> ssl.SSLSocket:
        """The TLS handshake over `sock`, within the deadline."""
        sock.settimeout(self.left())
        return context.wrap_socket(sock, server_hostname=server_hostname)

    def send(self, sock: socket.socket, data: bytes) -> None:
        sock.settimeout(self.left())
        sock.sendall(data)

    def recv(self, sock: socket.socket, size: int = 16384) -> bytes:
        sock.settimeout(self.left())
        return sock.recv(size)
