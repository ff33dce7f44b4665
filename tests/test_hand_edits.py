"""Hand edits made after a run: a rollback that would overwrite or remove them refuses without
--force and shows what it would undo; with --force it keeps the edited copy beside the run's
backups and says where. Planning over a hand edit is refused with the diff too."""

from __future__ import annotations

from pathlib import Path

from jitsiwizard.cli.main import main

from .conftest import CANARY, answers_toml, config_files, snapshot

OWNED = "etc/prosody/conf.avail/jitsi-wizard-ldap.cfg.lua"
EDIT = "-- raised by hand: ldap_timeout = 30\n"


def _replay(root, tmp_path, policy, guests=False, *extra):
    path = tmp_path / f"{policy}-{guests}.toml"
    path.write_text(answers_toml(policy, guests))
    path.chmod(0o600)
    return main(["--answers", str(path), "--root", str(root), "--simulate", "--skip-checks",
                 *extra])


def test_rollback_over_a_hand_edit_refuses_then_keeps_it_with_force(make_root, tmp_path,
                                                                     capsys):
    root = make_root()
    fresh = config_files(snapshot(root))
    assert _replay(root, tmp_path, "ldap") == 0
    owned = root / OWNED
    edited = owned.read_text() + EDIT
    owned.write_text(edited)
    capsys.readouterr()

    before = snapshot(root, include_state=True)
    assert main(["rollback", "--root", str(root), "--simulate"]) == 2
    err = capsys.readouterr().err
    assert "/" + OWNED in err and "+" + EDIT.strip() not in err
    assert "-" + EDIT.strip() in err  # the edit, as the rollback would take it away
    assert "--force" in err and CANARY not in err
    assert snapshot(root, include_state=True) == before  # nothing changed, run still live

    assert main(["rollback", "--root", str(root), "--simulate", "--force"]) == 0
    out = capsys.readouterr().out
    assert "had been edited by hand" in out
    copy = out.split("that version is kept in ")[1].split()[0]
    assert Path(copy).read_text() == edited
    assert config_files(snapshot(root)) == fresh


def test_rollback_with_an_earlier_run_logs_no_spurious_managed_change(make_root, tmp_path,
                                                                       capsys):
    root = make_root()
    assert _replay(root, tmp_path, "local") == 0
    assert _replay(root, tmp_path, "ldap", True) == 0
    assert main(["rollback", "--root", str(root), "--simulate"]) == 0
    out = capsys.readouterr().out
    assert "edited by hand" not in out
    logs = "".join(p.read_text() for p in (root / "var/lib/jitsi-wizard/runs").glob("*/run.log"))
    assert "managed.json was changed" not in logs


def test_planning_over_a_hand_edit_shows_the_diff(make_root, tmp_path, capsys):
    root = make_root()
    assert _replay(root, tmp_path, "ldap") == 0
    owned = root / OWNED
    owned.write_text(owned.read_text() + EDIT)
    capsys.readouterr()
    before = snapshot(root, include_state=True)
    assert _replay(root, tmp_path, "open") == 2
    err = capsys.readouterr().err
    assert "changed by hand" in err and "-" + EDIT.strip() in err
    assert CANARY not in err
    assert snapshot(root, include_state=True) == before


def test_a_hand_edit_of_a_secret_line_is_named_not_shown(make_root, tmp_path, capsys):
    """Both sides of a changed password line redact alike: the refusal says the difference
    is in a secret value instead of showing an empty diff."""
    root = make_root()
    assert _replay(root, tmp_path, "ldap") == 0
    owned = root / OWNED
    text = owned.read_text()
    assert "ldap_password" in text
    lines = [('ldap_password = "typed-by-hand-77"' if line.lstrip().startswith("ldap_password")
              else line) for line in text.splitlines()]
    owned.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert _replay(root, tmp_path, "ldap") == 2
    err = capsys.readouterr().err
    assert f"/{OWNED}: the difference is in a secret value (not shown)" in err
    assert "typed-by-hand-77" not in err and CANARY not in err
