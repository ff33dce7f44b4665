"""The network probes of the verification, each bounded in time and size: an HTTP GET
(jicofo's and the bridge's health, jicofo's stats) and the certificate a TLS server
presents for a name (SNI). Each exchange has one deadline (see deadline.py): a peer that
answers a byte at a time, or with endless headers, is cut off when it passes."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from jitsiwizard.checks.deadline import Deadline

MAX_BODY = 64 * 1024
MAX_HEAD = 16 * 1024  # the status line and the headers
MAX_HEADERS = 64  # header lines; jicofo and the bridge send about ten
HEAD_END = re.compile(rb"\r?\n\r?\n")
STATUS_LINE = re.compile(r"HTTP/1\.[01] ([0-9]{3})(?: |$)")


class ProbeError(Exception):
    """What went wrong, in words for the admin."""


@dataclass
class HttpAnswer:
    status: int
    body: str


def http_get(url: str, timeout: float) -> HttpAnswer:
    """GET an http:// URL, all of it within `timeout` seconds; at most MAX_HEADERS header
    lines in MAX_HEAD bytes and MAX_BODY bytes of body are read."""
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port or 80
        request = _request(parts.path, parts.query, host, port)
    except (ValueError, UnicodeError):
        host = None
    if parts.scheme != "http" or not host:
        raise ProbeError(f"{url} is not an http:// URL")
    deadline = Deadline(timeout)
    reader = None
    try:
        with deadline.connect(host, port) as sock:
            deadline.send(sock, request)
            reader = _Reader(sock, deadline, url)
            status, headers = reader.head()
            return HttpAnswer(status, reader.body(headers).decode("utf-8", "replace"))
    except socket.timeout:
        got = f" ({reader.received} bytes came)" if reader and reader.received else ""
        raise ProbeError(f"{url} did not answer within {timeout:g}s{got}") from None
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
        raise ProbeError(f"{url}: {reason}") from None


def _request(path: str, query: str, host: str, port: int) -> bytes:
    target = (path or "/") + (f"?{query}" if query else "")
    name = f"[{host}]" if ":" in host else host
    if any(c <= " " or c == "\x7f" for c in target + name):
        raise ValueError("a space or control character in the URL")
    return (f"GET {target} HTTP/1.1\r\nHost: {name}:{port}\r\nAccept: application/json\r\n"
            "User-Agent: jitsi-wizard\r\nConnection: close\r\n\r\n").encode("ascii")


class _Reader:
    """An HTTP answer from a socket, within the deadline and the size caps."""

    def __init__(self, sock: socket.socket, deadline: Deadline, url: str):
        self.sock, self.deadline, self.url = sock, deadline, url
        self.buf = b""
        self.received = 0

    def _fill(self) -> bool:
        """Read what came next; False when the server closed the connection."""
        data = self.deadline.recv(self.sock)
        self.received += len(data)
        self.buf += data
        return bool(data)

    def _need(self, size: int, what: str) -> None:
        while len(self.buf) < size:
            if not self._fill():
                raise ProbeError(f"{self.url} closed the connection in the middle of {what}")

    def head(self) -> tuple[int, dict]:
        """(status, headers with lower-case names)."""
        while not HEAD_END.search(self.buf, 0, MAX_HEAD + 4):
            if len(self.buf) > MAX_HEAD:
                raise ProbeError(f"{self.url} sent more than {MAX_HEAD} bytes of headers")
            if not self._fill():
                raise ProbeError(f"{self.url} closed the connection before the end of its "
                                 f"headers ({self.received} bytes came)")
        end = HEAD_END.search(self.buf)
        lines = re.split(r"\r?\n", self.buf[:end.start()].decode("latin-1"))
        self.buf = self.buf[end.end():]
        if len(lines) > MAX_HEADERS + 1:
            raise ProbeError(f"{self.url} sent more than {MAX_HEADERS} header lines")
        status = STATUS_LINE.match(lines[0])
        if status is None:
            raise ProbeError(f"{self.url} did not answer HTTP: it sent {lines[0][:60]!r}")
        headers = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise ProbeError(f"{self.url} sent a malformed header line {line[:60]!r}")
            headers[name.strip().lower()] = value.strip()
        return int(status.group(1)), headers

    def body(self, headers: dict) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._chunked()
        length = headers.get("content-length")
        if length is None:  # the body ends when the server closes the connection
            while len(self.buf) <= MAX_BODY and self._fill():
                pass
            self._cap(len(self.buf))
            return self.buf
        if not re.fullmatch(r"[0-9]{1,12}", length):
            raise ProbeError(f"{self.url} sent a malformed Content-Length {length[:40]!r}")
        size = int(length)
        self._cap(size)  # refused before waiting for it
        self._need(size, f"its body ({size} bytes announced)")
        return self.buf[:size]

    def _cap(self, size: int) -> None:
        if size > MAX_BODY:
            raise ProbeError(f"{self.url} answered with more than {MAX_BODY} bytes")

    def _chunked(self) -> bytes:
        body = b""
        while True:
            while b"\n" not in self.buf[:64]:
                if len(self.buf) >= 64:
                    raise ProbeError(f"{self.url} sent a malformed chunk size")
                self._need(len(self.buf) + 1, "a chunk size")
            line, self.buf = self.buf.split(b"\n", 1)
            size_text = line.split(b";", 1)[0].strip()
            if not re.fullmatch(rb"[0-9a-fA-F]{1,8}", size_text):
                raise ProbeError(f"{self.url} sent a malformed chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                return body  # trailers are not read: the connection closes
            self._cap(len(body) + size)
            self._need(size + 2, "a chunk")
            body += self.buf[:size]
            self.buf = self.buf[size:].lstrip(b"\r").lstrip(b"\n")


@dataclass
class Meetings:
    conferences: int
    participants: int


def meetings(url: str, timeout: float) -> Meetings:
    """Live conferences and participants from jicofo's /stats (JSON). Anything but two
    counts (non-negative integers) is refused: a wrong zero would let a run drop meetings."""
    answer = http_get(url, timeout)
    if answer.status != 200:
        raise ProbeError(f"{url} answered HTTP {answer.status}")
    try:
        doc = json.loads(answer.body)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        raise ProbeError(f"{url} did not answer with jicofo's statistics (JSON with "
                         "conferences and participants)")
    return Meetings(_count(doc, "conferences", url), _count(doc, "participants", url))


MAX_COUNT = 10 ** 9  # far beyond any one jicofo; a longer number is not a count


def _count(doc: dict, key: str, url: str) -> int:
    """doc[key] when it is a count: an int (not a bool, not a float such as 0.4 or 1e999,
    not a string) from 0 to MAX_COUNT."""
    value = doc.get(key)
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    if key not in doc:
        seen = "missing"
    elif type(value) is int:  # printing a number of thousands of digits costs: not shown
        seen = "negative" if value < 0 else f"more than {MAX_COUNT}"
    else:
        seen = json.dumps(value)[:40]
    raise ProbeError(f"{url} did not give {key} as a count of 0 or more ({seen})")


@dataclass
class Served:
    sha256: str  # hex, colon-free, lower case
    pem: str


def served_certificate(host: str, port: int, name: str, timeout: float) -> Served:
    """The certificate a TLS server presents for `name` (SNI). Nothing is trusted or refused
    here: the caller compares it with the one the host should serve."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    deadline = Deadline(timeout)
    try:
        with deadline.connect(host, port) as raw, deadline.tls(raw, context, name) as tls:
            der = tls.getpeercert(binary_form=True)
    except socket.timeout:
        raise ProbeError(f"no TLS answer from {host}:{port} within {timeout:g}s") from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise ProbeError(f"TLS to {host}:{port} for {name} failed: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if not der:
        raise ProbeError(f"{host}:{port} presented no certificate for {name}")
    return Served(hashlib.sha256(der).hexdigest(), ssl.DER_cert_to_PEM_cert(der))


def pem_sha256(pem: str) -> str | None:
    """The SHA-256 fingerprint of the first certificate in a PEM text."""
    begin = pem.find("-----BEGIN CERTIFICATE-----")
    end = pem.find("-----END CERTIFICATE-----", begin)
    if begin < 0 or end < 0:
        return None
    try:
        der = ssl.PEM_cert_to_DER_cert(pem[begin:end + len("-----END CERTIFICATE-----")])
    except ValueError:
        return None
    return hashlib.sha256(der).hexdigest()


def colons(fingerprint: str) -> str:
    """AB:CD:... as openssl prints fingerprints."""
    upper = fingerprint.upper()
    return ":".join(upper[i:i + 2] for i in range(0, len(upper), 2))
