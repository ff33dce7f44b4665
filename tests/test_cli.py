"""The command line as a user meets it: exit codes, messages, nothing changed on bad input,
no secret in any output, interrupted runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jitsiwizard.cli.main import main

from .conftest import CANARY, answers_toml, snapshot

REPO = Path(__file__).resolve().parents[1]


def jw(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "jitsiwizard", *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout, cwd=REPO)


BAD_FILES = {
    "not toml": 'hostname = "unterminated\n',
    "wrong section": '[hots]\nhostname = "meet.example.org"\n',
    "missing hostname": '[host]\nemail = "a@b.org"\n',
    "ip hostname": '[host]\nhostname = "192.0.2.7"\n',
    "bad label": '[host]\nhostname = "-meet.example.org"\n',
    "type": '[host]\nhostname = 7\n',
    "bad mode": '[host]\nhostname = "meet.example.org"\n[cert]\nmode = "acme"\n',
    "own without files": '[host]\nhostname = "meet.example.org"\n[cert]\nmode = "own"\n',
    "bad policy": '[host]\nhostname = "meet.example.org"\n[auth]\npolicy = "everyone"\n',
    "ldap missing": '[host]\nhostname = "meet.example.org"\n[auth]\npolicy = "ldap"\n',
    "ldap url": answers_toml("ldap").replace("ldap://ldap.example.org", "ldap//nope"),
    "ldap dn": answers_toml("ldap").replace("cn=jitsi,ou", "cn jitsi ou"),
    "ldap secret": answers_toml("ldap", ldap_password="env:JW_UNSET_VARIABLE"),
    "users table": answers_toml("local") + 'users = "alice"\n',
    "user name": answers_toml("local") + '[[auth.users]]\nname = "Al ice@x"\npassword = "p"\n',
    "ssh port": answers_toml() + "[firewall]\nssh_port = 70000\n",
    "guests open": answers_toml("open").replace("guests = false", "guests = true"),
    "nat": '[host]\nhostname = "meet.example.org"\npublic_address = "10.0.0.1"\n',
    "binary": "\x00\x01\x02",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_answers_exit_2_and_change_nothing(make_root, tmp_path, capsys, name):
    root = make_root()
    before = snapshot(root, include_state=True)
    path = tmp_path / "answers.toml"
    path.write_text(BAD_FILES[name])
    code = main(["--answers", str(path), "--root", str(root), "--simulate", "--skip-checks"])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("error:") and "Traceback" not in err
    assert "fix:" in err  # every problem comes with the way out
    assert snapshot(root, include_state=True) == before


def test_bad_paths_and_arguments_exit_2(make_root, tmp_path, capsys):
    root = make_root()
    assert main(["--answers", str(tmp_path / "missing.toml"), "--root", str(root)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--answers", str(tmp_path), "--root", str(root)]) == 2
    assert main(["status", "--root", str(tmp_path / "nope")]) == 2
    assert "--root" in capsys.readouterr().err
    assert main(["--no-such-flag"]) == 2


def test_bad_input_gives_no_traceback_in_a_real_process(make_root, tmp_path):
    root = make_root()
    path = tmp_path / "a.toml"
    path.write_text('[auth]\npolicy = 3\n')
    proc = jw("--answers", str(path), "--root", str(root), "--simulate", "--skip-checks")
    assert proc.returncode == 2
    assert "auth.policy" in proc.stderr and "Traceback" not in proc.stderr


# Values that break a hand-written parser: wrong types, strings with quotes and control
# characters, huge numbers, nested tables.
WEIRD = st.one_of(
    st.text(max_size=40), st.integers(min_value=-2**70, max_value=2**70), st.booleans(),
    st.floats(allow_nan=False), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=2))
KEYS = st.sampled_from([
    ("host", "hostname"), ("host", "email"), ("host", "public_address"), ("cert", "mode"),
    ("cert", "acme_server"), ("cert", "cert_file"), ("auth", "policy"), ("auth", "guests"),
    ("auth", "users"), ("auth", "ldap"), ("firewall", "ssh_port"), ("firewall", "manage"),
    ("host", "hostnme"), ("nonsense", "x")])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(st.tuples(KEYS, WEIRD), min_size=1, max_size=4))
def test_generated_answers_never_crash(make_root, tmp_path, capsys, mutations):
    """Any file: exit 0 (it was valid) or 2 (with a message); never a crash. A file that
    fails changes nothing."""
    root = make_root()
    before = snapshot(root, include_state=True)
    data = {"host": {"hostname": "meet.example.org"}, "cert": {"mode": "self-signed"}}
    for (table, key), value in mutations:
        data.setdefault(table, {})[key] = value
    path = tmp_path / "gen.toml"
    path.write_text(tomli_w.dumps(data))
    code = main(["--answers", str(path), "--root", str(root), "--simulate", "--skip-checks"])
    out, err = capsys.readouterr()
    assert code in (0, 2), (code, out, err)
    if code == 2:
        assert err.startswith("error:") and "Traceback" not in err
        assert snapshot(root, include_state=True) == before


def test_canary_password_never_leaks(make_root, tmp_path):
    """A distinctive password: not in stdout, stderr, the plan, the run log, the journal,
    the run state or the saved answers."""
    root = make_root()
    users = '[[auth.users]]\nname = "alice"\npassword = "env:JW_TEST_LDAP_PW"\n'
    local = tmp_path / "local.toml"
    local.write_text(answers_toml("local", True, users=users))
    ldap = tmp_path / "ldap.toml"
    ldap.write_text(answers_toml("ldap", True))
    env = {"JW_TEST_LDAP_PW": CANARY}
    outputs = []
    for args in (["--answers", str(ldap), "--dry-run"],
                 ["plan", "--answers", str(ldap), "--json"],
                 ["plan", "--answers", str(ldap)],
                 ["--answers", str(local), "--simulate", "--skip-checks"],
                 ["--answers", str(ldap), "--simulate", "--skip-checks"],
                 ["status"], ["runs"]):
        proc = jw(*args, "--root", str(root), env=env)
        assert proc.returncode == 0, proc.stderr
        outputs += [proc.stdout, proc.stderr]
    assert "<redacted>" in "".join(outputs)  # the diff of the LDAP file was shown, masked
    # the LDAP file itself must hold the real password, escaped for Lua
    owned = (root / "etc/prosody/conf.avail/jitsi-wizard-ldap.cfg.lua").read_text()
    assert "ldap_password = \"Canary\\\"q'uo\\\\te\\\\n]]--\\195\\132\\195\\150-7Zx\"" in owned
    state = root / "var/lib/jitsi-wizard"
    forms = [CANARY, CANARY.encode("unicode_escape").decode(), "Canary\\\"q'uo"]
    for path in state.rglob("*"):
        if path.is_file() and "backup" not in path.parts:
            text = path.read_text(errors="replace")
            for form in forms:
                assert form not in text, path
    for text in outputs:
        for form in forms:
            assert form not in text
    saved = list(state.rglob("answers.toml"))
    assert saved and all("env:JW_TEST_LDAP_PW" in p.read_text() for p in saved)


@pytest.mark.parametrize("kill", ["step:1", "step:3", "write:2", "step:6"])
def test_killed_run_is_reported_and_rolled_back(make_root, tmp_path, kill):
    root = make_root()
    fresh = snapshot(root)
    answers = tmp_path / "a.toml"
    answers.write_text(answers_toml("ldap", True))
    proc = jw("--answers", str(answers), "--root", str(root), "--simulate", "--skip-checks",
              env={"JITSI_WIZARD_TEST_KILL": kill})
    assert proc.returncode == -9, proc.stderr
    again = jw("--answers", str(answers), "--root", str(root), "--simulate", "--skip-checks")
    assert again.returncode == 4
    assert "interrupted" in again.stderr and "jitsi-wizard rollback" in again.stderr
    status = jw("status", "--root", str(root))
    assert "INTERRUPTED" in status.stdout
    undo = jw("rollback", "--root", str(root), "--simulate")
    assert undo.returncode == 0, undo.stderr
    assert snapshot(root) == fresh
    # and now the same answers apply cleanly
    assert jw("--answers", str(answers), "--root", str(root), "--simulate",
              "--skip-checks").returncode == 0


def test_headless_entry_never_imports_textual(make_root, tmp_path):
    root = make_root()
    answers = tmp_path / "a.toml"
    answers.write_text(answers_toml("local", True))
    code = (
        "import sys\n"
        "from jitsiwizard.cli.main import main\n"
        f"rc = main(['--answers', {str(answers)!r}, '--root', {str(root)!r}, '--simulate',"
        " '--skip-checks'])\n"
        f"rc2 = main(['status', '--root', {str(root)!r}])\n"
        f"rc3 = main(['rollback', '--root', {str(root)!r}, '--simulate'])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(rc, rc2, rc3, bad)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert proc.stdout.strip().splitlines()[-1] == "0 0 0 []", proc.stdout + proc.stderr


def test_example_and_schema_commands(capsys):
    assert main(["example-answers"]) == 0
    assert "[auth.ldap]" in capsys.readouterr().out
    assert main(["schema"]) == 0
    assert '"additionalProperties": false' in capsys.readouterr().out


def test_other_root_without_simulate_is_refused(make_root, tmp_path, capsys):
    root = make_root()
    before = snapshot(root, include_state=True)
    answers = tmp_path / "a.toml"
    answers.write_text(answers_toml("local", True))
    assert main(["--answers", str(answers), "--root", str(root), "--skip-checks"]) == 2
    err = capsys.readouterr().err
    assert "needs --simulate" in err and "fix:" in err
    assert snapshot(root, include_state=True) == before


def test_own_certificate_is_validated_before_planning(make_root, tmp_path, capsys):
    root = make_root()
    (root / "etc/ssl").mkdir(exist_ok=True)
    (root / "etc/ssl/meet.crt").write_text("not a certificate\n")
    (root / "etc/ssl/meet.key").write_text("not a key\n")
    before = snapshot(root, include_state=True)
    answers = tmp_path / "a.toml"
    answers.write_text(answers_toml("open", cert="own").replace(
        'mode = "own"', 'mode = "own"\ncert_file = "/etc/ssl/meet.crt"\n'
        'key_file = "/etc/ssl/meet.key"'))
    assert main(["--answers", str(answers), "--root", str(root), "--simulate",
                 "--skip-checks"]) == 2
    err = capsys.readouterr().err
    assert "cert.cert_file" in err and "fix:" in err
    assert snapshot(root, include_state=True) == before


def test_managed_firewall_keeps_the_admins_ssh_port(make_root, tmp_path, capsys, monkeypatch):
    root = make_root()
    answers = tmp_path / "a.toml"
    answers.write_text(answers_toml("open") + "\n[firewall]\nmanage = true\nssh_port = 22\n")
    monkeypatch.setenv("SSH_CONNECTION", "192.0.2.9 50000 192.0.2.1 2222")
    assert main(["plan", "--answers", str(answers), "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "firewall.ssh_port" in err and "2222" in err
    monkeypatch.setenv("SSH_CONNECTION", "192.0.2.9 50000 192.0.2.1 22")
    assert main(["plan", "--answers", str(answers), "--root", str(root)]) == 0
    out = capsys.readouterr().out
    allow_ssh = out.index("ufw allow 22/tcp")
    assert allow_ssh < out.index("ufw allow 443/tcp") < out.index("ufw --force enable")


def test_the_wizard_reports_a_host_file_it_cannot_read_before_the_screen_opens(
        make_root, capsys):
    """A FIFO where config.js should be would hang a read; the wizard names it and stops
    (exit 2) before Textual takes the terminal, so the message stays readable."""
    root = make_root()
    config_js = root / "etc/jitsi/meet/meet.example.org-config.js"
    config_js.unlink()
    os.mkfifo(config_js)
    assert main(["--root", str(root), "--simulate"]) == 2
    err = capsys.readouterr().err
    assert "meet.example.org-config.js" in err and "FIFO" in err and "Traceback" not in err
