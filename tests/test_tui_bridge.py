"""An extra videobridge in the screens (issue 15): the role is chosen on Welcome (a host that
runs only the videobridge starts with it), the steps are then Welcome, Bridge, Firewall,
Review, Apply, Done; the Bridge step speaks its own words, its live check (the preflight)
gates Next, and the plan the screens build equals the plan of replaying the saved answers.

The main host's certificate is given to the session as a file (`main_certificate_file`), and
the preflight answers with fixed results: nothing here reaches the network. The preflight
itself runs against a real Prosody in tests/test_bridge_lab.py."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from jitsiwizard import fixtures
from jitsiwizard.answers.load import load_file
from jitsiwizard.checks.result import FAIL, OK, CheckResult
from jitsiwizard.cli import main as cli
from jitsiwizard.host.facts import read_facts
from jitsiwizard.plan.meeting import build
from jitsiwizard.plan.steps import Plan
from jitsiwizard.plan.videobridge import MainCertificate
from jitsiwizard.rootfs import Root
from jitsiwizard.screens.base import ConfirmDialog
from tests.bridge_support import MAIN, MAIN_PEM, pem_sha256, write_pem
from tests.conftest import CANARY
from tests.test_tui_support import (
    SIZE,
    FixedChecks,
    confirm,
    focus,
    loaded,
    make_app,
    next_step,
    press,
    screen_text,
    type_into,
    wait_screen,
    wait_until,
)
from tests.test_tui_walk import choose, stdin_values

PIN = pem_sha256(MAIN_PEM)
PASSWORD = CANARY + "-bridge"
MEETING_ONLY = ("Hostname", "DNS", "Certificate", "Auth")


def tree(request, kind: str) -> Path:
    """A bare host ("empty") or a host with only the videobridge ("bridge")."""
    base = Path(tempfile.mkdtemp(prefix="jw-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    (fixtures.build_bridge if kind == "bridge" else fixtures.build_empty)(base)
    return base


def bridge_app(root: Path, tmp_path: Path, **kw):
    pem = write_pem(tmp_path, MAIN_PEM)
    session = FixedChecks(Root(root), main_certificate_file=str(pem), **kw)
    return make_app(root, checks=session)


def step_line(app) -> str:
    return str(app.screen.query_one("#steps").render())


async def fill_bridge(pilot, *, pin: str = PIN) -> None:
    await type_into(pilot, "#bridge-main", MAIN)
    await type_into(pilot, "#bridge-user", "bridge2")
    await type_into(pilot, "#bridge-password", PASSWORD)
    await type_into(pilot, "#bridge-pin", pin)


async def run_check(pilot) -> str:
    app = pilot.app
    button = app.screen.query_one("#bridge-check")
    results = app.screen.query_one("#bridge-results")
    before = str(results.render())
    await focus(pilot, button, "the check button to have the focus")
    # A button ignores Enter while it still shows its last press (for 0.2 s).
    await wait_until(pilot, lambda: not button.has_class("-active"), "the button to be ready")
    await press(pilot, "enter")
    await wait_until(pilot, lambda: app.screen.checks is not None
                     and str(results.render()) != before, "the check's result")
    return str(app.screen.query_one("#bridge-results").render())


async def test_the_videobridge_role_shows_only_its_steps(request, tmp_path):
    app = bridge_app(tree(request, "empty"), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.screen.query_one("#role-meeting-server").value  # the default
        for label in MEETING_ONLY:
            assert label in step_line(app)
        await choose(pilot, "role-videobridge")
        await wait_until(pilot, lambda: "Bridge" in step_line(app), "the bridge's steps")
        line = step_line(app)
        for label in MEETING_ONLY:
            assert label not in line
        await next_step(pilot, "bridge")
        assert app.current_step() == "bridge"
        for label in MEETING_ONLY:
            assert label not in step_line(app)
        await press(pilot, "escape")
        await wait_screen(pilot, "welcome")
        # Back to the meeting server: its steps, exactly as before.
        await choose(pilot, "role-meeting-server")
        await wait_until(pilot, lambda: "Bridge" not in step_line(app), "the server's steps")
        await next_step(pilot, "hostname")
        assert "Bridge" not in step_line(app) and "DNS" in step_line(app)


async def test_a_host_with_only_the_videobridge_starts_as_a_bridge(request, tmp_path):
    app = bridge_app(tree(request, "bridge"), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await wait_until(pilot, lambda: app.screen.query_one("#role-videobridge").value,
                         "the videobridge role to be chosen")
        assert "Hostname" not in step_line(app)
        await next_step(pilot, "bridge")


async def test_bridge_errors_name_the_fields_in_the_screens_words(request, tmp_path):
    app = bridge_app(tree(request, "empty"), tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await choose(pilot, "role-videobridge")
        await next_step(pilot, "bridge")
        await type_into(pilot, "#bridge-pin", "not-a-fingerprint")
        await type_into(pilot, "#bridge-address", "main.example")
        await press(pilot, "ctrl+n")
        # Each under its own field, in the screen's words; the first one gets the focus.
        lines = {selector: app.screen.query_one(selector).parent.error
                 for selector in ("#bridge-main", "#bridge-user", "#bridge-password",
                                  "#bridge-pin", "#bridge-address")}
        await wait_until(pilot, lambda: "Main host" in str(lines["#bridge-main"].render()),
                         "the problems")
        for selector, label in (("#bridge-main", "Main host: is missing"),
                                ("#bridge-user", "Username: is missing"),
                                ("#bridge-password", "Password: is missing"),
                                ("#bridge-pin", "Certificate SHA-256: 'not-a-fingerprint'"),
                                ("#bridge-address",
                                 "Main address: 'main.example' is not an IP address")):
            shown = str(lines[selector].render())
            assert shown.startswith("error: " + label), shown
            assert "bridge." not in shown and "[bridge]" not in shown and "under" not in shown
        main = app.screen.query_one("#bridge-main")
        await wait_until(pilot, lambda: main.has_focus, "Main host to take the focus")
        box = app.screen.query_one("#bridge-problems")
        assert not str(box.render()).strip()  # nothing twice
        assert app.current_step() == "bridge"
        # Fixed on the screen, they go as they are fixed.
        await fill_bridge(pilot)
        await type_into(pilot, "#bridge-address", "")
        await wait_until(pilot, lambda: not any(line.display for line in lines.values()),
                         "the problems to go")
        assert not str(box.render()).strip()


async def test_the_check_gates_next(request, tmp_path):
    failing = [CheckResult("bridge.resolve", OK, "main host resolves", [f"{MAIN} is 192.0.2.10"]),
               CheckResult("bridge.tls", FAIL, f"TLS on {MAIN}:5222", ["connection refused"],
                           "the main host's firewall must let this host reach 5222/tcp")]
    app = bridge_app(tree(request, "empty"), tmp_path, bridge=failing)
    session = app.session
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await choose(pilot, "role-videobridge")
        await next_step(pilot, "bridge")
        await fill_bridge(pilot)
        # Not run: Next asks, and No stays.
        await press(pilot, "ctrl+n")
        dialog = await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog)
                                  and app.screen, "the question")
        assert "was not run" in dialog.message
        await press(pilot, "escape")
        await wait_screen(pilot, "bridge")
        # Failed: each result with its fix, and Next asks again, naming the failure.
        shown = await run_check(pilot)
        assert "The check failed" in shown and "[FAIL] TLS on" in shown
        assert "fix: the main host's firewall must let this host reach 5222/tcp" in shown
        assert session.bridge_asked.bridge.password.value == PASSWORD  # what was typed
        assert CANARY not in screen_text(app)
        await press(pilot, "ctrl+n")
        dialog = await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog)
                                  and app.screen, "the question")
        assert "failed" in dialog.message and "connection refused" in dialog.message
        await press(pilot, "escape")
        await wait_screen(pilot, "bridge")
        # Passed: Next goes straight on.
        session.bridge_results = [CheckResult(c.name, OK, c.summary, ["fine"]) for c in failing]
        shown = await run_check(pilot)
        assert "accepts this bridge" in shown
        await press(pilot, "ctrl+n")
        await wait_screen(pilot, "firewall")
        # A changed setting voids the result: back on Bridge, Next asks again.
        await press(pilot, "escape")
        await wait_screen(pilot, "bridge")
        await type_into(pilot, "#bridge-user", "bridge3")
        await press(pilot, "ctrl+n")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog),
                         "the question after a change")


async def walk(pilot) -> Plan:
    """Welcome (the videobridge), Bridge, Firewall, Review, Apply, Done; the plan reviewed."""
    app = pilot.app
    await loaded(pilot)
    if not app.screen.query_one("#role-videobridge").value:
        await choose(pilot, "role-videobridge")
    await next_step(pilot, "bridge")
    await fill_bridge(pilot)
    assert "accepts this bridge" in await run_check(pilot)
    await next_step(pilot, "firewall")
    await next_step(pilot, "review")
    await wait_until(pilot, lambda: app.plan is not None, "the plan")
    plan = app.plan
    assert CANARY not in screen_text(app)
    await press(pilot, "ctrl+n")
    await confirm(pilot)
    await wait_screen(pilot, "apply")
    await wait_until(pilot, lambda: app.outcome is not None, "the run to finish", 30)
    assert app.outcome.status == "applied", screen_text(app)
    await next_step(pilot, "done")  # a bridge host serves no meetings of its own
    done = screen_text(app)
    assert f"Videobridge for: {MAIN}" in done and "Meetings:" not in done, done
    assert "bridge list" in str(app.screen.query_one("#done-summary").render())
    return plan


async def check_walk(request, tmp_path, capsys, kind: str) -> None:
    root, pristine = tree(request, kind), tree(request, kind)
    app = bridge_app(root, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        plan = await walk(pilot)
    saved = app.saved_answers
    assert saved and stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    assert CANARY not in Path(saved).read_text()
    assert CANARY not in Path(app.outcome.log_path).read_text()
    secret = root / "var/lib/jitsi-wizard/secrets/bridge"
    assert secret.read_text() == PASSWORD and stat.S_IMODE(secret.stat().st_mode) == 0o600
    answers = load_file(saved).answers
    assert answers.is_bridge and answers.bridge.password.value == PASSWORD
    assert (answers.bridge.main, answers.bridge.username,
            answers.bridge.main_certificate_sha256) == (MAIN, "bridge2", PIN)
    # The saved file, replayed on an identical untouched host, plans the same.
    plan = Plan([s for s in plan.steps if not getattr(s, "secret", False)], list(plan.notes),
                list(plan.checks), list(plan.verification))
    replayed = build(answers, read_facts(Root(pristine)), Root(pristine),
                     main_certificate=MainCertificate(MAIN_PEM, PIN))
    assert replayed.steps == plan.steps
    assert replayed.notes == plan.notes
    assert stdin_values(replayed) == stdin_values(plan)
    capsys.readouterr()
    pem = write_pem(tmp_path, MAIN_PEM)
    assert cli.main(["--root", str(pristine), "--answers", saved, "--dry-run",
                     "--main-certificate", str(pem)]) == 0
    out = capsys.readouterr().out
    assert out == plan.render(app.session.redactor(load_file(saved).answers))
    assert CANARY not in out


async def test_a_walk_on_a_bare_host_plans_what_replay_plans(request, tmp_path, capsys):
    await check_walk(request, tmp_path, capsys, "empty")


async def test_a_walk_on_a_bridge_host_plans_what_replay_plans(request, tmp_path, capsys):
    await check_walk(request, tmp_path, capsys, "bridge")


async def test_a_meeting_server_is_not_offered_the_videobridge_role(request, tmp_path):
    """A host with Jitsi Meet is the meeting server: the plan refuses the videobridge role
    there, so Welcome says what the host is and how extra bridges are made, instead of a
    choice that leads nowhere; the command it shows works as printed."""
    from tests.test_tui_support import tui_root

    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert not app.screen.query("#role-videobridge")
        shown = screen_text(app)
        assert "This host is the meeting server (Jitsi Meet is installed)" in shown
        assert "jitsi-wizard bridge add --help" in [line.strip() for line in shown.splitlines()]
        assert "Bridge" not in step_line(app) and "Auth" in step_line(app)
    assert cli.main(["bridge", "add", "--help"]) == 0


async def test_an_answers_file_to_edit_brings_the_choice_back(request, tmp_path, capsys,
                                                               monkeypatch):
    from tests.test_tui_support import tui_root

    monkeypatch.setenv("ALICE_PASSWORD", "alice-password-1")
    assert cli.main(["example-answers"]) == 0
    answers = tmp_path / "answers.toml"
    answers.write_text(capsys.readouterr().out)
    answers.chmod(0o600)
    app = make_app(tui_root(request), edit=str(answers))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.screen.query_one("#role-meeting-server").value
        assert app.screen.query("#role-videobridge")


async def test_continue_anyway_without_the_main_host_says_how_the_wizard_takes_its_certificate(
        request, tmp_path):
    """The check failed, the admin went on: Review cannot plan without the main host's
    certificate, and its fix says how to give it to the wizard itself (not only to a
    replay), with the file to copy from the main host."""
    failing = [CheckResult("bridge.tls", FAIL, f"TLS on {MAIN}:5222", ["connection refused"],
                           "")]
    root = tree(request, "empty")
    session = FixedChecks(Root(root), bridge=failing)  # no certificate file: it is fetched
    app = make_app(root, checks=session)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await choose(pilot, "role-videobridge")
        await next_step(pilot, "bridge")
        await fill_bridge(pilot)
        await type_into(pilot, "#bridge-address", "127.0.0.1")  # nothing listens on 5222
        await run_check(pilot)
        await next_step(pilot, "firewall")  # "continue anyway": yes
        await next_step(pilot, "review")
        summary = app.screen.query_one("#plan-summary")
        await wait_until(pilot, lambda: "cannot be built" in str(summary.render()),
                         "the plan's refusal")
        text = " ".join(str(summary.render()).split())
        assert "start jitsi-wizard again with --main-certificate FILE" in text, text
        assert "/etc/prosody/certs/auth." in text, text
