"""The checks around the restarts, against real servers on loopback: the wizard's files run
by a real Prosody 0.12, a real slapd, a real nginx; jicofo and the bridge are HTTP stand-ins
(tests/lab/jitsi_standins.py)."""

from __future__ import annotations

import pytest

from jitsiwizard.answers.load import load_file
from jitsiwizard.answers.secrets import Secret
from jitsiwizard.apply.runner import Runner
from jitsiwizard.cli.main import main
from jitsiwizard.health import Endpoints, Expectation, expectation_for_run, verify
from jitsiwizard.host.facts import read_facts
from jitsiwizard.plan.meeting import build
from jitsiwizard.rootfs import Root
from tests.lab.ca import CA
from tests.lab.jitsi_standins import StandIn
from tests.lab.nginx import Nginx
from tests.lab.proc import free_port
from tests.lab.prosody import Prosody
from tests.lab.slapd import Slapd
from tests.test_auth_real import configure, lab_env, run_user_commands

from .conftest import CANARY, HOST, snapshot

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CA(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def slapd(tmp_path, ca):
    server = Slapd(tmp_path / "ldap", ca=ca).start()
    server.set_service_password(CANARY)  # what answers_toml's bind password resolves to
    yield server
    server.stop()


def _by_name(report) -> dict:
    return {f.name: f for f in report.findings}


def _endpoints(prosody: Prosody, standin: StandIn, **kw) -> Endpoints:
    return Endpoints(c2s_port=prosody.port, xmpp_ca=str(prosody.ca.cert),
                     jicofo_url=standin.url, bridge_url=standin.url, given=True, settle=0,
                     **kw)


CASES = [("open", False), ("local", False), ("local", True), ("ldap", False), ("ldap", True)]


@pytest.mark.parametrize("policy, guests", CASES,
                         ids=[f"{p}{'+guests' if g else ''}" for p, g in CASES])
def test_each_policy_verifies(make_root, tmp_path, monkeypatch, slapd, ca, policy, guests):
    root = make_root()
    path = configure(root, tmp_path, monkeypatch, slapd, ca, policy, guests)
    run_user_commands(Prosody(root, HOST, tmp_path / "prosody", ca=ca, env=lab_env(root)),
                      root, path)
    answers = load_file(str(path)).answers
    if policy == "ldap":
        answers.auth.ldap.test_user = "alice"
        answers.auth.ldap.test_password = Secret("literal", slapd.users["alice"])
    plan = build(answers, read_facts(Root(root)), Root(root))
    expect = expectation_for_run(answers, plan)
    with Prosody(root, HOST, tmp_path / "prosody", ca=ca, env=lab_env(root)) as prosody, \
            StandIn() as standin:
        report = verify(expect, _endpoints(prosody, standin), Root(root),
                        Runner(Root(root), simulate=True))
    found = _by_name(report)
    assert report.ok, report.render()
    sasl = found[f"{HOST} SASL"].evidence
    assert ("ANONYMOUS" in sasl.split(";")[0]) == (policy == "open"), sasl
    guest = found[f"guest.{HOST}"].evidence
    assert ("does not exist" in guest) == (not guests), guest
    if policy == "local":
        assert found[f"login alice@{HOST}"].ok is True
    if policy == "ldap":
        assert found[f"login alice@{HOST}"].ok is True
        assert found[f"login *@{HOST}"].ok is True
        assert "must be refused: not-authorized" in found[f"login *@{HOST}"].evidence
    assert found["jicofo health"].ok and found["bridge health"].ok


def test_wrong_policy_and_sick_services_fail(make_root, tmp_path, monkeypatch, slapd, ca):
    """The same checks fail when the host is not what the expectation says."""
    root = make_root()
    configure(root, tmp_path, monkeypatch, slapd, ca, "open", False)
    expect = Expectation(HOST, "local", True)
    with Prosody(root, HOST, tmp_path / "prosody", ca=ca) as prosody, \
            StandIn(health=503) as standin:
        report = verify(expect, _endpoints(prosody, standin), Root(root),
                        Runner(Root(root), simulate=True))
    found = _by_name(report)
    assert not report.ok
    assert found[f"{HOST} SASL"].ok is False
    assert "offers ANONYMOUS" in found[f"{HOST} SASL"].evidence
    assert found[f"guest.{HOST}"].ok is False
    assert "does not exist (host-unknown)" in found[f"guest.{HOST}"].evidence
    assert found["jicofo health"].ok is False and "HTTP 503" in found["jicofo health"].evidence


def test_broken_include_is_caught_before_any_restart(make_root, tmp_path, monkeypatch, slapd,
                                                     ca, capsys):
    root = make_root()
    configure(root, tmp_path, monkeypatch, slapd, ca, "open", False)
    broken = root / "etc/prosody/conf.d/hand-kept.cfg.lua"
    broken.write_text('VirtualHost "extra.example.org"\n    authentication = "anonymous" x =\n')
    prosody = Prosody(root, HOST, tmp_path / "prosody", ca=ca)
    config = prosody.write_config()
    answers = tmp_path / "local.toml"
    answers.write_text(f'[host]\nhostname = "{HOST}"\n\n[cert]\nmode = "self-signed"\n\n'
                       '[auth]\npolicy = "local"\nguests = true\n')
    answers.chmod(0o600)
    before = snapshot(root)
    with StandIn() as standin:
        code = main(["--answers", str(answers), "--root", str(root), "--simulate",
                     "--skip-checks", "--prosody-config", str(config), "--jicofo-url",
                     standin.url, "--settle", "0"])
    out, err = capsys.readouterr()
    assert code == 3
    assert "FAILED before any restart" in err
    assert "prosodyctl check config refuses the new files" in err
    assert "hand-kept.cfg.lua:3: unexpected symbol" in err, err
    steps = [line for line in out.splitlines() if line.startswith("[step]")]
    assert steps and not [line for line in steps if "restart" in line], steps
    assert snapshot(root) == before


def test_slapd_stopped_fails_verification_and_rolls_back(make_root, tmp_path, monkeypatch,
                                                         slapd, ca, capsys):
    root = make_root()
    path = configure(root, tmp_path, monkeypatch, slapd, ca, "ldap", False)
    monkeypatch.setenv("JW_ALICE_LDAP", slapd.users["alice"])
    text = path.read_text().replace("guests = false", "guests = true")
    again = tmp_path / "again.toml"
    again.write_text(text + 'test_user = "alice"\ntest_password = "env:JW_ALICE_LDAP"\n')
    again.chmod(0o600)
    with Prosody(root, HOST, tmp_path / "prosody", ca=ca, env=lab_env(root)) as prosody, \
            StandIn() as standin:
        slapd.stop()  # after the checks a replay would run, before the apply
        before = snapshot(root)
        code = main(["--answers", str(again), "--root", str(root), "--simulate",
                     "--skip-checks", "--xmpp", f"127.0.0.1:{prosody.port}", "--xmpp-ca",
                     str(prosody.ca.cert), "--jicofo-url", standin.url, "--bridge-url",
                     standin.url, "--settle", "0"])
    out, err = capsys.readouterr()
    assert code == 3
    assert "FAILED after the restarts: verification failed" in err
    assert f"login alice@{HOST}: the LDAP test user (auth.ldap.test_user): " in err
    assert "every change of this run was rolled back" in err
    assert snapshot(root) == before


def test_wrong_certificate_served(make_root, tmp_path, ca):
    root = make_root()
    # Two certificates for the same name (issue() names its files after its first argument).
    served, other = ca.issue(HOST, [HOST]), ca.issue(f"www.{HOST}", [HOST])
    target = root / "etc/ssl/expected.crt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(other.chain.read_bytes())
    port = free_port()
    nginx = Nginx(tmp_path / "nginx")
    nginx.write(f"server {{ listen 127.0.0.1:{port} ssl; server_name {HOST}; "
                f"ssl_certificate {served.chain}; ssl_certificate_key {served.key}; "
                "return 200; }")
    expect = Expectation(HOST, "open", False, cert_file="/etc/ssl/expected.crt")
    ends = Endpoints(https_port=port, given=True, settle=0)
    from jitsiwizard.health.report import _certificate

    nginx.start(port)
    try:
        wrong = _certificate(expect, ends, Root(root))
        target.write_bytes(served.chain.read_bytes())
        right = _certificate(expect, ends, Root(root))
    finally:
        nginx.stop()
    assert wrong.ok is False
    assert "not /etc/ssl/expected.crt" in wrong.evidence
    assert right.ok is True and "valid until" in right.evidence
