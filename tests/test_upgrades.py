"""Package upgrades on a configured host (issue 24): the packages' own upgrade steps
(tests/upgrades.py) run on trees the wizard configured, for the 2020, 2021 and current
generations. Their edits are not hand edits: a rerun keeps them, a switch of policy needs no
--force, a rollback of a run from before the upgrade undoes only the wizard's lines, and
jicofo keeps its XMPP login in every case."""

from __future__ import annotations

import json
from collections import Counter

import pyhocon
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jitsiwizard.apply import list_runs
from jitsiwizard.cli.main import main
from jitsiwizard.formats.hocon import (
    HOCON_BEGIN,
    HOCON_END,
    hocon_managed_block,
    hocon_rescue_managed,
)
from jitsiwizard.formats.regions import intact, own_chunks, undo_change
from jitsiwizard.host.facts import read_facts
from jitsiwizard.paths import MANAGED_FILE
from jitsiwizard.rootfs import Root

from .conftest import CANARY, HOST, POLICIES, answers_toml, config_files, snapshot
from .upgrades import FOCUS_PASSWORD, hocon_set, upgrade

USERS = '[[auth.users]]\nname = "alice"\npassword = "env:JW_TEST_LDAP_PW"\n'
JICOFO = "etc/jitsi/jicofo/jicofo.conf"
HOST_CFG = f"etc/prosody/conf.avail/{HOST}.cfg.lua"
TURN = "etc/turnserver.conf"
GENERATIONS = ("current", "legacy", "upgraded")
LOGIN = {"current": "fixtureFocusPw", "legacy": FOCUS_PASSWORD, "upgraded": FOCUS_PASSWORD}
NAT = '[host]\nhostname = "meet.example.org"\npublic_address = "93.184.216.34"\n' \
      'local_address = "10.0.0.5"\n'


def label(p):
    return f"{p[0]}{'+guests' if p[1] else ''}"


def run(root, tmp_path, policy, guests, *extra, nat=False, cert="") -> int:
    text = answers_toml(policy, guests, users=USERS)
    if nat:
        text = text.replace(f'[host]\nhostname = "{HOST}"\n', NAT)
    if cert:
        text = text.replace('[cert]\nmode = "self-signed"\n', cert)
    answers = tmp_path / f"answers-{policy}-{guests}.toml"
    answers.write_text(text)
    answers.chmod(0o600)
    return main(["--answers", str(answers), "--root", str(root), "--simulate",
                 "--skip-checks", *extra])


def rollback_all(root, *extra) -> None:
    """Every run still applied rolled back, newest first."""
    while any(r.status == "applied" for r in list_runs(Root(root))):
        assert main(["rollback", "--root", str(root), "--simulate", *extra]) == 0


def package_edits(before: dict, after: dict) -> dict[str, tuple[Counter, Counter]]:
    """What the upgrade did to each file: the lines it added and those it took away."""
    edits = {}
    for rel, entry in after.items():
        if entry[0] != "file" or before.get(rel) == entry:
            continue
        old = Counter(before[rel][1].decode().splitlines()) if rel in before else Counter()
        new = Counter(entry[1].decode().splitlines())
        edits[rel] = (new - old, old - new)
    return edits


def assert_kept(root, edits) -> None:
    """Every line the packages added is still there, and none they took away is back."""
    for rel, (added, removed) in edits.items():
        now = Counter((root / rel).read_text().splitlines())
        lost = [line for line, count in added.items() if now[line] < count]
        back = [line for line, count in removed.items() if any(c.isalpha() for c in line)
                and now[line] >= count]
        assert not lost and not back, f"{rel}: lost {lost}, put back {back}"


def focus_login(root) -> str | None:
    """jicofo's XMPP password as jicofo reads jicofo.conf (a real HOCON parser)."""
    path = root / JICOFO
    if not path.exists():
        return None
    return pyhocon.ConfigFactory.parse_string(path.read_text()).get(
        "jicofo.xmpp.client.password", None)


def assert_configured(root, policy, guests) -> None:
    facts = read_facts(Root(root))
    assert (facts.policy, facts.guests) == (policy, guests)
    assert facts.jicofo_requires_login == (policy != "open")


# --- ruby-hocon's rule, as the replay models it --------------------------------------------

OLD_BLOCK = ("jicofo {\n  authentication {\n    enabled = true\n    type = XMPP\n"
             f'    login-url = "{HOST}"\n  }}\n}}\n')
DOTTED_BLOCK = ("jicofo.authentication {\n  enabled = true\n  type = XMPP\n"
                f'  login-url = "{HOST}"\n}}\n')


def _block(body: str) -> str:
    return f"\n{HOCON_BEGIN}\n{body}{HOCON_END}\n"


@pytest.mark.parametrize("body, captured", [(OLD_BLOCK, True), (DOTTED_BLOCK, False)])
def test_hocon_set_writes_into_the_last_jicofo_object(body, captured):
    from jitsiwizard.fixtures import legacy

    text = legacy.UPGRADED_JICOFO_CONF.replace("HOST", HOST) + _block(body)
    text = hocon_set(text, "jicofo.xmpp.client.password", '"pw"')
    block = text[text.index(HOCON_BEGIN):]
    assert ('password : "pw"' in block) is captured
    assert pyhocon.ConfigFactory.parse_string(text).get("jicofo.xmpp.client.password") == "pw"


def test_an_old_block_gives_back_what_it_took():
    from jitsiwizard.fixtures import legacy

    text = legacy.UPGRADED_JICOFO_CONF.replace("HOST", HOST) + _block(OLD_BLOCK)
    text = hocon_set(text, "jicofo.xmpp.client.password", '"0123"')
    text = hocon_set(text, "jicofo.xmpp.trusted-domains", '[ "recorder.x" ]')
    rescued = hocon_managed_block(hocon_rescue_managed(text, ("jicofo", "authentication")),
                                  DOTTED_BLOCK)
    assert "0123" not in rescued[rescued.index(HOCON_BEGIN):]
    conf = pyhocon.ConfigFactory.parse_string(rescued)
    assert conf.get("jicofo.xmpp.client.password") == "0123"  # a string still, leading 0
    assert conf.get("jicofo.xmpp.trusted-domains") == ["recorder.x"]
    assert conf.get("jicofo.authentication.login-url") == HOST
    # a block with nothing but the wizard's setting: nothing to move
    plain = legacy.UPGRADED_JICOFO_CONF + _block(DOTTED_BLOCK)
    assert hocon_rescue_managed(plain, ("jicofo", "authentication")) == plain


# --- the wizard's own lines, and undoing its change ----------------------------------------

LINES = st.lists(st.sampled_from(["a\n", "b\n", "}\n", "\n", "x = 1\n", "c"]), max_size=10)
ADDED = st.lists(st.sampled_from(["new = 1\n", "-- new\n"]), max_size=4)  # none of LINES


@settings(max_examples=300, deadline=None)
@given(LINES, LINES, ADDED)
def test_undo_change_is_exact_without_other_changes(prior, written, extra):
    before, after = "".join(prior), "".join(written)
    # nothing else changed the file, or the change is already undone: the backup exactly
    assert undo_change(after, before, after) == (before, True)
    assert undo_change(after, before, before) == (before, True)
    chunks = own_chunks(before, after, [])
    assert intact(after, chunks)
    # lines added at the top (as sed's `1s/^/.../` does): the wizard's still found, and
    # the undo keeps them first
    top = "".join(extra) + "top\n"
    assert intact(top + after, chunks)
    if after:
        assert undo_change(after, before, top + after) == (top + before, True)


def test_undo_change_keeps_the_packages_lines_around_the_wizards():
    before = 'a = 1\nauthentication = "anonymous"\nb = 2\n'
    after = 'a = 1\nauthentication = "internal_hashed"\nb = 2\n'
    upgraded = 'new = 0\na = 1\nauthentication = "internal_hashed"\nadded = 3\nb = 2\n'
    assert undo_change(after, before, upgraded) == (
        'new = 0\na = 1\nauthentication = "anonymous"\nadded = 3\nb = 2\n', True)
    edited = upgraded.replace("internal_hashed", "internal_plain")
    chunks = own_chunks(before, after, [])
    assert intact(upgraded, chunks) and not intact(edited, chunks)
    # an edit of the wizard's own line: not clean, and that line goes back as it was
    assert undo_change(after, before, edited) == (
        'new = 0\na = 1\nauthentication = "anonymous"\nadded = 3\nb = 2\n', False)


# --- the acceptance: every generation, every policy ---------------------------------------

@pytest.mark.parametrize("generation", GENERATIONS)
@pytest.mark.parametrize("policy, guests", POLICIES, ids=[label(p) for p in POLICIES])
def test_package_upgrade_after_a_run(make_root, tmp_path, capsys, generation, policy,
                                     guests):
    root = make_root(generation)
    expected = make_root(generation)  # no wizard, the same upgrade
    upgrade(expected)
    assert run(root, tmp_path, policy, guests) == 0
    before = snapshot(root)
    upgrade(root)
    edits = package_edits(before, snapshot(root))
    assert edits and focus_login(root) == LOGIN[generation]

    # the same answers again
    capsys.readouterr()
    assert run(root, tmp_path, policy, guests) == 0
    out = capsys.readouterr().out
    if generation != "legacy":  # a 2020 host moves jicofo's login setting to jicofo.conf
        # (simulated, `prosodyctl register` made no account: the user is planned again)
        assert "Nothing to change" in out or "No file changes" in out
    assert_kept(root, edits)
    assert_configured(root, policy, guests)
    assert focus_login(root) == LOGIN[generation]

    # another policy, without --force
    other = ("ldap", True) if (policy, guests) != ("ldap", True) else ("local", False)
    assert run(root, tmp_path, *other) == 0
    assert_kept(root, edits)
    assert_configured(root, *other)
    assert focus_login(root) == LOGIN[generation]

    # every run undone without --force, the one from before the upgrade too: what the
    # packages did stays, what the wizard did goes
    capsys.readouterr()
    rollback_all(root)
    assert "edited by hand" not in capsys.readouterr().out
    assert focus_login(root) == LOGIN[generation]
    assert config_files(snapshot(root)) == config_files(snapshot(expected))


@pytest.fixture(scope="module")
def own_pair(tmp_path_factory):
    from tests.lab.ca import CA

    issued = CA(tmp_path_factory.mktemp("ca")).issue(HOST)
    return issued.chain.read_text(), issued.key.read_text()


def _own_cert(root, pair) -> str:
    (root / "etc/ssl/own").mkdir(parents=True)
    (root / "etc/ssl/own/meet.crt").write_text(pair[0])
    (root / "etc/ssl/own/meet.key").write_text(pair[1])
    (root / "etc/ssl/own/meet.key").chmod(0o600)
    return ('[cert]\nmode = "own"\ncert_file = "/etc/ssl/own/meet.crt"\n'
            'key_file = "/etc/ssl/own/meet.key"\n')


@pytest.mark.parametrize("generation", GENERATIONS)
def test_own_certificate_and_nat_through_an_upgrade(make_root, tmp_path, own_pair,
                                                    generation):
    """The wizard's lines in turnserver.conf, the nginx site and the bridge's settings stay
    the wizard's; coturn's relay-disable block, appended by the upgrade, stays the
    packages'."""
    root = make_root(generation)
    expected = make_root(generation)
    cert = _own_cert(root, own_pair)
    _own_cert(expected, own_pair)
    upgrade(expected)
    assert run(root, tmp_path, "local", True, nat=True, cert=cert) == 0
    before = snapshot(root)
    upgrade(root)
    edits = package_edits(before, snapshot(root))
    assert TURN in edits or generation == "current"
    assert run(root, tmp_path, "local", True, nat=True, cert=cert) == 0
    assert_kept(root, edits)
    turn = (root / TURN).read_text()
    assert "cert=/etc/ssl/own/meet.crt" in turn and "no-tcp-relay" in turn
    assert run(root, tmp_path, "open", False, nat=True, cert=cert) == 0
    assert_kept(root, edits)
    rollback_all(root)
    assert focus_login(root) == LOGIN[generation]
    assert config_files(snapshot(root)) == config_files(snapshot(expected))


@pytest.mark.parametrize("generation", GENERATIONS)
def test_rollback_right_after_the_upgrade(make_root, tmp_path, generation):
    """The run from before the upgrade, undone at once: the focus component stays a
    client_proxy, jicofo keeps its login, and the policy goes back to what it was."""
    root = make_root(generation)
    expected = make_root(generation)
    upgrade(expected)
    assert run(root, tmp_path, "ldap", True) == 0
    upgrade(root)
    assert main(["rollback", "--root", str(root), "--simulate"]) == 0
    assert f'Component "focus.{HOST}" "client_proxy"' in (root / HOST_CFG).read_text()
    assert focus_login(root) == LOGIN[generation]
    assert config_files(snapshot(root)) == config_files(snapshot(expected))


def test_a_rollback_run_again_does_not_undo_twice(make_root, tmp_path):
    """A rollback cut short and run again (as after a crash): a file it already merged is
    left as it is, not merged a second time."""
    from jitsiwizard.answers.secrets import Redactor
    from jitsiwizard.apply.journal import Journal
    from jitsiwizard.apply.restore import roll_back
    from jitsiwizard.apply.runner import Runner
    from jitsiwizard.apply.runs import states

    root = make_root("legacy")
    expected = make_root("legacy")
    upgrade(expected)
    assert run(root, tmp_path, "local", False) == 0
    upgrade(root)
    state = states(Root(root))[-1]
    for _ in range(2):
        journal = Journal.reopen(Root(root), Redactor(), state)
        try:
            assert roll_back(journal, Runner(Root(root), simulate=True), None) == []
        finally:
            journal.close()
        assert config_files(snapshot(root)) == config_files(snapshot(expected))


# --- what stays a hand edit -----------------------------------------------------------------

def test_an_edit_inside_the_wizards_block_is_still_a_hand_edit(make_root, tmp_path, capsys):
    root = make_root("upgraded")
    assert run(root, tmp_path, "local", False) == 0
    upgrade(root)
    jicofo = root / JICOFO
    jicofo.write_text(jicofo.read_text().replace("  type = XMPP\n", "  type = JWT\n"))
    capsys.readouterr()
    assert run(root, tmp_path, "open", False) == 2
    err = capsys.readouterr().err
    assert "changed by hand" in err and "/" + JICOFO in err and "type = JWT" in err
    assert run(root, tmp_path, "open", False, "--force") == 0
    assert focus_login(root) == FOCUS_PASSWORD


def test_rollback_over_an_edit_of_the_wizards_line_keeps_the_upgrade(make_root, tmp_path,
                                                                      capsys):
    """The admin changed the very line the run wrote: refused without --force; with it, that
    line goes back to what it was before the run, and the packages' migrations stay."""
    root = make_root("legacy")
    expected = make_root("legacy")
    upgrade(expected)
    assert run(root, tmp_path, "local", False) == 0
    upgrade(root)
    host_cfg = root / HOST_CFG
    host_cfg.write_text(host_cfg.read_text().replace('authentication = "internal_hashed"',
                                                     'authentication = "internal_plain"'))
    capsys.readouterr()
    assert main(["rollback", "--root", str(root), "--simulate"]) == 2
    err = capsys.readouterr().err
    assert "/" + HOST_CFG in err and "internal_plain" in err and "--force" in err
    assert main(["rollback", "--root", str(root), "--simulate", "--force"]) == 0
    assert "edited by hand" in capsys.readouterr().out
    assert config_files(snapshot(root)) == config_files(snapshot(expected))


# --- a block written by an earlier version, which the upgrade filled -----------------------

def test_an_old_block_holding_jicofos_login_keeps_it(make_root, tmp_path, capsys):
    """Earlier versions wrote `jicofo { authentication { } }`, and recorded only the file's
    checksum: the 2021 host's upgrade then put jicofo's login inside that block. The rerun
    still asks for --force (it cannot tell the upgrade from an admin), and with it the login
    moves out of the block: jicofo keeps it."""
    root = make_root("upgraded")
    assert run(root, tmp_path, "local", False) == 0
    jicofo = root / JICOFO
    old = jicofo.read_text().replace(DOTTED_BLOCK, OLD_BLOCK)
    assert old != jicofo.read_text()
    jicofo.write_text(old)
    import hashlib

    managed = json.loads((root / MANAGED_FILE.lstrip("/")).read_text())
    managed["/" + JICOFO] = hashlib.sha256(old.encode()).hexdigest()
    (root / MANAGED_FILE.lstrip("/")).write_text(json.dumps(managed))
    upgrade(root)
    block = jicofo.read_text()[jicofo.read_text().index(HOCON_BEGIN):]
    assert FOCUS_PASSWORD in block  # the bug this issue is about

    capsys.readouterr()
    assert main(["status", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"/{JICOFO}: changed since an earlier version of jitsi-wizard wrote it" in out
    assert FOCUS_PASSWORD not in out
    assert run(root, tmp_path, "local", False) == 2
    err = capsys.readouterr().err
    assert "changed by hand" in err and FOCUS_PASSWORD not in err
    assert run(root, tmp_path, "local", False, "--force") == 0
    text = jicofo.read_text()
    assert FOCUS_PASSWORD not in text[text.index(HOCON_BEGIN):]
    assert focus_login(root) == FOCUS_PASSWORD
    conf = pyhocon.ConfigFactory.parse_string(text)
    assert conf.get("jicofo.xmpp.client.domain") == f"auth.{HOST}"
    assert conf.get("jicofo.xmpp.trusted-domains") == [f"recorder.{HOST}"]
    assert dict(conf.get("jicofo.authentication")) == {
        "enabled": True, "type": "XMPP", "login-url": HOST}
    assert run(root, tmp_path, "open", False) == 0
    assert focus_login(root) == FOCUS_PASSWORD


# --- status --------------------------------------------------------------------------------

def test_status_names_the_upgrade_and_what_it_changed(make_root, tmp_path, capsys):
    root = make_root("upgraded")
    assert run(root, tmp_path, "ldap", True) == 0
    capsys.readouterr()
    assert main(["status", "--root", str(root)]) == 0
    assert "changed since" not in capsys.readouterr().out
    upgrade(root)
    assert main(["status", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "jicofo 1.0-756-1 -> 1.0-1125-1" in out
    assert f"/{JICOFO}: changed outside jitsi-wizard's lines" in out
    assert f"/{HOST_CFG}: changed outside jitsi-wizard's lines" in out
    assert "+ component_admins_as_room_owners = true" in out
    assert FOCUS_PASSWORD not in out and CANARY not in out
    assert main(["status", "--json", "--root", str(root)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {c["path"]: c["inside"] for c in doc["changed_since_last_run"]} == {
        f"/{JICOFO}": False, f"/{HOST_CFG}": False}
    assert FOCUS_PASSWORD not in json.dumps(doc)

    host_cfg = root / HOST_CFG
    host_cfg.write_text(host_cfg.read_text().replace('authentication = "ldap"',
                                                     'authentication = "internal_plain"'))
    assert main(["status", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"/{HOST_CFG}: changed inside jitsi-wizard's lines" in out
