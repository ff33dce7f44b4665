from __future__ import annotations

import os
import stat
import sys
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
