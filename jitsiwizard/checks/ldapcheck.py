"""LDAP: can Prosody reach the directory, trust it, bind, and find the users?

Each server URL is checked in its own thread (ldap3 blocks) under one deadline. Steps, each a
result: ldap.connect (name, TCP), ldap.tls (StartTLS or LDAPS, certificate verified against
the system CAs or the given CA file; plaintext only when the answers allow it), ldap.bind
(the service account), ldap.search (base, filter, how many users), ldap.test_user. The first
failing step ends the run for that server: later steps could only fail for the same reason.

It is one module of some 650 lines on purpose: the steps share one connection and one
deadline, and each step's failures are classified right where they happen, so the sequence
reads top to bottom as the check runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import math
import os
import re
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from jitsiwizard.answers.model import LdapAnswers
from jitsiwizard.checks.result import FAIL, OK, WARN, CheckResult, in_thread
from jitsiwizard.host.prosody_auth import search_filter

DEFAULT_PORTS = {"ldap": 389, "ldaps": 636}
SAMPLE_USERS = 5
MAX_COUNTED = 100000  # stop counting users here: the number only needs to be "some"
_STEP_RESULT = {"resolve": "ldap.connect", "connect": "ldap.connect", "tls": "ldap.tls",
                "bind": "ldap.bind", "search": "ldap.search", "test_user": "ldap.test_user"}
_STEP_WORDS = {"resolve": "resolving the server's name", "connect": "connecting",
               "tls": "setting up TLS", "bind": "binding as the service account",
               "search": "searching for users", "test_user": "checking the test user"}


@dataclass
class ServerUrl:
    url: str
    scheme: str
    host: str
    port: int

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_url(url: str) -> ServerUrl:
    """ldap://host[:port] or ldaps://host[:port]; ValueError saying what is wrong."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"{url!r} does not start with ldap:// or ldaps://")
    if not parts.hostname:
        raise ValueError(f"{url!r} names no server")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{url!r} has more than a server and port")
    return ServerUrl(url.strip(), scheme, parts.hostname, port or DEFAULT_PORTS[scheme])


class _Stop(Exception):
    """A step failed: carries the result that says why."""

    def __init__(self, result: CheckResult):
        super().__init__(result.summary)
        self.result = result


@dataclass
class _Run:
    """One server's check in progress, shared with the waiting side so a timeout can say
    which step hung and cut the connection."""

    server: ServerUrl
    multi: bool
    step: str = "resolve"
    timeout: float = 0.0  # the bound of the whole check, for messages
    host: str = ""  # the meeting host, for `$host` in the filter as Prosody substitutes it
    results: list[CheckResult] = field(default_factory=list)
    sockets: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def result(self, step_name: str, status: str, summary: str, evidence: list[str],
               fix: str = "", reason: str = "ok", **data) -> CheckResult:
        prefix = f"{self.server.url}: " if self.multi else ""
        return CheckResult(step_name, status, prefix + summary, evidence, fix,
                           {"reason": reason, "url": self.server.url, **data})

    def stop(self, step_name: str, summary: str, evidence: list[str], fix: str,
             reason: str) -> _Stop:
        return _Stop(self.result(step_name, FAIL, summary, evidence, fix, reason))

    def abort(self) -> None:
        """Unblock a thread stuck in recv: shutdown wakes it, close alone would not."""
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


# --- names and addresses ----------------------------------------------------------------------

def _resolve(run: _Run, resolver: str | None, deadline: float) -> list[str]:
    host = run.server.host
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    where = "the system resolver" if resolver is None else f"resolver {resolver}"
    fix_missing = (f"check the spelling of {host}, or add a DNS record (or an /etc/hosts line) "
                   "for it")
    if resolver is not None:
        import dns.exception
        import dns.resolver

        from jitsiwizard.checks.dnscheck import parse_resolver

        address, port = parse_resolver(resolver)
        res = dns.resolver.Resolver(configure=False)
        res.nameservers, res.port = [address], port
        found: list[str] = []
        missing = 0
        for rdtype in ("A", "AAAA"):
            try:
                answer = res.resolve(host, rdtype, search=False,
                                     lifetime=max(0.05, deadline - time.monotonic()))
                found += [r.address for r in answer]
            except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
                missing += 1
            except dns.exception.DNSException as exc:
                raise run.stop("ldap.connect", f"could not look up {host}: "
                               f"{exc.__class__.__name__}", [f"{where}: {exc}"],
                               "check the resolver", "resolver_failure") from None
        if found:
            return found
        raise run.stop("ldap.connect", f"the server name {host} does not resolve",
                       [f"{where}: no A or AAAA record for {host}"], fix_missing,
                       "name_not_resolved")
    try:
        infos = socket.getaddrinfo(host, run.server.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
            raise run.stop("ldap.connect", f"the server name {host} does not resolve",
                           [f"{where}: {exc.strerror}"], fix_missing,
                           "name_not_resolved") from None
        raise run.stop("ldap.connect", f"could not look up {host}: {exc.strerror}",
                       [f"{where}: {exc}"], "check /etc/resolv.conf and the DNS server",
                       "resolver_failure") from None
    addresses: list[str] = []
    for info in infos:
        if info[4][0] not in addresses:
            addresses.append(info[4][0])
    return addresses


def _reach(run: _Run, addresses: list[str], deadline: float) -> str:
    """The first address that accepts a TCP connection."""
    tried = []
    reasons = []
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        where = f"{address}:{run.server.port}" if ":" not in address else \
            f"[{address}]:{run.server.port}"
        try:
            with socket.create_connection((address, run.server.port), timeout=remaining):
                return address
        except ConnectionRefusedError:
            tried.append(f"{where}: connection refused")
            reasons.append("refused")
        except socket.timeout:
            tried.append(f"{where}: no answer within the timeout")
            reasons.append("timeout")
        except OSError as exc:
            tried.append(f"{where}: {exc.strerror or exc}")
            reasons.append("unreachable" if exc.errno in (errno.EHOSTUNREACH,
                                                          errno.ENETUNREACH) else "refused")
    name = run.server.where
    if "refused" in reasons and "timeout" not in reasons:
        raise run.stop("ldap.connect", f"connection to {name} refused", tried,
                       f"check that the directory server runs and listens on port "
                       f"{run.server.port}, and that no firewall rejects it", "refused")
    if "unreachable" in reasons and "timeout" not in reasons:
        raise run.stop("ldap.connect", f"{name} is unreachable", tried,
                       "check the network route to the directory server", "unreachable")
    raise run.stop("ldap.connect", f"no answer from {name} within {run.timeout:g} s",
                   tried or [f"{name}: no time left to connect"],
                   "check that the directory server runs and that no firewall drops "
                   f"connections to port {run.server.port}", "timeout")


# An anonymous LDAPv3 bind (message 1): any directory answers it with an LDAP message, whose
# first byte is a BER SEQUENCE (0x30), whether it accepts the bind or refuses it.
_ANONYMOUS_BIND = bytes.fromhex("300c020101600702010304008000")
_SNIFF_BOUND = 1.0  # seconds; a directory answers a bind at once
_SNIFF_BYTES = 64


def _sniff(run: _Run, address: str, deadline: float) -> None:
    """Whether what listens there speaks LDAP: a web server (or anything else) that answers
    a bind with its own words is named as such, rather than left to the LDAP client, which
    reads "HTTP/1.1 400" as the length of a message that never ends (a timeout) or cannot
    be decoded. No answer within the bound tells nothing: the exchange goes on."""
    bound = min(_SNIFF_BOUND, max(deadline - time.monotonic(), 0) / 3)
    if bound <= 0:
        return
    try:
        with socket.create_connection((address, run.server.port), timeout=bound) as sock:
            with run.lock:
                run.sockets.append(sock)
            sock.sendall(_ANONYMOUS_BIND)
            answer = sock.recv(_SNIFF_BYTES)
    except OSError:
        return  # refused now, reset, or silent: the exchange itself will say what it sees
    if not answer or answer[:1] == b"\x30":
        return
    shown = answer.split(b"\r\n", 1)[0].decode("ascii", "replace")
    shown = "".join(c if c.isprintable() else "?" for c in shown)[:40]
    raise run.stop("ldap.connect", f"{run.server.where} answered, but not as an LDAP server",
                   [f"an LDAP bind was answered with {shown!r}"],
                   "check the URL's host and port: another service (a web server?) listens "
                   "there", "not_ldap")


# --- TLS -------------------------------------------------------------------------------------

def _tls(ca_file: str, server_name: str, verify: bool = True):
    """An ldap3 Tls that wraps with our own SSLContext: OpenSSL checks the chain and the
    name (DNS or IP), instead of ldap3's own matcher, which ignores IP SANs on 3.12+."""
    import ldap3

    if verify:
        context = ssl.create_default_context(cafile=ca_file or None)
    else:  # only to read the certificate for the admin after verification failed
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

    class ContextTls(ldap3.Tls):
        def wrap_socket(self, connection, do_handshake=False):
            connection.socket = context.wrap_socket(
                connection.socket, server_side=False, do_handshake_on_connect=do_handshake,
                server_hostname=server_name)

    return ContextTls(validate=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)


def _decode_certificate(der: bytes) -> dict:
    """subject, issuer and names of a DER certificate, without verifying it."""
    pem = ssl.DER_cert_to_PEM_cert(der)
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as fh:
        fh.write(pem)
        path = fh.name
    try:
        decoder = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
        if decoder is not None:
            with contextlib.suppress(Exception):
                return decoder(path)
        done = subprocess.run(["openssl", "x509", "-noout", "-subject", "-issuer", "-in", path],
                              capture_output=True, text=True, timeout=5, check=False)
        info: dict = {}
        for line in done.stdout.splitlines():
            key, _, value = line.partition("=")
            info[key.strip()] = value.strip()
        return info
    except (OSError, subprocess.TimeoutExpired):
        return {}
    finally:
        os.unlink(path)


def _dn_text(value) -> str:
    if isinstance(value, str):
        return value
    return ", ".join(f"{k}={v}" for rdn in value or () for k, v in rdn)


def certificate_lines(info: dict) -> list[str]:
    if not info:
        return ["server certificate: could not be read"]
    lines = [f"certificate subject: {_dn_text(info.get('subject')) or '(empty)'}",
             f"certificate issuer: {_dn_text(info.get('issuer')) or '(empty)'}"]
    names = [value for _kind, value in info.get("subjectAltName", ())]
    if names:
        lines.append("certificate names: " + ", ".join(names))
    if info.get("notAfter"):
        lines.append(f"certificate valid until: {info['notAfter']}")
    return lines


def _peer_certificate(run: _Run, address: str, ca_file: str, deadline: float) -> dict:
    """Fetch the server's certificate with verification off, to show it. Nothing is sent
    on this connection beyond the TLS handshake (and the StartTLS request)."""
    import ldap3

    remaining = deadline - time.monotonic()
    if remaining <= 0.2:
        return {}
    ldaps = run.server.scheme == "ldaps"
    server = ldap3.Server(address, port=run.server.port, use_ssl=ldaps, get_info=ldap3.NONE,
                          tls=_tls(ca_file, run.server.host, verify=False),
                          connect_timeout=remaining)
    conn = ldap3.Connection(server, receive_timeout=max(1, math.ceil(remaining)),
                            raise_exceptions=False)
    try:
        conn.open(read_server_info=False)
        _track(run, conn)
        if not ldaps:
            conn.start_tls(read_server_info=False)
        der = conn.socket.getpeercert(binary_form=True)
        return _decode_certificate(der) if der else {}
    except Exception:  # a diagnostic only: the failure was already classified
        return {}
    finally:
        with contextlib.suppress(Exception):
            conn.unbind()


def _track(run: _Run, conn) -> None:
    with run.lock:
        if conn.socket is not None:
            run.sockets.append(conn.socket)


def _tls_failure(run: _Run, exc: Exception, address: str, ldap: LdapAnswers,
                 deadline: float) -> _Stop:
    text = str(exc)
    mode = "LDAPS" if run.server.scheme == "ldaps" else "StartTLS"
    name = run.server.host
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        evidence = [f"{mode} to {run.server.where}: {_short(text)}"]
        evidence += certificate_lines(_peer_certificate(run, address, ldap.ca_file, deadline))
        trust = f"the CA file {ldap.ca_file}" if ldap.ca_file else "the system's CAs"
        if "mismatch" in text.lower() or "doesn't match" in text or "not valid for" in text:
            return run.stop("ldap.tls", f"the server certificate is not valid for the name "
                            f"{name}", evidence, "connect by a name the certificate holds "
                            "(see its names above), or have the certificate reissued with "
                            f"{name} in it", "cert_name_mismatch")
        fix = ("set auth.ldap.ca_file to the CA certificate (PEM) that issued the directory's "
               "certificate" if not ldap.ca_file else
               f"{ldap.ca_file} is not the CA that issued this certificate: give the right one")
        return run.stop("ldap.tls", f"the server certificate is not trusted by {trust}",
                        evidence, fix, "cert_untrusted")
    if "timed out" in text or isinstance(exc, socket.timeout):
        return run.stop("ldap.tls", f"no answer from {run.server.where} within "
                        f"{run.timeout:g} s during {mode}",
                        [f"{mode}: {_short(text)}"], "check that the directory server is "
                        "healthy: it accepts connections but does not answer", "timeout")
    if mode == "StartTLS" and ("startTLS failed" in text or "unavailable" in text
                               or "protocolError" in text):
        return run.stop("ldap.tls", f"{run.server.where} does not offer StartTLS",
                        [f"StartTLS request answered: {_short(text)}"],
                        "configure TLS on the directory server, or use its ldaps:// URL",
                        "tls_failed")
    return run.stop("ldap.tls", f"TLS handshake with {run.server.where} failed",
                    [f"{mode}: {_short(text)}"],
                    ("check that this port speaks LDAPS (636 usually does, 389 speaks plain "
                     "LDAP and StartTLS)" if mode == "LDAPS" else
                     "check the directory server's TLS configuration and logs"), "tls_failed")


def _short(text: str) -> str:
    """An exception's text without ldap3's tuple wrapping and OpenSSL's source position."""
    found = re.search(r"\[SSL: [A-Z0-9_]+\][^'\"]*", text)
    if found:
        text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", found.group(0))
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


# --- the steps ------------------------------------------------------------------------------

def _scope(ldap: LdapAnswers):
    import ldap3

    return {"base": ldap3.BASE, "onelevel": ldap3.LEVEL}.get(ldap.scope, ldap3.SUBTREE)


def _connection(run: _Run, address: str, ldap: LdapAnswers, mode: str, deadline: float,
                user: str | None, password: str | None):
    """An open (and, unless plain, TLS-protected and verified) connection; not bound."""
    import ldap3
    from ldap3.core.exceptions import LDAPException

    remaining = max(0.05, deadline - time.monotonic())
    tls = _tls(ldap.ca_file, run.server.host) if mode != "plain" else None
    server = ldap3.Server(address, port=run.server.port, use_ssl=mode == "ldaps", tls=tls,
                          get_info=ldap3.NONE, connect_timeout=remaining)
    # ldap3 packs this into SO_RCVTIMEO as whole seconds; the deadline is kept by the caller.
    conn = ldap3.Connection(server, user=user, password=password,
                            receive_timeout=max(1, math.ceil(remaining)),
                            raise_exceptions=False, read_only=True,
                            auto_bind=ldap3.AUTO_BIND_NONE)
    run.step = "tls" if mode == "ldaps" else "connect"
    try:
        conn.open(read_server_info=False)
        _track(run, conn)
        if mode == "starttls":
            run.step = "tls"
            if not conn.start_tls(read_server_info=False):
                raise _tls_failure(run, RuntimeError(
                    f"startTLS failed - {conn.result.get('description') if conn.result else ''}"),
                    address, ldap, deadline)
    except LDAPException as exc:
        if run.step == "tls" or mode == "ldaps":
            raise _tls_failure(run, exc, address, ldap, deadline) from None
        raise run.stop("ldap.connect", f"could not open an LDAP connection to "
                       f"{run.server.where}", [_short(str(exc))],
                       "check the directory server's logs", "connect_failed") from None
    return conn


def _check_server(run: _Run, ldap: LdapAnswers, timeout: float, resolver: str | None) -> None:
    deadline = time.monotonic() + timeout
    from ldap3.core.exceptions import LDAPException
    from pyasn1.error import PyAsn1Error

    try:
        _steps(run, ldap, deadline, resolver)
    except _Stop as stop:
        run.results.append(stop.result)
    except (KeyError, IndexError, ValueError, TypeError, PyAsn1Error):
        # ldap3 decodes whatever comes back as LDAP; another service's answer (a web
        # server's "HTTP/1.1 400") breaks its decoder with errors like these.
        doing = _STEP_WORDS.get(run.step, run.step)
        run.results.append(run.result(
            _STEP_RESULT.get(run.step, "ldap.connect"), FAIL,
            f"{run.server.where} answered, but not as an LDAP server",
            [f"its answer could not be read as LDAP while {doing}"],
            "check the URL's host and port: another service (a web server?) listens there",
            "not_ldap"))
    except LDAPException as exc:
        # An error the steps did not expect: name the step it happened in.
        step = _STEP_RESULT.get(run.step, "ldap.connect")
        timed_out = "timed out" in str(exc) or "timeout" in str(exc).lower()
        run.results.append(run.result(
            step, FAIL, f"{'no answer' if timed_out else 'error'} while "
            f"{_STEP_WORDS.get(run.step, run.step)}", [_short(str(exc))],
            "check that the directory server is healthy", "timeout" if timed_out else "error"))


def _steps(run: _Run, ldap: LdapAnswers, deadline: float, resolver: str | None) -> None:
    server = run.server
    run.step = "resolve"
    addresses = _resolve(run, resolver, deadline)
    run.step = "connect"
    address = _reach(run, addresses, deadline)
    shown = server.host if server.host == address else f"{server.host} ({address})"
    if server.scheme == "ldap":
        _sniff(run, address, deadline)
    run.results.append(run.result("ldap.connect", OK, f"{server.where} accepts connections",
                                  [f"connected to {shown} port {server.port}"]))
    if server.scheme == "ldaps":
        mode = "ldaps"
    elif ldap.starttls:
        mode = "starttls"
    elif ldap.allow_plaintext:
        mode = "plain"
    else:
        raise run.stop("ldap.tls", "plain LDAP is not allowed: the bind password would cross "
                       "the network in clear", [f"{server.url} with starttls = false"],
                       "set auth.ldap.starttls = true, or use an ldaps:// URL; only on a "
                       "trusted network set auth.ldap.allow_plaintext = true",
                       "plaintext_refused")
    password = ldap.bind_password.value if ldap.bind_password is not None else None
    conn = _connection(run, address, ldap, mode, deadline, ldap.bind_dn or None, password)
    try:
        if mode == "plain":
            run.results.append(run.result(
                "ldap.tls", WARN, "no TLS: passwords cross the network in clear "
                "(allowed by auth.ldap.allow_plaintext)", [f"plain LDAP to {server.where}"],
                "use StartTLS or LDAPS unless this network is trusted", "plaintext"))
        else:
            info = conn.socket.getpeercert() or {}
            version = conn.socket.version() or "TLS"
            trust = f"CA file {ldap.ca_file}" if ldap.ca_file else "the system's CAs"
            run.results.append(run.result(
                "ldap.tls", OK, f"{'LDAPS' if mode == 'ldaps' else 'StartTLS'} with a "
                f"certificate for {server.host} trusted by {trust}",
                [f"{version} to {server.where}", *certificate_lines(info)]))
        _bind_service(run, conn, ldap)
        _search(run, conn, ldap)
        if ldap.test_user:
            _test_user(run, conn, ldap, address, mode, deadline)
    finally:
        with contextlib.suppress(Exception):
            conn.unbind()


def _bind_service(run: _Run, conn, ldap: LdapAnswers) -> None:
    run.step = "bind"
    if not ldap.bind_dn:
        run.results.append(run.result("ldap.bind", OK, "searching anonymously (no bind_dn)",
                                      ["no service account configured"]))
        return
    if ldap.bind_password is None or not ldap.bind_password.value:
        raise run.stop("ldap.bind", "the service account has no password", [
            f"bind_dn {ldap.bind_dn} is set, bind_password is empty"],
            "set auth.ldap.bind_password (for example file:/root/ldap-bind.secret)",
            "no_password")
    if conn.bind():
        run.results.append(run.result("ldap.bind", OK, f"bound as {ldap.bind_dn}",
                                      [f"bind as {ldap.bind_dn}: success"]))
        return
    code = (conn.result or {}).get("description", "")
    message = (conn.result or {}).get("message", "")
    evidence = [f"bind as {ldap.bind_dn}: {code}" + (f" ({message})" if message else "")]
    if code == "invalidCredentials":
        raise run.stop("ldap.bind", "the service account's DN or password is wrong", evidence,
                       "check auth.ldap.bind_dn and auth.ldap.bind_password (a DN that does "
                       "not exist gives the same answer as a wrong password)",
                       "wrong_credentials")
    raise run.stop("ldap.bind", f"the service account could not bind: {code}", evidence,
                   "check the account on the directory server", "bind_failed")


def _search(run: _Run, conn, ldap: LdapAnswers) -> None:
    from ldap3.core.exceptions import LDAPInvalidFilterError

    run.step = "search"
    query = search_filter(ldap, run.host)
    attribute = ldap.username_attribute
    where = f"base {ldap.user_base}, scope {ldap.scope}, filter {query}"
    count = 0
    names: list[str] = []
    cookie = None
    partial = ""
    try:
        while True:
            ok = conn.search(ldap.user_base, query, _scope(ldap), attributes=[attribute],
                             paged_size=500, paged_cookie=cookie)
            code = (conn.result or {}).get("description", "")
            if not ok and code not in ("success", "sizeLimitExceeded"):
                _search_failed(run, conn, ldap, where, code)
            for entry in conn.response or []:
                if entry.get("type") != "searchResEntry":
                    continue
                count += 1
                value = entry.get("attributes", {}).get(attribute)
                if isinstance(value, list):
                    value = value[0] if value else None
                if value and len(names) < SAMPLE_USERS:
                    names.append(str(value))
            if code == "sizeLimitExceeded":
                partial = "at least "
                break
            controls = (conn.result or {}).get("controls", {})
            cookie = controls.get("1.2.840.113556.1.4.319", {}).get("value", {}).get("cookie")
            if not cookie or count >= MAX_COUNTED:
                partial = "at least " if cookie else ""
                break
    except LDAPInvalidFilterError as exc:
        raise run.stop("ldap.search", f"the user filter {query} is not valid LDAP filter "
                       "syntax", [f"filter {query}: {exc}"], "fix auth.ldap.user_filter: "
                       "balanced parentheses around attribute=value parts, e.g. "
                       "(objectClass=inetOrgPerson)", "filter_syntax") from None
    evidence = [where, f"{partial}{count} {'entry matches' if count == 1 else 'entries match'}"]
    if names:
        evidence.append(f"{attribute} of the first: {', '.join(names)}")
    if count == 0:
        raise run.stop("ldap.search", "no users match the base and filter", evidence,
                       "check auth.ldap.user_base, user_filter and scope against the "
                       "directory (and that the service account may read the users)",
                       "zero_users")
    if not names:
        raise run.stop("ldap.search", f"{count} entries match but none has the attribute "
                       f"{attribute}", evidence, "set auth.ldap.username_attribute to the "
                       "attribute that holds login names (uid, sAMAccountName, ...)",
                       "no_username_attribute")
    run.results.append(run.result("ldap.search", OK, f"{partial}{count} users match",
                                  evidence, count=count))


def _search_failed(run: _Run, conn, ldap: LdapAnswers, where: str, code: str) -> None:
    message = (conn.result or {}).get("message", "")
    evidence = [where, f"search answered {code}" + (f" ({message})" if message else "")]
    if code == "noSuchObject":
        raise run.stop("ldap.search", f"the user base {ldap.user_base} does not exist",
                       evidence, "fix auth.ldap.user_base: the DN of the entry that holds "
                       "the users, e.g. ou=people,dc=example,dc=org", "base_missing")
    if code in ("filterError", "protocolError"):
        raise run.stop("ldap.search", "the directory rejected the user filter", evidence,
                       "fix auth.ldap.user_filter", "filter_syntax")
    if code == "insufficientAccessRights":
        raise run.stop("ldap.search", "the service account may not search the user base",
                       evidence, "grant the account read access to the users", "no_access")
    raise run.stop("ldap.search", f"the search failed: {code}", evidence,
                   "check the directory server's logs", "search_failed")


def _test_user(run: _Run, conn, ldap: LdapAnswers, address: str, mode: str,
               deadline: float) -> None:
    run.step = "test_user"
    name = ldap.test_user
    query = search_filter(ldap, run.host, name)
    conn.search(ldap.user_base, query, _scope(ldap), attributes=[ldap.name_attribute])
    entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
    evidence = [f"search {query} under {ldap.user_base}: {len(entries)} "
                f"{'entry' if len(entries) == 1 else 'entries'}"]
    if not entries:
        raise run.stop("ldap.test_user", f"test user {name} not found", evidence,
                       f"check the name, and that {name}'s entry is under the user base and "
                       "matches the filter", "test_user_not_found")
    if len(entries) > 1:
        raise run.stop("ldap.test_user", f"{len(entries)} entries match the test user {name}",
                       evidence + [e["dn"] for e in entries[:3]],
                       "make the filter match one entry per user name", "test_user_ambiguous")
    dn = entries[0]["dn"]
    evidence.append(f"found {dn}")
    if ldap.test_password is None:
        run.results.append(run.result("ldap.test_user", OK, f"test user {name} found",
                                      evidence, dn=dn))
        return
    user_conn = _connection(run, address, ldap, mode, deadline, dn, ldap.test_password.value)
    try:
        run.step = "test_user"
        if user_conn.bind():
            run.results.append(run.result("ldap.test_user", OK, f"test user {name} logs in",
                                          evidence + [f"bind as {dn}: success"], dn=dn))
            return
        code = (user_conn.result or {}).get("description", "")
    finally:
        with contextlib.suppress(Exception):
            user_conn.unbind()
    evidence.append(f"bind as {dn}: {code}")
    if code == "invalidCredentials":
        raise run.stop("ldap.test_user", f"the test password for {name} is wrong", evidence,
                       "check auth.ldap.test_password (the directory refused it)",
                       "wrong_test_password")
    raise run.stop("ldap.test_user", f"test user {name} could not log in: {code}", evidence,
                   "check the account on the directory server", "test_bind_failed")


# --- entry point ------------------------------------------------------------------------------

async def _check_one(server: ServerUrl, ldap: LdapAnswers, timeout: float, multi: bool,
                     resolver: str | None, host: str) -> list[CheckResult]:
    run = _Run(server, multi, timeout=timeout, host=host)
    try:
        await asyncio.wait_for(in_thread(_check_server, run, ldap, timeout, resolver), timeout)
    except asyncio.TimeoutError:
        # What the thread reported up to the deadline counts, nothing after: the abort wakes
        # it with a socket error that it would report as a TLS or search failure. (It may
        # have reported its own timeout in the same instant: one failure per server.)
        reported = list(run.results)
        run.abort()
        if any(r.status == FAIL for r in reported):
            return reported
        step = run.step
        reported.append(run.result(
            _STEP_RESULT.get(step, "ldap.connect"), FAIL,
            f"no answer from {server.where} within {timeout:g} s while "
            f"{_STEP_WORDS.get(step, step)}",
            [f"the server accepted the connection but did not answer within {timeout:g} s"
             if step not in ("resolve", "connect") else
             f"gave up after {timeout:g} s while {_STEP_WORDS.get(step, step)}"],
            "check that the directory server is healthy; a directory that accepts connections "
            "but never answers also stalls every Prosody login", "timeout"))
        return reported
    return list(run.results)


async def check_ldap(ldap: LdapAnswers, timeout: float = 5.0, *,
                     resolver: str | None = None, host: str = "") -> list[CheckResult]:
    """Check every server URL concurrently, each within `timeout` seconds.

    `resolver` (ADDR[:PORT]) resolves the servers' names instead of the system resolver;
    `host` is the meeting host, which Prosody puts for `$host` in the user filter.
    """
    if not ldap.urls:
        return [CheckResult("ldap.url", FAIL, "no LDAP server URL given", [],
                            'set auth.ldap.url, e.g. "ldaps://ldap.example.org"',
                            {"reason": "no_url"})]
    servers = []
    problems = []
    for url in ldap.urls:
        try:
            servers.append(parse_url(url))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        return [CheckResult("ldap.url", FAIL, "the LDAP server URL is not valid", problems,
                            'write it as ldap://host[:port] or ldaps://host[:port]',
                            {"reason": "bad_url"})]
    multi = len(servers) > 1
    found = await asyncio.gather(*(_check_one(server, ldap, timeout, multi, resolver, host)
                                   for server in servers))
    return [result for results in found for result in results]
