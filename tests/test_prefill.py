from __future__ import annotations

import pytest

from jitsiwizard.answers.load import loads
from jitsiwizard.answers.save import dumps
from jitsiwizard.cli.main import main
from jitsiwizard.host.facts import read_facts
from jitsiwizard.host.prefill import answers_from_facts
from jitsiwizard.plan.meeting import build
from jitsiwizard.rootfs import Root
from jitsiwizard.screens.steps import problems_on

from .conftest import POLICIES, answers_toml


@pytest.mark.parametrize("policy, guests", POLICIES)
def test_prefilled_answers_describe_the_host(make_root, tmp_path, policy, guests):
    """A rerun starts from the current state: its answers (with the secrets given again)
    plan no file changes."""
    root = make_root()
    path = tmp_path / "a.toml"
    path.write_text(answers_toml(policy, guests))
    assert main(["--answers", str(path), "--root", str(root), "--simulate",
                 "--skip-checks"]) == 0
    facts = read_facts(Root(root))
    pre = answers_from_facts(facts)
    assert (pre.auth.policy, pre.auth.guests) == (policy, guests)
    text, _ = dumps(pre)
    if policy == "ldap":
        text = text.replace("[auth.ldap]", '[auth.ldap]\nbind_password = "env:JW_TEST_LDAP_PW"')
    replay = loads(text).answers
    assert not build(replay, facts, Root(root)).changes_files


def test_prefill_on_fresh_install(make_root):
    facts = read_facts(Root(make_root("legacy")))
    pre = answers_from_facts(facts)
    assert pre.host.hostname == "meet.example.org"
    assert pre.auth.policy == "open" and pre.cert.mode == "self-signed"


def test_a_rerun_on_a_plain_ldap_host_keeps_what_the_host_runs(make_root, tmp_path):
    """LDAP applied with StartTLS off and clear text allowed: the rerun starts with both as
    the host has them and the bind password the last run saved (by reference), so Next
    finds nothing to fix on the Authentication step."""
    from jitsiwizard.answers.secrets import Secret
    from jitsiwizard.workflow.form import WizardForm

    root = make_root()
    secret = tmp_path / "bind.secret"
    secret.write_text("plain-bind-pw\n")
    secret.chmod(0o600)
    text = answers_toml("ldap", ldap_password=f"file:{secret}").replace(
        'url = "ldap://ldap.example.org"',
        'url = "ldap://ldap.example.org"\nstarttls = false\nallow_plaintext = true')
    path = tmp_path / "a.toml"
    path.write_text(text)
    path.chmod(0o600)
    assert main(["--answers", str(path), "--root", str(root), "--simulate",
                 "--skip-checks"]) == 0
    facts = read_facts(Root(root))
    assert answers_from_facts(facts).auth.ldap.allow_plaintext  # the host alone says so
    form = WizardForm.for_host(facts, Root(root))
    ldap = form.answers.auth.ldap
    assert (ldap.starttls, ldap.allow_plaintext) == (False, True)
    assert ldap.bind_password == Secret(f"file:{secret}", "plain-bind-pw")
    assert problems_on("auth", form) == []
