"""Redaction by value: every secret the run knows (the answers') and every secret found in the
files it reads (an old ldap2 bind password, jicofo's and the bridge's XMPP passwords) is masked
wherever it appears: plan text, diffs, JSON, the run log; whatever its position on a line and
however the file language escapes it."""

from __future__ import annotations

import json

from jitsiwizard.answers.secrets import REDACTED, Redactor, find_secrets
from jitsiwizard.cli.main import main
from jitsiwizard.formats.escape import spellings
from jitsiwizard.plan.steps import FileChange, Plan, RemovePath

from .conftest import CANARY, answers_toml

ODD = "Odd-P0s\\'S3cret"  # as written in the Lua file: a backslash-escaped quote inside
ODD_VALUE = "Odd-P0s'S3cret"


def _all_output(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def _leaks(text: str, *values: str) -> list[str]:
    return [form for value in values for form in spellings(value) if len(form) >= 3
            and form in text]


def test_find_secrets_reads_assignments_anywhere_on_a_line():
    text = ("ldap = { hostname = 'x', bind_dn = 'cn=a', bind_password = 'p1-odd', tls = true }\n"
            '  xmpp { client { password: "p2\\"quoted" } }\n'
            "org.jitsi.videobridge.xmpp.user.shard.PASSWORD=p3bare\n"
            'external_service_secret = "p4-turn";  muc_password_whitelist = { "focus@x" }\n'
            "secret = true, ldap_password = \"p5\"\n")
    found = find_secrets(text)
    assert {"p1-odd", 'p2"quoted', "p3bare", "p4-turn"} <= found
    assert not {"true", "focus@x", "x", "cn=a"} & found


def test_a_diff_masks_values_found_in_the_file_itself():
    before = "-- old\nldap = { hostname = 'ldap', bind_password = 'Mid-Line-Pw', x = 1 }\n"
    removed = RemovePath("/etc/prosody/conf.avail/ldap.cfg.lua", "remove", before)
    changed = FileChange("/etc/x.cfg.lua", before.replace("x = 1", "x = 2"), "edit", before)
    for text in (removed.diff(), changed.diff(), Plan([removed, changed]).to_json()):
        assert "Mid-Line-Pw" not in text and REDACTED in text


def test_json_redacts_every_escaped_spelling():
    redact = Redactor()
    redact.add_value(CANARY)
    step = FileChange("/etc/x.lua", f'-- {CANARY}\nx = "{CANARY}"\n', "x", None)
    out = Plan([step]).to_json(redact)
    json.loads(out)
    assert not _leaks(out, CANARY)


def _ldap2_root(make_root):
    root = make_root("legacy", handmade="ldap2")
    path = root / "etc/prosody/conf.avail/ldap.cfg.lua"
    text = path.read_text()
    # The bind password in the middle of a one-line table, escaped as Lua allows.
    assert "bind_password = 'fixture-ldap2-password'," in text
    text = text.replace("bind_password = 'fixture-ldap2-password',",
                        f"use_ssl = false, bind_password = '{ODD}', timeout = 5,")
    path.write_text(text)
    # A focus password that sits in the last lines of jicofo.conf, in a diff's context.
    jicofo = root / "etc/jitsi/jicofo/jicofo.conf"
    if jicofo.exists():
        jicofo.write_text(jicofo.read_text() + 'extra { password = "Tail-Focus-Pw-9" }\n')
    return root


def test_plan_text_and_json_hide_an_old_ldap2_password(make_root, tmp_path, capsys):
    root = _ldap2_root(make_root)
    answers = tmp_path / "a.toml"
    answers.write_text(answers_toml("ldap", True))
    answers.chmod(0o600)
    for extra in ([], ["--json"]):
        assert main(["plan", "--answers", str(answers), "--root", str(root), *extra]) == 0
        out = _all_output(capsys)
        assert "ldap.cfg.lua" in out  # the file's removal is shown...
        assert not _leaks(out, ODD_VALUE, ODD, "Tail-Focus-Pw-9", CANARY)  # ...not its secrets
        assert REDACTED in out


def test_replay_output_and_run_log_hide_every_secret(make_root, tmp_path, capsys):
    root = _ldap2_root(make_root)
    answers = tmp_path / "a.toml"
    answers.write_text(answers_toml("ldap", True))
    answers.chmod(0o600)
    assert main(["--answers", str(answers), "--root", str(root), "--simulate",
                 "--skip-checks"]) == 0
    out = _all_output(capsys)
    logs = "".join(p.read_text(errors="replace")
                   for p in (root / "var/lib/jitsi-wizard/runs").glob("*/run.log"))
    assert logs
    for text in (out, logs):
        assert not _leaks(text, ODD_VALUE, ODD, "Tail-Focus-Pw-9", CANARY)
    # and a rollback's output too
    assert main(["rollback", "--root", str(root), "--simulate"]) == 0
    assert not _leaks(_all_output(capsys), ODD_VALUE, ODD, CANARY)
