"""A throwaway certificate authority made with openssl, for TLS tests.

Every openssl call here gets a configuration of its own (`-config`), never the system's
openssl.cnf: OpenSSL 1.1.1's adds `basicConstraints=CA:TRUE` to every `req -x509` beside any
`-addext`, and OpenSSL 3 and GnuTLS refuse a certificate with two. Validity is given as dates
through `openssl ca`, the one way that works from 1.1.1 to 3.5 (3.5 refuses `-days -1`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path


def _openssl(*args: str, cwd: Path, stdin: str | None = None) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30,
                   input=stdin.encode() if stdin is not None else None)


def _asn1_time(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y%m%d%H%M%SZ")


def _req_config(common_name: str, extensions: list[str]) -> str:
    """An openssl `req` configuration with exactly these x509 extensions."""
    return ("[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n"
            f"[dn]\nCN = {common_name}\n[ext]\n" + "\n".join(extensions) + "\n")


def self_signed(cert: Path, key: Path, name: str, *, sans: list[str] | None = None,
                days: int = 30, ca: bool = False) -> None:
    """A self-signed certificate (EC P-256) with one basicConstraints, on any OpenSSL."""
    alt = ",".join(("IP:" if _is_ip(s) else "DNS:") + s for s in (sans or [name]))
    extensions = (["basicConstraints = critical,CA:TRUE",
                   "keyUsage = critical,keyCertSign,cRLSign"] if ca else
                  [f"subjectAltName = {alt}", "basicConstraints = critical,CA:FALSE",
                   "extendedKeyUsage = serverAuth"])
    _openssl("req", "-x509", "-config", "/dev/stdin", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
             "-days", str(days), cwd=cert.parent, stdin=_req_config(name, extensions))


@dataclass
class Issued:
    cert: Path
    key: Path
    chain: Path  # leaf followed by the CA certificate


class CA:
    def __init__(self, directory: Path, name: str = "jitsi-wizard test CA"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = self.dir / "ca.key"
        self.cert = self.dir / "ca.crt"
        self_signed(self.cert, self.key, name, ca=True)
        (self.dir / "issued").mkdir()
        (self.dir / "index.txt").write_text("")
        (self.dir / "serial").write_text("1000\n")
        self.config = self.dir / "ca.cnf"
        self.config.write_text(
            "[ca]\ndefault_ca = lab\n"
            f"[lab]\ndatabase = {self.dir}/index.txt\nnew_certs_dir = {self.dir}/issued\n"
            f"serial = {self.dir}/serial\ndefault_md = sha256\npolicy = any\n"
            "unique_subject = no\ncopy_extensions = none\n"
            "[any]\ncommonName = supplied\n")

    def issue(self, name: str, sans: list[str] | None = None, days: int = 30,
              expired: bool = False) -> Issued:
        """A leaf certificate for `name` (DNS or IP SANs), signed by this CA: valid from now
        for `days`, or (expired) from 30 days ago until yesterday."""
        sans = sans or [name]
        alt = ",".join(("IP:" if _is_ip(s) else "DNS:") + s for s in sans)
        key = self.dir / f"{name}.key"
        csr = self.dir / f"{name}.csr"
        cert = self.dir / f"{name}.crt"
        ext = self.dir / f"{name}.ext"
        ext.write_text(f"subjectAltName={alt}\nbasicConstraints=CA:FALSE\n"
                       "keyUsage=digitalSignature,keyEncipherment\n"
                       "extendedKeyUsage=serverAuth\n")
        _openssl("req", "-new", "-config", "/dev/stdin", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(csr),
                 cwd=self.dir, stdin=_req_config(name, ["basicConstraints = CA:FALSE"]))
        now = datetime.now(timezone.utc)
        start, end = ((now - timedelta(days=30), now - timedelta(days=1)) if expired
                      else (now, now + timedelta(days=days)))
        _openssl("ca", "-batch", "-config", str(self.config), "-cert", str(self.cert),
                 "-keyfile", str(self.key), "-in", str(csr), "-out", str(cert), "-notext",
                 "-startdate", _asn1_time(start), "-enddate", _asn1_time(end),
                 "-extfile", str(ext), cwd=self.dir)
        chain = self.dir / f"{name}.chain.pem"
        chain.write_text(cert.read_text() + self.cert.read_text())
        key.chmod(0o644)  # test servers run as other users (prosody, openldap)
        return Issued(cert, key, chain)


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False
