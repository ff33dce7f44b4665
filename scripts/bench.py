"""Benchmarks: each figure beside a reference measured in the same run, as a ratio.

Run through scripts/bench (it sets up the virtualenv). Machines here are noisy: every
measure is repeated and the median is reported. Needs only what scripts/test installs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PY = sys.executable
WIZARD = [PY, "-m", "jitsiwizard"]
MINIMAL_APP = '''
from textual.app import App
from textual.widgets import Label

class Minimal(App):
    def compose(self):
        yield Label("minimal-ready")

Minimal().run()
'''
FIRST_SCREEN_MARK = "Welcome"  # the wizard's first screen title
FACTS_MARK = "Files under"  # the last row of the host's facts on that screen
HOST = "meet.example.org"
ANSWERS_LDAP_GUESTS = f'''
[host]
hostname = "{HOST}"
[cert]
mode = "self-signed"
[auth]
policy = "ldap"
guests = true
[auth.ldap]
url = "ldap://ldap.example.org"
bind_dn = "cn=jitsi,ou=services,dc=example,dc=org"
bind_password = "env:BENCH_LDAP_PW"
user_base = "ou=people,dc=example,dc=org"
'''


def median(values: list[float]) -> float:
    return statistics.median(values)


def wait_until(condition, timeout: float, what: str, interval: float = 0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


# --- 1 and 4: the real terminal -------------------------------------------------------------

class Tmux:
    def __init__(self, env: dict[str, str] | None = None):
        self.socket = f"jw-bench-{os.getpid()}-{time.monotonic_ns()}"
        self.env = env or {}

    def start(self, argv: list[str]) -> float:
        exports = [f"{k}={v}" for k, v in self.env.items()]
        command = " ".join(["env", *map(_quote, exports), *map(_quote, argv)])
        started = time.monotonic()
        subprocess.run(["tmux", "-L", self.socket, "new-session", "-d", "-x", "80", "-y", "24",
                        command], check=True, timeout=10)
        return started

    def screen(self) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, "capture-pane", "-p"],
                              capture_output=True, text=True, timeout=10)
        return proc.stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "-L", self.socket, "send-keys", *keys], check=True, timeout=10)

    def pane_pid(self) -> int:
        proc = subprocess.run(["tmux", "-L", self.socket, "list-panes", "-F", "#{pane_pid}"],
                              capture_output=True, text=True, timeout=10, check=True)
        return int(proc.stdout.split()[0])

    def stop(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def time_to_first_screen(argv: list[str], mark: str, env: dict | None = None) -> float:
    return time_to_marks(argv, [mark], env)[0]


def time_to_marks(argv: list[str], marks: list[str], env: dict | None = None) -> list[float]:
    """Seconds from start until each mark is on screen, in order (one run)."""
    tmux = Tmux(env)
    times = []
    try:
        started = tmux.start(argv)
        for mark in marks:
            wait_until(lambda m=mark: m in tmux.screen(), 30, f"{mark!r} on screen",
                       interval=0.002)
            times.append(time.monotonic() - started)
        return times
    finally:
        tmux.stop()


def peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def bench_first_screen(repeat: int) -> tuple[float, float, float]:
    """(the bare first frame, the Welcome screen with the host's facts, the minimal app's
    first frame): the second is what the admin waits for."""
    minimal_file = Path(tempfile.mkdtemp()) / "minimal.py"
    minimal_file.write_text(MINIMAL_APP)
    # Compiled bytecode, as an installed wizard has it (pip compiles it), even where the
    # environment says PYTHONDONTWRITEBYTECODE: kept in a cache of its own, filled by a
    # first run of each that is not counted.
    cache = Path(tempfile.mkdtemp(prefix="jw-bench-pyc-"))
    env = {"TERM": "xterm-256color", "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "",
           "PYTHONPYCACHEPREFIX": str(cache)}
    # A configured host as `sudo jitsi-wizard` meets it (--demo would add building its tree).
    from jitsiwizard import fixtures
    base = Path(tempfile.mkdtemp(prefix="jw-bench-"))
    fixtures.build(base)
    frame, facts, minimal = [], [], []
    try:
        time_to_first_screen([PY, str(minimal_file)], "minimal-ready", env)
        time_to_marks([*WIZARD, "--root", str(base), "--simulate"], [FACTS_MARK], env)
        for _ in range(repeat):
            minimal.append(time_to_first_screen([PY, str(minimal_file)], "minimal-ready", env))
            first, shown = time_to_marks([*WIZARD, "--root", str(base), "--simulate"],
                                         [FIRST_SCREEN_MARK, FACTS_MARK], env)
            frame.append(first)
            facts.append(shown)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(minimal_file.parent, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    return median(frame), median(facts), median(minimal)


def _step_title(screen: str) -> str:
    lines = screen.splitlines()
    return lines[2].strip() if len(lines) > 2 else ""


def bench_memory(repeat: int) -> tuple[float, float]:
    """Peak RSS on the Review screen (the plan with every diff) against the minimal app."""
    from tests.lab.dns import Dnsmasq

    minimal_file = Path(tempfile.mkdtemp()) / "minimal.py"
    minimal_file.write_text(MINIMAL_APP)
    env = {"TERM": "xterm-256color", "BENCH_LDAP_PW": "bench-password"}
    work = Path(tempfile.mkdtemp(prefix="jw-bench-dns-"))
    dns_server = Dnsmasq(work, HOST.split(".", 1)[1], {HOST: ("127.0.0.1", None)}).start()
    wizard, minimal = [], []
    try:
        for _ in range(repeat):
            tmux = Tmux(env)
            try:
                tmux.start([PY, str(minimal_file)])
                wait_until(lambda t=tmux: "minimal-ready" in t.screen(), 30, "minimal app")
                minimal.append(peak_rss_kb(tmux.pane_pid()) / 1024)
            finally:
                tmux.stop()
            wizard.append(_wizard_on_review(env, f"127.0.0.1:{dns_server.port}") / 1024)
    finally:
        dns_server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return median(wizard), median(minimal)


def _wizard_on_review(env: dict, resolver: str) -> int:
    """Walk the real wizard to Review with the keyboard; its peak RSS in kB."""
    from jitsiwizard import fixtures
    base = Path(tempfile.mkdtemp(prefix="jw-bench-"))
    fixtures.build(base)
    answers = base / "answers.toml"
    answers.write_text(ANSWERS_LDAP_GUESTS)
    tmux = Tmux(env)
    try:
        tmux.start([*WIZARD, "--root", str(base), "--simulate", "--edit", str(answers),
                    "--resolver", resolver])
        wait_until(lambda: FIRST_SCREEN_MARK in tmux.screen(), 30, "the wizard")
        for _step in range(20):
            screen = tmux.screen()
            if _step_title(screen).startswith("Review"):
                break
            if "Continue anyway" in screen:
                tmux.keys("Right", "Enter")
            else:
                tmux.keys("C-n")
            try:
                wait_until(lambda s=screen: tmux.screen() != s, 15, "the screen to change")
            except TimeoutError:
                raise RuntimeError("the wizard stopped at:\n" + screen) from None
        else:
            raise RuntimeError("the wizard did not reach Review:\n" + tmux.screen())
        # the plan and its diffs are drawn once the screen settles
        last = ""
        for _ in range(100):
            now = tmux.screen()
            if now == last:
                break
            last = now
            time.sleep(0.05)  # polling the screen until two reads agree
        return peak_rss_kb(tmux.pane_pid())
    finally:
        tmux.stop()
        shutil.rmtree(base, ignore_errors=True)


# --- 2: replay ------------------------------------------------------------------------------

def bench_replay(repeat: int) -> tuple[float, float]:
    from jitsiwizard import fixtures
    env = dict(os.environ, BENCH_LDAP_PW="bench-password")
    replay, imports = [], []
    for _ in range(repeat):
        base = Path(tempfile.mkdtemp(prefix="jw-bench-"))
        fixtures.build(base)
        answers = base / "answers.toml"
        answers.write_text(ANSWERS_LDAP_GUESTS)
        started = time.monotonic()
        proc = subprocess.run([*WIZARD, "--answers", str(answers), "--root", str(base),
                               "--simulate", "--skip-checks"], capture_output=True, env=env,
                              timeout=60)
        replay.append(time.monotonic() - started)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.decode())
        started = time.monotonic()
        subprocess.run([PY, "-c", "import jitsiwizard.cli.main"], check=True, timeout=60)
        imports.append(time.monotonic() - started)
        shutil.rmtree(base, ignore_errors=True)
    return median(replay), median(imports)


# --- 2b: a meeting server and two bridges by Ansible ------------------------------------------

def bench_fleet(repeat: int) -> tuple[float, float] | str:
    """The collection's playbook on the three-host lab (tests/lab/fleet.py: real SSH into
    network namespaces, fresh --simulate trees each time): both bridge hosts at once, against
    the same playbook limited to the main host and one bridge, the slower bridge of the two.
    Returns (three hosts, slowest single bridge), or why it cannot run here."""
    from tests.lab import fleet, ssh

    why = ssh.available()
    if why:
        return why
    work = Path(tempfile.mkdtemp(prefix="jw-bench-fleet-"))
    together, single = [], []
    try:
        (work / "collection").mkdir()
        collections = ssh.build_collection(work / "collection")
        with fleet.fleet(work / "lab", collections) as lab:
            def timed(name: str, *limit: str) -> float:
                roots = lab.trees(name)
                inventory = lab.inventory(roots, checks=False, name=f"{name}.yml")
                args = ("--limit", ",".join(limit)) if limit else ()
                started = time.monotonic()
                done = lab.controller.run(fleet.PLAYBOOK, inventory, *args)
                took = time.monotonic() - started
                if done.returncode != 0:
                    raise RuntimeError(done.output[-3000:])
                return took

            timed("warm-up")  # the first SSH connections, the first imports
            for n in range(repeat):
                together.append(timed(f"all-{n}"))
                single.append(max(timed(f"{bridge}-{n}", "meet", bridge)
                                  for bridge in fleet.BRIDGES))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return median(together), median(single)


# --- 3: concurrent checks against slow servers ----------------------------------------------

class SlowDns(threading.Thread):
    """A UDP DNS server that answers every query after `delay` seconds."""

    def __init__(self, delay: float):
        super().__init__(daemon=True)
        self.delay = delay
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.running = True

    def run(self) -> None:
        import dns.message
        import dns.rrset

        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            threading.Thread(target=self._answer, args=(data, peer, dns), daemon=True).start()

    def _answer(self, data, peer, dns) -> None:
        import dns.message
        import dns.rrset

        time.sleep(self.delay)  # the point of this server: it is slow
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        question = query.question[0]
        if question.rdtype == 1:
            reply.answer.append(dns.rrset.from_text(question.name, 60, "IN", "A",
                                                    "127.0.0.1"))
        with contextlib.suppress(OSError):
            self.sock.sendto(reply.to_wire(), peer)

    def stop(self) -> None:
        self.running = False
        self.sock.close()


class SlowProxy(threading.Thread):
    """A TCP proxy to `target` that holds every new connection `delay` seconds first."""

    def __init__(self, target: tuple[str, int], delay: float):
        super().__init__(daemon=True)
        self.target, self.delay = target, delay
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def run(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        time.sleep(self.delay)  # the point of this proxy: the directory is slow
        upstream = socket.create_connection(self.target, timeout=10)

        def pump(src, dst):
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
        pump(upstream, client)

    def stop(self) -> None:
        self.sock.close()


def bench_checks(repeat: int, delay: float = 1.0) -> tuple[float, float]:
    from jitsiwizard.answers.load import loads
    from jitsiwizard.checks import check_dns, check_ldap, run_checks
    from tests.lab.slapd import Slapd

    work = Path(tempfile.mkdtemp(prefix="jw-bench-ldap-"))
    slapd = Slapd(work).start()
    dns_server = SlowDns(delay)
    dns_server.start()
    proxy = SlowProxy((slapd.address, slapd.port), delay)
    proxy.start()
    os.environ["BENCH_LDAP_PW"] = slapd.service_password
    text = ANSWERS_LDAP_GUESTS.replace("ldap://ldap.example.org", f"ldap://127.0.0.1:{proxy.port}")
    text = text.replace("cn=jitsi,ou=services,dc=example,dc=org", slapd.service_dn)
    text = text.replace("ou=people,dc=example,dc=org", slapd.people_base)
    text = text.replace("[auth.ldap]", "[auth.ldap]\nstarttls = false\nallow_plaintext = true")
    answers = loads(text).answers
    resolver = f"127.0.0.1:{dns_server.port}"
    timeout = delay * 5
    together, slowest = [], []
    try:
        for _ in range(repeat):
            started = time.monotonic()
            asyncio.run(run_checks(answers, resolver=resolver, timeout=timeout,
                                   authoritative_port=dns_server.port))
            together.append(time.monotonic() - started)
            singles = []
            started = time.monotonic()
            asyncio.run(check_dns(HOST, resolver=resolver, timeout=timeout,
                                  authoritative_port=dns_server.port))
            singles.append(time.monotonic() - started)
            started = time.monotonic()
            asyncio.run(check_ldap(answers.auth.ldap, timeout))
            singles.append(time.monotonic() - started)
            slowest.append(max(singles))
    finally:
        proxy.stop()
        dns_server.stop()
        slapd.stop()
        shutil.rmtree(work, ignore_errors=True)
    return median(together), median(slowest)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", choices=["screen", "replay", "fleet", "checks", "memory"])
    args = parser.parse_args()
    rows = []
    started = time.monotonic()
    if args.only in (None, "screen"):
        frame, facts, minimal = bench_first_screen(args.repeat)
        rows.append(("first frame", f"{frame:.3f} s", f"minimal Textual app "
                     f"{minimal:.3f} s", frame / minimal, "<= 1.3x", frame / minimal <= 1.3))
        rows.append(("Welcome with the host's facts", f"{facts:.3f} s", f"minimal Textual app "
                     f"{minimal:.3f} s", facts / minimal, "<= 1.3x", facts / minimal <= 1.3))
    if args.only in (None, "replay"):
        replay, imports = bench_replay(args.repeat)
        work = replay - imports
        rows.append(("replay, LDAP + guests", f"{replay:.3f} s", f"import only {imports:.3f} s",
                     replay / imports, f"plan+apply {work:.3f} s < 0.3 s", work < 0.3))
    if args.only in (None, "fleet"):
        measured = bench_fleet(max(1, args.repeat // 2))
        if isinstance(measured, str):
            print(f"  fleet: not measured here: {measured}")
        else:
            together, single = measured
            rows.append(("Ansible: main + 2 bridges", f"{together:.2f} s",
                         f"main + 1 bridge, slowest {single:.2f} s", together / single,
                         "<= 1.3x", together / single <= 1.3))
    if args.only in (None, "checks"):
        together, slowest = bench_checks(args.repeat)
        rows.append(("all checks, servers 1 s slow", f"{together:.3f} s",
                     f"slowest alone {slowest:.3f} s", together / slowest, "<= 1.2x",
                     together / slowest <= 1.2))
    if args.only in (None, "memory"):
        wizard_mb, minimal_mb = bench_memory(max(1, args.repeat // 2))
        rows.append(("peak RSS, Review screen", f"{wizard_mb:.1f} MB",
                     f"minimal Textual app {minimal_mb:.1f} MB", wizard_mb / minimal_mb,
                     "< 80 MB", wizard_mb < 80))
    print(f"jitsi-wizard benchmarks (median of {args.repeat}; {os.cpu_count()} cores)")
    for name, value, reference, ratio, goal, met in rows:
        print(f"  {name:<30} {value:>10}   vs {reference:<32} {ratio:5.2f}x   goal {goal}: "
              f"{'met' if met else 'MISSED'}")
    print(f"  ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
