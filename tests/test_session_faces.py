"""Both faces drive one session: for the same answers on the same tree, the wizard's screens
and the command line plan the same steps, and a simulated run on a bare host runs the same
steps (install, then the re-plan against what the install left)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from jitsiwizard import fixtures
from jitsiwizard.cli import main as cli
from tests.conftest import answers_toml
from tests.test_tui_support import SIZE, confirm, loaded, make_app, press, wait_until

USERS = '[[auth.users]]\nname = "alice"\npassword = "env:JW_FACES_PW"\n'
TREES = ["bare", "current", "legacy", "configured"]


def make_tree(kind: str, base: Path, answers: Path) -> Path:
    root = base / "root"
    if kind == "bare":
        return fixtures.build_empty(root)
    fixtures.build(root, generation="legacy" if kind == "legacy" else "current")
    if kind == "configured":  # a host the wizard already set up, for another policy
        other = base / "ldap.toml"
        other.write_text(answers_toml("ldap", True))
        assert cli.main(["--answers", str(other), "--root", str(root), "--simulate",
                         "--skip-checks"]) == 0
    return root


@pytest.fixture
def answers(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("JW_FACES_PW", "faces-pw-1234")
    path = tmp_path / "answers.toml"
    path.write_text(answers_toml("local", True, users=USERS))
    path.chmod(0o600)
    return path


async def tui_plan(root: Path, answers: Path):
    """The plan the screens build from `--edit ANSWERS`, as the Review step shows it."""
    app = make_app(root, edit=str(answers))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.go("review")
        await wait_until(pilot, lambda: app.planned is not None, "the plan")
        return app.planned.plan.to_json(app.planned.redact)


@pytest.mark.parametrize("tree", TREES)
async def test_both_faces_plan_the_same(tree, tmp_path, answers, capsys):
    root = make_tree(tree, tmp_path, answers)
    capsys.readouterr()
    assert cli.main(["plan", "--json", "--answers", str(answers), "--root", str(root)]) == 0
    from_cli = capsys.readouterr().out.strip()
    assert from_cli == (await tui_plan(root, answers)).strip()
    assert '"steps": []' not in from_cli  # every tree needs changes for these answers


def cli_steps(out: str) -> list[str]:
    return re.findall(r"^\[step\] \d+: (.*)$", out, re.MULTILINE)


async def test_a_simulated_fresh_install_runs_the_same_steps_in_both_faces(tmp_path, answers,
                                                                           capsys):
    cli_root = make_tree("bare", tmp_path / "cli", answers)
    tui_root = tmp_path / "tui" / "root"
    shutil.copytree(cli_root, tui_root, symlinks=True)

    capsys.readouterr()
    assert cli.main(["--answers", str(answers), "--root", str(cli_root), "--simulate",
                     "--skip-checks"]) == 5  # install only: not configured
    by_cli = cli_steps(capsys.readouterr().out)

    app = make_app(tui_root, edit=str(answers))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.go("review")
        await wait_until(pilot, lambda: app.planned is not None, "the plan")
        await press(pilot, "ctrl+n")
        await confirm(pilot)
        await wait_until(pilot, lambda: app.outcome is not None, "the run to finish", 30)
        assert app.outcome.status == "applied"
        shown = app.screen.descriptions
        by_tui = [shown[n] for n in sorted(shown)]

    assert by_cli and by_tui == by_cli
    # The install is simulated, so there is nothing to configure yet: one install, no more.
    assert sum("install" in s and "jitsi-meet" in s for s in by_cli) == 1


def test_passwords_typed_on_a_fresh_host_are_stored_by_the_configuring_run(tmp_path,
                                                                            answers):
    """On a bare host the configuration is planned again after the install: the passwords
    typed in the wizard are stored by that second plan too, not dropped with the first."""
    from jitsiwizard.answers.load import load_file
    from jitsiwizard.answers.secrets import Secret
    from jitsiwizard.paths import SECRETS_DIR
    from jitsiwizard.rootfs import Root
    from jitsiwizard.workflow.session import Session

    root = fixtures.build_empty(tmp_path / "root")
    session = Session(Root(str(root)), simulate=True)
    loaded = load_file(str(answers))
    typed = Secret(f"file:{root}{SECRETS_DIR}/user-alice", "typed-pw-5678")
    loaded.answers.auth.users[0].password = typed

    def stored(plan) -> list[str]:
        return [s.path for s in plan.steps if getattr(s, "secret", False)]

    assert stored(session.plan(loaded).plan) == [f"{SECRETS_DIR}/user-alice"]
    # The install only simulated: nothing to configure, the password is still stored.
    assert stored(session.replan(loaded.answers)()) == [f"{SECRETS_DIR}/user-alice"]
    fixtures.build(root)  # what the packages would have installed
    assert stored(session.replan(loaded.answers)()) == [f"{SECRETS_DIR}/user-alice"]


def test_a_videobridge_host_checks_only_its_media_port(tmp_path):
    """A bridge host takes media only: its port check and outside probe leave out the web
    ports a meeting server needs."""
    from jitsiwizard.rootfs import Root
    from jitsiwizard.workflow.session import Session

    session = Session(Root(str(fixtures.build_bridge(tmp_path / "root"))), check_timeout=2.0)
    assert session.checks.jitsi_ports(bridge=True) == [(10000, "udp")]
    names = {r.name for r in session.checks.ports(22, False, bridge=True)}
    assert not [n for n in names if "443/tcp" in n or "80/tcp" in n], names
    assert any("10000/udp" in n for n in names), names
