"""Debian's pebble (a real ACME server) on loopback, for certificate tests.

pebble validates HTTP-01 challenges on its configured `http_port` at whatever address the
given DNS server returns for the name, and prefers AAAA without falling back to A: give the
test name an A record only. It regenerates its CA on every start and forgets accounts, so
each client run needs a fresh certbot config directory.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path

from tests.lab.ca import CA
from tests.lab.proc import Proc, free_port


class Pebble:
    def __init__(self, tmp_path: Path, *, dns: str, http_port: int):
        """`dns` is the resolver as ADDR:PORT; `http_port` where challenges are fetched."""
        self.dir = Path(tmp_path) / "pebble"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dns = dns
        self.http_port = http_port
        self.port = free_port()
        self.management_port = free_port()
        # pebble's own TLS (the ACME API), from a throwaway CA: this is what clients trust
        # to talk to it, not the CA that signs issued certificates.
        self.api_ca = CA(self.dir / "api-ca", "pebble API test CA")
        self.api_cert = self.api_ca.issue("localhost", ["localhost", "127.0.0.1"])
        self.proc: Proc | None = None

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    @property
    def api_ca_file(self) -> str:
        """The bundle an ACME client needs to trust the API (certbot: REQUESTS_CA_BUNDLE)."""
        return str(self.api_ca.cert)

    def start(self, attempts: int = 3) -> Pebble:
        """Start pebble; a port another process took since free_port() chose it is chosen
        again (free ports are only free when asked)."""
        for attempt in range(attempts):
            try:
                return self._start()
            except RuntimeError:
                if "address already in use" not in self.log_text() or attempt + 1 == attempts:
                    raise
                self.stop()
                self.port, self.management_port = free_port(), free_port()
        raise AssertionError("unreachable")

    def _start(self) -> Pebble:
        config = self.dir / "pebble-config.json"
        config.write_text(json.dumps({"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.management_port}",
            "certificate": str(self.api_cert.cert),
            "privateKey": str(self.api_cert.key),
            "httpPort": self.http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }}))
        self.proc = Proc(["pebble", "-config", str(config), "-dnsserver", self.dns],
                         log=self.dir / "pebble.log",
                         # No random validation delays, no deliberately rejected nonces.
                         env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"})
        self.proc.wait_port("127.0.0.1", self.port)
        self.proc.wait_port("127.0.0.1", self.management_port)
        return self

    def issuing_root(self) -> str:
        """The PEM root that issued certificates chain to (new on every start)."""
        context = ssl.create_default_context(cafile=self.api_ca_file)
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            return response.read().decode()

    def log_text(self) -> str:
        return self.proc.log_text() if self.proc else ""

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
