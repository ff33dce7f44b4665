"""Acceptance for the core engine: every ordered pair of policies, on both install
generations, applied through the real CLI on fixture trees (commands simulated)."""

from __future__ import annotations

import itertools

import pytest

from jitsiwizard.apply import list_runs
from jitsiwizard.cli.main import main
from jitsiwizard.formats.hocon import HOCON_BEGIN
from jitsiwizard.host.facts import read_facts
from jitsiwizard.rootfs import Root

from .conftest import POLICIES, answers_toml, config_files, snapshot

USERS = '[[auth.users]]\nname = "alice"\npassword = "env:JW_TEST_LDAP_PW"\n'


def run(root, tmp_path, policy, guests, *extra, capsys=None) -> int:
    answers = tmp_path / f"answers-{policy}-{guests}.toml"
    answers.write_text(answers_toml(policy, guests, users=USERS))
    answers.chmod(0o600)
    return main(["--answers", str(answers), "--root", str(root), "--simulate",
                 "--skip-checks", *extra])


def label(p):
    return f"{p[0]}{'+guests' if p[1] else ''}"


# Every tree: the packages of each generation, and the hosts configured by hand.
TREES = {"current": {}, "legacy": {"generation": "legacy"},
         "upgraded": {"generation": "upgraded"},
         "secure-domain": {"handmade": "secure-domain"},
         "ldap2": {"generation": "legacy", "handmade": "ldap2"}}
PACKAGE_TREES = ("current", "legacy", "upgraded")


@pytest.mark.parametrize("tree", list(TREES))
@pytest.mark.parametrize("first, second", list(itertools.product(POLICIES, POLICIES)),
                         ids=lambda p: label(p) if isinstance(p, tuple) else None)
def test_switching_equals_direct_and_rollback_restores(make_root, tmp_path, tree,
                                                       first, second):
    switched = make_root(**TREES[tree])
    assert run(switched, tmp_path, *first) == 0
    after_first = snapshot(switched)
    runs_before = len(list_runs(Root(switched)))
    assert run(switched, tmp_path, *second) == 0

    direct = make_root(**TREES[tree])
    assert run(direct, tmp_path, *second) == 0
    if tree in PACKAGE_TREES:
        assert config_files(snapshot(switched)) == config_files(snapshot(direct))
    # (a host edited by hand keeps the admin's layout until a switch rewrites it: there,
    # the effective settings must agree, which read_facts checks below)
    assert read_facts(Root(direct)).policy == second[0]

    facts = read_facts(Root(switched))
    assert (facts.policy, facts.guests) == second
    # jicofo's effective authentication matches the policy, wherever it was set before
    assert facts.jicofo_requires_login == (second[0] != "open")
    assert not [w for w in facts.warnings if "jicofo" in w]

    if len(list_runs(Root(switched))) > runs_before:  # an empty plan records no run
        assert main(["rollback", "--root", str(switched), "--simulate"]) == 0
    assert snapshot(switched) == after_first  # byte-for-byte, modes and links included


@pytest.mark.parametrize("tree", list(TREES))
def test_full_rollback_restores_fresh_tree(make_root, tmp_path, tree):
    root = make_root(**TREES[tree])
    fresh = snapshot(root)
    assert run(root, tmp_path, "ldap", True) == 0
    assert snapshot(root) != fresh
    assert main(["rollback", "--root", str(root), "--simulate"]) == 0
    assert snapshot(root) == fresh


@pytest.mark.parametrize("policy, guests", POLICIES, ids=[label(p) for p in POLICIES])
def test_same_answers_twice_change_no_files(make_root, tmp_path, capsys, policy, guests):
    root = make_root()
    assert run(root, tmp_path, policy, guests) == 0
    capsys.readouterr()
    before = snapshot(root)
    answers = tmp_path / "again.toml"
    answers.write_text(answers_toml(policy, guests, users=USERS))
    assert main(["plan", "--answers", str(answers), "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "No file changes" in out or "Nothing to change" in out
    assert run(root, tmp_path, policy, guests) == 0
    assert snapshot(root) == before


def test_handmade_ldap2_is_reported_and_converted(make_root, tmp_path, capsys):
    root = make_root("legacy", handmade="ldap2")
    assert main(["status", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "SECURITY" in out and "ldap2" in out
    assert run(root, tmp_path, "ldap", True) == 0
    facts = read_facts(Root(root))
    assert facts.main_auth == "ldap" and facts.ldap.backend == "ldap"
    assert not any("SECURITY" in w for w in facts.warnings)
    assert not (root / "etc/prosody/conf.avail/ldap.cfg.lua").exists()
    assert not (root / "etc/prosody/conf.d/ldap.cfg.lua").is_symlink()
    # the hand-made guest block moved into the wizard's own file: exactly one guest host
    host_cfg = (root / "etc/prosody/conf.avail/meet.example.org.cfg.lua").read_text()
    assert "guest.meet.example.org" not in host_cfg
    assert facts.guests and facts.anonymousdomain == "guest.meet.example.org"


def test_owned_ldap_file_is_private(make_root, tmp_path):
    root = make_root()
    assert run(root, tmp_path, "ldap", False) == 0
    path = root / "etc/prosody/conf.avail/jitsi-wizard-ldap.cfg.lua"
    assert (path.stat().st_mode & 0o777) == 0o640


def test_hand_edit_of_owned_file_is_refused_without_force(make_root, tmp_path, capsys):
    root = make_root()
    assert run(root, tmp_path, "local", True) == 0
    guests = root / "etc/prosody/conf.avail/jitsi-wizard-guests.cfg.lua"
    guests.write_text(guests.read_text() + "    -- edited by hand\n")
    before = snapshot(root)
    capsys.readouterr()
    assert run(root, tmp_path, "local", False) == 2
    err = capsys.readouterr().err
    assert "changed by hand" in err and "jitsi-wizard-guests.cfg.lua" in err
    assert snapshot(root) == before
    assert run(root, tmp_path, "local", False, "--force") == 0
    assert not guests.exists()


def test_unreadable_managed_block_names_the_file(make_root, tmp_path, capsys):
    root = make_root()
    jicofo = root / "etc/jitsi/jicofo/jicofo.conf"
    jicofo.write_text(jicofo.read_text() + HOCON_BEGIN + "\njicofo {}\n")
    assert run(root, tmp_path, "local", False) == 2
    err = capsys.readouterr().err
    assert "/etc/jitsi/jicofo/jicofo.conf" in err and "fix:" in err


@pytest.mark.parametrize("tree", PACKAGE_TREES)
@pytest.mark.parametrize("first, second", list(itertools.product(POLICIES, POLICIES)),
                         ids=lambda p: label(p))
def test_jicofo_restart_says_why_from_what_changed(make_root, tmp_path, monkeypatch, tree,
                                                   first, second):
    """jicofo restarts with Prosody either way; "load the new jicofo configuration" only
    when a jicofo file changed, else it reconnects to Prosody."""
    from jitsiwizard.answers.load import load_file
    from jitsiwizard.plan.meeting import build

    monkeypatch.setenv("JW_TEST_LDAP_PW", "a-test-password")
    root = make_root(**TREES[tree])
    assert run(root, tmp_path, *first) == 0
    answers = tmp_path / "second.toml"
    answers.write_text(answers_toml(second[0], second[1], users=USERS))
    answers.chmod(0o600)
    plan = build(load_file(str(answers)).answers, read_facts(Root(root)), Root(root))
    jicofo_files = [s for s in plan.file_steps() if "jicofo" in s.path]
    restarts = [s.describe() for s in plan.steps if s.kind == "service" and "jicofo" in
                s.describe()]
    for said in restarts:
        assert ("load the new jicofo configuration" in said) == bool(jicofo_files), said
        assert ("reconnect jicofo to Prosody" in said) == (not jicofo_files), said
