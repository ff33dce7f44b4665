"""A real terminal: tmux runs `jitsi-wizard --demo` at 80x24, keys are sent as an admin would
type them, the captured screen shows each step, and the run reaches Done. The first screen is
also checked under the other terminal types the wizard supports, and with NO_COLOR."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lab.dns import SilentDns

TMUX = shutil.which("tmux")
WIZARD = Path(sys.executable).with_name("jitsi-wizard")

# scripts/test installs tmux and the project into the venv: a missing one is a failure.
assert TMUX is not None, "tmux is missing: run scripts/test"
assert WIZARD.exists(), f"{WIZARD} is missing: run scripts/test (pip install -e .)"


class Terminal:
    """One tmux server of our own (-L), one 80x24 window running a command."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], status: Path,
                 size: tuple[int, int] = (80, 24), hold: bool = False):
        self.hold = hold
        self.socket = f"jw-{name}-{os.getpid()}-{time.monotonic_ns()}"
        self.command = command
        self.env = env
        self.status_file = status  # the shell around the command writes its exit status
        self.size = size

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=10, check=check)

    def start(self) -> Terminal:
        shell_env = " ".join(f"{k}={_quote(v)}" for k, v in self.env.items())
        # COLUMNS and LINES (set in the test process) would override the pane's real size.
        line = f"env -u COLUMNS -u LINES {shell_env} " + " ".join(_quote(a)
                                                                  for a in self.command)
        line += f"; echo $? > {_quote(str(self.status_file))}"
        if self.hold:  # the pane stays once the command ends: what it printed can be read
            line += "; exec cat"
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", str(self.size[0]), "-y",
                  str(self.size[1]), line)
        return self

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p").stdout

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if text in shown:
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear within {timeout}s:\n{shown}")
            time.sleep(0.05)

    def wait_gone(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if text not in shown:
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not go within {timeout}s:\n{shown}")
            time.sleep(0.05)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-l", text)

    def wait_focus(self, label: str, timeout: float = 20.0) -> None:
        """Wait until the text field on the line that starts with `label` has the focus:
        Textual keeps the terminal's (hidden) cursor at the focused field's cursor, so its
        row is the field's. Keys typed right behind a Tab from a tick or a choice can still
        go to the widget the Tab leaves (the admin's-walk issue); text waits for this."""
        deadline = time.monotonic() + timeout
        while True:
            rows = [n for n, line in enumerate(self.screen().splitlines())
                    if line.strip().startswith(label)]
            cursor = self.tmux("display", "-p", "#{cursor_y}").stdout.strip()
            if rows and cursor.isdigit() and int(cursor) in rows:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the field {label!r} did not get the focus within "
                                     f"{timeout}s (cursor row {cursor}):\n{self.screen()}")
            time.sleep(0.05)

    def exit_status(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while True:
            text = self.status_file.read_text() if self.status_file.exists() else ""
            if text.endswith("\n"):
                return int(text)
            if time.monotonic() > deadline:
                raise AssertionError(f"the wizard did not exit:\n{self.screen()}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.tmux("kill-server", check=False)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@pytest.fixture
def terminal(tmp_path):
    started: list[Terminal] = []
    silent = SilentDns().start()

    def run(name: str, term: str = "xterm-256color", size: tuple[int, int] = (80, 24),
            hold: bool = False, args: tuple[str, ...] = ("--demo",), **extra: str) -> Terminal:
        env = {"TERM": term, "TMPDIR": str(tmp_path), "LANG": "C.UTF-8", **extra}
        command = [str(WIZARD), *args, "--resolver", silent.resolver]
        status = tmp_path / f"{name}.status"
        started.append(Terminal(name, command, env, status, size, hold).start())
        return started[-1]

    yield run
    for term in started:
        term.stop()
    silent.stop()


def next_step(term: Terminal, shows: str) -> str:
    """Ctrl+N; a "continue anyway" question (a check that failed or is still running in the
    demo) is answered yes; then wait for `shows`."""
    term.keys("C-n")
    deadline = time.monotonic() + 20
    while True:
        shown = term.screen()
        if shows in shown and "Continue anyway" not in shown:
            return shown
        if "Continue anyway" in shown:
            term.keys("Right", "Enter")
            # Answer once: wait until the question is gone before looking again, or a second
            # Enter would land on the next screen.
            while "Continue anyway" in term.screen():
                if time.monotonic() > deadline:
                    raise AssertionError(f"the question did not close:\n{term.screen()}")
                time.sleep(0.05)
            continue
        if time.monotonic() > deadline:
            raise AssertionError(f"{shows!r} did not appear:\n{shown}")
        time.sleep(0.05)


def test_demo_in_tmux_walks_to_done(terminal):
    term = terminal("walk", hold=True)
    term.wait_for("Files under")  # Welcome, with what was read from the demo host
    next_step(term, "[ OK ] meet.example.org")  # Hostname, validated as typed
    term.keys("End")
    term.type("_")
    term.wait_for("[FAIL] 'meet.example.org_' label")
    term.keys("BSpace")
    term.wait_for("[ OK ] meet.example.org")
    next_step(term, "Videobridge behind NAT")  # DNS
    next_step(term, "Managed firewall")  # Firewall
    next_step(term, "(*) self-signed")  # Certificate: the demo host's current mode
    shown = next_step(term, "(*) open")  # Authentication: the demo host's current policy
    assert "Who may start a meeting" in shown
    term.keys("Down", "Enter")  # choose "local"
    term.wait_for("(*) local")
    term.keys("Tab", "Tab")  # past the guests box, into the users list
    term.keys("a")
    term.wait_for("Add a user")
    term.type("alice")
    term.keys("Enter")
    term.type("Pass-w0rd-123")
    term.keys("Enter")
    term.type("Pass-w0rd-123")
    term.keys("Enter")
    term.wait_for("new, password set")
    assert "Pass-w0rd-123" not in term.screen()
    next_step(term, "Enter on a step shows its diff")  # Review
    term.keys("Enter")  # the first step's diff
    term.wait_for("+++ /etc/prosody/conf.avail/meet.example.org.cfg.lua")
    term.keys("Escape")
    term.wait_for("Review the plan")
    term.keys("C-n")
    term.wait_for("Not yet")
    term.keys("Right", "Enter")
    term.wait_for("Applied.", 30)
    next_step(term, "Meetings: https://meet.example.org/")  # Done
    term.keys("C-n")  # Quit
    assert term.exit_status() == 0
    # Done's commands stay on the terminal, each on one line.
    term.wait_for("Replay with: jitsi-wizard --answers")
    shown = term.tmux("capture-pane", "-p", "-J").stdout  # wrapped lines joined
    # (older tmux keeps the row's trailing blanks)
    assert re.search(r"Undo with: +jitsi-wizard rollback \S+ --root \S+ --simulate *$", shown,
                     re.M), shown
    assert "the demo's tree is removed now" in shown


@pytest.mark.parametrize("term_type", ["screen", "tmux-256color", "linux"])
def test_first_screen_under_each_terminal_type(terminal, term_type):
    term = terminal(term_type, term=term_type)
    shown = term.wait_for("Files under")
    assert "Welcome" in shown and "Next >" in shown
    assert all(len(line) <= 80 for line in shown.splitlines())
    term.keys("C-q")
    term.wait_for("Quit the wizard?")
    term.keys("Right", "Enter")
    assert term.exit_status() == 1  # nothing was applied


def _colours(sgr_text: str) -> set[tuple[int, int, int]]:
    """Every foreground/background colour in a screen captured with its escape sequences,
    as RGB (256-colour palette entries converted)."""
    found = set()
    for params in re.findall(r"\x1b\[([0-9;]*)m", sgr_text):
        codes = [int(c) for c in params.split(";") if c]
        i = 0
        while i < len(codes):
            if codes[i] in (38, 48) and codes[i + 1:i + 2] == [5]:
                found.add(_palette(codes[i + 2]))
                i += 3
            elif codes[i] in (38, 48) and codes[i + 1:i + 2] == [2]:
                found.add(tuple(codes[i + 2:i + 5]))
                i += 5
            elif 30 <= codes[i] <= 37 or 40 <= codes[i] <= 47 or 90 <= codes[i] <= 107:
                found.add((-1, codes[i], -1))  # a named colour: never grey by definition
                i += 1
            else:
                i += 1
    return found


def _palette(index: int) -> tuple[int, int, int]:
    if index >= 232:
        level = 8 + (index - 232) * 10
        return level, level, level
    if index >= 16:
        n = index - 16
        steps = (0, 95, 135, 175, 215, 255)
        return steps[n // 36], steps[n // 6 % 6], steps[n % 6]
    return (-1, index, -1)


def test_no_color_shows_only_greys(terminal):
    colour = terminal("colour")
    colour.wait_for("Files under")
    greys = terminal("nocolor", NO_COLOR="1")
    greys.wait_for("Files under")
    with_colour = _colours(colour.tmux("capture-pane", "-p", "-e").stdout)
    without = _colours(greys.tmux("capture-pane", "-p", "-e").stdout)
    assert any(len(set(rgb)) > 1 for rgb in with_colour)  # the check can fail
    assert all(len(set(rgb)) == 1 for rgb in without), sorted(without)
    term = greys
    term.keys("C-q")
    term.wait_for("Quit the wizard?")
    term.keys("Right", "Enter")
    assert term.exit_status() == 1


# --- every policy, end to end, going back from every screen ---------------------------------

TITLES = {"welcome": "Welcome", "hostname": "Hostname", "dns": "DNS", "firewall": "Firewall",
          "certificate": "Certificate", "auth": "Authentication", "review": "Review the plan",
          "apply": "Apply", "done": "Done"}
ORDER = list(TITLES)


def title(shown: str) -> str:
    """The step's title: the third line (under the step line and a blank one)."""
    lines = shown.splitlines()
    return lines[2].strip() if len(lines) > 2 else ""


def wait_title(term: Terminal, name: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        shown = term.screen()
        if title(shown) == TITLES[name]:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"the {name} step did not show:\n{shown}")
        time.sleep(0.05)


def burst(term: Terminal, data: str) -> None:
    """`data` written to the pane in one write: tmux pastes a buffer as it is, without the
    bracketed-paste marks (no -p), so the wizard reads keys, not a paste."""
    name = f"burst-{time.monotonic_ns()}"
    term.tmux("set-buffer", "-b", name, "--", data)
    term.tmux("paste-buffer", "-d", "-r", "-b", name)


def forward(term: Terminal, name: str, *, bursts: bool = False) -> str:
    """Ctrl+N to the step `name`, answering "continue anyway" (DNS the test cannot resolve)
    with yes; with `bursts`, each answer is one write, as SSH delivers keys typed ahead."""
    if bursts:
        burst(term, "\x0e")  # Ctrl+N
    else:
        term.keys("C-n")
    deadline = time.monotonic() + 20
    while True:
        shown = term.screen()
        if "Continue anyway" in shown:
            if bursts:
                burst(term, "\x1b[C\r")  # Right, Enter
            else:
                term.keys("Right", "Enter")
            term.wait_gone("Continue anyway", max(0.1, deadline - time.monotonic()))
            continue
        if title(shown) == TITLES[name]:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"the {name} step did not show:\n{shown}")
        time.sleep(0.05)


def back_and_forth(term: Terminal, name: str) -> None:
    """Esc goes to the step before; Ctrl+N comes back."""
    wait_title(term, name)
    term.keys("Escape")
    wait_title(term, ORDER[ORDER.index(name) - 1])
    forward(term, name)
    wait_title(term, name)


def walk_to_auth(term: Terminal) -> None:
    term.wait_for("Files under")
    term.keys("Enter")  # Next has the focus on Welcome: one step on, to the Hostname
    wait_title(term, "hostname")
    back_and_forth(term, "hostname")
    term.wait_for("[ OK ] meet.example.org")
    term.keys("Enter")  # the only field: Enter goes on, through the name's check
    wait_title(term, "dns")
    back_and_forth(term, "dns")
    for name in ("firewall", "certificate", "auth"):
        forward(term, name)
        back_and_forth(term, name)


def choose_policy(term: Terminal, policy: str, ldap_url: str = "") -> None:
    term.wait_for("(*) open")  # the demo host's policy
    if policy == "local":
        term.keys("Down", "Enter")
        term.wait_for("(*) local")
        term.keys("a")  # A adds a user wherever the focus is
        term.wait_for("Add a user")
        term.type("alice")
        term.keys("Enter")
        term.type("short")
        term.wait_for("shorter than 8")  # checked as typed
        term.keys("C-u")
        term.type("Pass-w0rd-123")
        term.keys("Enter")
        term.type("Pass-w0rd-123")
        term.keys("Enter")
        term.wait_for("new, password set")
        assert "Pass-w0rd-123" not in term.screen()
    elif policy == "ldap":
        term.keys("Down", "Down", "Enter")
        term.wait_for("(*) ldap")
        # Keys typed ahead of the LDAP fields' arrival can still skip them (issue: every
        # key lands where it was typed); this walk waits for the fields, and for the focus.
        term.wait_for("Bind password")
        term.keys("Tab", "Tab")  # past the guests box, into the server URL
        term.wait_focus("Server URL(s)")
        term.type(ldap_url)
        term.keys("Tab")
        term.keys("Space")  # StartTLS off: this test directory has no certificate
        term.wait_for("[ ] StartTLS")
        term.keys("Tab")
        term.keys("Space")  # ... so clear text, as on a trusted LAN
        term.wait_for("[x] Allow clear-text")
        term.keys("Tab", "Tab")  # past the CA file, into the bind DN
        term.wait_focus("Bind DN")
        term.type("cn=jitsi,ou=services,dc=example,dc=org")
        term.keys("Tab")
        term.type("service-secret")
        term.keys("Tab")
        term.type("ou=people,dc=example,dc=org")
        term.keys("C-n")  # not tested yet: the wizard asks, Stay is the default
        term.wait_for("The LDAP test was not run")
        term.keys("Enter")
        # Back on the step, scrolled to the focused field (the title may be out of view).
        term.wait_gone("The LDAP test was not run")
        term.wait_for("(*) ldap")
        # Filter, login and name attributes, scope, test user and password, then the button.
        term.keys(*["Tab"] * 7, "Enter")
        term.wait_for("Connection works", 30)


def walk_from_auth(term: Terminal, changes: bool = True) -> None:
    forward(term, "review")
    summary = "steps," if changes else "Nothing to change"
    term.wait_for(summary)
    back_and_forth(term, "review")
    term.wait_for(summary)
    if not changes:  # the demo host is open already: Finish saves the answers
        forward(term, "done")
        term.wait_for("Meetings: https://meet.example.org/")
        term.keys("C-n")  # Quit
        return
    term.keys("C-n")
    term.wait_for("Not yet")
    term.keys("Right", "Enter")
    term.wait_for("Applied.", 30)
    term.keys("Escape")  # applied: no going back to the plan, it says how to undo
    term.wait_for("rollback")
    assert title(term.screen()) == TITLES["apply"]
    forward(term, "done")
    term.wait_for("Meetings: https://meet.example.org/")
    term.keys("C-n")  # Quit


WALKS = [("open", (80, 24), {}), ("local", (80, 24), {"NO_COLOR": "1"}),
         pytest.param("ldap", (80, 24), {}, marks=pytest.mark.lab), ("open", (70, 20), {})]


@pytest.mark.parametrize(("policy", "size", "extra"), WALKS,
                         ids=["open", "local-no-color", "ldap", "open-70x20"])
def test_every_policy_end_to_end_going_back_from_every_step(terminal, tmp_path, policy,
                                                              size, extra):
    ldap_url = ""
    server = None
    if policy == "ldap":
        from tests.lab.slapd import Slapd

        server = Slapd(tmp_path / "ldap").start()
        ldap_url = server.url
    try:
        term = terminal(f"walk-{policy}", size=size, **extra)
        if size != (80, 24):
            term.wait_for(f"{size[0]}x{size[1]}: needs 80x24")
        walk_to_auth(term)
        choose_policy(term, policy, ldap_url)
        walk_from_auth(term, changes=policy != "open")
        assert term.exit_status() == 0
    finally:
        if server is not None:
            server.stop()
    # The demo's throwaway host is gone (TMPDIR is this test's directory).
    assert not list(tmp_path.glob("jw-demo-*"))


def test_a_hang_up_takes_the_demo_tree_with_it(terminal, tmp_path):
    """An SSH drop (SIGHUP to the wizard) ends the demo, and its throwaway tree goes too."""
    term = terminal("hangup")
    term.wait_for("Files under")
    trees = list(tmp_path.glob("jw-demo-*"))
    assert len(trees) == 1 and trees[0].is_dir()
    pid = term.tmux("display", "-p", "#{pane_pid}").stdout.strip()
    wizard = subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True,
                            timeout=10).stdout.split()
    assert wizard, "the wizard's process was not found"
    for child in wizard:
        os.kill(int(child), signal.SIGHUP)
    assert term.exit_status() == 128 + signal.SIGHUP
    assert not trees[0].exists()
