"""The admin's walk, minor points (issue #20): focus and status lines that must not leave the
admin guessing."""

from __future__ import annotations

from jitsiwizard.checks.result import CheckResult
from jitsiwizard.rootfs import Root
from tests.test_tui_keys import send_burst, settled
from tests.test_tui_support import (
    FixedChecks,
    focus,
    loaded,
    make_app,
    tui_root,
    type_into,
    wait_screen,
    wait_until,
)

SIZE = (80, 24)
FIX = "check the bind DN and password with the directory's administrator"


async def ldap_form(pilot) -> None:
    app = pilot.app
    await loaded(pilot)
    app.go("auth")
    await wait_screen(pilot, "auth")
    app.screen.query_one("#policy-ldap").value = True
    await wait_until(pilot, lambda: app.screen.query_one("#panel-ldap").display, "LDAP form")
    await type_into(pilot, "#ldap-url", "ldaps://ldap.example.org")
    await type_into(pilot, "#ldap-bind-dn", "cn=jitsi,ou=services,dc=example,dc=org")
    await type_into(pilot, "#ldap-bind-pw", "service-secret")
    await type_into(pilot, "#ldap-base", "ou=people,dc=example,dc=org")


def region_shown(app, widget) -> bool:
    """The widget's first line is inside the screen's body as scrolled now."""
    body = app.screen.query_one("#body")
    top = widget.region.y
    return body.region.y <= top < body.region.y + body.region.height


async def test_the_ldap_test_keeps_the_focus_and_shows_its_verdict(request):
    """Test connection: the button keeps the focus once the test ends (Page Down then
    scrolls), and the failure with its fix is in view at 80x24."""
    root = tui_root(request)
    session = FixedChecks(Root(root), ldap=[
        CheckResult("ldap.bind", "fail", "the directory refused the service account",
                    [], FIX)])
    app = make_app(root, checks=session)
    async with app.run_test(size=SIZE) as pilot:
        await ldap_form(pilot)
        button = app.screen.query_one("#ldap-test")
        await focus(pilot, button, "the test button")
        send_burst(app, ["enter"])
        results = app.screen.query_one("#ldap-results")
        await wait_until(pilot, lambda: "failed" in str(results.render()), "the failed test")
        await settled(app)
        await wait_until(pilot, lambda: app.focused is button, "the button to keep the focus")
        await wait_until(pilot, lambda: region_shown(app, results), "the verdict in view")
        body = app.screen.query_one("#body")
        before = body.scroll_y
        send_burst(app, ["pagedown"])
        await settled(app)
        await wait_until(pilot, lambda: body.scroll_y != before or body.max_scroll_y == before,
                         "Page Down to scroll")


async def test_a_passed_test_is_not_claimed_once_the_password_changed(request):
    root = tui_root(request)
    session = FixedChecks(Root(root))
    app = make_app(root, checks=session)
    async with app.run_test(size=SIZE) as pilot:
        await ldap_form(pilot)
        app.screen.query_one("#ldap-test").press()
        status = app.screen.status
        await wait_until(pilot, lambda: "passed" in str(status.render()), "the passed test")
        await type_into(pilot, "#ldap-bind-pw", "another-secret")
        await wait_until(pilot, lambda: "passed" not in str(status.render()),
                         "the status line to drop the old verdict")
        assert "test again" in str(app.screen.query_one("#ldap-results").render())
