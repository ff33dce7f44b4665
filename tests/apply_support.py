"""Shared pieces of the apply tests: tree snapshots, a stand-in systemctl, a child runner."""

from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
from pathlib import Path

from jitsiwizard.apply.runner import Runner
from jitsiwizard.plan.steps import (
    Command,
    FileChange,
    Plan,
    RemovePath,
    Service,
    Symlink,
    TargetPath,
)
from jitsiwizard.rootfs import Root

HERE = Path(__file__).resolve().parent
FAKE_SYSTEMCTL = HERE / "apply_systemctl.py"
CHILD = HERE / "apply_child.py"
STATE_REL = "var/lib/jitsi-wizard"


def tree_state(base: Path) -> dict[str, tuple]:
    """Everything about a tree that a rollback must restore, except the wizard's own state:
    type, mode, owner, content or link target, and file times."""
    found: dict[str, tuple] = {}
    pending = [base]
    while pending:
        here = pending.pop()
        for item in os.scandir(here):
            path = Path(item.path)
            rel = str(path.relative_to(base))
            if rel == STATE_REL:
                continue
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path), st.st_uid, st.st_gid)
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
                pending.append(path)
            else:
                found[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                              path.read_bytes(), st.st_mtime_ns)
    return found


def make_root(base: Path) -> Root:
    """A small host tree: a root-owned /etc with a passwd naming a service user."""
    (base / "var/lib").mkdir(parents=True, exist_ok=True)
    (base / "etc").mkdir(exist_ok=True)
    (base / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                     "jitsi:x:4321:4322::/nonexistent:/usr/sbin/nologin\n")
    (base / "etc/group").write_text("root:x:0:\njitsi:x:4322:\nssl-cert:x:4400:\n")
    return Root(base)


def fake_systemctl(runner: Runner, state_file: Path, units: dict,
                   watch: dict | None = None) -> None:
    """Point the runner's systemctl at tests/apply_systemctl.py, which keeps unit states
    (and a call log) in `state_file`."""
    state_file.write_text(json.dumps({"units": units, "calls": [], "watch": watch or {}}))
    runner.systemctl = (sys.executable, str(FAKE_SYSTEMCTL), str(state_file))


def systemctl_state(state_file: Path) -> dict:
    return json.loads(state_file.read_text())


def sample_tree(base: Path) -> Root:
    """A Jitsi-like tree: a config, a conf.d link into conf.avail, a data directory."""
    root = make_root(base)
    (base / "etc/prosody/conf.avail").mkdir(parents=True)
    (base / "etc/prosody/conf.d").mkdir()
    host = base / "etc/prosody/conf.avail/meet.example.org.cfg.lua"
    host.write_text('VirtualHost "meet.example.org"\n    authentication = "jitsi-anonymous"\n')
    os.chmod(host, 0o640)
    os.chown(host, 0, 4322)
    os.symlink("../conf.avail/meet.example.org.cfg.lua",
               base / "etc/prosody/conf.d/meet.example.org.cfg.lua")
    (base / "etc/jitsi/meet").mkdir(parents=True)
    (base / "etc/jitsi/meet/config.js").write_text("var config = {\n    hosts: {}\n};\n")
    (base / "etc/old.conf").write_text("obsolete = yes\n")
    (base / "var/lib/prosody/meet%2eexample%2eorg/accounts").mkdir(parents=True)
    (base / "var/lib/prosody/meet%2eexample%2eorg/accounts/alice.dat").write_text("return {};\n")
    (base / "etc/ssl").mkdir()
    os.symlink("/etc/ssl/old.pem", base / "etc/ssl/current.pem")
    (base / "etc/ssl/old.pem").write_text("OLD CERT\n")
    return root


UNITS = {"prosody": {"enabled": True, "active": True}}


def sample_host(tmp_path: Path) -> tuple[Path, Root, Runner, Path]:
    """A sample tree under tmp_path/root, a runner whose systemctl is the stand-in (prosody
    enabled and running, restarted on its host file), and the stand-in's state file."""
    base = tmp_path / "root"
    base.mkdir()
    root = sample_tree(base)
    runner = Runner(root)
    state_file = tmp_path / "systemctl.json"
    fake_systemctl(runner, state_file, UNITS,
                   watch={"prosody": str(base / "etc/prosody/conf.avail/meet.example.org.cfg.lua")})
    return base, root, runner, state_file


def sample_steps(root: Root, state_file: Path) -> list:
    """Steps of every kind against sample_tree, each changing something."""
    host = "/etc/prosody/conf.d/meet.example.org.cfg.lua"
    accounts = "/var/lib/prosody/meet%2eexample%2eorg/accounts"
    fake = [sys.executable, str(FAKE_SYSTEMCTL), str(state_file)]
    return [
        FileChange(host, root.read_text(host).replace("jitsi-anonymous", "internal_hashed"),
                   "local users", before=root.read_text(host)),
        FileChange("/etc/jitsi/meet/new/dir/extra.js", "var extra = 1;\n" * 200, "new file",
                   mode=0o640, owner="jitsi", group="ssl-cert"),
        Symlink("/etc/ssl/current.pem", "/etc/ssl/new.pem", "switch the certificate"),
        RemovePath("/etc/old.conf", "obsolete", before="obsolete = yes\n"),
        Command([sys.executable, "-c",
                 "import sys, os; open(os.path.join(sys.argv[1], 'bob.dat'), 'w').write('x');"
                 "os.remove(os.path.join(sys.argv[1], 'alice.dat'))", TargetPath(accounts)],
                "register bob", snapshot=(accounts,), undo=[*fake, "enable", "undo-marker"]),
        Service("prosody", "restart", "restart prosody"),
        FileChange("/etc/jitsi/meet/config.js", "var config = {\n    hosts: {x: 1}\n};\n",
                   "hosts", before="var config = {\n    hosts: {}\n};\n"),
    ]


def run_child(root: Root, plan: Plan, tmp: Path, *, kill: str | None = None,
              systemctl: list[str] | None = None, secrets: tuple[str, ...] = (),
              wait: bool = True):
    """Apply `plan` in a separate process (tests/apply_child.py). Returns the finished
    CompletedProcess, or the Popen when wait is False."""
    spec = tmp / f"plan-{os.getpid()}-{len(list(tmp.iterdir()))}.pickle"
    spec.write_bytes(pickle.dumps({"plan": plan, "secrets": list(secrets),
                                   "systemctl": systemctl}))
    env = dict(os.environ)
    env.pop("JITSI_WIZARD_TEST_KILL", None)
    if kill:
        env["JITSI_WIZARD_TEST_KILL"] = kill
    argv = [sys.executable, str(CHILD), str(root.base), str(spec)]
    if not wait:
        return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
