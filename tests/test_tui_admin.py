"""The wizard as a new admin meets it over SSH (issue 12): the keyboard goes forward one step
at a time, only what the chosen options use is checked, checks gate what they promise to, the
messages speak the screen's words, and every printed command works when pasted."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from jitsiwizard.answers.model import LocalUser
from jitsiwizard.screens.base import ConfirmDialog, HelpDialog
from jitsiwizard.workflow.form import typed
from tests.test_tui_support import (
    SIZE,
    confirm,
    focus,
    loaded,
    make_app,
    next_step,
    on_step,
    press,
    screen_text,
    tui_root,
    type_into,
    wait_idle,
    wait_screen,
    wait_until,
)


def on(app, name: str) -> bool:
    return getattr(app.screen, "NAME", "") == name and not app.screen.entering


async def test_enter_visits_every_step_in_order_and_never_goes_back(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await press(pilot, "enter")  # Welcome: the focus is on Next
        await wait_screen(pilot, "hostname")
        await wait_idle(pilot)
        assert app.current_step() == "hostname"  # not skipped to DNS
        await type_into(pilot, "#hostname", "bad name!")
        await press(pilot, "enter")  # the only field: Enter goes on, through the check
        await wait_until(pilot, lambda: "hostname" in str(
            app.screen.query_one("#hostname-check").render()).lower(), "the refusal")
        assert app.current_step() == "hostname"
        await type_into(pilot, "#hostname", "meet.example.org")
        await press(pilot, "enter")
        await wait_screen(pilot, "dns")
        public = app.screen.query_one("#public", Input)
        public.focus()
        await wait_until(pilot, lambda: public.has_focus, "the public address field")
        await press(pilot, "enter")
        await wait_until(pilot, lambda: app.screen.query_one("#local", Input).has_focus,
                         "Enter to move to the next field")
        await press(pilot, "enter")  # the last field: Enter goes on, never back
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog)
                         or app.current_step() != "dns", "Enter to go on")
        assert app.current_step() == "dns" or app.current_step() == "firewall"
        assert not app.screen.query("#back") or not app.screen.query_one("#back").has_focus


async def letsencrypt_step(pilot) -> None:
    """The Certificate step with Let's Encrypt chosen (its e-mail field shown)."""
    app = pilot.app
    app.go("certificate")
    await wait_screen(pilot, "certificate")
    app.screen.query_one("#mode-letsencrypt").value = True


async def test_a_hidden_field_does_not_block_next(request):
    """An e-mail half typed for Let's Encrypt, then self-signed chosen: Next goes on."""
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await letsencrypt_step(pilot)
        await type_into(pilot, "#email", "admin@")
        app.screen.query_one("#mode-self-signed").value = True
        await wait_until(pilot, lambda: not app.screen.query_one("#acme").display,
                         "the e-mail field to be hidden")
        await next_step(pilot, "auth")
        assert app.form.problems() == []


async def ldap_form(pilot) -> None:
    app = pilot.app
    app.go("auth")
    await wait_screen(pilot, "auth")
    app.screen.query_one("#policy-ldap").value = True
    await wait_until(pilot, lambda: app.screen.query_one("#panel-ldap").display, "LDAP form")
    await type_into(pilot, "#ldap-url", "ldaps://ldap.example.org")
    await type_into(pilot, "#ldap-bind-dn", "cn=jitsi,ou=services,dc=example,dc=org")
    await type_into(pilot, "#ldap-bind-pw", "service-secret")
    await type_into(pilot, "#ldap-base", "ou=people,dc=example,dc=org")


async def question(pilot) -> str:
    """The "continue anyway" question after Ctrl+N: its text; Stay has the focus."""
    await press(pilot, "ctrl+n")
    dialog = await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog)
                              and pilot.app.screen, "the question")
    await wait_until(pilot, lambda: dialog.query("#no") and dialog.query_one("#no").has_focus,
                     "Stay to have the focus")
    assert str(dialog.query_one("#no").label) == "Stay"
    text = dialog.message
    await press(pilot, "enter")  # Stay
    await wait_until(pilot, lambda: on(pilot.app, "auth"), "the auth step again")
    return text


async def test_the_ldap_test_gates_next(request):
    from jitsiwizard.checks.result import CheckResult
    from jitsiwizard.rootfs import Root
    from tests.test_tui_support import FixedChecks

    root = tui_root(request)
    session = FixedChecks(Root(root), ldap=[
        CheckResult("ldap.bind", "fail", "the directory refused the service account")])
    app = make_app(root, checks=session)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await ldap_form(pilot)
        assert "not run" in await question(pilot)  # never tested
        app.screen.query_one("#ldap-test").press()
        await wait_until(pilot, lambda: "failed" in str(
            app.screen.query_one("#ldap-results").render()), "the failed test")
        await wait_idle(pilot)
        assert "refused the service account" in await question(pilot)
        session.checks.ldap_results = [CheckResult("ldap.bind", "ok", "bound")]
        app.screen.query_one("#ldap-test").press()
        await wait_until(pilot, lambda: "works" in str(
            app.screen.query_one("#ldap-results").render()), "the passing test")
        await wait_idle(pilot)
        await type_into(pilot, "#ldap-base", "ou=staff,dc=example,dc=org")  # clears it
        await wait_until(pilot, lambda: "test again" in str(
            app.screen.query_one("#ldap-results").render()), "the old result to go")
        assert "not run" in await question(pilot)
        app.screen.query_one("#ldap-test").press()
        await wait_until(pilot, lambda: "works" in str(
            app.screen.query_one("#ldap-results").render()), "the passing test")
        await wait_idle(pilot)
        await press(pilot, "ctrl+n")
        await wait_screen(pilot, "review")  # a passing test asks nothing


def line_under(app, selector: str):
    """The widget right after `selector`'s (in its field, for an input), if any."""
    widget = app.screen.query_one(selector)
    siblings = list(widget.parent.children)
    after = siblings.index(widget) + 1
    return siblings[after] if after < len(siblings) else None


def words(app) -> str:
    """The screen's text with its lines joined: a long error wraps."""
    return " ".join(screen_text(app).split())


def shown_lines(app) -> list:
    return [line for line in app.screen.query(".field-error") if line.display]


async def test_errors_speak_the_screens_words_and_go_once_fixed(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await letsencrypt_step(pilot)
        await type_into(pilot, "#email", "")
        await focus(pilot, app.screen.query_one("#mode"), "the choice above the fields")
        await press(pilot, "ctrl+n")
        email, line = app.screen.query_one("#email", Input), line_under(app, "#email")
        assert line is not None, "no line under the e-mail field"
        await wait_until(pilot, lambda: "E-mail" in str(line.render()), "the e-mail problem")
        shown = str(line.render())
        assert shown.startswith("error: E-mail: ")  # reads without colour
        assert "host.email" not in shown and "[host]" not in shown and " = " not in shown
        assert "Let's Encrypt" in shown
        # Next takes the admin to the field at fault (the focus moves just after the drawing).
        await wait_until(pilot, lambda: email.has_focus, "the e-mail field to take the focus")
        # Once, beside its field: not again in the step's box.
        box = app.screen.query_one("#cert-problems")
        assert "E-mail" not in str(box.render())
        await wait_until(pilot, lambda: "E-mail:" in screen_text(app), "it to be drawn")
        assert screen_text(app).count("E-mail:") == 1
        terms = line_under(app, "#tos")
        assert "terms" in str(terms.render()) and terms.display  # under its tick
        await type_into(pilot, "#email", "admin@example.org")
        await wait_until(pilot, lambda: not line.display, "the fix to count")
        await wait_until(pilot, lambda: "E-mail:" not in screen_text(app), "it to go")
        assert "terms" in str(terms.render())  # still not agreed: that one stays
        await press(pilot, "escape")
        await wait_screen(pilot, "firewall")
        await press(pilot, "ctrl+n")
        await wait_screen(pilot, "certificate")
        assert shown_lines(app) == []  # nothing stale from the last visit
        assert str(app.screen.query_one("#cert-problems").render()) == ""

        app.go("auth")
        await wait_screen(pilot, "auth")
        app.screen.query_one("#policy-local").value = True
        app.form.answers.auth.users.append(LocalUser("a b", None))
        await press(pilot, "ctrl+n")
        box = app.screen.query_one("#auth-problems")
        await wait_until(pilot, lambda: "a b" in str(box.render()), "the user problem")
        assert "auth.users[" not in str(box.render())  # the list has no line of its own


async def test_next_takes_the_admin_to_the_first_field_at_fault(request):
    """The LDAP form scrolls at 80x24: Next (and the LDAP test) bring the field at fault into
    view, with its error under it."""
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await ldap_form(pilot)
        await type_into(pilot, "#ldap-test-user", "x" * 300)  # the last field but one
        await focus(pilot, app.screen.query_one("#policy"), "the choice at the top")
        app.screen.query_one("#body").scroll_home(animate=False)
        await wait_until(pilot, lambda: "Test user" in screen_text(app)
                         and "Test password" not in screen_text(app), "the top of the form")
        await press(pilot, "ctrl+n")
        user = app.screen.query_one("#ldap-test-user", Input)
        await wait_until(pilot, lambda: user.has_focus, "the field at fault to take the focus")
        error = "error: Test user:"
        await wait_until(pilot, lambda: error in words(app)
                         and "is 300 characters long" in words(app),
                         "the whole error to come in view")
        assert "Test user xxx" in words(app)  # the field too, its error right under it
        assert words(app).index("Test user xxx") < words(app).index(error)
        assert on(app, "auth")
        assert str(app.screen.query_one("#auth-problems").render()) == ""
        await type_into(pilot, "#ldap-test-user", "")
        await wait_until(pilot, lambda: shown_lines(app) == [], "the error to go once fixed")

        await type_into(pilot, "#ldap-base", "")
        await focus(pilot, app.screen.query_one("#ldap-test"), "the test button")
        await press(pilot, "enter")
        base = line_under(app, "#ldap-base")
        await wait_until(pilot, lambda: "User base: is missing" in str(base.render()),
                         "the test to show the problem under its field")
        base_field = app.screen.query_one("#ldap-base", Input)
        await wait_until(pilot, lambda: base_field.has_focus, "User base to take the focus")
        assert shown_lines(app) == [base]
        assert "User base" not in str(app.screen.query_one("#ldap-results").render())


def send_burst(app, keys: list[str]) -> None:
    """The keys all at once, as one read from the terminal brings them."""
    from textual import events

    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)


async def test_keys_typed_in_a_burst_land_in_order_corrections_included(request):
    """Over SSH keys arrive together: each goes into the field in the order it was typed,
    Backspace, the arrows and Delete included, before the keys behind it."""
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await letsencrypt_step(pilot)
        email = app.screen.query_one("#email", Input)
        await type_into(pilot, "#email", "")
        await focus(pilot, email, "the e-mail field")
        burst = [*"adnim", "backspace", "backspace", "backspace", *"min@exampel",
                 "left", "left", "delete", "right", "e", "end", *".org"]
        send_burst(app, burst)
        await wait_until(pilot, lambda: email.value == "admin@example.org",
                         "the burst to read admin@example.org")
        await pilot.pause()
        assert email.value == "admin@example.org"


async def test_keys_typed_ahead_on_a_choice_stay_on_the_choice(request):
    """Down Down Enter Tab in one burst on Authentication's policy: LDAP is chosen and the
    wizard stays on the step (the Tab overtook the keys before it, and the Enter then
    pressed Next: on to Review)."""
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "auth")
        await focus(pilot, app.screen.query_one("#policy"), "the policy choice")
        send_burst(app, ["down", "down", "enter", "tab"])
        await wait_until(pilot, lambda: on(app, "auth")
                         and app.screen.query_one("#policy-ldap").value, "LDAP chosen")
        await wait_idle(pilot)
        for _ in range(3):  # until every key and what it set off is handled
            await pilot.pause()
        assert on(app, "auth") and app.form.answers.auth.policy == "ldap"


async def test_a_step_opens_at_its_top_wherever_it_was_left(request):
    """The LDAP form, left scrolled to its test button, opens again at its title."""
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await ldap_form(pilot)
        await focus(pilot, app.screen.query_one("#ldap-test"), "the test button")
        body = app.screen.query_one("#body")
        await wait_until(pilot, lambda: body.scroll_y > 0, "the form scrolled to its end")
        app.go("certificate")
        await wait_screen(pilot, "certificate")
        app.go("auth")
        await wait_screen(pilot, "auth")
        await wait_until(pilot, lambda: screen_text(app).splitlines()[2].strip()
                         == "Authentication", "the title on the step's third line")
        assert body.scroll_y == 0


async def run_to_apply(pilot, users: int = 2) -> None:
    """Local users (a step each), then Review, Apply, until the run ends."""
    app = pilot.app
    app.go("auth")
    await wait_screen(pilot, "auth")
    app.screen.query_one("#policy-local").value = True
    for number in range(users):
        app.form.answers.auth.users.append(LocalUser(f"user{number}", typed("pass-word-1")))
    await next_step(pilot, "review")
    await wait_until(pilot, lambda: app.plan is not None, "the plan")
    await press(pilot, "ctrl+n")
    await confirm(pilot)
    await wait_screen(pilot, "apply")
    await wait_until(pilot, lambda: app.outcome is not None, "the run", 30)
    await wait_idle(pilot)
    await pilot.pause()


async def test_the_apply_step_list_uses_the_height_and_follows_the_run(request):
    for size in (SIZE, (120, 40)):
        app = make_app(tui_root(request))
        async with app.run_test(size=size) as pilot:
            await loaded(pilot)
            await run_to_apply(pilot, users=3)
            total = len(app.plan.steps)
            assert total >= 9

            # The list follows the run to its end (its last scroll may land a frame later).
            await wait_until(pilot, lambda a=app, t=total: t in steps_listed(a, t),
                             "the last step in view")
            shown, listed = screen_text(app), steps_listed(app, total)
            if size == SIZE:
                assert len(listed) >= 6, shown
                # Less room (a smaller terminal, the outcome taking lines): still the end.
                await pilot.resize_terminal(80, 20)
                await wait_until(pilot, lambda a=app, t=total: t in steps_listed(a, t),
                                 "the last step in view at 80x20")
            else:
                assert listed == list(range(1, total + 1)), shown  # room for all of them


def steps_listed(app, total: int) -> list[int]:
    """The numbers of the Apply step's steps on screen."""
    shown = screen_text(app)
    return [n for n in range(1, total + 1) if f" {n:>2}. " in shown]


def printed_command(shown: str, label: str) -> str:
    """The command after `label` on the screen, as a shell reads it when pasted (the lines
    it is broken into end in a backslash)."""
    lines = shown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(label))
    value = lines[start].strip()[len(label):].strip()
    index = start
    if not value:  # on its own lines, below the label
        index += 1
        value = lines[index].strip()
    while value.endswith("\\"):
        index += 1
        value = value[:-1] + lines[index].strip()
    return value


async def test_every_command_on_done_works_when_pasted(request, capsys):
    import shlex
    import shutil

    from jitsiwizard.cli import main as cli
    root = tui_root(request)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await run_to_apply(pilot, users=3)
        await next_step(pilot, "done")
        await pilot.pause()
        shown = screen_text(app)
    # Paths are never broken in the middle: each is on one line, ready to copy.
    assert app.outcome.log_path in shown and app.saved_answers in shown, shown
    assert "1 more steps" not in shown
    replay = printed_command(shown, "Replay with")
    undo = printed_command(shown, "Undo with")
    # Each on the tree as Done left it: the undo removes the password files the replay
    # reads, and a replay is a newer run the undo would have to undo first.
    copy = tui_root(request)
    shutil.rmtree(copy)
    shutil.copytree(root, copy, symlinks=True)
    for command in (replay, undo.replace(str(root), str(copy))):
        words = shlex.split(command)
        assert words[0] == "jitsi-wizard", command
        capsys.readouterr()
        assert cli.main(words[1:]) == 0, (command, capsys.readouterr())


async def test_help_opens_on_the_keys_and_scrolls_with_the_keyboard(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.go("auth")  # the longest help
        await wait_screen(pilot, "auth")
        await press(pilot, "f1")
        dialog = await wait_until(pilot, lambda: isinstance(app.screen, HelpDialog)
                                  and app.screen, "the help")
        body = await wait_until(pilot, lambda: dialog.query(".help-body")
                                and dialog.query_one(".help-body"), "the help text")
        await wait_until(pilot, lambda: body.has_focus, "the text to have the focus")
        await pilot.pause()
        assert "Ctrl+Q          quit" in screen_text(app)  # above the fold
        assert body.max_scroll_y > 0
        await press(pilot, "pagedown")
        await wait_until(pilot, lambda: body.scroll_y > 0, "Page Down to scroll")
        await press(pilot, "escape")
        await wait_until(pilot, lambda: on(app, "auth"), "the help to close")


async def test_a_second_ctrl_c_in_the_quit_question_quits(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await press(pilot, "ctrl+c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        await press(pilot, "ctrl+c")
        await wait_until(pilot, lambda: app.return_value is not None, "the wizard to quit")
    assert app.return_value == 1  # the exit code: nothing applied


async def test_ctrl_c_is_still_refused_while_a_run_is_half_applied(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await press(pilot, "ctrl+c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        app.applying = True
        await press(pilot, "ctrl+c")
        await wait_until(pilot, lambda: app._notifications, "the refusal")
        assert app.is_running and app.return_value is None
        app.applying = False


def test_the_demo_removes_its_tree_on_exit_unless_kept(tmp_path, monkeypatch, capsys):
    import tempfile

    from jitsiwizard.cli import main as cli
    from jitsiwizard.screens import app as wizard_app
    seen = []

    def run_app(session, edit=None, first_frame=None):  # the wizard, quitting at once
        seen.append(session.root.base)
        assert (session.root.base / "etc/jitsi").is_dir() and session.simulate
        return 1

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(wizard_app, "run_app", run_app)
    assert cli.main(["--demo"]) == 1
    assert seen and list(tmp_path.iterdir()) == []
    assert cli.main(["--demo", "--keep-demo"]) == 1
    kept = list(tmp_path.iterdir())
    assert kept == [seen[-1]] and f"rm -rf {kept[0]}" in capsys.readouterr().out


async def test_local_users_are_checked_as_typed_and_a_adds_from_anywhere(request):
    from jitsiwizard.screens.auth import UserDialog

    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "auth")
        app.screen.query_one("#policy-local").value = True
        guests = app.screen.query_one("#guests")
        await focus(pilot, guests, "the guests box (not the list) to have the focus")
        await press(pilot, "a")
        dialog = await wait_until(pilot, lambda: isinstance(app.screen, UserDialog)
                                  and app.screen, "the user dialog")
        await wait_until(pilot, lambda: dialog.query("#name")
                         and dialog.query_one("#name").has_focus, "the name field")
        problem = dialog.query_one("#dialog-problem")
        await press(pilot, "a", "space", "l")  # refused as typed, not at OK
        await wait_until(pilot, lambda: "not a valid user name" in str(problem.render()),
                         "the name to be refused as typed")
        await press(pilot, "backspace", "backspace", "l")
        name = dialog.query_one("#name", Input)
        await wait_until(pilot, lambda: name.value == "al", "the name to be fixed")
        await wait_until(pilot, lambda: str(problem.render()) == "", "the problem to go")
        await type_into(pilot, "#password", "x")
        await wait_until(pilot, lambda: "shorter than 8" in str(problem.render()),
                         "a short password to be refused")
        await type_into(pilot, "#again", "x")
        await press(pilot, "enter")
        assert app.screen is dialog  # not accepted
        await type_into(pilot, "#password", "long-enough-1")
        await type_into(pilot, "#again", "long-enough-1")
        await press(pilot, "enter")
        # The dialog's result reaches the Auth screen after the dialog has gone.
        await wait_until(pilot, lambda: on(app, "auth")
                         and [u.name for u in app.form.answers.auth.users] == ["al"],
                         "the dialog to close and al to be in the list")


def test_answers_files_follow_the_same_minimum_password_length():
    from jitsiwizard.answers.load import loads
    from jitsiwizard.errors import ProblemList

    text = ('[host]\nhostname = "meet.example.org"\n[cert]\nmode = "self-signed"\n'
            '[auth]\npolicy = "local"\n[[auth.users]]\nname = "alice"\npassword = "{}"\n')
    assert loads(text.format("long-enough")).answers.auth.users[0].name == "alice"
    try:
        loads(text.format("short"))
    except ProblemList as exc:
        assert any(p.field == "auth.users[0].password" and "shorter than 8" in p.message
                   for p in exc.problems)
    else:
        raise AssertionError("a 5-character password was accepted")


async def test_own_certificate_says_what_it_needs_and_shows_only_current_problems(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "certificate")
        app.screen.query_one("#mode-own").value = True
        route = app.screen.query_one("#route")
        await wait_until(pilot, lambda: "give the certificate" in str(route.render()),
                         "the route to ask for the files")
        assert "serve  and" not in str(route.render())
        check = app.screen.query_one("#own-check")
        cert_line, key_line = line_under(app, "#cert-file"), line_under(app, "#key-file")
        await type_into(pilot, "#cert-file", "/etc/ssl/missing.crt")
        await type_into(pilot, "#key-file", "/etc/ssl/missing.key")
        await wait_until(pilot, lambda: "missing.crt does not exist" in str(cert_line.render()),
                         "the files to be checked")
        await wait_idle(pilot)
        assert "missing.key does not exist" in str(key_line.render())  # each under its own
        assert "missing.key" not in str(cert_line.render())
        assert "[FAIL]" in str(check.render()) and "missing" not in str(check.render())
        await type_into(pilot, "#cert-file", "/etc/ssl/other.crt")
        await wait_until(pilot, lambda: app.form.answers.cert.cert_file.endswith("other.crt"),
                         "the edit")
        assert "missing.crt" not in str(cert_line.render())  # the old finding is gone at once
        await wait_until(pilot, lambda: "other.crt does not exist" in str(cert_line.render()),
                         "the new files to be checked")
        await wait_idle(pilot)
        await focus(pilot, app.screen.query_one("#mode"), "the choice above the files")
        await press(pilot, "ctrl+n")
        cert_file = app.screen.query_one("#cert-file", Input)
        await wait_until(pilot, lambda: cert_file.has_focus, "the file at fault to be focused")
        await wait_until(pilot, lambda: "other.crt does not exist" in words(app), "it drawn")
        assert words(app).count("other.crt does not exist") == 1  # once, beside the file
        assert str(app.screen.query_one("#cert-problems").render()) == ""


async def test_review_details_read_as_commands_and_diffs_fold_under_themselves(request):
    from jitsiwizard.screens.review import TextDialog, diff_text

    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.form.answers.firewall.manage = True
        app.go("review")
        await wait_screen(pilot, "review")
        await wait_until(pilot, lambda: app.plan is not None, "the plan")
        number = next(n for n, s in enumerate(app.plan.steps) if getattr(s, "undo", None))
        steps = app.screen.query_one("#steps-list")
        steps.focus()
        steps.highlighted = number
        await press(pilot, "enter")
        dialog = await wait_until(pilot, lambda: isinstance(app.screen, TextDialog)
                                  and app.screen, "the step's details")
        shown = str(dialog.text)
        assert "undone by: apt-get remove -y ufw" in shown, shown
        assert "['" not in shown and "']" not in shown
    long = "+" + "x" * 200
    lines = str(diff_text(f"--- a\n+++ b\n{long}\n", 76)).splitlines()
    assert all(len(line) <= 76 for line in lines)
    assert [line[0] for line in lines[2:]] == ["+"] * len(lines[2:])  # never column 0 text
    assert "".join(line[5:] if n else line[1:] for n, line in enumerate(lines[2:])) == \
        long[1:]


async def test_placeholders_read_as_hints_and_their_examples_are_accepted(request):
    import ipaddress
    import re

    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for name in ("hostname", "dns", "certificate", "auth"):
            app.go(name)
            await wait_screen(pilot, name)
            if name == "certificate":
                app.screen.query_one("#mode-letsencrypt").value = True
            for field in app.screen.query(Input):
                if not field.placeholder:
                    continue
                assert field.placeholder.startswith(("e.g.", "(unchanged", "optional",
                                                     "only ")), field.placeholder
                assert field.get_component_rich_style("input--placeholder").italic
                for address in re.findall(r"\b\d+\.\d+\.\d+\.\d+\b", field.placeholder):
                    if field.id == "public":
                        assert ipaddress.ip_address(address).is_global, field.placeholder
        app.go("certificate")
        await wait_screen(pilot, "certificate")
        email = app.screen.query_one("#email", Input)
        await type_into(pilot, "#email", "")
        assert email.placeholder == "e.g. admin@example.org"


async def test_edit_opens_with_unreadable_passwords_empty_and_keeps_other_policies(
        request, tmp_path, monkeypatch, capsys):
    from jitsiwizard.cli import main as cli
    from jitsiwizard.errors import EXIT_BAD_INPUT

    monkeypatch.delenv("ALICE_PASSWORD", raising=False)
    assert cli.main(["example-answers"]) == 0
    answers = tmp_path / "answers.toml"
    answers.write_text(capsys.readouterr().out)
    answers.chmod(0o600)
    root = tui_root(request)
    # Replay stays strict: the password is needed to run.
    assert cli.main(["--root", str(root), "--answers", str(answers), "--dry-run"]) == \
        EXIT_BAD_INPUT
    assert "ALICE_PASSWORD" in capsys.readouterr().err

    app = make_app(root, edit=str(answers))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert "ALICE_PASSWORD" in screen_text(app)  # said on Welcome
        app.go("auth")
        await wait_screen(pilot, "auth")
        screen = app.screen
        assert screen.query_one("#policy-local").value
        alice = str(screen.query_one("#users").get_option_at_index(0).prompt)
        assert "alice" in alice and "NEEDS A PASSWORD" in alice and "env:ALICE_PASSWORD" in alice
        screen.query_one("#policy-ldap").value = True  # the file's LDAP settings are kept
        await wait_until(pilot, lambda: screen.query_one("#panel-ldap").display, "LDAP form")
        assert screen.query_one("#ldap-url", Input).value == "ldaps://ldap.example.org"
        assert screen.query_one("#ldap-base", Input).value == "ou=people,dc=example,dc=org"
        bind = screen.query_one("#ldap-bind-pw", Input)
        assert bind.value == "" and "not readable here" in bind.placeholder


async def test_a_small_terminal_gets_a_step_line_that_fits_and_a_notice(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=(60, 20)) as pilot:
        await on_step(pilot, "auth")
        await pilot.pause()
        first = screen_text(app).splitlines()[0]
        assert "Step 6 of 9: Auth" in first and "needs 80x24" in first, first
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        first = screen_text(app).splitlines()[0]
        assert "Done" in first and "80x24" not in first  # every step, no notice


async def test_disabled_boxes_read_without_colour(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "auth")
        app.screen.query_one("#policy-open").value = True
        await wait_until(pilot, lambda: "[-] Guests" in screen_text(app), "a disabled mark")
        app.screen.query_one("#policy-local").value = True
        await wait_until(pilot, lambda: "[ ] Guests" in screen_text(app), "an enabled box")


async def test_the_linux_console_gets_ascii_scroll_bars(request, monkeypatch):
    from textual.scrollbar import ScrollBar, ScrollBarRender

    monkeypatch.setenv("TERM", "linux")
    monkeypatch.setattr(ScrollBar, "renderer", ScrollBarRender)  # restored afterwards
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await run_to_apply(pilot, users=3)  # a list that scrolls, a log that scrolls
        shown = screen_text(app)
    odd = sorted({c for c in shown if ord(c) > 127 and c not in "…•"})
    assert odd == [], odd


@pytest.mark.parametrize("kept", [False, True])
async def test_the_demo_says_its_tree_goes_when_it_ends(request, kept):
    """The Done step's commands name the demo's tree, which is removed on quitting unless
    --keep-demo: the step says so, so that no printed command fails unexplained."""
    app = make_app(tui_root(request))
    app.session.demo, app.session.demo_kept = True, kept
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "done")
        summary = str(app.screen.query_one("#done-summary").render())
        assert ("--keep-demo" in summary) == (not kept), summary


def test_a_long_path_on_done_breaks_after_a_slash_never_mid_name():
    from jitsiwizard.screens.done import path_lines

    path = "/tmp/jw-demo-aluqqmck/var/lib/jitsi-wizard/runs/20261129-124841-ed7e/run.log"
    lines = path_lines(path, 74)
    assert "".join(lines) == path and len(lines) == 2
    assert lines[0].endswith("/") and lines[1] == "run.log"
    assert path_lines("/var/lib/jitsi-wizard/answers.toml", 74) == [
        "/var/lib/jitsi-wizard/answers.toml"]
    long_name = "/" + "a" * 100 + "/b"
    assert path_lines(long_name, 74) == ["/" + "a" * 100 + "/", "b"]  # too long: whole
