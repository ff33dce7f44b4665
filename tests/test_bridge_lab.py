"""Two hosts: a main host and a videobridge host, each a network namespace, joined by a veth
pair. The main one runs a real Prosody with the wizard's fixture tree; `bridge add` makes the
account (its prosodyctl command run for real) and the firewall rule (ufw's argv, stood in for
by the same rule in nftables); the bridge tree is then configured from the answers file the
main host wrote, its certificate fetched over the link and checked against the pin.

The bridge's own Java process cannot run here: a real XMPP client (jitsiwizard/health/xmpp.py)
logs in with exactly the credentials and pin the wizard wrote into the bridge tree's jvb.conf
and joins the brewery MUC in its place.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import ssl

import pytest

from jitsiwizard import fixtures
from jitsiwizard.checks.xmpp import PinMismatch, probe
from jitsiwizard.cli.main import main
from jitsiwizard.formats.hocon import hocon_get, hocon_get_managed_block
from jitsiwizard.health import Endpoints
from jitsiwizard.host.bridges import SHARD_CONFIG
from jitsiwizard.rootfs import Root
from jitsiwizard.workflow.bridges import list_bridges, plan_add, plan_remove
from jitsiwizard.workflow.session import Session
from tests.lab import netns
from tests.lab.prosody import Prosody

from .conftest import HOST, snapshot

pytestmark = pytest.mark.lab


class Link(netns.NetnsPair):
    server_address = "169.254.78.1"  # the main host
    outside_address = "169.254.78.2"  # the bridge host, as `bridge add --address` names it
    prefix_len = 24


OTHER = "169.254.78.3"  # another address of the bridge host: not the one the rule allows


def shard(root) -> dict:
    text = (root / "etc/jitsi/videobridge/jvb.conf").read_text()
    block = hocon_get_managed_block(text)
    keys = ("HOSTNAME", "DOMAIN", "USERNAME", "PASSWORD", "MUC_JIDS", "MUC_NICKNAME")
    return {k: hocon_get(block, *SHARD_CONFIG, k) for k in keys}


def nft_for(link: Link, port: int, allowed: list[str]) -> None:
    """What `ufw allow from ADDR to any port 5222 proto tcp` leaves on an enabled ufw: that
    address in, every other one dropped, loopback always in as ufw's own rules let it (5222
    stands for the lab Prosody's port)."""
    accepts = "".join(f"    tcp dport {port} ip saddr {a} accept\n" for a in allowed)
    link.nft("flush ruleset\ntable inet jwfw {\n  chain input {\n    type filter hook input "
             f"priority 0; policy accept;\n    iif lo accept\n{accepts}"
             f"    tcp dport {port} drop\n  }}\n}}\n")


def run_prosodyctl(prosody: Prosody, plan) -> list:
    done = []
    for step in plan.steps:
        if step.kind == "command" and step.argv[0] == "prosodyctl":
            args = [str(a) for a in step.argv[1:]]
            result = prosody.prosodyctl(*args, stdin=step.stdin.value if step.stdin else None)
            assert result.returncode == 0, result.stdout + result.stderr
            done.append(args)
    return done


def reaches(address: str, port: int, source: str) -> bool:
    try:
        with socket.create_connection((address, port), timeout=1.0,
                                      source_address=(source, 0)):
            return True
    except OSError:
        return False


@pytest.fixture
def link():
    why = netns.available()
    if why:
        pytest.skip(why)
    with Link() as made:
        made.add_address(made.outside, OTHER)
        yield made


def test_bridge_joins_the_brewery_with_what_the_wizard_wrote(tmp_path, link, capsys):
    main_root = fixtures.build(tmp_path / "main")
    state = main_root / "var/lib/jitsi-wizard"
    state.mkdir(parents=True)
    (state / "answers.toml").write_text(f'[host]\nhostname = "{HOST}"\n[firewall]\n'
                                        "manage = true\n")
    prosody = Prosody(main_root, HOST, tmp_path / "prosody", netns=link.server,
                      interfaces=("127.0.0.1", link.server_address))
    # Prosody's own certificate for auth.HOST where the host keeps it: `bridge list` sends
    # its password only to a server that presents this one.
    prosody.write_config()
    certs = main_root / "etc/prosody/certs"
    certs.mkdir(parents=True, exist_ok=True)
    shutil.copy(prosody.certs_dir / f"{HOST}.crt", certs / f"auth.{HOST}.crt")
    before = snapshot(main_root)
    with prosody.start():
        accounts_before = sorted(p.name for p in prosody.data_dir.rglob("accounts/*.dat"))
        port = prosody.port
        ends = Endpoints(c2s_host="127.0.0.1", c2s_port=port, given=True)
        session = Session(Root(main_root), simulate=True, endpoints=ends)

        # On the main host: bridge add.
        run = netns.call_in(link.server, plan_add, session, "bridge2",
                            link.outside_address)
        assert session.apply_plan(run.plan, run.redact, on_event=lambda *a: None).status \
            == "applied"
        assert run_prosodyctl(prosody, run.plan) == [
            ["register", "bridge2", f"auth.{HOST}"],
            ["register", "jitsi-wizard-check", f"auth.{HOST}"]]
        ufw = [s.argv for s in run.plan.steps if s.kind == "command" and s.argv[0] == "ufw"]
        assert ufw == [["ufw", "allow", "from", link.outside_address, "to", "any", "port",
                        "5222", "proto", "tcp"]]
        nft_for(link, port, [link.outside_address])
        assert main(["status", "--root", str(main_root)]) == 0
        assert "bridges:     1 extra (bridge2)" in capsys.readouterr().out
        answers_file, secret_file = tmp_path / "home/bridge-bridge2.toml", None
        answers_file.parent.mkdir()
        for path in (run.answers_path, run.secret_path):
            assert oct((tmp_path / path).stat().st_mode & 0o777) == "0o600"
            shutil.copy(path, answers_file.parent)  # what the printed scp -p does
        secret_file = answers_file.parent / "bridge-bridge2.secret"
        assert any(c.startswith("scp -p ") for c in run.commands)
        answers_file.write_text(answers_file.read_text().replace(
            "file:/root/", f"file:{answers_file.parent}/"))

        # On the bridge host: preflight, plan and apply from that file, the certificate
        # fetched over the link and checked against the pin; after the (recorded) restart
        # the account logs in again.
        bridge_root = fixtures.build_bridge(tmp_path / "bridge")
        code = netns.call_in(link.outside, main, [
            "--answers", str(answers_file), "--root", str(bridge_root), "--simulate",
            "--xmpp", f"{link.server_address}:{port}", "--settle", "0"])
        out = capsys.readouterr()
        assert "ok  login bridge2@auth." in out.out, out
        assert "bridge list" in out.out
        assert code == 0, out
        assert secret_file.read_text().strip() not in out.out + out.err

        # Exactly what jvb.conf and the trust store's certificate say.
        values = shard(bridge_root)
        assert values["HOSTNAME"] == HOST and values["DOMAIN"] == f"auth.{HOST}"
        assert values["USERNAME"] == values["MUC_NICKNAME"] == "bridge2"
        assert values["PASSWORD"] == secret_file.read_text().rstrip("\n")
        assert values["MUC_JIDS"] == f"JvbBrewery@internal.auth.{HOST}"
        pem = (bridge_root / "etc/jitsi/videobridge/jitsi-wizard-main.pem").read_text()
        pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()

        seen_by_main = []

        def listed() -> None:
            seen_by_main.extend(netns.call_in(link.server, list_bridges, session))

        joined = netns.call_in(
            link.outside, probe, link.server_address, port, values["DOMAIN"], ca=None,
            timeout=5, pin=pin, username=values["USERNAME"], password=values["PASSWORD"],
            room=values["MUC_JIDS"], nick=values["MUC_NICKNAME"], while_joined=listed)
        assert (joined.login, joined.joined) == ("success", "joined")
        assert [(r["name"], r["address"], r["in_brewery"]) for r in seen_by_main] == [
            ("bridge2", link.outside_address, True)], seen_by_main
        after = netns.call_in(link.server, list_bridges, session)
        assert after[0]["in_brewery"] is False

        # A wrong pin is refused before any password is sent.
        with pytest.raises(PinMismatch):
            netns.call_in(link.outside, probe, link.server_address, port, values["DOMAIN"],
                          ca=None, timeout=5, pin="ab" * 32, username="bridge2",
                          password=values["PASSWORD"])
        # Only the address given to `bridge add` reaches the port.
        assert netns.call_in(link.outside, reaches, link.server_address, port,
                             link.outside_address)
        assert not netns.call_in(link.outside, reaches, link.server_address, port, OTHER)

        # bridge remove: the account is gone, the rule with it.
        gone = plan_remove(session, "bridge2")
        assert session.apply_plan(gone.plan, gone.redact, on_event=lambda *a: None).status \
            == "applied"
        # The last bridge: the checker account goes too, so Prosody's accounts are as
        # before the first `bridge add`.
        assert run_prosodyctl(prosody, gone.plan) == [
            ["unregister", "bridge2", f"auth.{HOST}"],
            ["unregister", "jitsi-wizard-check", f"auth.{HOST}"]]
        assert sorted(p.name for p in prosody.data_dir.rglob("accounts/*.dat")) \
            == accounts_before
        assert [s.argv[:3] for s in gone.plan.steps if s.kind == "command"
                and s.argv[0] == "ufw"] == [["ufw", "delete", "allow"]]
        nft_for(link, port, [])
        assert not netns.call_in(link.outside, reaches, link.server_address, port,
                                 link.outside_address)
        nft_for(link, port, [link.outside_address])  # the account, not the port, is tested
        refused = netns.call_in(link.outside, probe, link.server_address, port,
                                values["DOMAIN"], ca=None, timeout=5, pin=pin,
                                username="bridge2", password=values["PASSWORD"])
        assert refused.login == "not-authorized"

    # Both runs on the main host roll back to the tree as it was.
    assert main(["rollback", "--root", str(main_root), "--simulate"]) == 0
    assert main(["rollback", "--root", str(main_root), "--simulate"]) == 0
    assert snapshot(main_root) == before


def test_unreachable_main_host_fails_preflight_with_a_fix(tmp_path, link, capsys):
    from .bridge_support import bridge_toml

    answers = tmp_path / "b.toml"
    answers.write_text(bridge_toml("ab" * 32, password="literal-pw"))
    answers.chmod(0o600)
    bridge_root = fixtures.build_bridge(tmp_path / "bridge")
    before = snapshot(bridge_root, include_state=True)
    code = netns.call_in(link.outside, main, [
        "--answers", str(answers), "--root", str(bridge_root), "--simulate",
        "--xmpp", f"{link.server_address}:5222"])
    out = capsys.readouterr().out
    assert code == 1 and "[FAIL] bridge.tls: TLS on" in out and "fix:" in out
    assert snapshot(bridge_root, include_state=True) == before

