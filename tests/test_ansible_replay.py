"""The Ansible collection (ansible/): its module replays answers on a host through the
wizard's session, driven by real ansible-core over real SSH into a network namespace.

The host is a namespace with Debian's sshd; the controller another one. The wizard works on
a fixture tree under `root` with `simulate` (commands recorded), as the CLI tests do.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from jitsiwizard import fixtures
from tests.lab import netns, ssh
from tests.lab.ufw_standin import state as ufw_state

from .conftest import CANARY, HOST, snapshot

pytestmark = pytest.mark.lab

MODULES = ssh.COLLECTION_SOURCE / "plugins/modules"


def test_ansible_doc_documents_every_option_and_return_value(collections):
    env = {"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_HOME": str(collections)}
    names = ["jitsiwizard.fleet.replay", "jitsiwizard.fleet.firewall_confirm"]
    done = subprocess.run([str(ssh.BIN / "ansible-doc"), "--json", *names],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    docs = json.loads(done.stdout)
    replay = docs["jitsiwizard.fleet.replay"]
    options = replay["doc"]["options"]
    assert set(options) == {"answers", "answers_file", "root", "simulate", "force",
                            "allow_disruption", "keep_on_failure", "skip_checks",
                            "main_certificate", "confirm_firewall", "endpoints"}
    source = (MODULES / "replay.py").read_text()
    for name in options:
        assert f'"{name}": {{' in source, name  # documented means declared, and back
    assert set(options["endpoints"]["suboptions"]) == {
        "xmpp", "xmpp_ca", "jicofo_url", "bridge_url", "https", "prosody_config", "settle"}
    assert all(o.get("description") for o in options.values())
    assert {"status", "run_id", "steps", "verification", "ansible_facts", "fix"} \
        <= set(replay["return"])
    assert replay["doc"]["attributes"]["check_mode"]["support"] == "full"
    assert replay["doc"]["attributes"]["diff_mode"]["support"] == "full"
    assert replay["examples"].strip()
    confirm = docs["jitsiwizard.fleet.firewall_confirm"]
    assert set(confirm["doc"]["options"]) == {"run_id", "keep", "root"}
    # And the text an admin reads renders too.
    text = subprocess.run([str(ssh.BIN / "ansible-doc"), *names], capture_output=True,
                          text=True, timeout=120, env=env)
    assert text.returncode == 0 and "confirm_firewall" in text.stdout, text.stderr


class Lab(netns.NetnsPair):
    server_address = "169.254.79.1"  # the Jitsi host
    outside_address = "169.254.79.2"  # the Ansible controller
    prefix_len = 30


@pytest.fixture
def lab(tmp_path, collections):
    with Lab() as link:
        controller = ssh.Controller(tmp_path / "controller", link.outside, collections)
        host = ssh.SshHost(tmp_path / "sshd", link.server, link.server_address,
                           controller.key_pub)
        controller.trust(host)
        host.start()
        try:
            yield link, controller
        finally:
            controller.stop()
            host.stop()


def replay_play(task: dict, name: str = "replay") -> list:
    return [{"hosts": "meet", "gather_facts": False,
             "tasks": [{"name": name, "jitsiwizard.fleet.replay": task, "register": "out"},
                       {"name": "facts", "ansible.builtin.debug": {"var": "jitsi_wizard"}}]}]


def test_replay_over_ssh_check_apply_again_and_bad_answers(tmp_path, lab):
    link, controller = lab
    # lua-ldap already there: a simulated install would be planned again on every run.
    root = fixtures.build(tmp_path / "meet", extra_packages={"lua-ldap": "1.2.5-1"})
    # The directory's password as a value in the answers: masked as a no_log value.
    answers = {"host": {"hostname": HOST}, "cert": {"mode": "self-signed"},
               "auth": {"policy": "ldap", "guests": True, "ldap": {
                   "url": "ldap://ldap.example.org",
                   "bind_dn": "cn=jitsi,ou=services,dc=example,dc=org",
                   "bind_password": CANARY, "user_base": "ou=people,dc=example,dc=org"}}}
    inventory = controller.inventory({"meet": {"ansible_host": link.server_address}})
    task = {"answers": answers, "root": str(root), "simulate": True, "skip_checks": True}
    play = controller.playbook("replay.yml", replay_play(task))
    outputs = []

    # Check mode: the plan, with its diffs; not a byte of the tree changes.
    before = snapshot(root, include_state=True)
    checked = controller.run(play, inventory, "--check", "--diff", "-vvv")
    outputs.append(checked.output)
    assert checked.returncode == 0, checked.output[-4000:]
    result = checked.results("replay")["meet"]
    assert result["changed"] is True and result["status"] == "planned"
    assert result["steps"] and "run_id" not in result
    assert any("prosody" in d["before_header"] for d in result["diff"])
    assert "<redacted>" in json.dumps(result["diff"])  # the password, in the LDAP file
    assert snapshot(root, include_state=True) == before

    # Apply: a run of the wizard, its outcome as facts.
    applied = controller.run(play, inventory, "--diff", "-vvv")
    outputs.append(applied.output)
    assert applied.returncode == 0, applied.output[-4000:]
    assert applied.stats()["meet"]["changed"] == 1
    result = applied.results("replay")["meet"]
    assert result["status"] == "applied" and result["run_id"]
    assert any(line.startswith("[") for line in result["events"])
    facts = applied.results("facts")["meet"]["jitsi_wizard"]
    assert facts["run_id"] == result["run_id"] and facts["status"] == "applied"
    assert (root / f"var/lib/jitsi-wizard/runs/{result['run_id']}").is_dir()
    assert snapshot(root) != {k: v for k, v in before.items()
                              if not k.startswith("var/lib/jitsi-wizard")}

    # The same answers again: nothing changes, and Ansible says so.
    again = controller.run(play, inventory, "-vvv")
    outputs.append(again.output)
    assert again.returncode == 0, again.output[-4000:]
    assert again.stats()["meet"]["changed"] == 0, again.results("replay")["meet"]["steps"]
    assert again.results("replay")["meet"]["status"] == "nothing-to-do"

    # Bad answers: the task fails with the wizard's message and fix; nothing changes.
    before = snapshot(root, include_state=True)
    bad = dict(answers, host={"hostname": "meet example.org"})
    play = controller.playbook("bad.yml", replay_play(dict(task, answers=bad)))
    refused = controller.run(play, inventory, "-vvv")
    outputs.append(refused.output)
    assert refused.returncode == 2, refused.output[-4000:]
    assert refused.stats()["meet"]["failures"] == 1
    result = refused.results("replay")["meet"]
    assert result["failed"] is True
    assert "host.hostname" in result["msg"] and "fix:" in result["msg"]
    assert result["problems"][0]["field"] == "host.hostname" and result["problems"][0]["fix"]
    assert snapshot(root, include_state=True) == before

    # No secret in anything Ansible printed, at -vvv. Where Ansible echoes the module's
    # arguments (up to ansible-core 2.20; 2.21 no longer does), the password is its no_log
    # placeholder.
    if '"bind_password"' in refused.output:
        assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in refused.output
    for text in outputs:
        for form in (CANARY, json.dumps(CANARY)[1:-1], CANARY.split("\\")[0]):
            assert form not in text


def test_firewall_confirm_keeps_a_guarded_change_over_ssh(tmp_path, lab, ufw):
    """What the replay's action plugin calls over a new connection after a run that changed
    the firewall: the guard hears the confirmation and leaves the change in place."""
    from tests.test_firewall_confirm import firewall_run, host

    link, controller = lab
    root = host(tmp_path)
    session, outcome = firewall_run(root, window=60.0)
    assert session.firewall.start_countdown(outcome) is not None
    inventory = controller.inventory({"meet": {"ansible_host": link.server_address}})
    play = controller.playbook("confirm.yml", [{"hosts": "meet", "gather_facts": False,
                                                "tasks": [{"name": "confirm",
                                                           "jitsiwizard.fleet.firewall_confirm": {
                                                               "run_id": outcome.run_id,
                                                               "root": str(root.base)}}]}])
    done = controller.run(play, inventory)
    assert done.returncode == 0, done.output[-4000:]
    assert done.results("confirm")["meet"]["state"] == "confirmed"
    assert session.firewall.outcome(outcome.run_id, timeout=20) == "confirmed"
    assert ufw_state(ufw)["enabled"]
