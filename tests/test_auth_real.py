"""Issue 7 acceptance: the Prosody configuration the wizard writes, loaded by a real Prosody
0.12, with real XMPP logins against local users and a real slapd.

The wizard configures a fixture tree (commands simulated); tests/lab/prosody.py then runs
that tree, adjusting only ports, paths and certificates (see its docstring). The wizard's own
prosodyctl user commands are run for real against the test configuration, with the password
on standard input exactly as the plan gives it.
"""

from __future__ import annotations

import re
import shutil

import pytest

from jitsiwizard.answers.load import load_file
from jitsiwizard.cli.main import main
from jitsiwizard.host.facts import read_facts
from jitsiwizard.plan.meeting import build
from jitsiwizard.plan.steps import Command
from jitsiwizard.rootfs import Root
from tests.lab.ca import CA
from tests.lab.prosody import Prosody
from tests.lab.slapd import Slapd
from tests.lab.xmpp import StreamError, login

from .conftest import CANARY, HOST, answers_toml, snapshot

pytestmark = pytest.mark.lab

ALICE_LOCAL_PW = "local pw with spaces & ünïcode"
TRICKY_NAMES = ["*", "a*", "*)(uid=alice"]


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def slapd(tmp_path_factory, ca):
    server = Slapd(tmp_path_factory.mktemp("ldap"), ca=ca).start()
    # The service password proves the Lua escaping: quotes, backslashes, a backslash before n,
    # ]], -- and non-ASCII letters.
    server.set_service_password(CANARY)
    yield server
    server.stop()


LDAP_CA = "/etc/ssl/jitsi-wizard-test/ldap-ca.pem"


def place_ldap_ca(root, ca) -> None:
    """The directory's CA, placed on the "host" where the answers say."""
    (root / LDAP_CA.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ca.cert, root / LDAP_CA.lstrip("/"))


def configure(root, tmp_path, monkeypatch, slapd, ca, policy, guests, *, place_ca=True):
    """Run the wizard on a fixture tree; return the answers file it used."""
    monkeypatch.setenv("JW_ALICE_PW", ALICE_LOCAL_PW)
    users = '[[auth.users]]\nname = "alice"\npassword = "env:JW_ALICE_PW"\n'
    text = answers_toml(policy, guests, users=users)
    if policy == "ldap":
        if place_ca:
            place_ldap_ca(root, ca)
        ca_target = LDAP_CA
        text = text.replace('url = "ldap://ldap.example.org"',
                            f'url = "{slapd.name_url}"\nstarttls = true\n'
                            f'ca_file = "{ca_target}"')
        text = text.replace("cn=jitsi,ou=services,dc=example,dc=org", slapd.service_dn)
        text = text.replace("ou=people,dc=example,dc=org", slapd.people_base)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "answers.toml"
    path.write_text(text)
    path.chmod(0o600)
    assert main(["--answers", str(path), "--root", str(root), "--simulate",
                 "--skip-checks"]) == 0
    return path


def lab_env(root) -> dict:
    """What systemd would give Prosody from the wizard's drop-in (path mapped under root)."""
    dropin = root / "etc/systemd/system/prosody.service.d/jitsi-wizard-ldap-ca.conf"
    if not dropin.exists():
        return {}
    m = re.search(r'^Environment="LDAPTLS_CACERT=(.+)"$', dropin.read_text(), re.MULTILINE)
    return {"LDAPTLS_CACERT": str(root / m.group(1).lstrip("/"))}


def run_user_commands(prosody: Prosody, root, answers_path) -> None:
    """The plan's prosodyctl steps, run for real against the test configuration."""
    facts = read_facts(Root(root))
    plan = build(load_file(str(answers_path)).answers, facts, Root(root))
    for step in plan.steps:
        if isinstance(step, Command) and step.argv[0] == "prosodyctl":
            args = [str(a) for a in step.argv[1:]]
            result = prosody.prosodyctl(*args, stdin=step.stdin.value if step.stdin else None)
            assert result.returncode == 0, result.stdout + result.stderr


def attempt(prosody: Prosody, domain: str, **kw) -> str:
    try:
        return login(prosody.port, domain, ca=str(prosody.ca.cert), timeout=5, **kw).outcome
    except (StreamError, ConnectionError) as exc:  # the domain is not served at all
        return f"refused-stream:{exc}"


POLICY_CASES = [("open", False), ("local", False), ("local", True), ("ldap", False),
                ("ldap", True)]


@pytest.mark.parametrize("generation", ["current", "legacy"])
@pytest.mark.parametrize("policy, guests", POLICY_CASES,
                         ids=[f"{p}{'+guests' if g else ''}" for p, g in POLICY_CASES])
def test_policy_logins(make_root, tmp_path, monkeypatch, slapd, ca, generation, policy,
                       guests):
    root = make_root(generation)
    answers = configure(root, tmp_path, monkeypatch, slapd, ca, policy, guests)
    prosody = Prosody(root, HOST, tmp_path / "prosody", env=lab_env(root))
    ok, output = prosody.check_config()
    assert ok, output
    run_user_commands(prosody, root, answers)
    with prosody.start():
        assert_logins(prosody, slapd, policy, guests)


def assert_logins(prosody: Prosody, slapd, policy: str, guests: bool) -> None:
    """What each policy lets in, and what it must refuse, on the running Prosody."""
    assert prosody.load_errors() == []
    main_anonymous = attempt(prosody, HOST)
    guest_anonymous = attempt(prosody, f"guest.{HOST}")
    if policy == "open":
        assert main_anonymous == "success"
    else:
        assert main_anonymous != "success"
    assert (guest_anonymous == "success") == guests

    if policy == "local":
        assert attempt(prosody, HOST, username="alice",
                       password=ALICE_LOCAL_PW) == "success"
        assert attempt(prosody, HOST, username="alice",
                       password=ALICE_LOCAL_PW + "x") == "not-authorized"
    if policy == "ldap":
        alice_pw = slapd.users["alice"]
        assert attempt(prosody, HOST, username="alice", password=alice_pw) == "success"
        assert attempt(prosody, HOST, username="alice",
                       password="wrong") == "not-authorized"
        for name in TRICKY_NAMES:
            assert attempt(prosody, HOST, username=name,
                           password=alice_pw) != "success", name


CYCLE = [("open", False), ("local", True), ("ldap", False), ("open", False)]


def test_open_local_ldap_open_with_logins_then_each_run_rolled_back(make_root, tmp_path,
                                                                      monkeypatch, slapd, ca):
    """On this release's own Prosody: one host switched open -> local with guests -> LDAP
    -> open, each with real logins; then each run rolled back, last first, byte for byte.
    (The package leaves the host open, so the first run only proves it changes nothing.)"""
    root = make_root()
    place_ldap_ca(root, ca)
    prosody = Prosody(root, HOST, tmp_path / "prosody")
    before = []
    for step, (policy, guests) in enumerate(CYCLE):
        state = snapshot(root)
        answers = configure(root, tmp_path / f"run{step}", monkeypatch, slapd, ca, policy,
                            guests, place_ca=False)
        if step == 0:
            assert snapshot(root) == state
        else:
            before.append(state)
        prosody.env = lab_env(root)
        ok, output = prosody.check_config()
        assert ok, output
        run_user_commands(prosody, root, answers)
        with prosody.start():
            assert_logins(prosody, slapd, policy, guests)
    assert len(before) == 3
    for state in reversed(before):
        assert main(["rollback", "--root", str(root), "--simulate"]) == 0
        assert snapshot(root) == state


def test_ldap_without_the_ca_refuses_instead_of_trusting_blindly(make_root, tmp_path,
                                                                 monkeypatch, slapd, ca):
    """Without the drop-in's CA, libldap cannot verify the directory: logins fail, they are
    never sent over an unverified connection."""
    root = make_root()
    configure(root, tmp_path, monkeypatch, slapd, ca, "ldap", False)
    with Prosody(root, HOST, tmp_path / "prosody", env={"LDAPTLS_CACERT": "/nonexistent"}
                 ).start() as prosody:
        assert attempt(prosody, HOST, username="alice",
                       password=slapd.users["alice"]) != "success"


def test_converted_ldap2_host_refuses_wildcard_names(make_root, tmp_path, monkeypatch, slapd,
                                                     ca):
    root = make_root("legacy", handmade="ldap2")
    configure(root, tmp_path, monkeypatch, slapd, ca, "ldap", True)
    assert read_facts(Root(root)).ldap.backend == "ldap"
    with Prosody(root, HOST, tmp_path / "prosody", env=lab_env(root)).start() as prosody:
        assert prosody.load_errors() == []
        assert attempt(prosody, HOST, username="alice",
                       password=slapd.users["alice"]) == "success"
        for name in TRICKY_NAMES:
            assert attempt(prosody, HOST, username=name,
                           password=slapd.users["alice"]) != "success", name
        assert attempt(prosody, f"guest.{HOST}") == "success"
