"""The network probes of the verification, each bounded in time and size: an HTTP GET
(jicofo's and the bridge's health, jicofo's stats) and the certificate a TLS server
presents for a name (SNI)."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_BODY = 64 * 1024


class ProbeError(Exception):
    """What went wrong, in words for the admin."""


@dataclass
class HttpAnswer:
    status: int
    body: str


def http_get(url: str, timeout: float) -> HttpAnswer:
    """GET an http:// URL; at most MAX_BODY bytes of its body are read."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ProbeError(f"{url} is not an http:// URL")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        response = conn.getresponse()
        body = response.read(MAX_BODY + 1)
    except socket.timeout:
        raise ProbeError(f"{url} did not answer within {timeout:g}s") from None
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
        raise ProbeError(f"{url}: {reason}") from None
    finally:
        conn.close()
    if len(body) > MAX_BODY:
        raise ProbeError(f"{url} answered with more than {MAX_BODY} bytes")
    return HttpAnswer(response.status, body.decode("utf-8", "replace"))


@dataclass
class Meetings:
    conferences: int
    participants: int


def meetings(url: str, timeout: float) -> Meetings:
    """Live conferences and participants from jicofo's /stats (JSON)."""
    answer = http_get(url, timeout)
    if answer.status != 200:
        raise ProbeError(f"{url} answered HTTP {answer.status}")
    try:
        doc = json.loads(answer.body)
        return Meetings(int(doc["conferences"]), int(doc["participants"]))
    except (ValueError, KeyError, TypeError):
        raise ProbeError(f"{url} did not answer with jicofo's statistics (JSON with "
                         "conferences and participants)") from None


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
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                context.wrap_socket(raw, server_hostname=name) as tls:
            der = tls.getpeercert(binary_form=True)
    except socket.timeout:
        raise ProbeError(f"no TLS answer from {host}:{port} within {timeout:g}s") from None
    except (OSError, ssl.SSLError) as exc:
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
