"""Every screen at 80x24, compared as plain text with tests/snapshots/tui/*.txt.

Plain text on purpose: a state that only a colour would tell (a chosen option, a failed
check) shows up as missing here, so the snapshots also prove the wizard reads under NO_COLOR
and on the Linux console. Update after an intended change with JW_UPDATE_SNAPSHOTS=1.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

from jitsiwizard.checks.result import CheckResult
from jitsiwizard.errors import EXIT_ROLLED_BACK
from jitsiwizard.rootfs import Root
from tests.test_tui_support import (
    HOST,
    SIZE,
    FixedChecks,
    confirm,
    loaded,
    make_app,
    next_step,
    normalise,
    press,
    screen_text,
    tui_root,
    type_into,
    wait_idle,
    wait_screen,
    wait_until,
)

SNAPSHOTS = Path(__file__).parent / "snapshots" / "tui"
UPDATE = os.environ.get("JW_UPDATE_SNAPSHOTS") == "1"

NAT_DNS = [
    CheckResult("dns.ipv4", "warn", f"{HOST} points at public address 81.2.69.160 while this "
                "host only has private addresses (10.0.0.5): it is behind NAT, and the "
                "videobridge needs the address mapping",
                [f"resolver 127.0.0.1:53: {HOST} A -> 81.2.69.160",
                 "this host's IPv4 addresses: 10.0.0.5"],
                "forward 80/tcp, 443/tcp and 10000/udp from 81.2.69.160 to 10.0.0.5, and let "
                "the plan add the videobridge mapping",
                {"reason": "nat", "local_address": "10.0.0.5", "public_address": "81.2.69.160"}),
    CheckResult("dns.ipv6", "ok", f"{HOST} has no AAAA record and this host has no global "
                "IPv6 address"),
]


async def snapshot(pilot, root: Path, name: str) -> None:
    # Let layout and painting settle first (as pytest-textual-snapshot does).
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    text = normalise(screen_text(pilot.app), root)
    lines = text.splitlines()
    assert len(lines) <= SIZE[1] and all(len(line) <= SIZE[0] for line in lines), text
    path = SNAPSHOTS / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert path.exists(), f"no snapshot {path}: run with JW_UPDATE_SNAPSHOTS=1 to create it"
    expected = path.read_text()
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            f"{name} (stored)", f"{name} (now)"))
        raise AssertionError(f"screen {name} differs from its snapshot:\n{diff}")


async def test_every_screen_at_80x24(request):
    root = tui_root(request)
    checks = FixedChecks(Root(root), dns=NAT_DNS)
    app = make_app(root, checks=checks)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await snapshot(pilot, root, "01-welcome")
        await press(pilot, "f1")
        await wait_until(pilot, lambda: app.screen.query(".help"), "the help")
        await snapshot(pilot, root, "02-help")
        await press(pilot, "escape")
        await wait_until(pilot, lambda: not app.screen.query(".help"), "the help to close")

        await next_step(pilot, "hostname")
        await snapshot(pilot, root, "03-hostname")
        await type_into(pilot, "#hostname", "meet..example.org")
        await snapshot(pilot, root, "04-hostname-invalid")
        await type_into(pilot, "#hostname", HOST)

        await next_step(pilot, "dns")
        await snapshot(pilot, root, "05-dns-nat")
        app.screen.query_one("#use-nat").press()
        await wait_until(pilot, lambda: app.form.answers.host.public_address, "the mapping")
        await next_step(pilot, "firewall")
        await snapshot(pilot, root, "06-firewall")

        await next_step(pilot, "certificate")
        app.screen.query_one("#mode-letsencrypt").value = True
        await type_into(pilot, "#email", "admin@example.org")
        await snapshot(pilot, root, "07-certificate-letsencrypt")
        app.screen.query_one("#mode-own").value = True
        await type_into(pilot, "#cert-file", "/etc/ssl/missing.crt")
        await type_into(pilot, "#key-file", "/etc/ssl/missing.key")
        await wait_until(pilot, lambda: "does not exist" in str(  # under the field
            app.screen.query_one("#cert-file").parent.error.render()), "the files' check")
        await wait_idle(pilot)
        await snapshot(pilot, root, "08-certificate-own-invalid")
        app.screen.query_one("#mode-self-signed").value = True

        await next_step(pilot, "auth")
        app.screen.query_one("#policy-ldap").value = True
        await type_into(pilot, "#ldap-url", "ldaps://ldap.example.org")
        await type_into(pilot, "#ldap-bind-dn", "cn=jitsi,ou=services,dc=example,dc=org")
        await type_into(pilot, "#ldap-bind-pw", "service-secret")
        await type_into(pilot, "#ldap-base", "ou=people,dc=example,dc=org")
        app.screen.query_one("#ldap-test").press()
        await wait_until(pilot, lambda: "users match" in str(
            app.screen.query_one("#ldap-results").render()), "the LDAP test")
        for _ in range(2):  # once the results are laid out, show the end of the form
            await pilot.pause()
            app.screen.query_one("#body").scroll_end(animate=False)
        await snapshot(pilot, root, "09-auth-ldap-tested")
        app.screen.query_one("#policy-local").value = True
        app.screen.query_one("#users").focus()
        await press(pilot, "a")
        await wait_until(pilot, lambda: app.screen.query("#name")
                         and app.screen.query_one("#name").has_focus, "the user dialog")
        await press(pilot, *"bob")
        await snapshot(pilot, root, "10-auth-add-user")
        await press(pilot, "enter")
        await wait_until(pilot, lambda: app.screen.query_one("#password").has_focus,
                         "Enter to move to the password")
        await type_into(pilot, "#password", "bob-password")
        await type_into(pilot, "#again", "bob-password")
        await press(pilot, "enter")
        await wait_until(pilot, lambda: getattr(app.screen, "NAME", "") == "auth", "the dialog")
        await wait_idle(pilot)
        app.screen.query_one("#body").scroll_home(animate=False)
        await wait_idle(pilot)
        await snapshot(pilot, root, "11-auth-local-users")

        await next_step(pilot, "review")
        await wait_until(pilot, lambda: app.plan is not None, "the plan")
        await snapshot(pilot, root, "12-review")
        app.screen.query_one("#steps-list").focus()
        await press(pilot, "enter")
        await wait_until(pilot, lambda: app.screen.query("#viewer-body"), "the diff")
        await snapshot(pilot, root, "13-review-diff")
        await press(pilot, "escape")
        await wait_until(pilot, lambda: getattr(app.screen, "NAME", "") == "review", "review")

        await press(pilot, "ctrl+n")
        await wait_until(pilot, lambda: app.screen.query("#yes"), "the apply question")
        await wait_idle(pilot)
        await snapshot(pilot, root, "14-apply-question")
        await confirm(pilot)
        await wait_screen(pilot, "apply")
        await wait_until(pilot, lambda: app.outcome is not None, "the run")
        await wait_idle(pilot)
        await snapshot(pilot, root, "15-apply-done")
        await next_step(pilot, "done")
        await snapshot(pilot, root, "16-done")
        await press(pilot, "ctrl+q")  # on Done, quitting needs no question
        await wait_until(pilot, lambda: app.return_value is not None, "the app to end")
    assert app.exit_code == 0


async def test_quit_asks_and_an_interrupted_run_is_offered_first(request):
    root = tui_root(request)
    run_id = "20260101-000000-abcd"
    run_dir = root / "var/lib/jitsi-wizard/runs" / run_id
    (run_dir / "backup").mkdir(parents=True)
    (run_dir / "state.json").write_text(json.dumps({
        "run_id": run_id, "seq": 1, "status": "applying", "pid": 0,
        "started": "2026-01-01T00:00:00Z", "plan": "3 step(s)", "summary": "3 step(s)"}))
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await wait_until(pilot, lambda: app.screen.query("#rollback"), "the rollback offer")
        await wait_idle(pilot)
        await snapshot(pilot, root, "17-welcome-interrupted")
        await press(pilot, "ctrl+n")  # refused until rolled back
        assert app.current_step() == "welcome"
        await press(pilot, "ctrl+q")
        await wait_until(pilot, lambda: app.screen.query("#yes"), "the quit question")
        await wait_idle(pilot)
        await snapshot(pilot, root, "18-quit-question")
        await press(pilot, "escape")
        await wait_until(pilot, lambda: getattr(app.screen, "NAME", "") == "welcome", "back")
        app.screen.query_one("#rollback").focus()
        await press(pilot, "enter")
        await wait_until(pilot, lambda: app.interrupted is None, "the rollback")
        await next_step(pilot, "hostname")
    state = json.loads((run_dir / "state.json").read_text())
    assert state["status"] == "rolled-back"


async def test_a_failed_run_says_why_and_everything_is_rolled_back(request):
    root = tui_root(request)
    app = make_app(root)
    host_file = root / f"etc/prosody/conf.avail/{HOST}.cfg.lua"
    original = host_file.read_text()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for name in ("hostname", "dns", "firewall", "certificate", "auth"):
            await next_step(pilot, name)
        app.screen.query_one("#policy-local").value = True
        app.form.answers.auth.users.clear()
        await next_step(pilot, "review")
        await wait_until(pilot, lambda: app.plan is not None, "the plan")
        jicofo = root / "etc/jitsi/jicofo/jicofo.conf"
        jicofo.write_text(jicofo.read_text() + "# changed by hand after the review\n")
        await press(pilot, "ctrl+n")
        await confirm(pilot)
        await wait_screen(pilot, "apply")
        await wait_until(pilot, lambda: app.outcome is not None, "the run")
        await wait_idle(pilot)
        assert app.outcome.status == "rolled-back"
        await snapshot(pilot, root, "19-apply-failed")
        await press(pilot, "ctrl+n")  # nothing applied: no summary to go to
        assert app.current_step() == "apply"
        await press(pilot, "escape")
        await wait_screen(pilot, "review")
    assert app.exit_code == EXIT_ROLLED_BACK
    assert host_file.read_text() == original
