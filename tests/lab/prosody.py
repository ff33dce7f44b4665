"""A real Prosody 0.12 on loopback, running the configuration a Jitsi tree under ROOT holds.

ROOT is a fake filesystem root (ROOT/etc/prosody/conf.d/... as the packages and the wizard left
it). The test configuration is a new main file in the work directory that stands in for
Debian's /etc/prosody/prosody.cfg.lua and `Include`s, in sorted order, every
ROOT/etc/prosody/conf.d/*.cfg.lua verbatim. Symlinks there are followed inside ROOT: the
packages link conf.d to absolute /etc/prosody/conf.avail/... paths, which must not reach the
real /etc. The tree's own prosody.cfg.lua is not read.

What the test configuration adds or adjusts, and nothing else:
- before the includes, Debian's global defaults that Jitsi relies on: modules_enabled (roster,
  saslauth, tls, disco, ping) and authentication = "internal_hashed";
- after the includes (Prosody parses each included file in a fresh global scope, so settings
  after them are global again and win):
  - ports: c2s_ports on a free port, http_ports on another (mod_bosh starts mod_http),
    component_ports on a third, https, direct-TLS and s2s ports empty, every interface
    127.0.0.1; modules_disabled = { "s2s" }; network_settings = { nagle = false };
  - paths: pidfile, data_path, a file log (debug level) in the work directory; run_as_root,
    since the work directory (pytest's tmp_path) is not readable by the prosody user;
    plugin_paths = { tests/lab/prosody_plugins } (and its prosody-0.11/ on Prosody 0.11)
    instead of Jitsi's plugin directory, which
    holds stand-ins for the Jitsi-only modules (see its README);
  - cross_domain_bosh is unset: the Jitsi template writes it, Prosody 0.12 ignores it as
    obsolete, and `prosodyctl check config` fails on it (on a real Jitsi host too);
  - certificates: a certificate from tests/lab/ca.py for HOST and *.HOST as the global `ssl`
    and `certificates` directory, and as `ssl` of every VirtualHost the tree defines (replacing
    the tree's key/certificate paths and its protocol/cipher options). Hosts are found by
    their `VirtualHost "..."` lines (one inside a --[[ block comment ]] would be taken too).

start() returns once Prosody answers an XMPP stream, i.e. every host and module is loaded.

`env` is passed to prosody and prosodyctl, as a systemd drop-in's Environment= would be (for
example LDAPTLS_CACERT for a directory's CA).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from pathlib import Path

from jitsiwizard.formats.escape import lua_string
from tests.lab import xmpp
from tests.lab.ca import CA
from tests.lab.proc import Proc, free_port, wait_for

PLUGINS_DIR = Path(__file__).resolve().parent / "prosody_plugins"
# What Jitsi's packages added for a Prosody that lacks a module (see prosody_plugins/README.md).
PROSODY_MODULES = Path("/usr/lib/prosody/modules")
BACKPORTS_DIR = PLUGINS_DIR / "prosody-0.11"
PROSODY = "/usr/bin/prosody"
PROSODYCTL = "/usr/bin/prosodyctl"
HOST_LINE = re.compile(r"""^\s*(?:VirtualHost|Host)\s*\(?\s*["']([^"']+)["']""", re.MULTILINE)


def plugin_paths() -> list[Path]:
    """The stand-ins for Jitsi's modules, and the ones its packages carried for an older
    Prosody where this Prosody lacks them."""
    extra = [BACKPORTS_DIR] if any(not (PROSODY_MODULES / m.name).exists()
                                   for m in BACKPORTS_DIR.glob("mod_*.lua")) else []
    return [PLUGINS_DIR, *extra]


def _resolve_in_root(root: Path, path: Path, limit: int = 8) -> Path:
    """`path` (under root) with its symlinks followed inside root, never out of it."""
    for _ in range(limit):
        if not path.is_symlink():
            return path
        target = os.readlink(path)
        path = root / target.lstrip("/") if target.startswith("/") else path.parent / target
    raise RuntimeError(f"too many symlinks resolving {path}")


class Prosody:
    def __init__(self, root: Path, hostname: str, workdir: Path, *, ca: CA | None = None,
                 env: dict | None = None, netns: str | None = None,
                 interfaces: tuple[str, ...] = ("127.0.0.1",)):
        self.root = Path(root)
        self.hostname = hostname
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = ca or CA(self.dir / "ca")
        self.env = dict(env or {})
        self.port = free_port()
        self.http_port = free_port()
        self.component_port = free_port()
        self.config_path = self.dir / "prosody.cfg.lua"
        self.log_path = self.dir / "prosody.log"
        self.data_dir = self.dir / "data"
        self.certs_dir = self.dir / "certs"
        self.proc: Proc | None = None
        self.netns = netns  # run inside this network namespace (tests/lab/netns.py)
        self.interfaces = interfaces  # where the c2s port listens

    # -- configuration --------------------------------------------------------------------
    def included_files(self) -> list[Path]:
        conf_d = self.root / "etc/prosody/conf.d"
        if not conf_d.is_dir():
            return []
        return [_resolve_in_root(self.root, entry)
                for entry in sorted(conf_d.glob("*.cfg.lua"))]

    def virtual_hosts(self) -> list[str]:
        hosts: list[str] = []
        for path in self.included_files():
            for name in HOST_LINE.findall(path.read_text(encoding="utf-8", errors="replace")):
                if name not in hosts:
                    hosts.append(name)
        return hosts

    def _certificate(self) -> tuple[Path, Path]:
        """(certificate chain, key) in this instance's certificate directory."""
        chain = self.certs_dir / f"{self.hostname}.crt"  # the names Prosody's lookup expects
        key = self.certs_dir / f"{self.hostname}.key"
        if not key.exists():
            self.certs_dir.mkdir(exist_ok=True)
            issued = self.ca.issue(self.hostname, [self.hostname, f"*.{self.hostname}"])
            chain.write_bytes(issued.chain.read_bytes())
            key.write_bytes(issued.key.read_bytes())
        return chain, key

    def write_config(self) -> Path:
        """(Re)build the test configuration from the tree as it is now."""
        chain, key = self._certificate()
        self.data_dir.mkdir(exist_ok=True)
        ssl = f"{{ certificate = {lua_string(str(chain))}; key = {lua_string(str(key))}; }}"
        loopback = '{ "127.0.0.1" }'
        lines = [
            "-- Test configuration: see tests/lab/prosody.py for what differs from a real host.",
            'modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; }',
            'authentication = "internal_hashed"',
            "",
            *(f"Include {lua_string(str(path))}" for path in self.included_files()),
            "",
            "-- Test adjustments: ports, paths, certificates.",
            "run_as_root = true",
            f"pidfile = {lua_string(str(self.dir / 'prosody.pid'))}",
            f"data_path = {lua_string(str(self.data_dir))}",
            f"log = {{ {{ levels = {{ min = \"debug\" }}, to = \"file\", "
            f"filename = {lua_string(str(self.log_path))} }} }}",
            "plugin_paths = { " + ", ".join(lua_string(str(p)) for p in plugin_paths()) + " }",
            'modules_disabled = { "s2s" }',
            f"c2s_ports = {{ {self.port} }}",
            "c2s_interfaces = { " + ", ".join(lua_string(a) for a in self.interfaces) + " }",
            f"http_ports = {{ {self.http_port} }}",
            f"http_interfaces = {loopback}",
            f"component_ports = {{ {self.component_port} }}",
            f"component_interfaces = {loopback}",
            "https_ports = { }",
            "c2s_direct_tls_ports = { }",
            "s2s_ports = { }",
            "network_settings = { nagle = false }",
            f"certificates = {lua_string(str(self.certs_dir))}",
            f"ssl = {ssl}",
            "-- Obsolete in 0.12 (ignored, but `check config` fails on it); the Jitsi template",
            "-- still writes it.",
            "cross_domain_bosh = nil",
        ]
        for host in self.virtual_hosts():
            lines += ["", f"VirtualHost {lua_string(host)}", f"    ssl = {ssl}"]
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.config_path

    # -- prosodyctl -----------------------------------------------------------------------
    def prosodyctl(self, *args: str, stdin: str | None = None,
                   timeout: float = 20) -> subprocess.CompletedProcess:
        self.write_config()
        return subprocess.run([PROSODYCTL, "--config", str(self.config_path), *args],
                              input=stdin, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **self.env})

    def check_config(self) -> tuple[bool, str]:
        """`prosodyctl check config` on the test configuration: (passed, its output)."""
        result = self.prosodyctl("check", "config")
        return result.returncode == 0, result.stdout + result.stderr

    def register(self, user: str, host: str, password: str) -> None:
        """Create or replace a local user, the password on standard input (not in argv).

        prosodyctl 0.12 `register USER HOST` without a password prompts twice ("Enter new
        password", "Retype new password") and reads one line each from stdin.
        """
        if "\n" in password or "\r" in password:
            raise ValueError("prosodyctl reads the password as one line")
        result = self.prosodyctl("register", user, host, stdin=f"{password}\n{password}\n")
        if result.returncode != 0:
            raise RuntimeError(f"prosodyctl register {user} {host} failed "
                               f"({result.returncode}):\n{result.stdout}{result.stderr}")

    # -- the server -----------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> Prosody:
        self.write_config()
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = Proc([*prefix, PROSODY, "--config", str(self.config_path), "-F"],
                         log=self.dir / "prosody.stdout", env=self.env)
        try:
            if self.netns:
                from tests.lab.netns import call_in

                call_in(self.netns, self.proc.wait_port, "127.0.0.1", self.port, timeout)
                call_in(self.netns, self._wait_ready, timeout)
            else:
                self.proc.wait_port("127.0.0.1", self.port, timeout)
                self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Prosody listens before it has set up every host; it answers streams only after.

        Startup is one synchronous step before the event loop, so the first stream answer
        means every host and module is loaded (and load_errors() is complete).
        """
        # A stream error is an answer all the same (e.g. the tree does not define `hostname`).
        with contextlib.suppress(xmpp.StreamError):
            xmpp.login(self.port, self.hostname, mechanism="-", starttls=False, timeout=timeout)

    def _client_connections(self) -> int:
        """Open (established or half-closed) connections on the c2s port, from /proc/net/tcp."""
        local = f":{self.port:04X}"
        with open("/proc/net/tcp") as table:
            rows = [line.split() for line in table.readlines()[1:]]
        return sum(1 for row in rows if row[1].endswith(local) and row[3] in ("01", "08"))

    def stop(self) -> None:
        if self.proc is not None:
            # A session still closing when SIGTERM arrives makes Prosody's shutdown wait a
            # second for it; let the last logins finish closing first.
            with contextlib.suppress(TimeoutError):
                if not self.netns:  # /proc/net/tcp shows this namespace's sockets only
                    wait_for(lambda: self._client_connections() == 0, 1.0,
                             "c2s sessions to close")
            self.proc.stop()
            self.proc = None

    def restart(self) -> Prosody:
        self.stop()
        return self.start()

    def __enter__(self) -> Prosody:
        # `with prosody.start():` must not start a second server beside the first.
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self) -> str:
        """Prosody's log file followed by anything it wrote to stdout/stderr."""
        return "".join(path.read_text(errors="replace")
                       for path in (self.log_path, self.dir / "prosody.stdout") if path.exists())

    def load_errors(self) -> list[str]:
        """Log lines saying a module or host failed to load (a missing stand-in, a typo)."""
        pattern = re.compile(r"Unable to load module|Error loading module|"
                             r"Error initializing module")
        return [line for line in self.log_text().splitlines() if pattern.search(line)]
