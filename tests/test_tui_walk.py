"""Pilot-driven walks through the whole wizard, one per policy and per certificate mode: the
plan the screens build equals the plan of replaying the answers file the wizard saved, and the
typed passwords reach the plan, the secret files and nothing else."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jitsiwizard.answers.load import load_file
from jitsiwizard.cli import main as cli
from jitsiwizard.host.facts import read_facts
from jitsiwizard.plan.meeting import build
from jitsiwizard.plan.steps import Command, Plan
from jitsiwizard.rootfs import Root
from jitsiwizard.workflow.session import Session
from tests.conftest import CANARY
from tests.lab.ca import CA
from tests.test_tui_support import (
    HOST,
    SIZE,
    confirm,
    focus,
    loaded,
    make_app,
    next_step,
    press,
    screen_text,
    tui_root,
    type_into,
    wait_screen,
    wait_until,
)

USER_PASSWORD = CANARY + "-user"
LDAP_PASSWORD = CANARY + "-ldap"


async def choose(pilot, button_id: str) -> None:
    """Select a radio button with the keyboard: focus its set, arrow to it, Space."""
    from textual.widgets import RadioButton

    button = pilot.app.screen.query_one(f"#{button_id}", RadioButton)
    radio_set = button.parent
    radio_set.focus()
    await wait_until(pilot, lambda: radio_set.has_focus and radio_set._selected is not None,
                     "the choice to have the focus")
    target = list(radio_set.query(RadioButton)).index(button)
    while radio_set._selected != target:
        before = radio_set._selected
        await press(pilot, "down")
        await wait_until(pilot, lambda before=before: radio_set._selected != before,
                         "the choice to move")
    await press(pilot, "space")  # Enter on the choice already made would go on
    await wait_until(pilot, lambda: button.value, f"{button_id} to be chosen")


async def tick(pilot, box_id: str, value: bool = True) -> None:
    box = pilot.app.screen.query_one(f"#{box_id}")
    if box.value != value:
        await focus(pilot, box, f"{box_id} to have the focus")
        await press(pilot, "space")
        await wait_until(pilot, lambda: box.value == value, f"{box_id} = {value}")


async def certificate_step(pilot, mode: str, root: Path) -> None:
    await choose(pilot, f"mode-{mode}")
    if mode in ("letsencrypt", "certbot"):
        await type_into(pilot, "#email", "admin@example.org")
        if mode == "certbot":
            await choose(pilot, "server-staging")
        await tick(pilot, "tos")
    elif mode == "own":
        await type_into(pilot, "#cert-file", "/etc/ssl/meet.crt")
        await type_into(pilot, "#key-file", "/etc/ssl/meet.key")
        screen = pilot.app.screen
        await wait_until(pilot, lambda: "a valid pair" in str(
            screen.query_one("#own-check").render()), "the certificate files to be checked")


async def auth_step(pilot, policy: str, guests: bool, ldap_url: str) -> None:
    await choose(pilot, f"policy-{policy}")
    if guests:
        await tick(pilot, "guests")
    if policy == "local":
        users = pilot.app.screen.query_one("#users")
        await focus(pilot, users, "the users list to have the focus")
        await press(pilot, "a")
        await wait_until(pilot, lambda: pilot.app.screen.query("#name")
                         and pilot.app.screen.query_one("#name").has_focus, "the user dialog")
        await press(pilot, *"alice", "enter")
        await wait_until(pilot, lambda: pilot.app.screen.query_one("#password").has_focus,
                         "Enter to move to the password")
        await type_into(pilot, "#password", USER_PASSWORD)
        await type_into(pilot, "#again", USER_PASSWORD)
        await press(pilot, "enter")
        await wait_until(pilot, lambda: getattr(pilot.app.screen, "NAME", "") == "auth"
                         and any(u.name == "alice" for u in pilot.app.form.answers.auth.users),
                         "the dialog to close and alice to be in the list")
    elif policy == "ldap":
        await type_into(pilot, "#ldap-url", ldap_url)
        await type_into(pilot, "#ldap-bind-dn", "cn=jitsi,ou=services,dc=example,dc=org")
        await type_into(pilot, "#ldap-bind-pw", LDAP_PASSWORD)
        await type_into(pilot, "#ldap-base", "ou=people,dc=example,dc=org")
        test = pilot.app.screen.query_one("#ldap-test")
        await focus(pilot, test, "the test button to have the focus")
        await press(pilot, "enter")
        await wait_until(pilot, lambda: "users match" in str(
            pilot.app.screen.query_one("#ldap-results").render()), "the LDAP test result")


async def walk(pilot, *, policy: str, guests: bool, cert: str, root: Path,
               ldap_url: str = "ldap://ldap.example.org"):
    """Every step, keyboard first; returns the plan shown on the Review step."""
    app = pilot.app
    await loaded(pilot)
    for name in ("hostname", "dns", "firewall", "certificate"):
        await next_step(pilot, name)
    await certificate_step(pilot, cert, root)
    await next_step(pilot, "auth")
    await auth_step(pilot, policy, guests, ldap_url)
    await next_step(pilot, "review")
    await wait_until(pilot, lambda: app.plan is not None, "the plan")
    plan = app.plan
    assert CANARY not in screen_text(app)
    await press(pilot, "ctrl+n")
    await confirm(pilot)
    await wait_screen(pilot, "apply")
    await wait_until(pilot, lambda: app.outcome is not None, "the run to finish", 30)
    assert app.outcome.status == "applied", screen_text(app)
    await next_step(pilot, "done")
    assert f"https://{HOST}/" in screen_text(app)
    return plan


def own_certificate(root: Path, ca_dir: Path) -> None:
    issued = CA(ca_dir).issue(HOST)
    ssl = root / "etc/ssl"
    ssl.mkdir(parents=True, exist_ok=True)
    (ssl / "meet.crt").write_text(issued.chain.read_text())
    (ssl / "meet.key").write_text(issued.key.read_text())
    (ssl / "meet.key").chmod(0o600)


def stdin_values(plan) -> list[str]:
    return [s.stdin.value for s in plan.steps if isinstance(s, Command) and s.stdin is not None
            and not isinstance(s.stdin, str)]


def assert_replay_matches(tui_plan, saved: str, pristine: Path, capsys) -> None:
    """The saved file, replayed on an identical untouched host, plans exactly the same
    configuration. (The wizard's plan also stores the passwords typed in it, which the saved
    file then refers to: a replay has nothing of the kind to store.)"""
    tui_plan = Plan([s for s in tui_plan.steps if not getattr(s, "secret", False)],
                    list(tui_plan.notes), list(tui_plan.checks), list(tui_plan.verification))
    replayed = build(load_file(saved).answers, read_facts(Root(pristine)), Root(pristine))
    assert replayed.steps == tui_plan.steps
    assert replayed.notes == tui_plan.notes
    assert stdin_values(replayed) == stdin_values(tui_plan)
    capsys.readouterr()
    assert cli.main(["--root", str(pristine), "--answers", saved, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out == tui_plan.render(Session.redactor(load_file(saved).answers))
    assert CANARY not in out


# Every policy and every certificate mode, each at least once.
WALKS = [("open", False, "letsencrypt"), ("local", False, "self-signed"),
         ("local", True, "own"), ("ldap", False, "certbot"), ("ldap", True, "self-signed")]


@pytest.mark.parametrize(("policy", "guests", "cert"), WALKS,
                         ids=[f"{p}{'+guests' if g else ''}-{c}" for p, g, c in WALKS])
async def test_walk_plans_what_replaying_the_saved_answers_plans(request, tmp_path, capsys,
                                                                 policy, guests, cert):
    root, pristine = tui_root(request), tui_root(request)
    if cert == "own":
        own_certificate(root, tmp_path / "ca")
        for name in ("meet.crt", "meet.key"):
            target = pristine / "etc/ssl" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((root / "etc/ssl" / name).read_bytes())
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        plan = await walk(pilot, policy=policy, guests=guests, cert=cert, root=root)
    assert app.outcome.status == "applied"
    saved = app.saved_answers
    assert saved and Path(saved).is_file()
    assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
    assert CANARY not in Path(saved).read_text()  # passwords are saved as references only
    assert CANARY not in Path(app.outcome.log_path).read_text()
    answers = load_file(saved).answers
    assert (answers.auth.policy, answers.auth.guests, answers.cert.mode) == (policy, guests,
                                                                             cert)
    if policy == "local":
        assert [u.name for u in answers.auth.users] == ["alice"]
        assert answers.auth.users[0].password.value == USER_PASSWORD
        assert stdin_values(plan) == [f"{USER_PASSWORD}\n{USER_PASSWORD}\n"]
    if policy == "ldap":
        assert answers.auth.ldap.bind_password.value == LDAP_PASSWORD
    if policy != "open":
        secrets_dir = root / "var/lib/jitsi-wizard/secrets"
        assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
        assert sorted(p.name for p in secrets_dir.iterdir()) == (
            ["user-alice"] if policy == "local" else ["ldap-bind"])
        for path in secrets_dir.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
    if cert == "certbot":
        assert answers.cert.acme_server == "staging"
        assert any("staging" in s.describe() for s in plan.steps)
    if cert == "own":
        assert (answers.cert.cert_file, answers.cert.key_file) == ("/etc/ssl/meet.crt",
                                                                   "/etc/ssl/meet.key")
    assert_replay_matches(plan, saved, pristine, capsys)


async def test_edit_opens_prefilled_and_a_rerun_starts_from_the_host(request, tmp_path,
                                                                     capsys):
    """--edit FILE fills every screen from the file; a second run on the configured host
    starts from its state, so switching back to open is a few keys."""
    root, pristine = tui_root(request), tui_root(request)
    first = make_app(root)
    async with first.run_test(size=SIZE) as pilot:
        await walk(pilot, policy="local", guests=True, cert="self-signed", root=root)
    saved = first.saved_answers

    edit = make_app(pristine, edit=saved)
    async with edit.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await next_step(pilot, "hostname")
        assert pilot.app.screen.query_one("#hostname").value == HOST
        for name in ("dns", "firewall", "certificate", "auth"):
            await next_step(pilot, name)
        screen = pilot.app.screen
        assert screen.query_one("#policy-local").value
        assert screen.query_one("#guests").value
        assert "alice" in str(screen.query_one("#users").get_option_at_index(0).prompt)
        await next_step(pilot, "review")
        await wait_until(pilot, lambda: edit.plan is not None, "the plan")
    assert_replay_matches(edit.plan, saved, pristine, capsys)

    rerun = make_app(root)
    async with rerun.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for name in ("hostname", "dns", "firewall", "certificate", "auth"):
            await next_step(pilot, name)
        assert pilot.app.screen.query_one("#policy-local").value  # the host's state now
        assert pilot.app.screen.query_one("#guests").value
        await choose(pilot, "policy-open")
        await next_step(pilot, "review")
        await wait_until(pilot, lambda: rerun.plan is not None, "the plan")
        described = "\n".join(s.describe() for s in rerun.plan.steps)
        assert "jitsi-anonymous" in described and "remove" in described
