"""A small XMPP client for the verification: open a c2s stream to one host, STARTTLS, read the
SASL mechanisms offered, and optionally try one login (PLAIN, over TLS only).

Hand-written rather than slixmpp: the current slixmpp needs Python 3.11 and a compiled
extension, the target hosts run 3.9; and what the verification must see (the mechanisms
offered before login, a host-unknown stream error for a host that must not exist) sits
below the events slixmpp exposes. The client does exactly these few exchanges.

Bounded: one deadline for the whole exchange (deadline.py: the lookup, the connection, the
TLS handshake, every read), at most MAX_BYTES read (a stream header or stanza that never
ends included), and no DTD (XMPP forbids them; refusing them keeps entity expansion out of
the parser).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import ssl
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from jitsiwizard.checks.deadline import Deadline, Expired

NS_STREAM = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
MAX_BYTES = 256 * 1024


class XmppError(Exception):
    """The exchange could not go on: what was seen, in words for the admin. `answered`: the
    server had sent something (so something listens there, XMPP or not)."""

    answered = False


class Unreachable(XmppError):
    """No connection: nothing listens, or a firewall refuses or drops it. `refused`: the
    host answered that nothing listens there (or a firewall's reject said so)."""

    def __init__(self, message: str, refused: bool = False):
        super().__init__(message)
        self.refused = refused


class PinMismatch(XmppError):
    def __init__(self, seen: str):
        super().__init__(f"the server's certificate is not the pinned one (it presented "
                         f"SHA-256 {seen})")
        self.seen = seen


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
    certificate_sha256: str = ""  # of the certificate the server presented (hex)
    joined: str = ""  # with a room: "joined", or the error condition the room answered
    occupants: list[str] = field(default_factory=list)  # with `list_room`: the nicknames


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


class _Stream:
    def __init__(self, host: str, port: int, domain: str, timeout: float):
        self.domain = domain
        self.deadline = Deadline(timeout)
        self.timeout = timeout
        self.received = 0
        self.tail = b""  # the last byte read, so that a "<!" split over two reads is seen
        try:
            self.sock: socket.socket = self.deadline.connect(host, port)
        except socket.timeout:
            raise Unreachable(f"no connection to {host}:{port} within {timeout:g}s") from None
        except OSError as exc:
            raise Unreachable(f"cannot connect to {host}:{port}: {exc.strerror or exc}",
                              refused=isinstance(exc, ConnectionRefusedError)) from None
        self.parser: ET.XMLPullParser | None = None
        self.depth = 0
        self.ready: list[ET.Element] = []
        self.certificate = b""  # DER, once TLS is up

    def _left(self) -> float:
        try:
            return self.deadline.left()
        except Expired:
            raise XmppError(f"the XMPP exchange took longer than {self.timeout:g}s"
                            + self._came()) from None

    def _came(self) -> str:
        return f" ({self.received} bytes came)" if self.received else ""

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
                raise XmppError(f"no answer from the XMPP server within {self.timeout:g}s"
                                + self._came()) from None
            except OSError as exc:
                raise XmppError(f"reading from the XMPP server failed: {exc}") from None
            if not data:
                raise XmppError("the XMPP server closed the connection")
            self.received += len(data)
            if self.received > MAX_BYTES:
                raise XmppError(f"the XMPP server sent more than {MAX_BYTES} bytes")
            if b"<!" in self.tail + data:
                raise XmppError("the XMPP server sent a DTD or comment, which XMPP forbids")
            self.tail = data[-1:]
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

    def starttls(self, ca: str | None, pin: str | None = None) -> str:
        """Upgrade to TLS; returns the SHA-256 of the certificate presented. With `pin`, that
        certificate must be exactly the pinned one (and the CA store is not consulted);
        pin="" accepts any certificate (only to read it, as `bridge add` does on its own
        host)."""
        self.send(f"<starttls xmlns='{NS_TLS}'/>")
        answer = self.next()
        if _local(answer.tag) != "proceed":
            raise XmppError(f"STARTTLS refused (<{_local(answer.tag)}/>)")
        if pin is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the pin below is the whole check
        else:
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
        der = self.sock.getpeercert(binary_form=True) or b""
        self.certificate = der
        seen = hashlib.sha256(der).hexdigest()
        if pin and seen != pin.replace(":", "").lower():
            raise PinMismatch(seen)
        return seen

    def close(self) -> None:
        with contextlib.suppress(OSError, XmppError):
            self.send("</stream:stream>")
        with contextlib.suppress(OSError):
            self.sock.close()


def probe(host: str, port: int, domain: str, *, ca: str | None, timeout: float,
          username: str | None = None, password: str | None = None, pin: str | None = None,
          room: str | None = None, nick: str = "", list_room: bool = False,
          while_joined=None) -> Probe:
    """Connect to `domain` at host:port, require STARTTLS, read the mechanisms offered and,
    with a username, log in with PLAIN. With `pin` (a SHA-256, hex) the certificate must be
    exactly that one instead of chaining to `ca`. With `room` and a login: join it as `nick`
    (`joined`; `while_joined()` is then called before the session ends), or with
    `list_room` only read its occupants (`occupants`). Raises XmppError
    (StreamError for a stream error such as host-unknown) with what was seen.
    A password goes only to a verified server: pin="" (any certificate) refuses a login."""
    if username is not None and pin == "":
        raise XmppError("no certificate to check the server against: the password was not "
                        "sent")
    with _secured(host, port, domain, timeout, ca, pin) as (stream, seen):
        features = stream.open()
        found = features.find(f"{{{NS_SASL}}}mechanisms")
        result = Probe(domain, True, [] if found is None else [m.text or "" for m in found],
                       certificate_sha256=seen)
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
        if result.login == "success" and room:
            _bind(stream)
            if list_room:
                result.occupants = _occupants(stream, room)
            else:
                result.joined = _join(stream, room, nick)
                if result.joined == "joined" and while_joined is not None:
                    while_joined()
        return result


def fetch_certificate(host: str, port: int, domain: str, *, timeout: float,
                      pin: str = "") -> tuple[str, str]:
    """(PEM, SHA-256 hex) of the certificate Prosody presents for `domain` after STARTTLS.
    With `pin`, a different certificate raises PinMismatch."""
    with _secured(host, port, domain, timeout, None, pin) as (stream, seen):
        return ssl.DER_cert_to_PEM_cert(stream.certificate), seen


@contextlib.contextmanager
def _secured(host: str, port: int, domain: str, timeout: float, ca: str | None,
             pin: str | None):
    """(stream, the certificate's SHA-256) once STARTTLS is done, which the server must
    offer; closed on leaving. An XmppError says whether the server answered at all."""
    stream = _Stream(host, port, domain, timeout)
    try:
        features = stream.open()
        if features.find(f"{{{NS_TLS}}}starttls") is None:
            raise XmppError(f"{domain} does not offer STARTTLS on {host}:{port}")
        yield stream, stream.starttls(ca, pin)
    except XmppError as exc:
        exc.answered = stream.received > 0
        raise
    finally:
        stream.close()


def _bind(stream: _Stream) -> None:
    features = stream.open()
    if features.find(f"{{{NS_BIND}}}bind") is None:
        raise XmppError("the server offers no resource binding after the login")
    stream.send(f"<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'><resource>"
                "jitsi-wizard-check</resource></bind></iq>")
    answer = _answer(stream, lambda e: e.get("id") == "bind1")
    if answer.get("type") != "result":
        raise XmppError(f"binding a resource failed: {_error_condition(answer)}")


def _answer(stream: _Stream, wanted) -> ET.Element:
    """The next stanza `wanted` accepts; others (presence, messages) are skipped."""
    while True:
        element = stream.next()
        if wanted(element):
            return element


def _error_condition(element: ET.Element) -> str:
    error = next((c for c in element if _local(c.tag) == "error"), None)
    if error is None:
        return "error"
    names = [_local(c.tag) for c in error if _local(c.tag) != "text"]
    return names[0] if names else "error"


def _join(stream: _Stream, room: str, nick: str) -> str:
    """Join `room` as `nick`: "joined" when the room reflects our own presence (status 110),
    else the room's error condition."""
    full = f"{room}/{nick}"
    stream.send(f"<presence to={quoteattr(full)}><x xmlns='{NS_MUC}'/></presence>")

    def ours(element: ET.Element) -> bool:
        return _local(element.tag) == "presence" and (element.get("from") or "").lower() \
            == full.lower()

    answer = _answer(stream, ours)
    if answer.get("type") == "error":
        return _error_condition(answer)
    x = answer.find(f"{{{NS_MUC_USER}}}x")
    codes = {s.get("code") for s in x.findall(f"{{{NS_MUC_USER}}}status")} if x is not None \
        else set()
    return "joined" if "110" in codes else "no-self-presence"


def _occupants(stream: _Stream, room: str) -> list[str]:
    """The room's occupants (nicknames). Prosody does not list a room's occupants to
    outsiders (disco#items), so this joins under a nickname of its own for a moment: the
    room sends every occupant's presence before ours, then we leave."""
    import secrets

    nick = f"jitsi-wizard-check-{secrets.token_hex(4)}"
    full = f"{room}/{nick}"
    stream.send(f"<presence to={quoteattr(full)}><x xmlns='{NS_MUC}'/></presence>")
    seen: list[str] = []
    prefix = f"{room}/".lower()
    while True:
        element = stream.next()
        sender = element.get("from") or ""
        if _local(element.tag) != "presence" or not sender.lower().startswith(prefix):
            continue
        if sender.lower() == full.lower():
            if element.get("type") == "error":
                raise XmppError(f"the room {room} did not let us look: "
                                f"{_error_condition(element)}")
            break
        if element.get("type") != "unavailable":
            seen.append(sender[len(prefix):])
    stream.send(f"<presence to={quoteattr(full)} type='unavailable'/>")
    return seen
