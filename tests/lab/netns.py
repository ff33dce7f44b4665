"""Two network namespaces joined by a veth pair: a server and "the outside", for probing
ports through real nftables rules. Addresses exist only inside the namespaces."""

from __future__ import annotations

import ctypes
import itertools
import os
import subprocess
import threading
from pathlib import Path

from tests.lab.proc import Proc

_COUNTER = itertools.count(1)


def _ip(*args: str, timeout: float = 10) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=timeout)


def available() -> str:
    """"" when namespaces can be made here, else why not (for pytest.skip)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"jwprobe{os.getpid()}"
    try:
        _ip("netns", "add", name)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot create a network namespace: {exc}"
    _ip("netns", "del", name)
    return ""


class NetnsPair:
    """`server` and `outside` namespaces; `server_address` / `outside_address` on the link.

    Names carry the test process id and a counter, so concurrent test runs never collide.
    """

    server_address = "169.254.77.1"
    outside_address = "169.254.77.2"
    prefix_len = 30

    def __init__(self) -> None:
        tag = f"{os.getpid()}x{next(_COUNTER)}"
        self.server = f"jw-srv-{tag}"
        self.outside = f"jw-out-{tag}"
        self._veth = (f"jwa{tag}", f"jwb{tag}")  # at most 15 characters
        self.started = False

    def start(self) -> NetnsPair:
        try:
            _ip("netns", "add", self.server)
            _ip("netns", "add", self.outside)
            self.started = True
            _ip("link", "add", self._veth[0], "type", "veth", "peer", "name", self._veth[1])
            for ns, dev, address in ((self.server, self._veth[0], self.server_address),
                                     (self.outside, self._veth[1], self.outside_address)):
                _ip("link", "set", dev, "netns", ns)
                _ip("-n", ns, "addr", "add", f"{address}/{self.prefix_len}", "dev", dev)
                _ip("-n", ns, "link", "set", dev, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # Deleting a namespace deletes the veth end inside it, and with it the pair.
        for ns in (self.server, self.outside):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", self._veth[0]], capture_output=True, timeout=10)
        self.started = False

    def __enter__(self) -> NetnsPair:
        return self if self.started else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_address(self, ns: str, address: str) -> None:
        """A second address on a namespace's end of the link."""
        dev = self._veth[0] if ns == self.server else self._veth[1]
        _ip("-n", ns, "addr", "add", f"{address}/{self.prefix_len}", "dev", dev)

    @staticmethod
    def prefix(ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]

    def nft(self, ruleset: str, ns: str | None = None) -> None:
        """Load an nftables ruleset (nft -f syntax) into a namespace (the server's by default)."""
        done = subprocess.run([*self.prefix(ns or self.server), "nft", "-f", "-"],
                              input=ruleset, text=True, capture_output=True, timeout=10)
        if done.returncode:
            raise RuntimeError(f"nft -f failed: {done.stderr}")

    def run(self, ns: str, argv: list[str], timeout: float = 30,
            env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([*self.prefix(ns), *argv], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, **(env or {})})

    def start_process(self, ns: str, argv: list[str], log: Path,
                      env: dict | None = None) -> Proc:
        return Proc([*self.prefix(ns), *argv], log=log, env=env)


CLONE_NEWNET = 0x40000000


def call_in(ns: str, fn, *args, **kwargs):
    """fn(*args, **kwargs) in a thread that has joined network namespace `ns`: its sockets
    live there. The thread ends with the call, and the namespace change with it."""
    outcome: dict = {}

    def run() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {ns} failed")
            finally:
                os.close(fd)
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


class Lan:
    """Namespaces on one Ethernet segment: a Linux bridge in a namespace of its own, a veth
    pair from each member to it. `addresses` maps a member's role to its address; `ns[role]`
    is its namespace."""

    prefix_len = 24

    def __init__(self, addresses: dict[str, str]) -> None:
        tag = f"{os.getpid()}x{next(_COUNTER)}"
        self.addresses = dict(addresses)
        self.hub = f"jw-hub-{tag}"
        self.ns = {role: f"jw-{role}-{tag}" for role in addresses}
        self._veths = [(f"jl{i}{tag}", f"jh{i}{tag}") for i in range(len(addresses))]
        self.started = False

    def start(self) -> Lan:
        try:
            _ip("netns", "add", self.hub)
            self.started = True
            _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.hub, "link", "set", "br0", "up")
            for (role, address), (inner, outer) in zip(self.addresses.items(), self._veths):
                ns = self.ns[role]
                _ip("netns", "add", ns)
                _ip("link", "add", inner, "type", "veth", "peer", "name", outer)
                _ip("link", "set", inner, "netns", ns)
                _ip("link", "set", outer, "netns", self.hub)
                _ip("-n", self.hub, "link", "set", outer, "master", "br0", "up")
                _ip("-n", ns, "addr", "add", f"{address}/{self.prefix_len}", "dev", inner)
                _ip("-n", ns, "link", "set", inner, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for ns in (*self.ns.values(), self.hub):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        for inner, _ in self._veths:
            subprocess.run(["ip", "link", "del", inner], capture_output=True, timeout=10)
        self.started = False

    def __enter__(self) -> Lan:
        return self if self.started else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
