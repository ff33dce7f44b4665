"""A real terminal: tmux runs `jitsi-wizard --demo` at 80x24, keys are sent as an admin would
type them, the captured screen shows each step, and the run reaches Done. The first screen is
also checked under the other terminal types the wizard supports, and with NO_COLOR."""

from __future__ import annotations

import os
import re
import shutil
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

    def __init__(self, name: str, command: list[str], env: dict[str, str], status: Path):
        self.socket = f"jw-{name}-{os.getpid()}-{time.monotonic_ns()}"
        self.command = command
        self.env = env
        self.status_file = status  # the shell around the command writes its exit status

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=10, check=check)

    def start(self) -> Terminal:
        shell_env = " ".join(f"{k}={_quote(v)}" for k, v in self.env.items())
        line = f"env {shell_env} " + " ".join(_quote(a) for a in self.command)
        line += f"; echo $? > {_quote(str(self.status_file))}"
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24", line)
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

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-l", text)

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

    def run(name: str, term: str = "xterm-256color", **extra: str) -> Terminal:
        env = {"TERM": term, "TMPDIR": str(tmp_path), "LANG": "C.UTF-8", **extra}
        command = [str(WIZARD), "--demo", "--resolver", silent.resolver]
        status = tmp_path / f"{name}.status"
        started.append(Terminal(name, command, env, status).start())
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
    term = terminal("walk")
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
