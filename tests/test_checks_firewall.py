"""The ufw steps the plan gets: SSH first, enable last, never shutting out the admin."""

from __future__ import annotations

from pathlib import Path

import pytest

from jitsiwizard.answers.model import Answers, FirewallAnswers
from jitsiwizard.errors import UserError
from jitsiwizard.host.facts import HostFacts
from jitsiwizard.plan.builder import Builder
from jitsiwizard.plan.firewall import detect_ssh_port, firewall_steps, sshd_ports
from jitsiwizard.plan.steps import Command
from jitsiwizard.rootfs import Root


def managed(ssh_port: int = 22) -> Answers:
    return Answers(firewall=FirewallAnswers(manage=True, ssh_port=ssh_port))


def facts(*packages: str) -> HostFacts:
    return HostFacts(packages={name: "1" for name in packages})


def planned(answers: Answers, host: HostFacts, root: Root, ssh_port_in_use: int | None
            ) -> tuple[list, list[str]]:
    """The firewall's steps and notes, as a plan's Builder gets them."""
    b = Builder(host, root, force=False)
    firewall_steps(b, answers, ssh_port_in_use)
    return b.plan.steps, b.plan.notes


def argvs(steps) -> list[list[str]]:
    return [[str(a) for a in step.argv] for step in steps]


def write(tmp_path: Path, target: str, text: str) -> None:
    path = tmp_path / target.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_nothing_when_the_firewall_is_not_managed(tmp_path):
    assert planned(Answers(), facts("ufw"), Root(tmp_path), 2222) == ([], [])


def test_ssh_first_then_jitsi_ports_then_enable(tmp_path):
    steps, notes = planned(managed(), facts("ufw"), Root(tmp_path), 22)
    assert all(isinstance(step, Command) for step in steps)
    assert argvs(steps) == [["ufw", "allow", "22/tcp"], ["ufw", "allow", "80/tcp"],
                            ["ufw", "allow", "443/tcp"], ["ufw", "allow", "10000/udp"],
                            ["ufw", "--force", "enable"]]
    assert [[str(a) for a in step.undo] for step in steps] == [
        ["ufw", "delete", "allow", "22/tcp"], ["ufw", "delete", "allow", "80/tcp"],
        ["ufw", "delete", "allow", "443/tcp"], ["ufw", "delete", "allow", "10000/udp"],
        ["ufw", "disable"]]
    assert all(step.timeout for step in steps)
    assert any("will be enabled" in note for note in notes)


def test_coturn_ports_only_with_coturn(tmp_path):
    steps, _ = planned(managed(), facts("ufw", "coturn"), Root(tmp_path), None)
    shown = argvs(steps)
    assert ["ufw", "allow", "3478/udp"] in shown and ["ufw", "allow", "5349/tcp"] in shown
    assert shown[-1] == ["ufw", "--force", "enable"]
    assert "4443/tcp" not in str(shown)  # obsolete: never opened on new installs


def test_ufw_is_installed_first_when_missing(tmp_path):
    steps, _ = planned(managed(), facts(), Root(tmp_path), None)
    assert steps[0].phase == "install" and "ufw" in argvs(steps)[0]
    assert argvs(steps)[1] == ["ufw", "allow", "22/tcp"]


def test_refuses_when_connected_through_another_ssh_port(tmp_path):
    with pytest.raises(UserError) as caught:
        planned(managed(22), facts("ufw"), Root(tmp_path), 2222)
    assert caught.value.field == "firewall.ssh_port"
    assert "2222" in caught.value.message and "shut you out" in caught.value.message
    assert "ssh_port = 2222" in caught.value.hint


def test_refuses_when_sshd_listens_elsewhere(tmp_path):
    write(tmp_path, "/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n")
    write(tmp_path, "/etc/ssh/sshd_config.d/port.conf", "Port 2200\n")
    with pytest.raises(UserError) as caught:
        planned(managed(22), facts("ufw"), Root(tmp_path), None)
    assert "2200" in caught.value.message
    steps, _ = planned(managed(2200), facts("ufw"), Root(tmp_path), None)
    assert argvs(steps)[0] == ["ufw", "allow", "2200/tcp"]


def test_existing_ufw_rules_and_state_are_kept(tmp_path):
    write(tmp_path, "/etc/ufw/ufw.conf", "ENABLED=yes\n")
    write(tmp_path, "/etc/ufw/user.rules",
          "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n"
          "### tuple ### allow tcp 80,443 0.0.0.0/0 any 0.0.0.0/0 in\n"
          "### tuple ### allow udp 10000 0.0.0.0/0 any 192.168.0.0/16 in\n")
    steps, notes = planned(managed(), facts("ufw"), Root(tmp_path), 22)
    # Rollback must not delete the admin's own rules, so they are not planned again.
    assert argvs(steps) == [["ufw", "allow", "10000/udp"]]
    assert any("already allows 22/tcp, 80/tcp, 443/tcp" in note for note in notes)


def test_detect_ssh_port(tmp_path):
    root = Root(tmp_path)
    assert detect_ssh_port(root, {}) is None
    write(tmp_path, "/etc/ssh/sshd_config", "# Port 2222\nPermitRootLogin no\n")
    assert detect_ssh_port(root, {}) == 22
    write(tmp_path, "/etc/ssh/sshd_config",
          "ListenAddress [::]:2300\nPort=2201\nMatch User x\n  Port 9\n")
    assert sshd_ports(root) == [2300, 2201]
    env = {"SSH_CONNECTION": "203.0.113.9 50000 192.0.2.2 2022"}
    assert detect_ssh_port(root, env) == 2022
