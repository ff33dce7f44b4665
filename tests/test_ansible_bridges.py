"""A meeting server with two extra videobridges, by the collection's playbook
(jitsiwizard.fleet.bridges, the role jitsiwizard.fleet.videobridge, the module
jitsiwizard.fleet.bridge): real ansible-core over real SSH into three network namespaces on
one segment, the controller in a fourth.

The main host runs a real Prosody (on 5222 of its own namespace) with the wizard's fixture
tree; each host has its own `--root` tree and `--simulate`, so `prosodyctl register` is only
recorded: the test registers the accounts on the lab Prosody with the passwords the main
host keeps, as tests/test_bridge_lab.py does, and a real XMPP client logs in from each bridge
namespace with exactly what the wizard wrote into that bridge's tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from jitsiwizard.checks.xmpp import probe
from jitsiwizard.health import Endpoints
from jitsiwizard.paths import BRIDGE_TRUST_PEM, BRIDGE_TRUST_STORE
from jitsiwizard.plan.extra_bridges import CHECKER, CHECKER_SECRET, bridge_paths
from jitsiwizard.plan.videobridge import TRUST_ALIAS, TRUST_STORE_PASSWORD
from jitsiwizard.rootfs import Root
from jitsiwizard.workflow.bridges import list_bridges
from jitsiwizard.workflow.session import Session
from tests.lab import netns, ssh
from tests.lab.fleet import ADDRESSES, BRIDGES, PLAYBOOK, fleet
from tests.lab.hostroot import host_root
from tests.lab.ufw_standin import state as ufw_state

from .conftest import HOST, snapshot
from .test_bridge_lab import shard

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

pytestmark = pytest.mark.lab

ADD = "jitsiwizard.fleet.videobridge : Add this bridge on the main host"
CONFIGURE = "jitsiwizard.fleet.videobridge : Configure this host as the main host's videobridge"


def test_ansible_doc_documents_the_bridge_module_and_the_role(collections):
    env = {"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_HOME": str(collections)}
    done = subprocess.run([str(ssh.BIN / "ansible-doc"), "--json", "jitsiwizard.fleet.bridge"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)["jitsiwizard.fleet.bridge"]
    options = doc["doc"]["options"]
    assert set(options) == {"name", "address", "state", "return_secret", "root", "simulate",
                            "xmpp"}
    source = (ssh.COLLECTION_SOURCE / "plugins/modules/bridge.py").read_text()
    for name in options:
        assert f'"{name}": {{' in source, name
    assert all(o.get("description") for o in options.values())
    assert {"answers", "registered", "secret", "bridges", "run_id", "fix"} <= set(doc["return"])
    role = subprocess.run([str(ssh.BIN / "ansible-doc"), "-t", "role", "--json",
                           "jitsiwizard.fleet.videobridge"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert role.returncode == 0, role.stderr
    spec = json.loads(role.stdout)["jitsiwizard.fleet.videobridge"]["entry_points"]["main"]
    defaults = (ssh.COLLECTION_SOURCE / "roles/videobridge/defaults/main.yml").read_text()
    for name in spec["options"]:
        assert f"\n{name}:" in defaults, name  # every documented variable has its default


@pytest.fixture
def lab(tmp_path, collections):
    with fleet(tmp_path, collections) as running:
        yield running


def trees(roots) -> dict:
    return {name: snapshot(root, include_state=True) for name, root in roots.items()
            if not name.endswith("-secret")}


def secrets_kept(main_root) -> dict[str, str]:
    """The passwords the main host keeps: each bridge's and the checker account's."""
    found = {b: (main_root / bridge_paths(b)[1].lstrip("/")).read_text().rstrip("\n")
             for b in BRIDGES}
    found[CHECKER] = (main_root / CHECKER_SECRET.lstrip("/")).read_text().rstrip("\n")
    return found


def make_trust_store(root) -> None:
    """What the bridge's recorded `keytool -importcert` makes (run for real, under the
    tree): without it every simulated run would plan the trust store again."""
    store = root / BRIDGE_TRUST_STORE.lstrip("/")
    done = subprocess.run(["keytool", "-importcert", "-noprompt", "-alias", TRUST_ALIAS,
                           "-file", str(root / BRIDGE_TRUST_PEM.lstrip("/")), "-keystore",
                           str(store), "-storetype", "PKCS12", "-storepass",
                           TRUST_STORE_PASSWORD], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def changed(run) -> list:
    """(task, host, result) of every result that reports a change."""
    return [(t["name"], h, r) for t in run.doc["tasks"] for h, r in t["hosts"].items()
            if r.get("changed")]


def test_a_meeting_server_with_two_bridges_by_the_playbook(lab):
    lan, controller, prosody = lab.lan, lab.controller, lab.prosody
    roots = lab.trees("hosts")
    outputs = []
    first = lab.inventory(roots, checks=False)

    # Check mode on fresh hosts: each bridge would be added; not a byte of any tree changes.
    before = trees(roots)
    checked = controller.run(PLAYBOOK, first, "--check", "-vvv")
    outputs.append(checked.output)
    assert checked.returncode == 0, checked.output[-4000:]
    added = checked.results(ADD)
    assert all(added[b]["changed"] and added[b]["registered"] is False for b in BRIDGES)
    assert trees(roots) == before

    # Apply: both bridges added on the main host (one at a time), each bridge host
    # configured from the answers and password Ansible carried there.
    applied = controller.run(PLAYBOOK, first, "-vvv")
    outputs.append(applied.output)
    assert applied.returncode == 0, applied.output[-4000:]
    added = applied.results(ADD)
    replayed = applied.results(CONFIGURE)
    for bridge in BRIDGES:
        assert added[bridge]["changed"] and added[bridge]["run_id"], added[bridge]
        assert added[bridge]["answers"]["bridge"]["username"] == bridge
        assert replayed[bridge]["status"] == "applied", replayed[bridge]
    listed = applied.results("List the bridges")["meet"]["bridges"]
    # In the order the main host added them: whichever bridge host came first (free strategy).
    assert sorted((r["name"], r["address"]) for r in listed) == [
        (b, ADDRESSES[b]) for b in BRIDGES]
    kept = secrets_kept(roots["main"])
    for bridge in BRIDGES:
        secret_file = roots[f"{bridge}-secret"] / f"bridge-{bridge}.secret"
        assert secret_file.read_text() == kept[bridge] + "\n"
        assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
        values = shard(roots[bridge])
        # The bridge connects to the main host's address the inventory gave.
        assert (values["HOSTNAME"], values["DOMAIN"], values["USERNAME"], values["PASSWORD"]) \
            == (ADDRESSES["main"], f"auth.{HOST}", bridge, kept[bridge])

    # What the simulated `prosodyctl register` and `keytool` would have done.
    for account, password in kept.items():
        prosody.register(account, f"auth.{HOST}", password)
    for bridge in BRIDGES:
        make_trust_store(roots[bridge])
    session = Session(Root(roots["main"]), simulate=True,
                      endpoints=Endpoints(c2s_host="127.0.0.1", c2s_port=5222, given=True))
    for bridge in BRIDGES:
        values = shard(roots[bridge])
        pem = (roots[bridge] / "etc/jitsi/videobridge/jitsi-wizard-main.pem").read_text()
        pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()
        seen_by_main: list = []

        def listed(into=seen_by_main) -> None:
            into.extend(netns.call_in(lan.ns["main"], list_bridges, session))

        joined = netns.call_in(
            lan.ns[bridge], probe, ADDRESSES["main"], 5222, values["DOMAIN"], ca=None,
            timeout=5, pin=pin, username=values["USERNAME"], password=values["PASSWORD"],
            room=values["MUC_JIDS"], nick=values["MUC_NICKNAME"], while_joined=listed)
        assert (joined.login, joined.joined) == ("success", "joined"), bridge
        assert {r["name"]: r["in_brewery"] for r in seen_by_main} == {
            b: b == bridge for b in BRIDGES}

    # Again, now with the bridge hosts' checks (the accounts log in): no change anywhere.
    second = lab.inventory(roots, checks=True, name="checked.yml")
    before = trees(roots)
    again = controller.run(PLAYBOOK, second, "-vvv")
    outputs.append(again.output)
    assert again.returncode == 0, again.output[-4000:]
    assert {h: s["changed"] for h, s in again.stats().items()} == {
        "meet": 0, "bridge1": 0, "bridge2": 0}, changed(again)
    replayed = again.results(CONFIGURE)
    for bridge in BRIDGES:
        assert replayed[bridge]["status"] == "nothing-to-do"
        assert any(f"login {bridge}@auth.{HOST}" in c and c.lstrip("[ ").upper().startswith("OK")
                   for c in replayed[bridge]["checks"]), replayed[bridge]["checks"]
    assert trees(roots) == before

    # Bad answers for one bridge host: it fails with the wizard's message, its tree as it
    # was; the main host and the other bridge go on, unchanged.
    bad = lab.inventory(roots, checks=True, bad="bridge2", name="bad.yml")
    refused = controller.run(PLAYBOOK, bad, "-vvv")
    outputs.append(refused.output)
    assert refused.returncode == 2, refused.output[-4000:]
    stats = refused.stats()
    assert stats["bridge2"]["failures"] == 1 and stats["bridge1"]["failures"] == 0
    assert stats["meet"]["failures"] == 0 and stats["meet"]["ok"] >= 2
    result = refused.results(CONFIGURE)
    assert result["bridge2"]["failed"] and "host.public_address" in result["bridge2"]["msg"]
    assert result["bridge1"]["status"] == "nothing-to-do"
    assert trees(roots) == before

    # The module alone on the main host: a bad address is refused with the wizard's message;
    # remove takes a bridge away, and a second remove changes nothing.
    main_only = controller.inventory({"meet": {"ansible_host": ADDRESSES["main"]}},
                                     name="main.yml")
    args = {"root": str(roots["main"]), "simulate": True, "xmpp": "127.0.0.1:5222"}
    play = controller.playbook("remove.yml", [{"hosts": "meet", "gather_facts": False,
                                               "tasks": [
        {"name": "bad", "jitsiwizard.fleet.bridge": dict(args, name="bridge3",
                                                         address="0.0.0.0"),
         "ignore_errors": True},
        {"name": "remove", "jitsiwizard.fleet.bridge": dict(args, name="bridge2",
                                                            state="absent")},
        {"name": "again", "jitsiwizard.fleet.bridge": dict(args, name="bridge2",
                                                           state="absent")},
        {"name": "list", "jitsiwizard.fleet.bridge": dict(args, state="list")}]}])
    removed = controller.run(play, main_only, "-vvv")
    outputs.append(removed.output)
    assert removed.returncode == 0, removed.output[-4000:]
    bad_address = removed.results("bad")["meet"]
    assert bad_address["failed"] and "0.0.0.0" in bad_address["msg"] and bad_address["fix"]
    assert removed.results("remove")["meet"]["changed"] is True
    assert removed.results("again")["meet"]["changed"] is False
    assert [r["name"] for r in removed.results("list")["meet"]["bridges"]] == ["bridge1"]

    outputs.append(firewall_kept_over_a_new_connection(lab, roots["bridge1"]))

    # No password in anything Ansible printed, at -vvv; the tasks that carry one say so.
    assert "the output has been hidden" in applied.output
    for text in outputs:
        for account, password in kept.items():
            assert password not in text, account


def firewall_kept_over_a_new_connection(lab, tree) -> str:
    """The replay module's own confirmation, whole: a run that changes the firewall is a run
    for real, so this bridge host is a whole filesystem (an overlay, tests/lab/hostroot.py)
    shaped like the configured bridge tree, with its own sshd, and the wizard works on `/`.
    Only ufw's commands are planned (everything else is in place); ufw is the stand-in
    (tests/lab/ufw_standin.py), installed in that host's /usr/sbin. The action plugin closes
    the connection the module ran over, reaches the host over a new one and confirms; the
    guard keeps the change. Returns what Ansible printed."""
    from tests.conftest import SESSION_MARK

    workdir = lab.workdir / "whole-host"
    with host_root(workdir / "fs", tree) as merged:
        status = merged / "var/lib/dpkg/status"  # ufw is installed, as the stand-in
        status.write_text(status.read_text().rstrip("\n") + "\n\nPackage: ufw\nStatus: "
                          "install ok installed\nPriority: optional\nArchitecture: all\n"
                          "Version: 0.36.2-1\nDescription: ufw\n")
        standin = Path(__file__).resolve().parent / "lab" / "ufw_standin.py"
        ufw = merged / "usr/sbin/ufw"
        ufw.write_text(f'#!/bin/sh\nexec {sys.executable} {standin} "$@"\n')
        ufw.chmod(0o755)
        state = workdir / "ufw-state.json"  # under /tmp, which that host shares
        port = 2222  # beside the namespace's own sshd; the wizard must keep it open
        saved = tomllib.loads((tree / "var/lib/jitsi-wizard/answers.toml").read_text())
        saved["firewall"] = {"manage": True, "ssh_port": port}
        answers = workdir / "answers.toml"
        answers.write_text(tomli_w.dumps(saved))
        host = ssh.SshHost(workdir / "sshd", lab.lan.ns["bridge1"], ADDRESSES["bridge1"],
                           lab.controller.key_pub, port=port, chroot=merged)
        lab.controller.trust(host)
        host.start()
        try:
            inventory = lab.controller.inventory({"whole": {
                "ansible_host": ADDRESSES["bridge1"], "ansible_port": port}}, name="whole.yml")
            play = lab.controller.playbook("firewall.yml", [{
                "hosts": "whole", "gather_facts": False,
                # A guard left behind by a failure here carries the suite's mark, so the
                # suite's end finds it.
                "environment": {"JW_UFW_STATE": str(state),
                                SESSION_MARK: os.environ[SESSION_MARK]},
                "tasks": [{"name": "firewall", "jitsiwizard.fleet.replay": {
                    "answers_file": str(answers)}}]}])
            done = lab.controller.run(play, inventory, "-vvv")
        finally:
            host.stop()
        assert done.returncode == 0, done.output[-4000:]
        result = done.results("firewall")["whole"]
        assert result["status"] == "applied" and result["changed"], result
        steps = result["steps"]
        assert all("ufw " in step for step in steps), steps  # nothing else ran for real
        assert result["firewall"]["state"] == "confirmed", result["firewall"]
        assert f"login bridge1@auth.{HOST}" in json.dumps(result["verification"]), result
        guard = Session(Root(str(merged))).firewall
        assert guard.outcome(result["run_id"], timeout=20) == "confirmed"
        kept = ufw_state(state)
        assert kept["enabled"], kept
        assert {"10000/udp", f"{port}/tcp"} <= set(kept["rules"]), kept
    assert not (tree / "var/lib/jitsi-wizard/runs" / result["run_id"]).exists()
    return done.output
