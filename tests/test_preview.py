"""The preview shows every phase of a run: besides the edits, commands and restarts, the
checks before the first restart and the verification after the last step, where apply
prints [check] and [verify] (issue: the preview hides two phases)."""

from __future__ import annotations

import json
import re

from jitsiwizard.cli.main import main

from .conftest import HOST, answers_toml

USERS = '[[auth.users]]\nname = "alice"\npassword = "env:JW_PREVIEW_PW"\n'


def _answers(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("JW_PREVIEW_PW", "preview-pw-1357")
    path = tmp_path / "answers.toml"
    path.write_text(answers_toml("local", True, users=USERS))
    path.chmod(0o600)
    return str(path)


def test_plan_and_dry_run_name_the_check_before_the_first_restart_and_the_verification(
        make_root, tmp_path, monkeypatch, capsys):
    root = make_root()
    answers = _answers(tmp_path, monkeypatch)
    for argv in (["plan", "--answers", answers], ["--answers", answers, "--dry-run"]):
        capsys.readouterr()
        assert main(["--xmpp", "127.0.0.1:5999", *argv, "--root", str(root)]) == 0
        lines = capsys.readouterr().out.splitlines()
        check = next(i for i, line in enumerate(lines) if "[check] before the first restart"
                     in line)
        first_restart = next(i for i, line in enumerate(lines)
                             if re.match(r"\s*\d+\. restart ", line))
        verify = next(i for i, line in enumerate(lines) if "[verify] after the last step"
                      in line)
        last_step = max(i for i, line in enumerate(lines) if re.match(r"\s*\d+\. ", line))
        assert check < first_restart < last_step < verify, "\n".join(lines)
        checks = "\n".join(lines[check:first_restart])
        assert "prosodyctl --config /etc/prosody/prosody.cfg.lua check config" in checks
        assert "/etc/jitsi/jicofo/jicofo.conf parses as HOCON" in checks
        shown = "\n".join(lines[verify:])
        assert f"login as alice@{HOST} succeeds" in shown
        assert "SASL SCRAM-SHA-1 and PLAIN, not ANONYMOUS" in shown
        assert f"guest.{HOST} accepts anonymous guests" in shown
        assert "127.0.0.1:5999" in shown and "rolls the whole run back" in shown
        assert "preview-pw-1357" not in "\n".join(lines)


def test_plan_json_carries_both_phases(make_root, tmp_path, monkeypatch, capsys):
    root = make_root()
    answers = _answers(tmp_path, monkeypatch)
    capsys.readouterr()
    assert main(["plan", "--answers", answers, "--json", "--root", str(root)]) == 0
    doc = json.loads(capsys.readouterr().out)
    before = doc["checks"]["before_step"]
    assert doc["steps"][before - 1]["kind"] == "service"
    assert all(step["kind"] != "service" for step in doc["steps"][:before - 1])
    assert any("check config" in line for line in doc["checks"]["what"])
    assert any(line.startswith("units ") for line in doc["verification"])


def test_a_plan_that_restarts_nothing_shows_no_phase(make_root, tmp_path, capsys):
    root = make_root()
    path = tmp_path / "same.toml"
    path.write_text(answers_toml("open"))
    path.chmod(0o600)
    capsys.readouterr()
    assert main(["plan", "--answers", str(path), "--json", "--root", str(root)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["steps"] == [] and doc["checks"]["what"] == [] and doc["verification"] == []
