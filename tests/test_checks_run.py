"""All checks together, and the `check` command: concurrent, bounded, explained."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from jitsiwizard.answers.model import Answers, AuthAnswers, HostAnswers, LdapAnswers
from jitsiwizard.answers.secrets import Secret
from jitsiwizard.checks import run_checks
from jitsiwizard.cli.checks import main, run_check_command
from jitsiwizard.errors import UserError
from tests.conftest import CANARY
from tests.lab.dns import Dnsmasq, SilentDns

pytestmark = pytest.mark.lab

HOST = "meet.example.test"
SELF_SIGNED = '[cert]\nmode = "self-signed"\n\n'


@pytest.fixture
def silent_ldap_port():
    """An LDAP server that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def silent_dns():
    with SilentDns() as server:
        yield server


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    server = Dnsmasq(tmp_path_factory.mktemp("dns"), "example.test",
                     {"meet": ("192.0.2.10", None)}).start()
    yield server
    server.stop()


def ldap_answers(port: int) -> Answers:
    ldap = LdapAnswers(urls=[f"ldap://127.0.0.1:{port}"], starttls=True,
                       bind_dn="cn=jitsi,dc=example,dc=org",
                       bind_password=Secret("env:JW_TEST_LDAP_PW", CANARY),
                       user_base="ou=people,dc=example,dc=org")
    return Answers(host=HostAnswers(hostname=HOST), auth=AuthAnswers(policy="ldap", ldap=ldap))


async def test_dead_dns_and_dead_ldap_take_one_timeout_not_their_sum(
        silent_dns, silent_ldap_port, tmp_path):
    timeout = 1.5
    started = time.monotonic()
    results = await run_checks(ldap_answers(silent_ldap_port), resolver=silent_dns.resolver,
                               timeout=timeout, host_addresses=["192.0.2.10"], root=_root(tmp_path))
    elapsed = time.monotonic() - started
    # Run one after the other these would take 2 x 1.5 s at least.
    assert elapsed < timeout + 0.9, elapsed
    found = {r.name: r for r in results}
    dns = found["dns.ipv4"]
    assert (dns.status, dns.data["reason"]) == ("fail", "resolver_failure")
    assert f"no answer from {silent_dns.resolver} within 1.5 s" in dns.summary and dns.fix
    ldap = found["ldap.tls"]
    assert (ldap.status, ldap.data["reason"]) == ("fail", "timeout")
    assert "within 1.5 s" in ldap.summary and ldap.fix
    assert {"ports.firewall", "ports.listen.443/tcp"} <= set(found)


async def test_ldap_is_checked_only_for_the_ldap_policy(zone, tmp_path):
    answers = Answers(host=HostAnswers(hostname=HOST))
    results = await run_checks(answers, resolver=zone.resolver, timeout=2,
                               host_addresses=["192.0.2.10"], root=_root(tmp_path))
    assert not [r for r in results if r.name.startswith("ldap.")]
    assert {r.name: r.status for r in results}["dns.ipv4"] == "ok"


def test_check_command_json_and_exit_code(zone, silent_ldap_port, tmp_path, capsys):
    args = argparse.Namespace(json=True, resolver=zone.resolver, timeout=1.0,
                              host_addresses=["192.0.2.10"], root=str(tmp_path))
    code = run_check_command(ldap_answers(silent_ldap_port), args)
    out = capsys.readouterr().out
    assert code == 1
    results = json.loads(out)
    assert all({"name", "status", "summary", "evidence", "fix"} <= set(r) for r in results)
    assert all(r["name"].split(".")[0] in ("dns", "ports", "ldap") for r in results)
    assert all(r["status"] in ("ok", "warn", "fail") for r in results)
    assert {r["name"]: r["status"] for r in results}["dns.ipv4"] == "ok"
    assert CANARY not in out


def test_check_command_reads_an_answers_file(zone, silent_ldap_port, tmp_path, capsys):
    answers = tmp_path / "answers.toml"
    answers.write_text(
        f'[host]\nhostname = "{HOST}"\n\n{SELF_SIGNED}[auth]\npolicy = "ldap"\n\n[auth.ldap]\n'
        f'url = "ldap://127.0.0.1:{silent_ldap_port}"\n'
        'bind_dn = "cn=jitsi,ou=services,dc=example,dc=org"\n'
        'bind_password = "env:JW_TEST_LDAP_PW"\n'
        'user_base = "ou=people,dc=example,dc=org"\n')
    code = main(["--root", str(tmp_path), "check", "--answers", str(answers), "--resolver",
                 zone.resolver, "--timeout", "1", "--host-address", "192.0.2.10"])
    out = capsys.readouterr().out
    assert code == 1
    assert "[  OK] dns.ipv4: meet.example.test points at this host" in out
    assert "[FAIL] ldap.tls: no answer from 127.0.0.1" in out and "fix: " in out
    assert CANARY not in out


def test_bad_input_is_a_user_error(tmp_path):
    args = argparse.Namespace(json=False, resolver="not-an-address", timeout=1.0,
                              host_addresses=["192.0.2.10"], root=str(tmp_path))
    with pytest.raises(UserError):
        run_check_command(Answers(host=HostAnswers(hostname=HOST)), args)
    args.resolver, args.host_addresses = None, ["not-an-ip"]
    with pytest.raises(UserError) as caught:
        run_check_command(Answers(host=HostAnswers(hostname=HOST)), args)
    assert caught.value.field == "--host-address"
    assert main(["check", "--answers", str(tmp_path / "missing.toml")]) == 2


def test_the_main_cli_offers_the_check_commands(zone, tmp_path):
    from jitsiwizard.cli.main import make_parser

    choices = make_parser()._subparsers._group_actions[0].choices
    assert {"check", "probe", "probe-listen"} <= set(choices)
    answers = tmp_path / "answers.toml"
    answers.write_text(f'[host]\nhostname = "{HOST}"\n\n{SELF_SIGNED}')
    done = subprocess.run(
        [sys.executable, "-m", "jitsiwizard", "check", "--answers", str(answers), "--json",
         "--resolver", zone.resolver, "--host-address", "192.0.2.10", "--timeout", "2",
         "--root", str(tmp_path)], capture_output=True, text=True, timeout=30,
        env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode in (0, 1), done.stderr
    assert {r["name"]: r["status"] for r in json.loads(done.stdout)}["dns.ipv4"] == "ok"


def test_importing_the_checks_loads_no_network_library():
    code = ("import sys, jitsiwizard.checks, jitsiwizard.cli.checks, jitsiwizard.plan.firewall;"
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('ldap3', 'dns')];"
            "sys.exit(1 if loaded else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0


def _root(tmp_path):
    from jitsiwizard.rootfs import Root

    return Root(tmp_path)
