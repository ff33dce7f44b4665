"""A videobridge host ([role] kind = "videobridge"): the answers, the plan on a bare host,
on bridge-only installs of the current and the 2020 packages, a refusal on a meeting server,
and apply then rollback byte for byte."""

from __future__ import annotations

import pytest

from jitsiwizard import fixtures
from jitsiwizard.answers import load as A
from jitsiwizard.answers import save as S
from jitsiwizard.cli.main import main
from jitsiwizard.errors import ProblemList, UserError
from jitsiwizard.formats.hocon import hocon_get, hocon_get_managed_block
from jitsiwizard.formats.properties import properties_get
from jitsiwizard.host.bridges import SHARD_CONFIG
from jitsiwizard.host.facts import read_facts
from jitsiwizard.plan.meeting import build
from jitsiwizard.plan.videobridge import MainCertificate
from jitsiwizard.rootfs import Root

from .bridge_support import BRIDGE_PW, MAIN, MAIN_PEM, bridge_toml, pem_sha256, write_pem
from .conftest import snapshot

PIN = pem_sha256(MAIN_PEM)


@pytest.fixture(autouse=True)
def _bridge_password(monkeypatch):
    monkeypatch.setenv("JW_BRIDGE_PW", BRIDGE_PW)


def loaded(text: str):
    return A.loads(text).answers


def problems(text: str) -> dict:
    with pytest.raises(ProblemList) as caught:
        A.loads(text)
    return {p.field: p for p in caught.value.problems if not p.warning}


def test_bridge_answers_load_and_save_by_reference():
    answers = loaded(bridge_toml(":".join(PIN[i:i + 2] for i in range(0, 64, 2)).upper()))
    assert answers.is_bridge and answers.bridge.main_certificate_sha256 == PIN
    assert answers.bridge.password.value == BRIDGE_PW
    text, notes = S.dumps(answers)
    assert BRIDGE_PW not in text and notes == []
    again = A.loads(text).answers
    assert again.bridge.username == "bridge2" and again.bridge.main == MAIN


@pytest.mark.parametrize("change, field", [
    (("bridge2", "jvb"), "bridge.username"), (("bridge2", "Bad Name"), "bridge.username"),
    ((PIN, PIN[:60]), "bridge.main_certificate_sha256"), ((MAIN, "not a host"), "bridge.main"),
    (('password = "env:JW_BRIDGE_PW"\n', ""), "bridge.password"),
    (('kind = "videobridge"', 'kind = "bridge"'), "role.kind"),
])
def test_bad_bridge_answers_name_the_field(change, field):
    text = bridge_toml(PIN).replace(*change)
    assert field in problems(text)


def test_videobridge_needs_the_bridge_section():
    assert "bridge" in problems('[role]\nkind = "videobridge"\n')


def plan_on(root, text: str):
    """The plan, with the main host's certificate as the session fetches it."""
    return build(loaded(text), read_facts(Root(root)), Root(root),
                 main_certificate=MainCertificate(MAIN_PEM, PIN))


def test_bare_host_installs_only_the_bridge(tmp_path):
    root = fixtures.build_empty(tmp_path / "bare")
    plan = plan_on(root, bridge_toml(PIN))
    shown = plan.render()
    installs = [s.argv for s in plan.steps if s.kind == "command" and "install" in s.argv]
    assert installs[-1][-1] == "jitsi-videobridge2"
    assert not any("jitsi-meet" in argv for argv in installs)
    source = next(s for s in plan.steps if s.kind == "file" and s.path.endswith(".list"))
    assert "[signed-by=/usr/share/keyrings/jitsi-keyring.gpg]" in source.content
    preseed = next(s for s in plan.steps if s.kind == "file" and "preseed" in s.path)
    assert preseed.content == f"jitsi-videobridge2 jitsi-videobridge/jvb-hostname string {MAIN}\n"
    assert all(s.phase == "install" for s in plan.steps if s.kind == "command")
    assert BRIDGE_PW not in shown


def test_current_bridge_shard_in_jvb_conf(tmp_path):
    root = fixtures.build_bridge(tmp_path / "cur", generation="current")
    extra = '[host]\npublic_address = "93.184.216.34"\nlocal_address = "10.0.0.7"\n'
    plan = plan_on(root, bridge_toml(PIN, extra=extra))
    jvb = next(s for s in plan.steps if s.kind == "file" and s.path.endswith("jvb.conf"))
    block = hocon_get_managed_block(jvb.content)
    from jitsiwizard.health.configs import hocon_problem

    assert hocon_problem(jvb.content) is None
    assert 'DOMAIN = "auth.meet.example.org"' in block
    assert 'MUC_JIDS = "JvbBrewery@internal.auth.meet.example.org"' in block
    assert 'MUC_NICKNAME = "bridge2"' in block and 'USERNAME = "bridge2"' in block
    assert "DISABLE_CERTIFICATE_VERIFICATION = false" in block
    assert 'local-address = "10.0.0.7", public-address = "93.184.216.34"' in block
    pem = next(s for s in plan.steps if s.kind == "file" and s.path.endswith("main.pem"))
    assert pem.content == MAIN_PEM
    keytool = next(s for s in plan.steps if s.kind == "command" and s.argv[0] == "keytool")
    assert "PKCS12" in keytool.argv
    dropin = next(s for s in plan.steps if s.kind == "file" and "service.d" in s.path)
    assert "javax.net.ssl.trustStore=/etc/jitsi/videobridge/jitsi-wizard-truststore.p12" \
        in dropin.content
    assert [s.name for s in plan.steps if s.kind == "service"] == ["jitsi-videobridge2"]
    shown = plan.render()
    assert BRIDGE_PW not in shown and "<redacted>" in shown


def test_escaped_password_reads_back_from_jvb_conf(tmp_path):
    root = fixtures.build_bridge(tmp_path / "cur")
    plan = plan_on(root, bridge_toml(PIN))
    jvb = next(s for s in plan.steps if s.kind == "file" and s.path.endswith("jvb.conf"))
    block = hocon_get_managed_block(jvb.content)
    assert hocon_get(block, *SHARD_CONFIG, "PASSWORD") == BRIDGE_PW


def test_2020_bridge_shard_in_legacy_properties(tmp_path):
    root = fixtures.build_bridge(tmp_path / "old", generation="legacy")
    plan = plan_on(root, bridge_toml(PIN))
    props = next(s for s in plan.steps if s.kind == "file" and s.path.endswith(".properties"))
    prefix = "org.jitsi.videobridge.xmpp.user.shard."
    assert properties_get(props.content, prefix + "HOSTNAME") == MAIN
    assert properties_get(props.content, prefix + "USERNAME") == "bridge2"
    assert properties_get(props.content, prefix + "PASSWORD") == BRIDGE_PW
    assert properties_get(props.content, prefix + "DISABLE_CERTIFICATE_VERIFICATION") == "false"
    assert BRIDGE_PW not in plan.render()


@pytest.mark.parametrize("generation", ["current", "legacy"])
def test_meeting_server_refuses_the_bridge_role(tmp_path, generation):
    root = fixtures.build(tmp_path / "main", generation=generation)
    with pytest.raises(UserError) as caught:
        plan_on(root, bridge_toml(PIN))
    assert caught.value.field == "role.kind"


@pytest.mark.parametrize("generation", ["current", "legacy"])
def test_meeting_server_plans_unchanged_with_default_role(tmp_path, generation):
    root = fixtures.build(tmp_path / "main", generation=generation)
    text = f'[role]\nkind = "meeting-server"\n[host]\nhostname = "{MAIN}"\n[cert]\nmode = ' \
           '"self-signed"\n'
    with_role = build(A.loads(text).answers, read_facts(Root(root)), Root(root))
    without = build(A.loads(text.split("\n", 2)[2]).answers, read_facts(Root(root)), Root(root))
    assert with_role.render() == without.render()


@pytest.mark.parametrize("generation", ["current", "legacy"])
def test_apply_then_rollback_is_byte_identical(tmp_path, generation, capsys):
    root = fixtures.build_bridge(tmp_path / "root", generation=generation)
    before = snapshot(root)
    answers = tmp_path / "bridge.toml"
    answers.write_text(bridge_toml(PIN, extra="[firewall]\nmanage = true\n"))
    answers.chmod(0o600)
    pem = write_pem(tmp_path, MAIN_PEM)
    assert main(["--answers", str(answers), "--root", str(root), "--simulate",
                 "--main-certificate", str(pem), "--skip-checks"]) == 0
    changed = snapshot(root)
    assert changed != before
    assert changed["etc/jitsi/videobridge/jitsi-wizard-main.pem"][1] == MAIN_PEM.encode()
    assert main(["status", "--root", str(root)]) == 0
    assert f"this host is a bridge of {MAIN}" in capsys.readouterr().out
    assert main(["rollback", "--root", str(root), "--simulate"]) == 0
    assert snapshot(root) == before


def test_a_certificate_other_than_the_pinned_one_is_refused(tmp_path, capsys):
    root = fixtures.build_bridge(tmp_path / "root")
    answers = tmp_path / "bridge.toml"
    answers.write_text(bridge_toml("ab" * 32))
    answers.chmod(0o600)
    pem = write_pem(tmp_path, MAIN_PEM)
    before = snapshot(root, include_state=True)
    assert main(["--answers", str(answers), "--root", str(root), "--simulate",
                 "--main-certificate", str(pem), "--skip-checks"]) == 2
    assert "not the pinned" in capsys.readouterr().err
    assert snapshot(root, include_state=True) == before


@pytest.mark.parametrize("given", [None, MainCertificate(MAIN_PEM, "ab" * 32)])
def test_the_plan_trusts_only_the_pinned_certificate(tmp_path, given):
    """The main host's certificate is a fact handed to the planner, never an answer: without
    it, or with another one than the answers pin, nothing is planned."""
    root = fixtures.build_bridge(tmp_path / "root")
    with pytest.raises(UserError) as caught:
        build(loaded(bridge_toml(PIN)), read_facts(Root(root)), Root(root),
              main_certificate=given)
    assert caught.value.field == "bridge.main_certificate_sha256"
