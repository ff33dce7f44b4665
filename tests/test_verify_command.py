"""`jitsi-wizard verify`: the checks on demand, against real servers on loopback (the tree's
Prosody configuration run by a real Prosody, a real nginx serving the tree's certificate, and
HTTP stand-ins for jicofo and the bridge); exit 0 when healthy, 1 when not, and `status`
shows the last verification."""

from __future__ import annotations

import json
import shutil

import pytest

from jitsiwizard.cli.main import main
from tests.lab.ca import CA
from tests.lab.jitsi_standins import StandIn
from tests.lab.nginx import Nginx
from tests.lab.proc import free_port
from tests.lab.prosody import Prosody
from tests.test_auth_real import run_user_commands

from .conftest import HOST, answers_toml

pytestmark = pytest.mark.lab

USERS = '[[auth.users]]\nname = "alice"\npassword = "env:JW_VERIFY_PW"\n'


@pytest.fixture
def host(make_root, tmp_path, monkeypatch):
    """A tree the wizard set up for local users, with a real certificate where nginx's site
    points, served by a real nginx."""
    root = make_root()
    monkeypatch.setenv("JW_VERIFY_PW", "verify-pw-2468")
    answers = tmp_path / "answers.toml"
    answers.write_text(answers_toml("local", False, users=USERS))
    answers.chmod(0o600)
    assert main(["--answers", str(answers), "--root", str(root), "--simulate",
                 "--skip-checks"]) == 0
    ca = CA(tmp_path / "ca")
    issued = ca.issue(HOST, [HOST])
    for source, target in ((issued.chain, f"etc/jitsi/meet/{HOST}.crt"),
                           (issued.key, f"etc/jitsi/meet/{HOST}.key")):
        shutil.copy(source, root / target)
    port = free_port()
    nginx = Nginx(tmp_path / "nginx")
    nginx.write(f"server {{ listen 127.0.0.1:{port} ssl; server_name {HOST}; "
                f"ssl_certificate {issued.chain}; ssl_certificate_key {issued.key}; "
                "return 200; }")
    nginx.start(port)
    prosody = Prosody(root, HOST, tmp_path / "prosody", ca=ca)
    run_user_commands(prosody, root, answers)
    try:
        with prosody:
            yield root, prosody, port
    finally:
        nginx.stop()


def verify(root, prosody, https_port, standin, capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["verify", "--json", "--root", str(root), "--simulate",
                 "--xmpp", f"127.0.0.1:{prosody.port}", "--xmpp-ca", str(prosody.ca.cert),
                 "--jicofo-url", standin.url, "--bridge-url", standin.url,
                 "--https", f"127.0.0.1:{https_port}", "--settle", "0"])
    return code, json.loads(capsys.readouterr().out)


def test_verify_reports_a_healthy_host_and_status_shows_it(host, capsys):
    root, prosody, https_port = host
    with StandIn() as standin:
        code, report = verify(root, prosody, https_port, standin, capsys)
    failed = [f for f in report["findings"] if f["ok"] is False]
    assert (code, report["ok"], failed) == (0, True, [])
    names = {f["name"] for f in report["findings"]}
    assert {f"{HOST} SASL", "jicofo health"} <= names

    assert main(["status", "--root", str(root)]) == 0
    assert "verified:    " in capsys.readouterr().out


def test_verify_says_what_is_unhealthy(host, capsys):
    root, prosody, https_port = host
    with StandIn(health=503) as standin:
        code, report = verify(root, prosody, https_port, standin, capsys)
    failed = {f["name"]: f["evidence"] for f in report["findings"] if f["ok"] is False}
    assert code == 1 and report["ok"] is False
    assert "HTTP 503" in failed["jicofo health"]
