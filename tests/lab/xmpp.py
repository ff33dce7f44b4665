"""A small raw-socket XMPP client for tests: STARTTLS, then SASL PLAIN, SCRAM-SHA-1 or ANONYMOUS.

`login()` answers how the server took a login attempt, as a LoginResult whose `outcome` is
"success" (the session then binds a resource, so `jid` is the full JID the server assigned),
"not-authorized", "mechanism-unavailable" (the server did not offer the mechanism), or another
RFC 6120 SASL failure condition (e.g. "temporary-auth-failure"). Every socket operation has a
timeout; when it passes, TimeoutError. A stream error (unknown host, ...) raises StreamError.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import socket
import ssl
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

NS_STREAM = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"


class StreamError(RuntimeError):
    def __init__(self, condition: str):
        super().__init__(f"XMPP stream error: {condition}")
        self.condition = condition


@dataclass
class LoginResult:
    outcome: str
    mechanisms: list[str] = field(default_factory=list)  # offered after STARTTLS (if used)
    tls: bool = False
    jid: str | None = None
    text: str | None = None  # the server's <text/> with a failure


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _Stream:
    """One TCP connection; the XML parser is replaced at every stream restart."""

    def __init__(self, host: str, port: int, domain: str, timeout: float):
        self.domain = domain
        self.timeout = timeout
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except socket.timeout as exc:
            raise TimeoutError(f"connecting to {host}:{port}") from exc
        self.sock.settimeout(timeout)
        self.parser: ET.XMLPullParser | None = None
        self.depth = 0
        self.ready: list[ET.Element] = []

    def send(self, text: str) -> None:
        try:
            self.sock.sendall(text.encode("utf-8"))
        except socket.timeout as exc:
            raise TimeoutError("sending to the XMPP server") from exc

    def open(self) -> ET.Element:
        """Start a (new) stream; returns the <stream:features/> element."""
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.ready = []
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  f"xmlns:stream='{NS_STREAM}' to={quoteattr(self.domain)} version='1.0'>")
        features = self.next()
        if features.tag != f"{{{NS_STREAM}}}features":
            raise RuntimeError(f"expected stream features, got {features.tag}")
        return features

    def next(self) -> ET.Element:
        """The next complete top-level element of the stream."""
        while not self.ready:
            try:
                data = self.sock.recv(65536)
            except socket.timeout as exc:
                raise TimeoutError(f"no answer from the XMPP server within {self.timeout}s") \
                    from exc
            if not data:
                raise ConnectionError("the XMPP server closed the connection")
            self.parser.feed(data)
            for event, element in self.parser.read_events():
                if event == "start":
                    self.depth += 1
                    continue
                self.depth -= 1
                if self.depth == 0:
                    raise ConnectionError("the XMPP server closed the stream")
                if self.depth == 1:
                    self.ready.append(element)
        element = self.ready.pop(0)
        if element.tag == f"{{{NS_STREAM}}}error":
            raise StreamError(_local(element[0].tag) if len(element) else "unknown")
        return element

    def starttls(self, ca: str | None) -> None:
        self.send(f"<starttls xmlns='{NS_TLS}'/>")
        answer = self.next()
        if _local(answer.tag) != "proceed":
            raise RuntimeError(f"STARTTLS refused: {answer.tag}")
        context = ssl.create_default_context(cafile=ca)
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname=self.domain)
        except socket.timeout as exc:
            raise TimeoutError("TLS handshake with the XMPP server") from exc
        self.sock.settimeout(self.timeout)

    def close(self) -> None:
        """Close the stream and wait for the server to close its side, so that the session is
        gone from the server (a server stopped right after would otherwise wait for it)."""
        with contextlib.suppress(OSError, RuntimeError):
            self.send("</stream:stream>")
            while True:
                self.next()  # ends with ConnectionError (an OSError) at the server's close
        self.sock.close()


def _mechanisms(features: ET.Element) -> list[str]:
    found = features.find(f"{{{NS_SASL}}}mechanisms")
    return [] if found is None else [m.text or "" for m in found]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _saslprep(password: str) -> bytes:
    """Close enough to RFC 4013 for test passwords: non-ASCII spaces to space, then NFKC."""
    mapped = "".join(" " if unicodedata.category(c) == "Zs" else c for c in password)
    return unicodedata.normalize("NFKC", mapped).encode("utf-8")


def _auth(stream: _Stream, mechanism: str, initial: bytes | None) -> None:
    body = "=" if initial == b"" else (_b64(initial) if initial is not None else "")
    stream.send(f"<auth xmlns='{NS_SASL}' mechanism={quoteattr(mechanism)}>{body}</auth>")


def _scram_sha1(stream: _Stream, username: str, password: str) -> ET.Element:
    """Run SCRAM-SHA-1; returns the server's final <success/> or <failure/> element."""
    nonce = _b64(os.urandom(18))
    name = username.replace("=", "=3D").replace(",", "=2C")
    client_first_bare = f"n={name},r={nonce}"
    _auth(stream, "SCRAM-SHA-1", ("n,," + client_first_bare).encode("utf-8"))
    answer = stream.next()
    if _local(answer.tag) != "challenge":
        return answer
    server_first = base64.b64decode(answer.text or "").decode("utf-8")
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    if not fields["r"].startswith(nonce):
        raise RuntimeError("SCRAM: the server's nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac("sha1", _saslprep(password), base64.b64decode(fields["s"]),
                                 int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
    stored_key = hashlib.sha1(client_key).digest()
    without_proof = f"c={_b64(b'n,,')},r={fields['r']}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha1).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    final = f"{without_proof},p={_b64(proof)}"
    stream.send(f"<response xmlns='{NS_SASL}'>{_b64(final.encode('utf-8'))}</response>")
    answer = stream.next()
    if _local(answer.tag) == "success":
        server_key = hmac.new(salted, b"Server Key", hashlib.sha1).digest()
        expected = "v=" + _b64(hmac.new(server_key, auth_message, hashlib.sha1).digest())
        if base64.b64decode(answer.text or "").decode("utf-8") != expected:
            raise RuntimeError("SCRAM: the server's signature is wrong")
    return answer


def _bind(stream: _Stream) -> str:
    stream.open()
    stream.send(f"<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'/></iq>")
    while True:
        answer = stream.next()
        if _local(answer.tag) == "iq" and answer.get("id") == "bind1":
            jid = answer.find(f".//{{{NS_BIND}}}jid")
            if answer.get("type") != "result" or jid is None:
                raise RuntimeError(f"resource binding failed: {ET.tostring(answer)!r}")
            return jid.text or ""


def login(port: int, domain: str, *, username: str | None = None,
          password: str | None = None, mechanism: str | None = None, ca: str | None = None,
          host: str = "127.0.0.1", starttls: bool = True, timeout: float = 5.0) -> LoginResult:
    """Log in to `domain` on host:port. Without a username: ANONYMOUS; with one: PLAIN.

    `ca` is the CA file the server's certificate (for `domain`) must chain to. With
    `starttls`, a server that does not offer STARTTLS is an error.
    """
    mechanism = mechanism or ("ANONYMOUS" if username is None else "PLAIN")
    stream = _Stream(host, port, domain, timeout)
    try:
        features = stream.open()
        tls = False
        if starttls:
            if features.find(f"{{{NS_TLS}}}starttls") is None:
                raise RuntimeError(f"{domain} offers no STARTTLS")
            stream.starttls(ca)
            tls = True
            features = stream.open()
        result = LoginResult("", _mechanisms(features), tls)
        if mechanism not in result.mechanisms:
            result.outcome = "mechanism-unavailable"
            return result
        if mechanism == "ANONYMOUS":
            _auth(stream, mechanism, b"")
            answer = stream.next()
        elif mechanism == "PLAIN":
            _auth(stream, mechanism, f"\0{username}\0{password}".encode())
            answer = stream.next()
        elif mechanism == "SCRAM-SHA-1":
            answer = _scram_sha1(stream, username or "", password or "")
        else:
            raise ValueError(f"unsupported mechanism {mechanism}")
        if _local(answer.tag) == "success":
            result.outcome = "success"
            result.jid = _bind(stream)
        elif _local(answer.tag) == "failure":
            conditions = [_local(child.tag) for child in answer if _local(child.tag) != "text"]
            result.outcome = conditions[0] if conditions else "failure"
            text = answer.find(f"{{{NS_SASL}}}text")
            result.text = text.text if text is not None else None
        else:
            raise RuntimeError(f"unexpected SASL answer {answer.tag}")
        return result
    finally:
        stream.close()


def offered_mechanisms(port: int, domain: str, **kwargs) -> list[str]:
    """The SASL mechanisms `domain` offers (after STARTTLS unless starttls=False)."""
    return login(port, domain, mechanism="-", **kwargs).mechanisms
