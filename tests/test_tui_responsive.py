"""A check pointed at a server that never answers: the UI keeps handling keys while the check
runs, and the check ends with a timeout result (real checks, real silent servers on
loopback)."""

from __future__ import annotations

import time

from textual.widgets import Input

from jitsiwizard.screens.base import HelpDialog
from jitsiwizard.workflow.live_checks import CHECK_GRACE as MARGIN
from tests.lab.dns import SilentDns
from tests.test_tui_support import (
    SIZE,
    focus,
    loaded,
    make_app,
    next_step,
    on_step,
    press,
    tui_root,
    type_into,
    wait_until,
)

TIMEOUT = 1.5


def running(app, group: str) -> bool:
    return any(w.group == group and w.is_running for w in app.workers)


async def test_dns_check_against_a_silent_resolver_keeps_the_ui_responsive(request):
    root = tui_root(request)
    with SilentDns() as silent:
        app = make_app(root, resolver=silent.resolver, check_timeout=TIMEOUT)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await next_step(pilot, "hostname")
            await press(pilot, "ctrl+n")
            await wait_until(pilot, lambda: getattr(app.screen, "NAME", "") == "dns"
                             and running(app, "dns"), "the DNS check to start")
            dns = app.screen
            await press(pilot, "f1")  # handled while the check waits on the network
            await wait_until(pilot, lambda: isinstance(app.screen, HelpDialog), "the help")
            assert running(app, "dns") and dns.results is None
            await press(pilot, "escape")
            await wait_until(pilot, lambda: app.screen is dns, "the help to close")
            results = await wait_until(pilot, lambda: dns.results, "the DNS result",
                                       TIMEOUT + 10)
        ipv4 = next(r for r in results if r.name == "dns.ipv4")
        assert ipv4.status == "fail"
        assert f"no answer from {silent.resolver} within {TIMEOUT:g} s" in ipv4.summary


async def test_ldap_test_against_a_silent_server_keeps_the_ui_responsive(request):
    root = tui_root(request)
    with SilentDns() as silent:  # its TCP side accepts connections and never answers
        app = make_app(root, resolver=silent.resolver, check_timeout=TIMEOUT)
        async with app.run_test(size=SIZE) as pilot:
            await on_step(pilot, "auth")
            auth = app.screen
            auth.query_one("#policy-ldap").value = True
            await wait_until(pilot, lambda: auth.query_one("#panel-ldap").display,
                             "the LDAP form")
            await type_into(pilot, "#ldap-url", f"ldap://127.0.0.1:{silent.port}")
            await type_into(pilot, "#ldap-bind-dn", "cn=jitsi,ou=services,dc=example,dc=org")
            await type_into(pilot, "#ldap-bind-pw", "service-secret")
            await type_into(pilot, "#ldap-base", "ou=people,dc=example,dc=org")
            auth.query_one("#ldap-test").press()
            await wait_until(pilot, lambda: running(app, "ldap"), "the LDAP test to start")
            started = time.monotonic()
            field = auth.query_one("#ldap-test-user", Input)
            await focus(pilot, field, "the focus")
            await press(pilot, *"alice")  # typed while the test waits on the server
            await wait_until(pilot, lambda: field.value == "alice", "the typing")
            assert running(app, "ldap")
            await wait_until(pilot, lambda: not running(app, "ldap"), "the LDAP result",
                             TIMEOUT + 10)
            took = time.monotonic() - started
            shown = str(auth.query_one("#ldap-results").render())
        # Bounded by the check's timeout (plus its clean-up margin), and reported as failed.
        # (Which words the check uses for a silent server is the check's business.)
        assert took < TIMEOUT + MARGIN + 1
        assert "Connection test failed" in shown
