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
    on_step,
    tui_root,
    type_into,
    wait_screen,
    wait_until,
)

SIZE = (80, 24)
FIX = "check the bind DN and password with the directory's administrator"


async def ldap_form(pilot) -> None:
    from tests.test_tui_admin import ldap_form as fill_ldap_form

    await loaded(pilot)
    await fill_ldap_form(pilot)


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


async def review_with_a_plan(pilot) -> None:
    from jitsiwizard.answers.model import LocalUser
    from jitsiwizard.workflow.form import typed
    from tests.test_tui_support import next_step

    app = pilot.app
    await on_step(pilot, "auth")
    app.screen.query_one("#policy-local").value = True
    app.form.answers.auth.users.append(LocalUser("user0", typed("pass-word-1")))
    await next_step(pilot, "review")
    await wait_until(pilot, lambda: app.plan is not None, "the plan")


async def test_quit_keys_typed_behind_the_apply_meet_the_run(request):
    """The Apply question up: Right, Enter (apply) and Ctrl+C Ctrl+C Ctrl+Q, all at once.
    The quit keys come after the run has started: they are refused while it runs, and no
    question says nothing was changed (it did, when quit keys overtook the keys ahead)."""
    from jitsiwizard.screens.base import ConfirmDialog

    app = make_app(tui_root(request))
    asked: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await review_with_a_plan(pilot)
        send_burst(app, ["ctrl+n"])
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "Apply?")
        original = app.push_screen

        def push_screen(screen, *args, **kw):
            if isinstance(screen, ConfirmDialog) and screen.title_text == "Quit":
                asked.append(screen.message)
            return original(screen, *args, **kw)

        app.push_screen = push_screen
        send_burst(app, ["right", "enter", "ctrl+c", "ctrl+c", "ctrl+q"])
        await settled(app)
        await wait_until(pilot, lambda: app.outcome is not None, "the run", 30)
        assert app.outcome.status == "applied"
        assert not any("Nothing on this host" in m for m in asked), asked


async def test_keys_typed_behind_next_answer_the_question_it_brings(request):
    """On Review, Next first asks jicofo about meetings, then asks "Apply?". Ctrl+N Right
    Enter typed at once: Right and Enter wait for the question and answer it (they went to
    the plan's list while jicofo was asked, and the question then stood unanswered)."""
    import threading

    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await review_with_a_plan(pilot)
        answer = threading.Event()  # jicofo answers once every key is in
        meetings = app.session.meetings

        def slow_meetings(planned):
            answer.wait(10)
            return meetings(planned)

        app.session.meetings = slow_meetings
        send_burst(app, ["ctrl+n", "right", "enter"])
        # Until the queue holds the keys (or, were it not to, has routed them all).
        await wait_until(pilot, lambda: getattr(app.screen, "asking", False)
                         and (app.keys.holding or app.keys.idle), "the keys behind Ctrl+N")
        answer.set()
        await settled(app)
        await wait_until(pilot, lambda: app.outcome is not None, "the run", 30)
        assert app.outcome.status == "applied"


def test_messages_speak_the_screens_words_not_the_answers_keys():
    from jitsiwizard.errors import Problem
    from jitsiwizard.workflow.form import on_screen

    cases = [
        Problem("cert.cert_file", "the files look swapped", "swap cert_file and key_file"),
        Problem("auth.ldap", "the directory refused the bind",
                "check auth.ldap.bind_dn and auth.ldap.bind_password"),
        Problem("cert.acme_server", "cert.acme_server = 'https://ca.example/dir' needs "
                "certbot", ""),
    ]
    shown = [on_screen(p) for p in cases]
    assert shown[0].hint == "swap Certificate and Private key"
    assert shown[1].hint == "check Bind DN and Bind password"
    assert shown[2].message == "ACME URL 'https://ca.example/dir' needs certbot"
    for problem in shown:
        assert "_" not in problem.message + problem.hint


async def test_other_acme_url_says_what_to_type_and_whose_terms(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "certificate")
        app.screen.query_one("#mode-certbot").value = True
        await settled(app)
        route = app.screen.query_one("#route")
        await wait_until(pilot, lambda: "cert.mode" not in str(route.render())
                         and "certbot" in str(route.render()), "the route in screen words")
        app.screen.query_one("#server-custom").value = True
        await wait_until(pilot, lambda: "type the ACME server" in str(route.render()),
                         "the route to ask for the URL")
        tos = app.screen.query_one("#tos")
        assert "letsencrypt.org" not in str(tos.label)
        app.screen.query_one("#server-production").value = True
        await wait_until(pilot, lambda: "letsencrypt.org" in str(tos.label),
                         "Let's Encrypt's terms for Let's Encrypt")


async def test_the_firewall_step_names_the_ports_the_plan_opens(request):
    """The demo's host has coturn: its TURN ports are named with Jitsi's."""
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.facts.has_package("coturn")
        app.go("firewall")
        await wait_screen(pilot, "firewall")
        intro = app.screen.query_one(".intro")
        await wait_until(pilot, lambda: "3478/udp" in str(intro.render())
                         and "5349/tcp" in str(intro.render()), "TURN's ports")


async def test_the_terms_line_fits_80_columns(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "certificate")
        app.screen.query_one("#mode-letsencrypt").value = True
        await settled(app)
        from tests.test_tui_support import screen_text

        await wait_until(pilot, lambda: "https://letsencrypt.org/repository/" in
                         screen_text(app), "the whole terms URL on screen")


async def test_back_is_gone_once_a_run_applied(request):
    from tests.test_tui_admin import run_to_apply

    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await run_to_apply(pilot, users=1)
        assert app.outcome.status == "applied"
        await wait_until(pilot, lambda: not app.screen.query_one("#back").display,
                         "Back to go")


def test_the_whole_plan_wraps_between_words_and_diff_lines_keep_every_character():
    from jitsiwizard.screens.review import fold

    words = ("12. write /etc/prosody/conf.avail/meet.example.org.cfg.lua: the host's "
             "authentication and the guest host's anonymous login, for local users")
    lines = fold(words, 60)  # a word longer than a line would be cut: none here is
    assert all(len(line) <= 60 for line in lines) and len(lines) > 1
    assert " ".join(part.strip() for part in lines) == words  # no word cut in two
    assert all(line.startswith("     ") for line in lines[1:])
    diff = "+" + "x" * 90
    assert "".join(part if n == 0 else part[5:] for n, part in
                   enumerate(fold(diff, 40))) == diff


async def test_review_errors_wrap_under_their_own_text(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.form.answers.auth.policy = "ldap"  # an empty LDAP form: the plan cannot be built
        app.go("review")
        await wait_screen(pilot, "review")
        summary = app.screen.query_one("#plan-summary")
        await wait_until(pilot, lambda: "cannot be built" in str(summary.render()),
                         "the plan's problems")
        from jitsiwizard.screens.base import text_width

        width = text_width(summary)
        lines = str(summary.render()).splitlines()  # as written, before the widget wraps
        body = [line for line in lines[1:] if line and not line.startswith("Press Esc")]
        assert body and all(line.startswith(("- ", "  ")) for line in body), lines
        assert all(len(line) <= width for line in lines), lines  # wrapped here, indented


async def test_five_downs_at_once_scroll_the_help_five_lines(request):
    from jitsiwizard.screens.base import HelpDialog

    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.go("auth")  # the longest help
        await wait_screen(pilot, "auth")
        send_burst(app, ["f1"])
        await settled(app)
        dialog = await wait_until(pilot, lambda: isinstance(app.screen, HelpDialog)
                                  and app.screen, "the help")
        body = await wait_until(pilot, lambda: dialog.query(".help-body")
                                and dialog.query_one(".help-body"), "the help text")
        await wait_until(pilot, lambda: body.has_focus and body.max_scroll_y >= 5,
                         "the text to have the focus")
        send_burst(app, ["down"] * 5)
        await settled(app)
        await wait_until(pilot, lambda: body.scroll_target_y == 5 or body.scroll_y == 5,
                         "five lines down")
        await wait_until(pilot, lambda: round(body.scroll_y) == 5, "the scroll to end there")


async def test_own_certificate_paths_speak_as_the_host_names_them(request):
    """A relative key path says it must be absolute (not that it does not exist); a missing
    file is named by its path on the host, not where the demo's tree is."""
    root = tui_root(request)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "certificate")
        app.screen.query_one("#mode-own").value = True
        await settled(app)
        await type_into(pilot, "#cert-file", "/etc/ssl/missing.crt")
        await type_into(pilot, "#key-file", "meet.key")
        check = app.screen.query_one("#own-check")
        await wait_until(pilot, lambda: "absolute" in str(check.render())
                         or any("absolute" in p.message for p in app.screen.own_problems),
                         "the relative path refused as such")
        shown = " ".join(p.message + " " + p.hint for p in app.screen.own_problems)
        assert "does not exist" not in shown and str(root) not in shown, shown
        await type_into(pilot, "#key-file", "/etc/ssl/missing.key")
        await wait_until(pilot, lambda: any("does not exist" in p.message
                                            for p in app.screen.own_problems), "the check")
        shown = " ".join(p.message + " " + p.hint for p in app.screen.own_problems)
        assert "/etc/ssl/missing.crt does not exist" in shown and str(root) not in shown, shown


async def test_a_finished_dns_check_is_never_called_unfinished(request):
    """The status line says the check's verdict; Next then never asks about a check that
    "has not finished", after going back and forth as well."""
    from jitsiwizard.screens.base import ConfirmDialog
    from tests.test_tui_support import press

    root = tui_root(request)
    session = FixedChecks(Root(root), dns=[
        CheckResult("dns.ipv4", "warn", "meet.example.org points at 192.0.2.99", [], "")])
    app = make_app(root, checks=session)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for _ in range(2):
            app.go("dns")
            await wait_screen(pilot, "dns")
            status = app.screen.status
            await wait_until(pilot, lambda status=status: "DNS check: warn" in
                             str(status.render()), "the verdict on the status line")
            await press(pilot, "ctrl+n")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog)
                             or getattr(app.screen, "NAME", "") == "firewall", "Next")
            if isinstance(app.screen, ConfirmDialog):
                assert "has not finished" not in app.screen.message
                await press(pilot, "escape")
            app.go("hostname")
            await wait_screen(pilot, "hostname")


async def test_done_scrolls_from_its_quit_button(request):
    from tests.test_tui_admin import run_to_apply
    from tests.test_tui_support import next_step

    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await run_to_apply(pilot, users=3)
        await next_step(pilot, "done")
        body = app.screen.query_one("#body")
        await wait_until(pilot, lambda: app.focused is app.screen.query_one("#next")
                         and body.max_scroll_y > 0, "Quit focused, the summary taller")
        send_burst(app, ["pagedown"])
        await settled(app)
        await wait_until(pilot, lambda: body.scroll_y > 0, "Page Down to scroll from Quit")
