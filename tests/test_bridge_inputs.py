"""What `bridge add NAME --address ADDR` and `bridge remove NAME` take (issue 19): every bad
NAME or ADDR, through the real CLI on a fixture tree, exits 2 naming the argument, prints no
traceback and leaves the tree byte for byte unchanged; good values still work, and every
command printed is quoted for the shell. An interrupted run is reported before anything else.
Then the answers file's smaller points: a password written as a number is refused without
being shown, and names with white space or a line break around them, or `..`, are refused."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from jitsiwizard import fixtures
from jitsiwizard.answers import load as A
from jitsiwizard.answers.spec import RESERVED_BRIDGE_USERS
from jitsiwizard.cli.main import main
from jitsiwizard.errors import ProblemList
from jitsiwizard.workflow import bridges

from .bridge_support import BRIDGE_PW, MAIN_PEM, bridge_toml, pem_sha256
from .conftest import HOST, answers_toml, snapshot

ADDRESS = "192.0.2.20"
INTERFACES = {"lo", "eth0"}  # this host's interfaces, as the tests pretend

BAD_NAMES = [
    "bridge2\n", "bridge2\r", "\nbridge2", "bridge2\r\n", "bridge2 ", " bridge2", "bri dge2",
    "bri\x00dge2", "bridge2\x1b[2J", "bridge2\u2028", "bridge2\u202e", "bridge2\t",
    "", "a" * 65, "b" * 5000,
    "focus", "Focus", "FOCUS", "jvb", "JVB", "jibri", "jigasi", "JiGaSi", "recorder",
    "transcriber", "Transcriber", "jitsi-wizard-check", "Jitsi-Wizard-Check",
    "$(reboot)", "`id`", "a;reboot", "a|b", "a&b", "a>b", "a<b", "a'b", 'a"b', "a\\b", "*",
    "~root", "../x", "a/b", "x@evil.example", "bridge2%eth0", "a:b", "a=b", "a,b", "a#b",
    ".bridge", "_bridge", "Bridge2", "brïdge", "bridge\u00a0two",
]
BAD_ADDRESSES = [
    "192.0.2.20\n", "\n192.0.2.20", " 192.0.2.20", "192.0.2.20 ", "192.0.2.20\r",
    "fe80::1%$(reboot)", "fe80::1%`id`", "fe80::1%eth0;reboot", "fe80::1%eth0\n",
    "fe80::1%eth0 ", "fe80::1%", "fe80::1%nosuch0", "fe80::1%eth0%eth0", "fe80::1%../x",
    "192.0.2.20%eth0", "2001:db8::20%eth0", "::ffff:192.0.2.20%eth0",
    "0.0.0.0", "::", "255.255.255.255", "127.0.0.1", "127.1.2.3", "::1", "224.0.0.1",
    "239.255.255.250", "ff02::1", "ff02::1%eth0", "::ffff:127.0.0.1", "::ffff:0.0.0.0",
    "::ffff:224.0.0.1", "240.0.0.1", "0.1.2.3", "::2",
    "", "example.org", "192.0.2.20/32", "192.0.2.20;reboot", "$(reboot)", "[::1]",
    "[2001:db8::20]", "1.2.3.4.5", "192.0.2.256", "a" * 5000, "192.0.2.20:22",
]


def _ids(values):
    return [repr(v)[:40] for v in values]


@pytest.fixture
def host(tmp_path, monkeypatch) -> Path:
    """A main host (the wizard manages its firewall) under a path that needs quoting."""
    root = fixtures.build(tmp_path / "main host's $(tree)")
    certs = root / "etc/prosody/certs"
    certs.mkdir(parents=True, exist_ok=True)
    (certs / f"auth.{HOST}.crt").write_text(MAIN_PEM)
    state = root / "var/lib/jitsi-wizard"
    state.mkdir(parents=True, exist_ok=True)
    (state / "answers.toml").write_text("[firewall]\nmanage = true\n")
    monkeypatch.setattr(bridges, "interface_names", lambda: set(INTERFACES))
    return root


def run(root: Path, capsys, *words: str) -> tuple[int, str, str]:
    """`jitsi-wizard bridge ACTION --root ROOT --simulate ARGS...` (the options first, so
    that ARGS may hold `--`)."""
    code = main([*words[:2], "--root", str(root), "--simulate", *words[2:]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(code: int, out: str, err: str, argument: str) -> None:
    assert code == 2, (out, err)
    assert f"error: {argument}:" in err, err
    assert "Traceback" not in out + err
    # The value is quoted escaped: no control character reaches the terminal.
    assert not any(ord(c) < 0x20 and c != "\n" for c in out + err), repr(err)
    assert "\u2028" not in err and "\u202e" not in err


@pytest.mark.parametrize("name", BAD_NAMES, ids=_ids(BAD_NAMES))
def test_a_bad_name_is_refused_and_nothing_changes(host, capsys, name):
    before = snapshot(host, include_state=True)
    assert_refused(*run(host, capsys, "bridge", "add", name, "--address", ADDRESS), "NAME")
    assert_refused(*run(host, capsys, "bridge", "remove", "--", name), "NAME")
    assert snapshot(host, include_state=True) == before


def test_a_name_starting_with_a_dash_is_refused(host, capsys):
    before = snapshot(host, include_state=True)
    assert_refused(*run(host, capsys, "bridge", "add", "--address", ADDRESS, "--", "-rf"),
                   "NAME")
    assert snapshot(host, include_state=True) == before


@pytest.mark.parametrize("address", BAD_ADDRESSES, ids=_ids(BAD_ADDRESSES))
def test_a_bad_address_is_refused_and_nothing_changes(host, capsys, address):
    before = snapshot(host, include_state=True)
    assert_refused(*run(host, capsys, "bridge", "add", "bridge2", f"--address={address}"),
                   "--address")
    assert snapshot(host, include_state=True) == before


def test_every_reserved_account_is_in_the_corpus():
    assert bridges.CHECKER in RESERVED_BRIDGE_USERS
    assert set(RESERVED_BRIDGE_USERS) <= {n for n in BAD_NAMES}


def registry(root: Path) -> list[dict]:
    """The bridges recorded; none once the last is removed (the file goes with it)."""
    path = root / "var/lib/jitsi-wizard/bridges.json"
    return json.loads(path.read_text())["bridges"] if path.exists() else []


def printed_commands(root: Path, out: str) -> list[list[str]]:
    lines = out.split("next, from this host", 1)[1].splitlines()[1:]
    return [shlex.split(line) for line in lines if line.startswith("  ")]


@pytest.mark.parametrize("given, kept, rule, target", [
    (ADDRESS, ADDRESS, f"ufw allow from {ADDRESS} to any", ADDRESS),
    ("::ffff:192.0.2.20", ADDRESS, f"ufw allow from {ADDRESS} to any", ADDRESS),
    ("2001:db8::20", "2001:db8::20", "ufw allow from 2001:db8::20 to any", "[2001:db8::20]"),
    ("2001:DB8:0::20", "2001:db8::20", "ufw allow from 2001:db8::20 to any", "[2001:db8::20]"),
    ("fe80::1%eth0", "fe80::1%eth0", "ufw allow in on eth0 from fe80::1 to any",
     "[fe80::1%eth0]"),
    ("169.254.78.2", "169.254.78.2", "ufw allow from 169.254.78.2 to any", "169.254.78.2"),
])
def test_good_addresses_still_work(host, capsys, given, kept, rule, target):
    code, out, err = run(host, capsys, "bridge", "add", "bridge2", "--address", given)
    assert code == 0, err
    assert registry(host) == [{"name": "bridge2", "address": kept, "firewall": True}]
    assert f"run {rule} port 5222 proto tcp" in out
    answers = host / "var/lib/jitsi-wizard/bridges/bridge2/bridge-bridge2.toml"
    scp, ssh = printed_commands(host, out)
    # Pasted, each word is exactly one argument, even under a root path with ' and $( ).
    assert scp == ["scp", "-p", str(answers), str(answers.with_suffix(".secret")),
                   f"root@{target}:/root/"]
    assert ssh == ["ssh", "-t", f"root@{kept}", "jitsi-wizard", "--answers",
                   "/root/bridge-bridge2.toml"]
    code, out, err = run(host, capsys, "bridge", "remove", "bridge2")
    assert code == 0, err
    assert f"run {rule.replace('allow', 'delete allow')} port 5222 proto tcp" in out
    assert registry(host) == []


def test_a_zone_whose_interface_went_away_is_still_removed(host, capsys, monkeypatch):
    assert run(host, capsys, "bridge", "add", "bridge2", "--address", "fe80::1%eth0")[0] == 0
    monkeypatch.setattr(bridges, "interface_names", lambda: {"lo"})
    code, out, err = run(host, capsys, "bridge", "remove", "bridge2")
    assert code == 0, err
    assert "run ufw delete allow in on eth0 from fe80::1 to any port 5222" in out


def test_the_real_interfaces_are_asked_by_default():
    import socket

    names = {name for _, name in socket.if_nameindex()}
    assert bridges.interface_names() == names
    some = sorted(names)[0]
    assert bridges.check_address(f"fe80::1%{some}") == f"fe80::1%{some}"


def interrupt(root: Path, run_id: str = "20240101-000000-dead") -> None:
    """A run left half done: its process died while applying."""
    run_dir = root / "var/lib/jitsi-wizard/runs" / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "state.json").write_text(json.dumps({
        "run_id": run_id, "status": "applying", "started": "2024-01-01T00:00:00Z",
        "summary": "bridge add", "pid": 999999999}))


@pytest.mark.parametrize("words", [
    ["bridge", "remove", "nosuch"], ["bridge", "remove", "jvb"],
    ["bridge", "add", "bridge2", "--address", ADDRESS],
    ["bridge", "add", "bridge2\n", "--address", "0.0.0.0"],
])
def test_an_interrupted_run_is_reported_first(host, capsys, words):
    interrupt(host)
    before = snapshot(host, include_state=True)
    code, out, err = run(host, capsys, *words)
    assert code == 4, err
    assert "20240101-000000-dead" in err and "rollback" in err and "Traceback" not in err
    assert snapshot(host, include_state=True) == before


# --- the answers file ------------------------------------------------------------------------

def replay(tmp_path: Path, root: Path, text: str, capsys) -> tuple[int, str]:
    path = tmp_path / "answers.toml"
    path.write_text(text)
    path.chmod(0o600)
    code = main(["--answers", str(path), "--root", str(root), "--simulate", "--skip-checks"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


NUMBER = "918273645546"


@pytest.mark.parametrize("where", ["local", "ldap", "bridge"])
def test_a_numeric_password_is_refused_without_being_shown(tmp_path, capsys, monkeypatch,
                                                           where):
    monkeypatch.setenv("JW_BRIDGE_PW", BRIDGE_PW)
    if where == "local":
        text = answers_toml("local", users=f'[[auth.users]]\nname = "alice"\npassword = '
                                           f"{NUMBER}\n")
        field, root = "auth.users[0].password", fixtures.build(tmp_path / "r")
    elif where == "ldap":
        text = answers_toml("ldap").replace('"env:JW_TEST_LDAP_PW"', NUMBER)
        field, root = "auth.ldap.bind_password", fixtures.build(tmp_path / "r")
    else:
        text = bridge_toml(pem_sha256(MAIN_PEM)).replace('"env:JW_BRIDGE_PW"', NUMBER)
        field, root = "bridge.password", fixtures.build_bridge(tmp_path / "r")
    assert NUMBER in text
    before = snapshot(root, include_state=True)
    code, shown = replay(tmp_path, root, text, capsys)
    assert code == 2 and f"{field} (line" in shown, shown
    assert "must be text" in shown and "not a number" in shown
    for part in (NUMBER, NUMBER[:6], NUMBER[-6:], "918_273"):
        assert part not in shown
    assert snapshot(root, include_state=True) == before


BAD_HOSTNAMES = ["meet.example.org\n", "\nmeet.example.org", "meet.example.org\r",
                 "meet.example.org\r\n", " meet.example.org", "meet.example.org ",
                 "meet.example.org\t", "meet.example.org..", "meet.example.org...",
                 "meet.example.org.\n", "\u2028meet.example.org", "meet.example.org\u00a0"]
BAD_USER_NAMES = ["alice\n", "\nalice", "alice\r", " alice", "alice ", "alice\t"]


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


def _name_cases() -> list[tuple[str, str, str]]:
    """(kind of host, answers text, the key its error must name)."""
    pin = pem_sha256(MAIN_PEM)
    cases = []
    for name in BAD_HOSTNAMES:
        cases.append(("main", answers_toml().replace(f'"{HOST}"', toml_string(name)),
                      "host.hostname"))
        cases.append(("bridge", bridge_toml(pin).replace(f'"{HOST}"', toml_string(name)),
                      "bridge.main"))
    for name in BAD_USER_NAMES:
        users = f"[[auth.users]]\nname = {toml_string(name)}\npassword = \"a-good-password\"\n"
        cases.append(("main", answers_toml("local", users=users), "auth.users[0].name"))
        cases.append(("bridge", bridge_toml(pin).replace('"bridge2"', toml_string(
            name.replace("alice", "bridge2"))), "bridge.username"))
    for name in ("Focus", "JVB", "jigasi", "jitsi-wizard-check", "JITSI-WIZARD-CHECK",
                 "Recorder"):
        cases.append(("bridge", bridge_toml(pin).replace('"bridge2"', toml_string(name)),
                      "bridge.username"))
    nat = 'public_address = "203.0.113.5"\nlocal_address = "10.0.0.5\\n"\n'
    cases.append(("main", answers_toml().replace("[cert]", nat + "\n[cert]"),
                  "host.local_address"))
    cases.append(("main", answers_toml("ldap").replace('"ou=people,dc=example,dc=org"',
                                                      '"ou=people,dc=example,dc=org\\r\\n"'),
                  "auth.ldap.user_base"))
    cases.append(("bridge", bridge_toml(pin, extra='main_address = "fe80::1%$(reboot)"\n'),
                  "bridge.main_address"))
    cases.append(("bridge", bridge_toml(pin, extra='main_address = "0.0.0.0"\n'),
                  "bridge.main_address"))
    return cases


NAME_CASES = _name_cases()


@pytest.mark.parametrize("kind, text, field", NAME_CASES,
                         ids=[f"{c[2]}-{i}" for i, c in enumerate(NAME_CASES)])
def test_names_with_line_breaks_or_spaces_around_them_are_refused(tmp_path, capsys,
                                                                  monkeypatch, kind, text,
                                                                  field):
    monkeypatch.setenv("JW_BRIDGE_PW", BRIDGE_PW)
    root = (fixtures.build_bridge if kind == "bridge" else fixtures.build)(tmp_path / "r")
    before = snapshot(root, include_state=True)
    code, shown = replay(tmp_path, root, text, capsys)
    assert code == 2, shown
    assert f"error: {field} (line" in shown, shown
    assert "fix: " in shown and "Traceback" not in shown
    assert snapshot(root, include_state=True) == before


def test_the_answers_name_what_is_around_the_value():
    with pytest.raises(ProblemList) as caught:
        A.loads(answers_toml().replace(f'"{HOST}"', toml_string(HOST + "\n")))
    problem = next(p for p in caught.value.problems if p.field == "host.hostname")
    assert "ends with a line break" in problem.message
    assert "without spaces or line breaks" in problem.hint


def test_one_trailing_dot_is_the_dns_root_and_dropped():
    loaded = A.loads(answers_toml().replace(f'"{HOST}"', f'"{HOST}."'))
    assert loaded.answers.host.hostname == HOST
    with pytest.raises(ProblemList) as caught:
        A.loads(answers_toml().replace(f'"{HOST}"', f'"{HOST}.."'))
    assert "empty label" in caught.value.problems[0].message


def test_removing_every_bridge_leaves_the_state_as_before_the_first_add(host, capsys):
    """bridge add twice, then bridge remove of both: the state directory holds what it held
    before the first add (the run records apart), and the accounts the runs created or
    deleted are the same, checker included."""
    state = "var/lib/jitsi-wizard"

    def kept(root):  # the run records (runs/ and the runs' lock) apart
        return {k: v for k, v in snapshot(host, include_state=True).items()
                if k.startswith(state) and not k.startswith(f"{state}/runs")
                and k != f"{state}/lock"}

    before = kept(host)
    accounts: list[tuple[str, str, str]] = []
    for words in (["add", "bridge2", "--address", ADDRESS],
                  ["add", "bridge3", "--address", "192.0.2.30"],
                  ["remove", "bridge2"], ["remove", "bridge3"]):
        code, out, err = run(host, capsys, "bridge", *words)
        assert code == 0, (out, err)
        accounts += re.findall(r"run prosodyctl (register|unregister) (\S+) ([^\s:]+)", out)
    assert not (host / state / "bridges").exists()
    assert kept(host) == before
    made = {(name, at) for verb, name, at in accounts if verb == "register"}
    gone = {(name, at) for verb, name, at in accounts if verb == "unregister"}
    assert made == gone == {("bridge2", f"auth.{HOST}"), ("bridge3", f"auth.{HOST}"),
                            ("jitsi-wizard-check", f"auth.{HOST}")}
