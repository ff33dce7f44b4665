"""The live LDAP check tests exactly what Prosody will run: for user filters with and without
`$user`, by uid, by another attribute through `$user` (an employee number), and Active
Directory's sAMAccountName, a login the check accepts works through a real Prosody carrying
the wizard's configuration, and one it rejects does not. Real slapd, real Prosody."""

from __future__ import annotations

import shutil

import pytest

from jitsiwizard.answers.model import LdapAnswers
from jitsiwizard.answers.secrets import Secret
from jitsiwizard.cli.main import main
from jitsiwizard.rootfs import Root
from jitsiwizard.workflow.live_checks import LiveChecks
from tests.lab.ca import CA
from tests.lab.prosody import Prosody
from tests.lab.slapd import Slapd

from .conftest import HOST, answers_toml
from .test_auth_real import attempt, lab_env

pytestmark = pytest.mark.lab

CA_TARGET = "/etc/ssl/jitsi-wizard-test/ldap-ca.pem"
BY_NUMBER = "(|(uid=$user)(employeeNumber=$user))"
ACTIVE = "(&(objectClass=inetOrgPerson)(!(employeeType=disabled)))"

# (user filter, username attribute, login name, whose password, expected outcome)
CASES = {
    "uid": ("(objectClass=inetOrgPerson)", "uid", "alice", "alice", True),
    "uid-not-by-number": ("(objectClass=inetOrgPerson)", "uid", "1042", "alice", False),
    "uid-filter-excludes": (ACTIVE, "uid", "dave", "dave", False),
    "user-in-filter-by-uid": (BY_NUMBER, "uid", "alice", "alice", True),
    "user-in-filter-by-number": (BY_NUMBER, "uid", "1042", "alice", True),
    "user-in-filter-unknown": (BY_NUMBER, "uid", "9999", "alice", False),
    "ad-samaccountname": ("(objectClass=user)", "sAMAccountName", "bobby", "bob", True),
    "ad-not-by-uid": ("(objectClass=user)", "sAMAccountName", "bob", "bob", False),
}


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return CA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def directory(tmp_path_factory, ca):
    server = Slapd(tmp_path_factory.mktemp("ldap"), ca=ca)
    server.users.clear()  # these users, with their attributes, instead of the default ones
    server.start()
    server.add_user("alice", "alice-pw", employeeNumber="1042")
    server.add_user("bob", "bob-pw", sam_account_name="bobby")
    server.add_user("carol", "carol-pw")
    server.add_user("dave", "dave-pw", employeeType="disabled")
    yield server
    server.stop()


def ldap_answers(directory: Slapd, user_filter: str, attribute: str) -> LdapAnswers:
    return LdapAnswers(urls=[directory.name_url], starttls=True, ca_file=CA_TARGET,
                       bind_dn=directory.service_dn,
                       bind_password=Secret("literal", directory.service_password),
                       user_base=directory.people_base, user_filter=user_filter,
                       username_attribute=attribute)


def configure(root, tmp_path, monkeypatch, directory: Slapd, ca: CA, user_filter: str,
              attribute: str) -> None:
    """The wizard sets the tree up for LDAP with this filter (commands simulated)."""
    (root / CA_TARGET.lstrip("/")).parent.mkdir(parents=True)
    shutil.copy(ca.cert, root / CA_TARGET.lstrip("/"))
    monkeypatch.setenv("JW_TEST_LDAP_PW", directory.service_password)
    text = answers_toml("ldap")
    text = text.replace('url = "ldap://ldap.example.org"',
                        f'url = "{directory.name_url}"\nstarttls = true\nca_file = "{CA_TARGET}"')
    text = text.replace("cn=jitsi,ou=services,dc=example,dc=org", directory.service_dn)
    text = text.replace("ou=people,dc=example,dc=org", directory.people_base)
    text += f"user_filter = '{user_filter}'\nusername_attribute = \"{attribute}\"\n"
    path = tmp_path / "answers.toml"
    path.write_text(text)
    path.chmod(0o600)
    assert main(["--answers", str(path), "--root", str(root), "--simulate",
                 "--skip-checks"]) == 0


@pytest.mark.parametrize("case", list(CASES))
def test_the_check_accepts_exactly_the_logins_prosody_accepts(case, make_root, tmp_path,
                                                              monkeypatch, directory, ca):
    user_filter, attribute, name, owner, expected = CASES[case]
    password = directory.users[owner]
    root = make_root()
    configure(root, tmp_path, monkeypatch, directory, ca, user_filter, attribute)

    ldap = ldap_answers(directory, user_filter, attribute)
    ldap.test_user, ldap.test_password = name, Secret("literal", password)
    results = LiveChecks(Root(root), timeout=5.0).ldap(ldap, HOST)
    failed = [r for r in results if r.status == "fail"]
    # A rejection must come from the test login itself, not from the connection or search.
    assert [r.name for r in failed] in ([], ["ldap.test_user"]), [r.render() for r in failed]
    check_accepts = not failed

    with Prosody(root, HOST, tmp_path / "prosody", env=lab_env(root)).start() as prosody:
        assert prosody.load_errors() == []
        logs_in = attempt(prosody, HOST, username=name, password=password) == "success"

    assert (check_accepts, logs_in) == (expected, expected)
