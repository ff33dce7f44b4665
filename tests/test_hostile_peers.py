"""Peers that misbehave (tests/lab/hostile.py), against every network exchange the wizard
makes: verify's probes (jicofo's and the bridge's health, the certificate nginx serves, the
XMPP client), the meetings question before a run, and the bridge checks (the bridge host's
preflight and certificate fetch, `bridge add`'s certificate, `bridge list`).

Each exchange must end within its one deadline (DEADLINE here; a byte a second, endless
headers or a huge answer once kept a replay waiting 900 s) with the documented result and no
traceback, and no password may reach a server whose certificate is not the one expected: the
peer records every byte it received (decrypted after STARTTLS), and the positive controls
show that a password sent to it would be seen.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import re
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from jitsiwizard import fixtures
from jitsiwizard.answers import load as A
from jitsiwizard.checks.deadline import Deadline, Expired
from jitsiwizard.cli import main as cli
from jitsiwizard.cli.main import main
from jitsiwizard.errors import UserError
from jitsiwizard.health import Endpoints, Expectation, Login
from jitsiwizard.health.probes import MAX_BODY, ProbeError, http_get, meetings
from jitsiwizard.health.report import _certificate, _health, _login
from jitsiwizard.paths import BRIDGES_FILE
from jitsiwizard.rootfs import Root
from jitsiwizard.workflow.bridges import (
    CHECKER_SECRET,
    main_certificate,
    main_host_certificate,
    preflight,
)
from jitsiwizard.workflow.session import Session
from tests.lab import hostile
from tests.lab.ca import CA, self_signed
from tests.lab.hostile import Peer
from tests.lab.proc import free_port

from .bridge_support import BRIDGE_PW, bridge_toml
from .conftest import HOST, answers_toml, snapshot

DEADLINE = 1.0  # every exchange here; the product's default is 5 s
MARGIN = 1.0  # for the work around one exchange (a busy test machine included)
CLI_MARGIN = 2.0  # a whole command: reading the tree, planning, printing
PASSWORD = "Hostile-peer-pw-7Zx"
AUTH = re.compile(rb"<auth[^>]*>([^<]*)</auth>")


@contextlib.contextmanager
def ends_within(limit: float):
    """The block must end within `limit` seconds (an outcome bound: nothing waits on it)."""
    start = time.monotonic()
    yield
    took = time.monotonic() - start
    assert took < limit, f"took {took:.2f}s, more than {limit:g}s"


def sent_password(peer: Peer | None, password: str) -> bool:
    """Whether `password` reached the peer, as it is or inside a SASL PLAIN message."""
    if peer is None:
        return False
    with peer.lock:
        received = bytes(peer.received)
    secret = password.encode()
    decoded = []
    for payload in AUTH.findall(received):
        with contextlib.suppress(ValueError):
            decoded.append(base64.b64decode(payload))
    return secret in received or any(secret in d for d in decoded)


@contextlib.contextmanager
def serving(behaviour):
    """(peer or None, port): a hostile peer, or (behaviour None) a port nothing listens on."""
    if behaviour is None:
        yield None, free_port()
        return
    with Peer(behaviour) as peer:
        yield peer, peer.port


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA; certificates for HOST and auth.HOST from it; an expired one; a self-signed one
    for another name."""
    base = tmp_path_factory.mktemp("certs")
    ca = CA(base / "ca")
    good = ca.issue(HOST, [HOST, f"auth.{HOST}"])
    expired = ca.issue("expired.example.org", [HOST, f"auth.{HOST}"], expired=True)
    wrong = (base / "wrong.crt", base / "wrong.key")
    self_signed(wrong[0], wrong[1], "wrong.example.net")
    pin = hashlib.sha256(ssl.PEM_cert_to_DER_cert(good.cert.read_text())).hexdigest()
    return {"ca": ca, "good": (good.cert, good.key), "expired": (expired.cert, expired.key),
            "wrong": wrong, "pin": pin}


@pytest.fixture
def short_deadlines(monkeypatch):
    """Commands run with DEADLINE for every exchange (the CLI has no option for it)."""
    original = cli._session

    def session(args):
        made = original(args)
        if made.endpoints is not None:
            made.endpoints.timeout = DEADLINE
        return dataclasses.replace(made, check_timeout=DEADLINE)

    monkeypatch.setattr(cli, "_session", session)


def no_traceback(capsys) -> str:
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, out + err
    return out + err


# -- HTTP: verify's health probes ---------------------------------------------------------------

WITHIN = f"did not answer within {DEADLINE:g}s"
HTTP_CASES = {
    # behaviour: (what the finding must say, ends at once rather than at the deadline)
    "drip_body": (WITHIN, False),
    "drip_headers": (WITHIN, False),
    "silent": (WITHIN, False),
    "header_flood": ("more than 16384 bytes of headers", True),
    "many_headers": ("more than 64 header lines", True),
    "huge_body": (f"more than {MAX_BODY} bytes", True),
    "huge_length": (f"more than {MAX_BODY} bytes", True),
    "not_http": ("did not answer HTTP", True),
}


@pytest.mark.parametrize("name", HTTP_CASES)
def test_verify_health_probe_ends_within_its_deadline(name):
    said, at_once = HTTP_CASES[name]
    # At once: well before the deadline, so not by waiting for it.
    with Peer(getattr(hostile, name)) as peer, \
            ends_within(0.8 * DEADLINE if at_once else DEADLINE + MARGIN):
        finding = _health("jicofo health", f"{peer.url}/about/health", DEADLINE)
    assert finding.ok is False
    assert said in finding.evidence, finding.evidence
    assert "systemctl status jicofo" in finding.fix


def test_a_well_formed_answer_still_passes():
    with Peer(hostile.http_answer(b"{}", chunked=True)) as peer:
        finding = _health("bridge health", f"{peer.url}/about/health", DEADLINE)
    assert (finding.ok, finding.evidence) == (True, f"{peer.url}/about/health: healthy "
                                                    "(HTTP 200)")


def test_verify_command_ends_within_its_deadlines(make_root, short_deadlines, capsys):
    """jicofo drips its body, the bridge its headers: `verify` says so and exits 1 within
    the two probes' deadlines (Prosody and nginx refuse at once here)."""
    root = make_root()
    with Peer(hostile.drip_body) as jicofo, Peer(hostile.drip_headers) as bridge, \
            ends_within(2 * DEADLINE + CLI_MARGIN):
        code = main(["verify", "--json", "--root", str(root), "--simulate",
                     "--xmpp", f"127.0.0.1:{free_port()}", "--jicofo-url", jicofo.url,
                     "--bridge-url", bridge.url, "--https", f"127.0.0.1:{free_port()}",
                     "--settle", "0"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    report = json.loads(out)
    found = {f["name"]: f for f in report["findings"]}
    assert code == 1
    assert WITHIN in found["jicofo health"]["evidence"]
    assert WITHIN in found["bridge health"]["evidence"]


# -- HTTPS: the certificate nginx serves -------------------------------------------------------

def certificate_finding(tmp_path, port: int, cert_file: Path):
    root = tmp_path / "root"
    (root / "etc/ssl").mkdir(parents=True, exist_ok=True)
    (root / "etc/ssl/site.crt").write_text(cert_file.read_text())
    expect = Expectation(HOST, "open", False, cert_file="/etc/ssl/site.crt")
    ends = Endpoints(https_host="127.0.0.1", https_port=port, timeout=DEADLINE, given=True)
    return _certificate(expect, ends, Root(str(root)))


@pytest.mark.parametrize("name", ["tls_drip", "silent"])
def test_certificate_probe_ends_within_its_deadline(tmp_path, certs, name):
    with Peer(getattr(hostile, name)) as peer, ends_within(DEADLINE + MARGIN):
        finding = certificate_finding(tmp_path, peer.port, certs["good"][0])
    assert finding.ok is False
    assert "within 1s" in finding.evidence or "timed out" in finding.evidence, finding.evidence


@pytest.mark.parametrize("served, wanted, said", [
    ("wrong", "good", "not /etc/ssl/site.crt"),
    ("expired", "expired", "expired on"),
    ("good", "good", ""),  # the control: the certificate the site names passes
])
def test_certificate_probe_sees_the_wrong_and_the_expired(tmp_path, certs, served, wanted,
                                                          said):
    with Peer(hostile.tls_server(*certs[served])) as peer, ends_within(MARGIN):
        finding = certificate_finding(tmp_path, peer.port, certs[wanted][0])
    assert finding.ok is (not said), finding.evidence
    assert said in finding.evidence


# -- the meetings question before a run ---------------------------------------------------------

STATS_REFUSED = {
    "infinity": b'{"conferences": Infinity, "participants": 0}',
    "overflow": b'{"conferences": 1e999, "participants": 0}',
    "fractions": b'{"conferences": 0.4, "participants": 0.9}',
    "string and bool": b'{"conferences": "-0", "participants": false}',
    "true": b'{"conferences": 0, "participants": true}',
    "negative": b'{"conferences": -1, "participants": 0}',
    "nan": b'{"conferences": NaN, "participants": 0}',
    "missing": b'{"conferences": 0}',
    "huge integer": b'{"conferences": 1' + b"0" * 4000 + b', "participants": 0}',
    "not an object": b"[0, 0]",
    "truncated": b'{"conferences": 0, "participants": 0',
    "nested": b"[" * 100000,
    "garbage": b"\xff\xfe\x00garbage",
}


@pytest.mark.parametrize("name", STATS_REFUSED)
def test_jicofo_stats_must_be_counts(name):
    with Peer(hostile.http_answer(STATS_REFUSED[name])) as peer, ends_within(MARGIN), \
            pytest.raises(ProbeError) as caught:
        meetings(f"{peer.url}/stats", DEADLINE)
    assert f"{peer.url}/stats" in str(caught.value)


def test_counts_name_what_was_seen():
    seen = r"conferences as a count of 0 or more \(0\.4\)"
    with Peer(hostile.http_answer(STATS_REFUSED["fractions"])) as peer, \
            pytest.raises(ProbeError, match=seen):
        meetings(f"{peer.url}/stats", DEADLINE)


@pytest.mark.parametrize("chunked", [False, True])
def test_real_counts_are_read(chunked):
    body = b'{"conferences": 2, "participants": 5, "largest_conference": 3}'
    with Peer(hostile.http_answer(body, chunked=chunked)) as peer:
        seen = meetings(f"{peer.url}/stats", DEADLINE)
    assert (seen.conferences, seen.participants) == (2, 5)


def replay(make_root, tmp_path, url: str, capsys) -> tuple[int, str, bool]:
    """A replay whose plan restarts Prosody: (exit code, output, tree unchanged)."""
    root = make_root()
    answers = tmp_path / "answers.toml"
    answers.write_text(answers_toml("local", True))
    answers.chmod(0o600)
    before = snapshot(root, include_state=True)
    code = main(["--answers", str(answers), "--root", str(root), "--simulate",
                 "--skip-checks", "--jicofo-url", url])
    return code, no_traceback(capsys), snapshot(root, include_state=True) == before


@pytest.mark.parametrize("name", [*HTTP_CASES, *(f"stats: {s}" for s in STATS_REFUSED)])
def test_meetings_question_stops_the_run_within_its_deadline(make_root, tmp_path, capsys,
                                                             short_deadlines, name):
    behaviour = (hostile.http_answer(STATS_REFUSED[name[len("stats: "):]])
                 if name.startswith("stats: ") else getattr(hostile, name))
    with Peer(behaviour) as jicofo, ends_within(DEADLINE + CLI_MARGIN):
        code, out, unchanged = replay(make_root, tmp_path, jicofo.url, capsys)
    assert code == 1, out
    assert "jicofo did not say whether meetings are running" in out
    assert "--allow-disruption" in out
    assert unchanged


def test_meetings_question_control_live_meetings(make_root, tmp_path, capsys,
                                                 short_deadlines):
    body = b'{"conferences": 2, "participants": 5}'
    with Peer(hostile.http_answer(body, chunked=True)) as jicofo:
        code, out, unchanged = replay(make_root, tmp_path, jicofo.url, capsys)
    assert (code, unchanged) == (1, True)
    assert "2 meetings with 5 people are running: applying drops them" in out


# -- a lookup that never ends -------------------------------------------------------------------

@pytest.fixture
def slow_resolver(monkeypatch):
    """Names (not addresses) take 10 s to look up, as with an unreachable DNS server."""
    release = threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kw):
        flags = kw.get("flags", args[3] if len(args) > 3 else 0)
        if str(host).endswith(".invalid") and not flags & socket.AI_NUMERICHOST:
            release.wait(10)
            raise socket.gaierror("lookup abandoned")
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    release.set()


def test_a_slow_lookup_ends_at_the_deadline(slow_resolver, tmp_path):
    with ends_within(DEADLINE + MARGIN), pytest.raises(Expired):
        Deadline(DEADLINE).connect("jicofo.invalid", 8888)
    with ends_within(DEADLINE + MARGIN), pytest.raises(ProbeError, match=WITHIN):
        http_get("http://jicofo.invalid:8888/stats", DEADLINE)
    session, answers = bridge_session(tmp_path, 5222, "ab" * 32, main="main.invalid")
    session = dataclasses.replace(session, endpoints=None)  # the main host by its name
    with ends_within(DEADLINE + MARGIN):
        checks = preflight(session, answers)
    assert [c.summary for c in checks] == ["main host resolves"] and not checks[0].ok


# -- XMPP: verify's client ----------------------------------------------------------------------

XMPP_CASES = {
    # case: (behaviour maker, what the error says)
    "refused": (lambda c: None, "cannot connect"),
    "silent": (lambda c: hostile.silent, "within 1s"),
    "drip": (lambda c: hostile.xmpp_drip, "1s"),
    "huge stream header": (lambda c: hostile.xmpp_huge_header, "more than 262144 bytes"),
    "split DTD": (lambda c: hostile.xmpp_dtd, "DTD"),
    "HTTP on the port": (lambda c: hostile.xmpp_http, "malformed XML"),
    "TLS drip": (lambda c: hostile.xmpp_tls_drip, "TLS handshake"),
    "wrong-name certificate": (lambda c: hostile.xmpp_starttls(*c["wrong"]), ""),
    "expired certificate": (lambda c: hostile.xmpp_starttls(*c["expired"]), ""),
}


@pytest.mark.parametrize("case", XMPP_CASES)
def test_verify_xmpp_login_ends_within_its_deadline_and_keeps_the_password(certs, case):
    make, said = XMPP_CASES[case]
    login = Login("*", PASSWORD, False, "the user name `*` must be refused")
    with serving(make(certs)) as (peer, port), ends_within(DEADLINE + MARGIN):
        ends = Endpoints(c2s_port=port, timeout=DEADLINE)
        finding = _login(ends, HOST, login, {"ca": str(certs["ca"].cert),
                                              "timeout": DEADLINE})
    assert finding.ok is False
    assert said in finding.evidence, finding.evidence
    if case.endswith("certificate"):
        assert "not trusted" in finding.evidence, finding.evidence
    assert not sent_password(peer, PASSWORD)


def test_verify_xmpp_control_a_trusted_server_gets_the_login(certs):
    """The control: with the certificate the CA vouches for, the login is sent (and the
    peer's record shows it), and its refusal is what `*` must get."""
    login = Login("*", PASSWORD, False, "the user name `*` must be refused")
    with serving(hostile.xmpp_starttls(*certs["good"])) as (peer, port):
        finding = _login(Endpoints(c2s_port=port, timeout=DEADLINE), HOST, login,
                         {"ca": str(certs["ca"].cert), "timeout": DEADLINE})
    assert finding.ok is True, finding.evidence
    assert sent_password(peer, PASSWORD)


# -- the bridge host: preflight and the main host's certificate ---------------------------------

def bridge_session(tmp_path: Path, port: int, pin: str, main: str = HOST):
    answers = tmp_path / "bridge.toml"
    answers.write_text(bridge_toml(pin, password=f"file:{tmp_path / 'bridge.secret'}",
                                   main=main))
    (tmp_path / "bridge.secret").write_text(BRIDGE_PW + "\n")
    for path in (answers, tmp_path / "bridge.secret"):
        path.chmod(0o600)
    ends = Endpoints(c2s_host="127.0.0.1", c2s_port=port, timeout=DEADLINE, given=True)
    session = Session(Root(str(tmp_path)), check_timeout=DEADLINE, endpoints=ends)
    return session, A.loads(answers.read_text()).answers


BRIDGE_FIXES = {
    # case: what the fix must say
    "refused": "nothing accepts connections on",
    "silent": "accepted the connection but not as the main host's Prosody does",
    "drip": "answered but not as the main host's Prosody does",
    "huge stream header": "something else listens on that port",
    "split DTD": "something else listens on that port",
    "HTTP on the port": "answered but not as the main host's Prosody does: something else",
    "TLS drip": "something else listens on that port",
    "wrong-name certificate": "else this is not the main host",
    "expired certificate": "else this is not the main host",
}


@pytest.mark.parametrize("case", BRIDGE_FIXES)
def test_bridge_preflight_ends_within_its_deadline_with_the_fix_for_what_was_seen(
        tmp_path, certs, case):
    make, _ = XMPP_CASES[case]
    with serving(make(certs)) as (peer, port):
        session, answers = bridge_session(tmp_path, port, certs["pin"])
        with ends_within(DEADLINE + MARGIN):
            checks = preflight(session, answers)
        failed = [c for c in checks if not c.ok]
        assert [c.summary for c in failed] == [f"TLS on 127.0.0.1:{port}"], checks
        assert BRIDGE_FIXES[case] in failed[0].fix, failed[0].render()
        if case != "refused":
            assert "firewall" not in failed[0].fix
        with ends_within(DEADLINE + MARGIN), pytest.raises(UserError) as caught:
            main_host_certificate(session, answers)
        assert "--main-certificate FILE" in caught.value.hint or "pinned" in str(caught.value)
    assert not sent_password(peer, BRIDGE_PW)


def test_bridge_preflight_control_the_pinned_server_gets_the_login(tmp_path, certs):
    with serving(hostile.xmpp_starttls(*certs["good"])) as (peer, port):
        session, answers = bridge_session(tmp_path, port, certs["pin"])
        checks = preflight(session, answers)
    assert [c.ok for c in checks] == [True, True, False]
    assert "refused: not-authorized" in checks[-1].evidence[0]
    assert sent_password(peer, BRIDGE_PW)


@pytest.mark.parametrize("case", ["HTTP on the port", "wrong-name certificate", "silent"])
def test_bridge_host_replay_stops_within_its_deadline(tmp_path, certs, capsys,
                                                      short_deadlines, case):
    make, _ = XMPP_CASES[case]
    bridge_root = fixtures.build_bridge(tmp_path / "tree")
    before = snapshot(bridge_root, include_state=True)
    with serving(make(certs)) as (peer, port):
        bridge_session(tmp_path, port, certs["pin"])  # writes the answers and the secret
        with ends_within(DEADLINE + CLI_MARGIN):
            code = main(["--answers", str(tmp_path / "bridge.toml"), "--root",
                         str(bridge_root), "--simulate", "--xmpp", f"127.0.0.1:{port}"])
    out = no_traceback(capsys)
    assert code == 1, out
    assert f"[FAIL] bridge.tls: TLS on 127.0.0.1:{port}" in out and BRIDGE_FIXES[case] in out
    assert snapshot(bridge_root, include_state=True) == before
    assert not sent_password(peer, BRIDGE_PW)


# -- the main host: `bridge add`'s certificate, `bridge list` -----------------------------------

@pytest.mark.parametrize("case", ["silent", "drip", "huge stream header", "TLS drip"])
def test_bridge_add_certificate_ends_within_its_deadline(tmp_path, certs, case):
    make, said = XMPP_CASES[case]
    with serving(make(certs)) as (_, port):
        ends = Endpoints(c2s_host="127.0.0.1", c2s_port=port, timeout=DEADLINE, given=True)
        session = Session(Root(str(tmp_path)), check_timeout=DEADLINE, endpoints=ends)
        with ends_within(DEADLINE + MARGIN), pytest.raises(UserError) as caught:
            main_certificate(session, HOST)
    assert said in str(caught.value) and caught.value.field == "--xmpp"


CHECKER_PW = "checker-pw-Hostile-42"


def main_host(tmp_path: Path, own_cert: Path | None) -> Path:
    """A main host with two bridges, the checker's password and (own_cert) Prosody's own
    certificate for auth.HOST."""
    root = fixtures.build(tmp_path / "main")
    for path, text in ((BRIDGES_FILE, json.dumps({"bridges": [
            {"name": "bridge2", "address": "192.0.2.20", "firewall": False},
            {"name": "bridge3", "address": "192.0.2.30", "firewall": False}]})),
            (CHECKER_SECRET, CHECKER_PW + "\n")):
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(0o600)
    if own_cert is not None:
        (root / "etc/prosody/certs").mkdir(parents=True, exist_ok=True)
        (root / f"etc/prosody/certs/auth.{HOST}.crt").write_text(own_cert.read_text())
    return root


def bridge_list(root: Path, port: int, capsys) -> list[dict]:
    code = main(["bridge", "list", "--json", "--root", str(root), "--xmpp",
                 f"127.0.0.1:{port}"])
    out = no_traceback(capsys)
    assert code == 0, out
    return json.loads(out)


@pytest.mark.parametrize("case", XMPP_CASES)
def test_bridge_list_sends_no_password_to_an_unverified_server(tmp_path, certs, capsys,
                                                               short_deadlines, case):
    make, _ = XMPP_CASES[case]
    root = main_host(tmp_path, certs["good"][0])
    with serving(make(certs)) as (peer, port), ends_within(DEADLINE + CLI_MARGIN):
        rows = bridge_list(root, port, capsys)
    assert [(r["name"], r["in_brewery"]) for r in rows] == [("bridge2", None),
                                                            ("bridge3", None)]
    if case.endswith("certificate"):
        assert "nothing was sent" in rows[0]["evidence"], rows
        assert f"/etc/prosody/certs/auth.{HOST}.crt" in rows[0]["evidence"]
    assert peer is None or peer.connections <= 1  # asked once for every bridge
    assert not sent_password(peer, CHECKER_PW)


def test_bridge_list_without_its_own_certificate_asks_nobody(tmp_path, certs, capsys,
                                                            short_deadlines):
    root = main_host(tmp_path, None)
    with serving(hostile.xmpp_starttls(*certs["good"])) as (peer, port):
        rows = bridge_list(root, port, capsys)
    assert rows[0]["in_brewery"] is None and "not asked" in rows[0]["evidence"]
    assert peer.connections == 0


def test_bridge_list_control_its_own_prosody_gets_the_login(tmp_path, certs, capsys,
                                                            short_deadlines):
    root = main_host(tmp_path, certs["good"][0])
    with serving(hostile.xmpp_starttls(*certs["good"])) as (peer, port):
        rows = bridge_list(root, port, capsys)
    assert rows[0]["in_brewery"] is None
    assert "jitsi-wizard-check account does not log in (not-authorized)" in rows[0]["evidence"]
    assert sent_password(peer, CHECKER_PW)
