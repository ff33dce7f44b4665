"""A host without Jitsi: the install steps, then the configuration planned against the files
the packages created, in one run and one rollback.

Jitsi's packages cannot be downloaded here, so `apt-get install jitsi-meet` is played by a
runner that writes the fixture tree a real install leaves (every other command is simulated).
"""

from __future__ import annotations

from jitsiwizard import fixtures
from jitsiwizard.answers.load import loads
from jitsiwizard.answers.secrets import Redactor
from jitsiwizard.apply import apply, rollback
from jitsiwizard.apply.runner import CommandResult, Runner
from jitsiwizard.cli.main import main
from jitsiwizard.host.facts import read_facts
from jitsiwizard.plan.meeting import build
from jitsiwizard.rootfs import Root
from jitsiwizard.workflow.session import Session

from .conftest import HOST, answers_toml, snapshot


class AptPlaysJitsi(Runner):
    def run(self, argv, *, timeout, stdin=None, env=None):
        args = [str(a) for a in argv]
        if args[:5] == ["apt-get", "-o", "APT::Status-Fd=1", "install", "-y"] and \
                "jitsi-meet" in args:
            fixtures.build(self.root.base, hostname=HOST)
            self.recorded.append(args)
            return CommandResult(args, 0, "", "")
        return super().run(argv, timeout=timeout, stdin=stdin, env=env)


def test_fresh_host_install_then_configure_then_rollback(tmp_path):
    root_dir = fixtures.build_empty(tmp_path / "root")
    fresh = snapshot(root_dir)
    root = Root(root_dir)
    answers = loads(answers_toml("local", True)).answers
    facts = read_facts(root)
    plan = build(answers, facts, root)
    shown = plan.render()
    assert "apt-get -o APT::Status-Fd=1 install -y jitsi-meet" in shown
    assert "jitsi-keyring.gpg" in shown and "debconf-set-selections" in shown
    assert "signed-by=/usr/share/keyrings/jitsi-keyring.gpg" in shown
    preseed = [s for s in plan.steps if getattr(s, "path", "").endswith("preseed.txt")][0]
    assert "jitsi-meet/jvb-hostname" not in preseed.content  # would skip the nginx site
    assert "jitsi-videobridge/jvb-hostname string meet.example.org" in preseed.content

    runner = AptPlaysJitsi(root, simulate=True)
    outcome = apply(plan, root, runner, redact=Redactor(),
                    replan=Session(root, simulate=True).replan(answers))
    assert outcome.status == "applied", outcome.error
    after = read_facts(root)
    assert (after.policy, after.guests) == ("local", True)
    source_list = root_dir / "etc/apt/sources.list.d/jitsi-stable.list"
    assert "signed-by=/usr/share/keyrings/jitsi-keyring.gpg" in source_list.read_text()

    rolled = rollback(root, Runner(root, simulate=True), redact=Redactor())
    assert not rolled.rollback_errors
    # The package files stay (packages stay installed); the wizard's changes are undone.
    after_rollback = read_facts(root)
    assert after_rollback.policy == "open" and not after_rollback.guests
    assert not source_list.exists()
    # what the fake install rewrote is the package's doing, not the wizard's
    package_owned = {"etc/os-release", "var/lib/dpkg/status"}
    now = snapshot(root_dir)
    assert all(now.get(k) == v for k, v in fresh.items() if k not in package_owned)


def test_simulated_fresh_install_says_configuration_comes_later(tmp_path, capsys):
    root_dir = fixtures.build_empty(tmp_path / "root")
    answers = tmp_path / "a.toml"
    answers.write_text(answers_toml("open"))
    assert main(["--answers", str(answers), "--root", str(root_dir), "--simulate",
                 "--skip-checks"]) == 5  # only the install ran: nothing was configured
    out = capsys.readouterr().out
    assert "Jitsi is not installed yet" in out and "NOT CONFIGURED:" in out


def test_non_debian_system_is_refused(tmp_path, capsys):
    root_dir = fixtures.build_empty(tmp_path / "root", os_release=(
        "fedora", "40", "", "Fedora Linux 40"))
    answers = tmp_path / "a.toml"
    answers.write_text(answers_toml("open"))
    assert main(["--answers", str(answers), "--root", str(root_dir), "--simulate",
                 "--skip-checks"]) == 2
    assert "not Debian or Ubuntu" in capsys.readouterr().err
