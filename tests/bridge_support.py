"""Shared by the videobridge tests: answers for a bridge host, a certificate to pin."""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path

MAIN = "meet.example.org"
BRIDGE_PW = "Br1dge\"pw'\\n]]--Ä"  # quotes, a backslash before n, ]], --, non-ASCII


# A self-signed certificate for auth.MAIN, made once with openssl for these tests.
MAIN_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBljCCATugAwIBAgIUNa3Iwigf2yt3e+qV34pKQFDBuScwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVYXV0aC5tZWV0LmV4YW1wbGUub3JnMB4XDTI2MTEyOTA5NDEy
MFoXDTM2MTEyNjA5NDEyMFowIDEeMBwGA1UEAwwVYXV0aC5tZWV0LmV4YW1wbGUu
b3JnMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFmH1avl7itjcy+o9lJvzbT4u
CGV/yVI3yXaZn6TuC+3ct7JtQCQ0nt/j1cQKGzY18IbNLQ+/yJZ5dMOObtQedKNT
MFEwHQYDVR0OBBYEFP+M5YDAnPNtLID82FgpaTV7K+yOMB8GA1UdIwQYMBaAFP+M
5YDAnPNtLID82FgpaTV7K+yOMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
SQAwRgIhAIecR8bAutNd6motI4qp61UQ3EbXxGciyt+TA3Dr5JdMAiEAyuIAE8Ec
nobUu4TGJPh9EWsE3JbIJkk9fE4la4Xwq7w=
-----END CERTIFICATE-----
"""


def pem_sha256(pem: str) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def bridge_toml(pin: str, *, username: str = "bridge2", extra: str = "",
                password: str = "env:JW_BRIDGE_PW", main: str = MAIN) -> str:
    return (f'[role]\nkind = "videobridge"\n\n[bridge]\nmain = "{main}"\n'
            f'username = "{username}"\npassword = "{password}"\n'
            f'main_certificate_sha256 = "{pin}"\n' + extra)


def write_pem(directory: Path, pem: str) -> Path:
    path = directory / "main.pem"
    path.write_text(pem)
    return path
