"""A meeting server and two extra videobridge hosts for Ansible: four network namespaces on
one segment (netns.Lan), sshd on the main host and on each bridge host, Ansible in the
fourth, and the main host's real Prosody on 5222 of its own namespace.

Each host's wizard works on a `--root` tree of its own with `--simulate`; `trees()` makes a
fresh set (the main one with Prosody's certificate for auth.HOST where the host keeps it).
Used by tests/test_ansible_bridges.py and scripts/bench.py.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from jitsiwizard import fixtures
from tests.lab import netns, ssh
from tests.lab.prosody import Prosody

HOST = "meet.example.org"
ADDRESSES = {"ctl": "169.254.81.10", "main": "169.254.81.1", "bridge1": "169.254.81.2",
             "bridge2": "169.254.81.3"}
BRIDGES = ("bridge1", "bridge2")
PLAYBOOK = "jitsiwizard.fleet.bridges"  # the collection's own playbook
XMPP = "127.0.0.1:5222"  # the main's Prosody, as the main host reaches it


@dataclass
class Fleet:
    lan: netns.Lan
    controller: ssh.Controller
    prosody: Prosody
    workdir: Path

    def trees(self, name: str) -> dict[str, Path]:
        """Fresh trees under workdir/name: "main", each bridge, and each bridge's directory
        for its password ("bridgeN-secret")."""
        base = self.workdir / name
        main_root = fixtures.build(base / "main")
        state = main_root / "var/lib/jitsi-wizard"
        state.mkdir(parents=True)
        (state / "answers.toml").write_text(f'[host]\nhostname = "{HOST}"\n[firewall]\n'
                                            "manage = true\n")
        # Prosody's certificate for auth.HOST where the host keeps it (bridge list sends its
        # password only to a server that presents this one).
        certs = main_root / "etc/prosody/certs"
        certs.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.prosody.certs_dir / f"{HOST}.crt", certs / f"auth.{HOST}.crt")
        roots = {"main": main_root}
        for bridge in BRIDGES:
            roots[bridge] = fixtures.build_bridge(base / bridge)
            roots[f"{bridge}-secret"] = base / f"{bridge}-secret"
            roots[f"{bridge}-secret"].mkdir()
        return roots

    def inventory(self, roots: dict[str, Path], *, checks: bool, bad: str = "",
                  name: str = "inventory.yml") -> Path:
        """The three hosts, each with its tree; `bad` names a bridge given a bad answer."""
        bridges = {}
        for bridge in BRIDGES:
            bridges[bridge] = {"ansible_host": ADDRESSES[bridge],
                               "videobridge_root": str(roots[bridge]),
                               "videobridge_secret_dir": str(roots[f"{bridge}-secret"])}
        if bad:
            bridges[bad]["videobridge_answers"] = {"host": {"public_address": "not-an-address"}}
        return self.controller.inventory({}, {
            "main": {"hosts": {"meet": {"ansible_host": ADDRESSES["main"],
                                        "videobridge_root": str(roots["main"]),
                                        "videobridge_simulate": True,
                                        "videobridge_xmpp": XMPP}}},
            # Under --simulate `prosodyctl register` is only recorded: until the accounts
            # are registered on the lab Prosody, the bridges' checks could not log in.
            "bridges": {"hosts": bridges, "vars": {"videobridge_simulate": True,
                                                   "videobridge_skip_checks": not checks}},
        }, name=name)


@contextlib.contextmanager
def fleet(workdir: Path, collections: Path):
    """The running lab (see the module's docstring), stopped on leaving."""
    workdir = Path(workdir)
    with netns.Lan(ADDRESSES) as lan:
        controller = ssh.Controller(workdir / "controller", lan.ns["ctl"], collections)
        hosts = []
        try:
            for role in ("main", *BRIDGES):
                host = ssh.SshHost(workdir / f"sshd-{role}", lan.ns[role], ADDRESSES[role],
                                   controller.key_pub)
                controller.trust(host)
                hosts.append(host.start())
            # Prosody runs the configuration of a tree of its own; each set of trees is the
            # same fixture, so it serves every one of them.
            prosody = Prosody(fixtures.build(workdir / "prosody-tree"), HOST,
                              workdir / "prosody", netns=lan.ns["main"],
                              interfaces=("127.0.0.1", ADDRESSES["main"]))
            prosody.port = 5222  # the main host's own namespace: where bridges look for it
            with prosody.start():
                yield Fleet(lan, controller, prosody, workdir)
        finally:
            controller.stop()
            for host in hosts:
                host.stop()
