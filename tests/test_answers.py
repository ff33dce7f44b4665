from __future__ import annotations

import os
from pathlib import Path

import pytest

from jitsiwizard.answers import load as A
from jitsiwizard.answers import save as S
from jitsiwizard.answers import spec as F
from jitsiwizard.errors import ProblemList
from jitsiwizard.rootfs import Root
from jitsiwizard.workflow.session import Session

from .conftest import CANARY, answers_toml


def problems(text: str) -> list:
    with pytest.raises(ProblemList) as info:
        A.loads(text, "answers.toml")
    return info.value.problems


def test_issue_example_keys_load(tmp_path, monkeypatch):
    monkeypatch.setenv("ALICE_PASSWORD", "alice-pw")
    secret = tmp_path / "bind.secret"
    secret.write_text("bind-pw\n")
    from importlib.resources import files

    text = files("jitsiwizard").joinpath("data/answers.example.toml").read_text()
    text = text.replace('policy = "local"', 'policy = "ldap"').replace(
        "/root/ldap-bind.secret", str(secret))
    loaded = A.loads(text)
    ldap = loaded.answers.auth.ldap
    assert ldap.urls == ["ldaps://ldap.example.org"]
    assert ldap.bind_password.value == "bind-pw"  # trailing newline of the file dropped
    assert ldap.starttls is False  # ldaps:// never uses StartTLS
    assert loaded.answers.cert.acme_url.startswith("https://acme-v02")


def test_every_problem_is_reported_at_once_with_lines():
    text = ('[host]\nhostnam = "x"\n\n[cert]\nmode = "letsencript"\n\n'
            '[auth]\npolicy = "ldap"\n\n[auth.ldap]\nurl = "http://x"\nuser_filter = "uid=x"\n'
            '\n[firewal]\nmanage = true\n')
    found = {p.field: p for p in problems(text)}
    assert found["host.hostnam"].hint == "did you mean 'hostname'?"
    assert found["host.hostnam"].line == 2
    assert "letsencrypt" in found["cert.mode"].hint
    assert found["cert.mode"].line == 5
    assert found["auth.ldap.url"].line == 11
    assert "parentheses" in found["auth.ldap.user_filter"].message
    assert "did you mean 'firewall'" in found["firewal"].hint
    assert "host.hostname" in found and "auth.ldap.user_base" in found


@pytest.mark.parametrize("name, fragment", [
    ("-bad.example.org", "label"), ("a..b.org", "empty label"), ("localhost", "two labels"),
    ("192.0.2.1", "IP address"), ("x" * 64 + ".org", "63"), ("meet.example.123", "numeric"),
    ("a_b.example.org", "label"), ("a" * 60 + "." + ("b" * 60 + ".") * 4 + "org", "253"),
])
def test_bad_hostnames(name, fragment):
    _, err = A.check_hostname(name)
    assert err and fragment in err


def test_idna_hostname_is_normalised():
    name, err = A.check_hostname("Mëet.Example.ORG.")
    assert err is None and name == "xn--met-jma.example.org"


def test_letsencrypt_needs_email_and_terms():
    found = {p.field for p in problems('[host]\nhostname = "meet.example.org"\n'
                                       '[cert]\nmode = "letsencrypt"\n')}
    assert {"host.email", "cert.agree_tos"} <= found


def test_plain_ldap_needs_explicit_permission():
    text = answers_toml("ldap").replace('user_base', 'starttls = false\nuser_base')
    assert "auth.ldap.starttls" in {p.field for p in problems(text)}
    allowed = text.replace("starttls = false", "starttls = false\nallow_plaintext = true")
    assert A.loads(allowed).answers.auth.ldap.allow_plaintext


def test_secret_references(tmp_path, monkeypatch):
    missing = answers_toml("ldap", ldap_password="env:NOPE_NOT_SET")
    (p,) = [p for p in problems(missing) if p.field == "auth.ldap.bind_password"]
    assert "NOPE_NOT_SET is not set" in p.message and "export" in p.hint
    rel = answers_toml("ldap", ldap_password="file:relative/path")
    assert "not absolute" in [p for p in problems(rel)
                              if p.field == "auth.ldap.bind_password"][0].message


def test_literal_secret_in_loose_file_warns(tmp_path):
    path = tmp_path / "answers.toml"
    path.write_text(answers_toml("ldap", ldap_password="literal-pw"))
    os.chmod(path, 0o644)
    loaded = A.load_file(str(path))
    assert any(w.field == "auth.ldap.bind_password" and "chmod 600" in w.hint
               for w in loaded.warnings)
    os.chmod(path, 0o600)
    assert not A.load_file(str(path)).warnings


def test_saved_answers_keep_references_and_drop_literals(tmp_path):
    users = '[[auth.users]]\nname = "alice"\npassword = "literal-secret-xyz"\n'
    loaded = A.loads(answers_toml("local", True, users=users))
    path, notes = Session(Root(str(tmp_path))).save_answers(loaded.answers)
    out = Path(path)
    saved = out.read_text()
    assert "literal-secret-xyz" not in saved
    assert any("auth.users[0].password" in n for n in notes)
    assert (out.stat().st_mode & 0o777) == 0o600
    reloaded = A.loads(saved.replace('name = "alice"', 'name = "alice", password = "x-longer"'))
    assert reloaded.answers.auth.policy == "local" and reloaded.answers.auth.guests

    ldap = A.loads(answers_toml("ldap"))
    text, _ = S.dumps(ldap.answers)
    assert "env:JW_TEST_LDAP_PW" in text and CANARY not in text
    assert A.loads(text).answers.auth.ldap.bind_password.value == CANARY


def test_schema_matches_the_validator():
    import json
    from importlib.resources import files

    schema = F.json_schema()
    shipped = json.loads(files("jitsiwizard").joinpath("data/answers.schema.json").read_text())
    assert shipped == schema, (
        "regenerate it: jitsi-wizard schema > jitsiwizard/data/answers.schema.json")
    for table in F.TOP_LEVEL:
        assert set(schema["properties"][table]["properties"]) == set(F.SPEC[table])
    ldap = schema["properties"]["auth"]["properties"]["ldap"]["properties"]
    assert set(ldap) == set(F.SPEC["auth.ldap"])


def test_example_file_documents_every_key():
    from importlib.resources import files

    text = files("jitsiwizard").joinpath("data/answers.example.toml").read_text()
    for table, keys in F.SPEC.items():
        for key, (kind, _) in keys.items():
            if kind in ("table", F.TABLE_LIST):
                continue
            assert f"\n{key} =" in text, f"{table}.{key} is not in the example file"


def test_secret_repr_never_shows_value():
    loaded = A.loads(answers_toml("ldap"))
    text = repr(loaded.answers) + str(loaded.answers.auth.ldap.bind_password)
    assert CANARY not in text


def test_user_password_with_line_break_is_refused(monkeypatch):
    monkeypatch.setenv("JW_TWO_LINES", "first\nsecond")
    users = '[[auth.users]]\nname = "alice"\npassword = "env:JW_TWO_LINES"\n'
    (p,) = [p for p in problems(answers_toml("local", users=users))
            if p.field == "auth.users[0].password"]
    assert "line break" in p.message
