"""Meetings in progress: replay asks jicofo's /stats (a stand-in here) before a plan that
restarts Prosody, jicofo or the bridge, and refuses while people are in meetings or when
jicofo cannot say, unless --allow-disruption."""

from __future__ import annotations

from jitsiwizard.cli.main import main
from tests.lab.jitsi_standins import StandIn
from tests.lab.proc import free_port

from .conftest import answers_toml, snapshot


def _answers(tmp_path):
    path = tmp_path / "answers.toml"
    path.write_text(answers_toml("local", True))
    path.chmod(0o600)
    return str(path)


def _replay(root, answers, *extra):
    return main(["--answers", answers, "--root", str(root), "--simulate", "--skip-checks",
                 *extra])


def test_live_meetings_refuse_without_allow_disruption(make_root, tmp_path, capsys):
    root = make_root()
    answers = _answers(tmp_path)
    before = snapshot(root, include_state=True)
    with StandIn(conferences=2, participants=5) as jicofo:
        code = _replay(root, answers, "--jicofo-url", jicofo.url)
        assert jicofo.asked == ["/stats"]
    err = capsys.readouterr().err
    assert code == 1
    assert "2 meetings with 5 people are running: applying drops them" in err
    assert "--allow-disruption" in err
    assert snapshot(root, include_state=True) == before


def test_silent_jicofo_is_reported_not_taken_as_zero(make_root, tmp_path, capsys):
    root = make_root()
    answers = _answers(tmp_path)
    before = snapshot(root, include_state=True)
    code = _replay(root, answers, "--jicofo-url", f"http://127.0.0.1:{free_port()}")
    err = capsys.readouterr().err
    assert code == 1
    assert "jicofo did not say whether meetings are running" in err
    assert snapshot(root, include_state=True) == before


def test_allow_disruption_applies(make_root, tmp_path, capsys):
    root = make_root()
    answers = _answers(tmp_path)
    with StandIn(conferences=1, participants=3) as jicofo:
        # Nothing answers on the c2s port given: the verification fails and rolls back,
        # which proves the run went past the question.
        code = _replay(root, answers, "--jicofo-url", jicofo.url, "--bridge-url", jicofo.url,
                       "--xmpp", f"127.0.0.1:{free_port()}", "--settle", "0",
                       "--allow-disruption")
    out, err = capsys.readouterr()
    assert "1 meetings with 3 people are running" in err
    assert code == 3
    assert "FAILED after the restarts: verification failed" in err
    assert "prosody c2s" in err


def test_no_meetings_no_question(make_root, tmp_path, capsys):
    root = make_root()
    answers = _answers(tmp_path)
    with StandIn() as jicofo:
        code = _replay(root, answers, "--jicofo-url", jicofo.url, "--keep-on-failure",
                       "--xmpp", f"127.0.0.1:{free_port()}", "--settle", "0")
    out, err = capsys.readouterr()
    assert "no meeting is running (jicofo says 0)" in err
    # Verification failed, but --keep-on-failure keeps the changes: exit 1, run applied.
    assert code == 1
    assert "the changes were kept (--keep-on-failure)" in err
    assert "applied: run" in out


def test_simulate_without_endpoints_says_what_was_skipped(make_root, tmp_path, capsys):
    root = make_root()
    code = _replay(root, _answers(tmp_path))
    out, err = capsys.readouterr()
    assert code == 0
    assert "meetings in progress not asked: this run only records its commands" in err
    assert "skipped  services: not probed" in out
