"""Bugs seen on hosts as the packages and the upstream guides leave them (issue 13), each on
the fixture tree of that host."""

from __future__ import annotations

import pyhocon
import pytest

from jitsiwizard.apply import list_runs
from jitsiwizard.cli import main
from jitsiwizard.formats.hocon import HOCON_BEGIN
from jitsiwizard.host import read_facts
from jitsiwizard.rootfs import Root

from .conftest import HOST, POLICIES, answers_toml, snapshot

USERS = '[[auth.users]]\nname = "alice"\npassword = "env:JW_TEST_LDAP_PW"\n'
JICOFO = "etc/jitsi/jicofo/jicofo.conf"
HOST_CFG = f"etc/prosody/conf.avail/{HOST}.cfg.lua"


def run(root, tmp_path, policy, guests, *extra, answers_extra: str = "") -> int:
    answers = tmp_path / f"answers-{policy}-{guests}.toml"
    answers.write_text(answers_toml(policy, guests, users=USERS, extra=answers_extra))
    answers.chmod(0o600)
    return main(["--answers", str(answers), "--root", str(root), "--simulate",
                 "--skip-checks", *extra])


def jicofo_auth(root) -> dict:
    """jicofo's authentication as a real HOCON parser reads the whole file."""
    conf = pyhocon.ConfigFactory.parse_string((root / JICOFO).read_text())
    return dict(conf.get("jicofo.authentication", {}))


# --- 1. a host secured by hand per the secure-domain guide --------------------------------

def test_hand_secured_host_reads_as_local_with_guests(make_root, capsys):
    root = make_root(handmade="secure-domain")
    facts = read_facts(Root(root))
    assert (facts.policy, facts.guests, facts.guest_host) == ("local", True, "guest.meet.jitsi")
    assert facts.jicofo_requires_login and facts.warnings == []
    assert main(["status", "--root", str(root)]) == 0
    assert "warning" not in capsys.readouterr().out


@pytest.mark.parametrize("policy, guests", POLICIES)
def test_hand_secured_host_gets_what_the_policy_needs(make_root, tmp_path, policy, guests):
    root = make_root(handmade="secure-domain")
    before = snapshot(root)
    assert run(root, tmp_path, policy, guests) == 0
    auth = jicofo_auth(root)
    if policy == "open":
        assert auth.get("enabled") is False
    else:
        assert auth == {"enabled": True, "type": "XMPP", "login-url": HOST}
        # the admin's block already says so: no second block of ours
        assert HOCON_BEGIN not in (root / JICOFO).read_text()
    facts = read_facts(Root(root))
    assert (facts.policy, facts.guests) == (policy, guests)
    assert facts.jicofo_requires_login == (policy != "open")
    assert not [w for w in facts.warnings if "jicofo" in w]
    # one guest host at most: the admin's guest.meet.jitsi is replaced by the wizard's
    host_cfg = (root / HOST_CFG).read_text()
    assert "guest.meet.jitsi" not in host_cfg
    assert "guest.meet.jitsi" not in (root / f"etc/jitsi/meet/{HOST}-config.js").read_text()
    if len(list_runs(Root(root))):
        assert main(["rollback", "--root", str(root), "--simulate"]) == 0
    assert snapshot(root) == before


def test_open_then_local_again_on_hand_secured_host(make_root, tmp_path):
    root = make_root(handmade="secure-domain")
    original = (root / JICOFO).read_text()
    assert run(root, tmp_path, "open", False) == 0
    assert run(root, tmp_path, "local", True) == 0
    assert (root / JICOFO).read_text() == original  # our override is gone, nothing added


def test_status_warns_when_jicofo_contradicts_the_policy(make_root, capsys):
    root = make_root()  # open, as installed
    jicofo = root / JICOFO
    text = jicofo.read_text()
    end = text.rindex("}")
    jicofo.write_text(text[:end] + "  authentication { enabled = true, type = XMPP, "
                      f"login-url = {HOST} }}\n" + text[end:])
    assert main(["status", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "jicofo auth: on" in out
    assert "warning: the policy is open" in out and "jicofo still requires login" in out


# --- 4. a 2020 host moving to LDAP ----------------------------------------------------------

def test_legacy_host_to_ldap_installs_each_package_once(make_root, tmp_path, capsys):
    root = make_root("legacy")
    answers = tmp_path / "ldap.toml"
    answers.write_text(answers_toml("ldap", False))
    answers.chmod(0o600)
    assert main(["plan", "--json", "--answers", str(answers), "--root", str(root)]) == 0
    import json

    steps = json.loads(capsys.readouterr().out)["steps"]
    installed = [word for s in steps if s.get("argv", [])[:1] == ["apt-get"]
                 and "install" in s["argv"] for word in s["argv"][s["argv"].index("-y") + 1:]]
    assert "lua-ldap" in installed and "prosody" in installed
    assert len(installed) == len(set(installed)), installed
