"""Bugs seen on hosts as the packages and the upstream guides leave them (issue 13), each on
the fixture tree of that host."""

from __future__ import annotations

import pyhocon
import pytest

from jitsiwizard.apply import list_runs
from jitsiwizard.cli.main import main
from jitsiwizard.formats.hocon import HOCON_BEGIN
from jitsiwizard.host.facts import read_facts
from jitsiwizard.rootfs import Root
from jitsiwizard.workflow.host_reader import read_host_facts

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


# --- 2. coturn serves the certificate nginx serves -------------------------------------------

TURN = "etc/turnserver.conf"


def turn_pair(root) -> tuple[str, str]:
    from jitsiwizard.formats.turnserver import turn_get

    text = (root / TURN).read_text()
    return turn_get(text, "cert"), turn_get(text, "pkey")


def own_cert(root) -> str:
    (root / "etc/ssl/own").mkdir(parents=True)
    for name in ("meet.crt", "meet.key"):
        (root / "etc/ssl/own" / name).write_text("x\n")
    return ('\n[cert]\nmode = "own"\ncert_file = "/etc/ssl/own/meet.crt"\n'
            'key_file = "/etc/ssl/own/meet.key"\n')


def test_own_certificate_reaches_coturn(make_root):
    from jitsiwizard.answers.load import loads
    from jitsiwizard.plan.meeting import build

    root = make_root()
    text = answers_toml("open", False).replace('[cert]\nmode = "self-signed"\n',
                                               own_cert(root)[1:])
    built = build(loads(text, "a.toml").answers, read_facts(Root(root)), Root(root))
    turn = [s for s in built.steps if getattr(s, "path", None) == "/etc/turnserver.conf"]
    assert len(turn) == 1 and "\ncert=/etc/ssl/own/meet.crt\n" in turn[0].content
    assert "\npkey=/etc/ssl/own/meet.key\n" in turn[0].content
    assert any(getattr(s, "name", None) == "coturn" and s.action == "restart"
               for s in built.steps)


def test_certbot_route_gives_coturn_copies_and_the_hook_refreshes_them(make_root):
    from jitsiwizard.answers.load import loads as load_text
    from jitsiwizard.plan.certs import DEPLOY_HOOK
    from jitsiwizard.plan.meeting import build

    root = make_root()
    text = answers_toml("open", False, cert="certbot").replace(
        '[host]\n', '[host]\nemail = "admin@example.org"\n').replace(
        'mode = "certbot"\n', 'mode = "certbot"\nagree_tos = true\n')
    built = build(load_text(text, "a.toml").answers, read_facts(Root(root)), Root(root))
    copies = [s for s in built.steps if getattr(s, "argv", [""])[0] == "install"]
    assert [str(s.argv[-1]) for s in copies] == [
        f"/etc/coturn/certs/{HOST}.fullchain.pem", f"/etc/coturn/certs/{HOST}.privkey.pem"]
    turn = next(s for s in built.steps if getattr(s, "path", None) == "/etc/turnserver.conf")
    assert f"cert=/etc/coturn/certs/{HOST}.fullchain.pem\n" in turn.content
    hook = next(s for s in built.steps if getattr(s, "path", None) == DEPLOY_HOOK)
    assert f"/etc/coturn/certs/{HOST}.privkey.pem" in hook.content
    assert "systemctl restart coturn" in hook.content
    names = [getattr(s, "name", None) for s in built.steps]
    assert names.count("coturn") == 1


def test_firewall_opens_the_turn_ports_coturn_listens_on(make_root):
    from jitsiwizard.plan.firewall import turn_rules

    root = make_root()
    assert [r[:2] for r in turn_rules(read_facts(Root(root)), Root(root))] == [
        (3478, "udp"), (5349, "tcp")]


# --- 5. --simulate on a bare host says the configuration was not planned -------------------

def test_simulated_install_says_not_configured_and_exits_5(tmp_path, capsys):
    from jitsiwizard import fixtures
    from jitsiwizard.errors import EXIT_NOT_PLANNED

    root = fixtures.build_empty(tmp_path / "bare")
    answers = tmp_path / "a.toml"
    answers.write_text(answers_toml("local", True, users=USERS))
    answers.chmod(0o600)
    code = main(["--answers", str(answers), "--root", str(root), "--simulate",
                 "--skip-checks"])
    out = capsys.readouterr().out
    assert code == EXIT_NOT_PLANNED == 5
    assert "NOT CONFIGURED: the install was only simulated" in out
    assert "\napplied: run" not in out
    runs = list_runs(Root(root))
    assert runs and runs[-1].status == "applied"  # the install steps did run (simulated)


def test_exit_code_5_is_documented(capsys):
    assert main(["--help"]) == 0
    assert "5 only the install ran" in capsys.readouterr().out


# --- 3. NAT on a 2020-era bridge (no jvb.conf) -----------------------------------------------

JVB_PROPS = "etc/jitsi/videobridge/sip-communicator.properties"
NAT = 'public_address = "8.8.4.7"\nlocal_address = "10.0.0.5"\n'


def run_nat(root, tmp_path, nat: bool) -> int:
    answers = tmp_path / "nat.toml"
    text = answers_toml("open", False)
    if nat:
        text = text.replace(f'hostname = "{HOST}"\n', f'hostname = "{HOST}"\n{NAT}')
    answers.write_text(text)
    answers.chmod(0o600)
    return main(["--answers", str(answers), "--root", str(root), "--simulate",
                 "--skip-checks"])


def test_legacy_bridge_gets_the_nat_mapping_in_its_properties(make_root, tmp_path, capsys):
    from jitsiwizard.formats.properties import properties_get

    root = make_root("legacy")
    fresh = snapshot(root)
    assert run_nat(root, tmp_path, True) == 0
    assert "by hand" not in capsys.readouterr().out
    props = (root / JVB_PROPS).read_text()
    assert properties_get(props, "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS") == \
        "10.0.0.5"
    assert properties_get(props, "org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS") == \
        "8.8.4.7"
    with_nat = snapshot(root)
    assert run_nat(root, tmp_path, True) == 0  # a rerun changes nothing
    assert snapshot(root) == with_nat
    assert run_nat(root, tmp_path, False) == 0  # the wizard's mapping goes again
    assert (root / JVB_PROPS).read_bytes() == fresh[JVB_PROPS][1]
    assert main(["rollback", "--root", str(root), "--simulate"]) == 0
    assert snapshot(root) == with_nat
    assert main(["rollback", "--root", str(root), "--simulate"]) == 0
    assert snapshot(root) == fresh


def test_a_hand_made_legacy_nat_mapping_is_left_alone(make_root, tmp_path):
    root = make_root("legacy")
    props = root / JVB_PROPS
    props.write_text(props.read_text()
                     + "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS=10.1.1.1\n"
                     + "org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS=203.0.113.9\n")
    before = snapshot(root)
    assert run_nat(root, tmp_path, False) == 0
    assert snapshot(root) == before


# --- 6. the guest host gets TURN credentials where the main host has them ------------------

@pytest.mark.parametrize("generation, module", [("current", "external_services"),
                                                ("legacy", "turncredentials")])
def test_guest_host_gets_the_main_hosts_turn_module(make_root, tmp_path, generation, module):
    from jitsiwizard.formats import lua

    root = make_root(generation)
    assert run(root, tmp_path, "local", True) == 0
    guests = (root / "etc/prosody/conf.avail/jitsi-wizard-guests.cfg.lua").read_text()
    modules = lua.prosody_get(guests, f"guest.{HOST}", "modules_enabled")
    assert modules is not None and f'"{module}"' in modules


def test_the_system_is_named_as_it_names_itself_and_only_in_printable_text(make_root):
    base = make_root()
    assert read_facts(Root(base)).os_name == "Debian GNU/Linux 12 (bookworm)"
    release = base / "etc/os-release"
    release.write_text(release.read_text().replace(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
        'PRETTY_NAME="Debian\x1b[2J\x07 12' + "x" * 200 + '"'))
    name = read_facts(Root(base)).os_name
    assert name.startswith("Debian[2J 12x") and len(name) == 80


def test_prosody_13_without_room_owners_is_reported(make_root):
    """Prosody 13 makes jicofo a room owner only with component_admins_as_room_owners; the
    current packages write it, a 2020 tree upgraded to Prosody 13 alone has none."""
    prosody_13 = {"prosody": "13.0.1-1"}
    current = read_facts(Root(make_root(extra_packages=prosody_13)))
    assert not any("component_admins_as_room_owners" in w for w in current.warnings)
    legacy = read_facts(Root(make_root("legacy", extra_packages=prosody_13)))
    (warning,) = [w for w in legacy.warnings if "component_admins_as_room_owners" in w]
    assert "meetings cannot start" in warning and legacy.prosody_host_file in warning
    on_0_12 = read_facts(Root(make_root("legacy")))
    assert not any("component_admins_as_room_owners" in w for w in on_0_12.warnings)


def test_ldap_then_open_restores_the_module_the_package_wrote(make_root, tmp_path):
    """A current host whose Jitsi plugin directory is not where the wizard looks (here:
    removed): after a switch to LDAP, going back to open writes the "jitsi-anonymous" its
    package wrote, as the first run's backup of the host file holds it, not "anonymous"."""
    root = make_root()
    (root / "usr/share/jitsi-meet/prosody-plugins/mod_auth_jitsi-anonymous.lua").unlink()
    host_file = root / f"etc/prosody/conf.avail/{HOST}.cfg.lua"
    assert 'authentication = "jitsi-anonymous"' in host_file.read_text()
    for policy in ("ldap", "open"):
        path = tmp_path / f"{policy}.toml"
        path.write_text(answers_toml(policy))
        path.chmod(0o600)
        assert main(["--answers", str(path), "--root", str(root), "--simulate",
                     "--skip-checks"]) == 0
    assert 'authentication = "jitsi-anonymous"' in host_file.read_text()
    assert read_host_facts(Root(root)).anonymous_module == "jitsi-anonymous"
    # The host's files alone do not say it: the first run's backup does.
    assert read_facts(Root(root)).anonymous_module == "anonymous"
