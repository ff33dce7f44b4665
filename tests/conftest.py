from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from pathlib import Path

import pytest

from jitsiwizard import fixtures

HOST = "meet.example.org"
CANARY = "Canary\"q'uo\\te\\n]]--ÄÖ-7Zx"  # quotes, backslashes, ]], --, non-ASCII
STATE = "var/lib/jitsi-wizard"

# (policy, guests) for every policy the wizard offers.
POLICIES = [("open", False), ("local", False), ("local", True), ("ldap", False), ("ldap", True)]


def answers_toml(policy: str = "open", guests: bool = False, *, cert: str = "self-signed",
                 users: str = "", ldap_password: str = "env:JW_TEST_LDAP_PW",
                 extra: str = "") -> str:
    text = f'[host]\nhostname = "{HOST}"\n\n[cert]\nmode = "{cert}"\n\n'
    text += f'[auth]\npolicy = "{policy}"\nguests = {"true" if guests else "false"}\n'
    if policy == "local" and users:
        text += users
    if policy == "ldap":
        text += (
            '\n[auth.ldap]\nurl = "ldap://ldap.example.org"\n'
            'bind_dn = "cn=jitsi,ou=services,dc=example,dc=org"\n'
            f'bind_password = "{ldap_password}"\n'
            'user_base = "ou=people,dc=example,dc=org"\n')
    return text + extra


@pytest.fixture(autouse=True)
def _ldap_password_env(monkeypatch):
    monkeypatch.setenv("JW_TEST_LDAP_PW", CANARY)


@pytest.fixture
def make_root(tmp_path):
    """make_root(generation="current", handmade=None) -> Path of a fixture install."""
    count = [0]

    def make(generation: str = "current", handmade: str | None = None, **kw) -> Path:
        count[0] += 1
        root = tmp_path / f"root{count[0]}"
        return fixtures.build(root, generation=generation, handmade=handmade, **kw)

    return make


def snapshot(root: Path, *, include_state: bool = False) -> dict[str, tuple]:
    """Every path under root: (kind, content or link target, mode). Byte-exact."""
    found: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if not include_state and (rel_dir == STATE or rel_dir.startswith(STATE + "/")):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if not include_state and (rel == STATE or rel.startswith(STATE + "/")):
                continue
            st = os.lstat(path)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path), mode)
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", None, mode)
            else:
                found[rel] = ("file", Path(path).read_bytes(), mode)
    return found


# Package sources added for an upgrade (Prosody's repository, for ldap on an old release)
# stay, as the upgraded packages do: they are not part of a policy's configuration.
PACKAGE_SOURCES = ("etc/apt/", "usr/share/keyrings/")


def config_files(snap: dict[str, tuple]) -> dict[str, tuple]:
    """What a configuration comparison looks at: files and links, not empty directories."""
    return {k: v for k, v in snap.items()
            if v[0] != "dir" and not k.startswith(PACKAGE_SOURCES)}


@pytest.fixture(scope="session")
def collections(tmp_path_factory) -> Path:
    """The collection built from ansible/ and installed, once for the Ansible tests;
    skipped where the SSH lab cannot run."""
    from tests.lab import ssh

    why = ssh.available()
    if why:
        pytest.skip(why)
    return ssh.build_collection(tmp_path_factory.mktemp("collection"))


@pytest.fixture
def ufw(tmp_path, monkeypatch) -> Path:
    """`ufw` on PATH is the stand-in (tests/lab/ufw_standin.py); returns its state file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "ufw"
    standin = Path(__file__).resolve().parent / "lab" / "ufw_standin.py"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} {standin} "$@"\n')
    script.chmod(0o755)
    state = tmp_path / "ufw-state.json"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("JW_UFW_STATE", str(state))
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    return state


# --- the suite leaves nothing running ------------------------------------------------------

# Every process the tests start inherits this from the environment; the end of the session
# looks for it, so a suite running beside this one (another root, or the same root in
# another mount namespace) is never taken for this one's.
SESSION_MARK = "JW_TEST_SESSION"


def pytest_configure(config):
    os.environ[SESSION_MARK] = f"{os.getpid()}-{time.time_ns()}"


def _servers_left() -> list[str]:
    """Servers the tests started that are still alive: those started through tests/lab's
    Proc, and any other process that carries this session's mark in its environment."""
    from tests.lab.proc import is_gone, still_running

    left = still_running()
    mark = f"{SESSION_MARK}={os.environ.get(SESSION_MARK, '')}".encode()
    mine = {os.getpid()}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine or is_gone(int(entry)):
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                environ = fh.read(1 << 20).split(b"\0")
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read(4096).replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if mark in environ and not any(line.startswith(f"pid {entry}:") for line in left):
            left.append(f"pid {entry}: {argv[:160]}")
    return left


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when a server a test started outlives the suite (and stop it)."""
    import signal

    if getattr(session.config, "workerinput", None) is not None:
        return
    deadline = time.monotonic() + 5.0  # a server stopped a moment ago may still be exiting
    left = _servers_left()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _servers_left()
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"servers the tests started are still running ({len(left)}); "
                            "stopping them:", red=True)
        for line in left:
            reporter.write_line(f"  {line}", red=True)
    for line in left:
        pid = int(line.split()[1].rstrip(":"))
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
