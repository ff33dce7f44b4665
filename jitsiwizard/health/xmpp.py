"""A small XMPP client for the verification: open a c2s stream to one host, STARTTLS, read the
SASL mechanisms offered, and optionally try one login (PLAIN, over TLS only).

Hand-written rather than slixmpp: the current slixmpp needs Python 3.11 and a compiled
extension, the target hosts run 3.9; and what the verification must see (the mechanisms
offered before login, a host-unknown stream error for a host that must not exist) sits
below the events slixmpp exposes. The client does exactly these few exchanges.

Bounded: one deadline for the whole exchange, at most MAX_BYTES read, and no DTD (XMPP
forbids them; refusing them keeps entity expansion out of the parser).
"""

from __future__ import annotations

import base64
import contextlib
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

NS_STREAM = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
MAX_BYTES = 256 * 1024


class XmppError(Exception):
    """The exchange could not go on: what was seen, in words for the admin."""


class StreamError(XmppError):
    def __init__(self, condition: str):
        super().__init__(f"the server ended the stream with <{condition}/>")
        self.condition = condition


@dataclass
class Probe:
    domain: str
    tls: bool = False
    mechanisms: list[str] = field(default_factory=list)  # offered after STARTTLS
    login: str = ""  # "" (not tried), "success", or the SASL failure condition
    text: str = ""  # the server's <text/> with a failure


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _Stream:
    def __init__(self, host: str, port: int, domain: str, timeout: float):
        self.domain = domain
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.received = 0
        try:
            self.sock: socket.socket = socket.create_connection((host, port),
                                                                timeout=self._left())
        except socket.timeout:
            raise XmppError(f"no connection to {host}:{port} within {timeout:g}s") from None
        except OSError as exc:
            raise XmppError(f"cannot connect to {host}:{port}: "
                            f"{exc.strerror or exc}") from None
        self.parser: ET.XMLPullParser | None = None
        self.depth = 0
        self.ready: list[ET.Element] = []

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise XmppError(f"the XMPP exchange took longer than {self.timeout:g}s")
        return left

    def send(self, text: str) -> None:
        self.sock.settimeout(self._left())
        try:
            self.sock.sendall(text.encode("utf-8"))
        except OSError as exc:
            raise XmppError(f"sending to the XMPP server failed: {exc}") from None

    def open(self) -> ET.Element:
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.ready = []
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  f"xmlns:stream='{NS_STREAM}' to={quoteattr(self.domain)} version='1.0'>")
        features = self.next()
        if features.tag != f"{{{NS_STREAM}}}features":
            raise XmppError(f"expected stream features, got <{_local(features.tag)}/>")
        return features

    def next(self) -> ET.Element:
        while not self.ready:
            self.sock.settimeout(self._left())
            try:
                data = self.sock.recv(16384)
            except socket.timeout:
                raise XmppError(f"no answer from the XMPP server within "
                                f"{self.timeout:g}s") from None
            except OSError as exc:
                raise XmppError(f"reading from the XMPP server failed: {exc}") from None
            if not data:
                raise XmppError("the XMPP server closed the connection")
            self.received += len(data)
            if self.received > MAX_BYTES:
                raise XmppError(f"the XMPP server sent more than {MAX_BYTES} bytes")
            if b"<!" in data:
                raise XmppError("the XMPP server sent a DTD or comment, which XMPP forbids")
            try:
                self.parser.feed(data)
                events = list(self.parser.read_events())
            except ET.ParseError as exc:
                raise XmppError(f"the XMPP server sent malformed XML: {exc}") from None
            for event, element in events:
                if event == "start":
                    self.depth += 1
                    continue
                self.depth -= 1
                if self.depth == 1:
                    self.ready.append(element)
                elif self.depth == 0 and not self.ready:
                    raise XmppError("the XMPP server closed the stream")
        element = self.ready.pop(0)
        if element.tag == f"{{{NS_STREAM}}}error":
            conditions = [_local(c.tag) for c in element if _local(c.tag) != "text"]
            raise StreamError(conditions[0] if conditions else "undefined-condition")
        return element

    def starttls(self, ca: str | None) -> None:
        self.send(f"<starttls xmlns='{NS_TLS}'/>")
        answer = self.next()
        if _local(answer.tag) != "proceed":
            raise XmppError(f"STARTTLS refused (<{_local(answer.tag)}/>)")
        context = ssl.create_default_context(cafile=ca)
        self.sock.settimeout(self._left())
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname=self.domain)
        except ssl.SSLCertVerificationError as exc:
            raise XmppError(f"the certificate Prosody presents for {self.domain} is not "
                            f"trusted: {exc.verify_message}"
                            + (f" (trusting {ca})" if ca else " (trusting the system CAs)")
                            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise XmppError(f"TLS handshake with Prosody failed: {exc}") from None

    def close(self) -> None:
        with contextlib.suppress(OSError, XmppError):
            self.send("</stream:stream>")
        with contextlib.suppress(OSError):
            self.sock.close()


def probe(host: str, port: int, domain: str, *, ca: str | None, timeout: float,
          username: str | None = None, password: str | None = None) -> Probe:
    """Connect to `domain` at host:port, require STARTTLS, read the mechanisms offered and,
    with a username, log in with PLAIN. Raises XmppError (StreamError for a stream error such
    as host-unknown) with what was seen."""
    stream = _Stream(host, port, domain, timeout)
    try:
        features = stream.open()
        if features.find(f"{{{NS_TLS}}}starttls") is None:
            raise XmppError(f"{domain} does not offer STARTTLS on {host}:{port}")
        stream.starttls(ca)
        features = stream.open()
        found = features.find(f"{{{NS_SASL}}}mechanisms")
        result = Probe(domain, True, [] if found is None else [m.text or "" for m in found])
        if username is None:
            return result
        if "PLAIN" not in result.mechanisms:
            result.login = "mechanism-unavailable"
            return result
        initial = base64.b64encode(f"\0{username}\0{password or ''}".encode()).decode()
        stream.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{initial}</auth>")
        answer = stream.next()
        if _local(answer.tag) == "success":
            result.login = "success"
        elif _local(answer.tag) == "failure":
            conditions = [_local(c.tag) for c in answer if _local(c.tag) != "text"]
            result.login = conditions[0] if conditions else "failure"
            text = answer.find(f"{{{NS_SASL}}}text")
            result.text = (text.text or "") if text is not None else ""
        else:
            raise XmppError(f"unexpected answer to a login: <{_local(answer.tag)}/>")
        return result
    finally:
        stream.close()
