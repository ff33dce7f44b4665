"""Keys typed ahead, as SSH delivers them: a whole burst in one read. Each key must act on the
screen as the keys before it left it, whatever the timing (the bursts of issue #20's walk)."""

from __future__ import annotations

from textual.widgets import Input

from tests.test_tui_support import focus, make_app, on_step, tui_root, wait_screen, wait_until

SIZE = (80, 24)


def send_burst(app, keys: list[str]) -> None:
    """The keys all at once, as one read from the terminal brings them: into the app's queue
    as its driver puts them, nothing awaited between them."""
    from textual import events

    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app.post_message(event)


def chars(text: str) -> list[str]:
    names = {":": "colon", "/": "slash", ".": "full_stop", " ": "space"}
    return [names.get(c, c) for c in text]


def send_text(app, text: str) -> list:
    """Printable keys carry their character; named keys (slash, colon) too."""
    from textual import events

    for name, char in zip(chars(text), text):
        event = events.Key(name, char)
        event.set_sender(app)
        app.post_message(event)


async def settled(app) -> None:
    await app.keys.settled()


async def on_auth(pilot, policy_widget: str = "#policy") -> None:
    app = pilot.app
    await on_step(pilot, "auth")
    await focus(pilot, app.screen.query_one(policy_widget), "the policy choice")


async def on_users_list(pilot) -> None:
    """On Authentication, local users chosen, the focus on the users list."""
    app = pilot.app
    await on_auth(pilot)
    app.screen.query_one("#policy-local").value = True
    await wait_until(pilot, lambda: app.screen.query_one("#panel-local").display,
                     "the users list")
    await focus(pilot, app.screen.query_one("#users"), "the users list")


def value(app, selector: str) -> str:
    return app.screen.query_one(selector, Input).value


async def test_choice_then_tabs_then_text_lands_in_the_field_it_opened(request):
    """Down Down Enter Tab Tab and an URL in one read: LDAP is chosen, its form opens, and the
    URL goes into its first field (it went into no field, and the focus ended on Next)."""
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_auth(pilot)
        send_burst(app, ["down", "down", "enter", "tab", "tab"])
        send_text(app, "ldap://127.0.0.1:3489")
        await settled(app)
        assert app.form.answers.auth.policy == "ldap"
        assert value(app, "#ldap-url") == "ldap://127.0.0.1:3489"
        assert app.focused is app.screen.query_one("#ldap-url")


async def test_tab_from_a_tick_then_text_lands_in_the_next_field(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_auth(pilot)
        app.screen.query_one("#policy-ldap").value = True
        await wait_until(pilot, lambda: app.screen.query_one("#panel-ldap").display, "LDAP form")
        await focus(pilot, app.screen.query_one("#guests"), "the guests tick")
        send_burst(app, ["tab"])
        send_text(app, "ldaps://ldap.example.org")
        await settled(app)
        assert value(app, "#ldap-url") == "ldaps://ldap.example.org"


async def test_fields_crossed_in_one_read_each_get_their_text(request):
    """From the StartTLS tick: Tab Tab Tab XYZ Tab pw12 Tab base, at once."""
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_auth(pilot)
        app.screen.query_one("#policy-ldap").value = True
        await wait_until(pilot, lambda: app.screen.query_one("#panel-ldap").display, "LDAP form")
        await focus(pilot, app.screen.query_one("#ldap-starttls"), "the StartTLS tick")
        send_burst(app, ["tab", "tab", "tab", *"XYZ", "tab", *"pw12", "tab", *"base"])
        await settled(app)
        assert (value(app, "#ldap-bind-dn"), value(app, "#ldap-bind-pw"),
                value(app, "#ldap-base")) == ("XYZ", "pw12", "base")


async def test_a_then_a_name_opens_the_dialog_with_the_name_typed(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_users_list(pilot)
        send_burst(app, ["a", *"bob"])
        await settled(app)
        assert app.screen.query_one("#name", Input).value == "bob"


async def test_a_burst_across_steps_lands_on_the_step_it_was_typed_for(request):
    """Enter on a step's last field goes to the next step; text typed right behind it goes
    into the next step's first field, not into the field it left."""
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "hostname")
        field = app.screen.query_one(Input)
        await focus(pilot, field, "the host name field")
        before = field.value
        send_burst(app, ["ctrl+n"])
        send_text(app, "zz")
        await settled(app)
        assert field.value == before  # the letters did not go back into the name


async def test_space_ticks_and_enter_goes_on_from_a_tick(request):
    """Firewall: the step starts on its tick, not on "Check again"; Space ticks it, Enter
    leaves it as it is and goes to the next field."""
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "firewall")
        manage = app.screen.query_one("#manage")
        await wait_until(pilot, lambda: manage.has_focus, "the tick to have the focus first")
        before = manage.value
        send_burst(app, ["space"])
        await settled(app)
        assert manage.value is not before
        send_burst(app, ["space", "enter"])
        await settled(app)
        assert manage.value is before
        assert app.focused is not manage and isinstance(app.focused, Input)


async def test_enter_on_the_choice_already_made_goes_on(request):
    """Certificate, self-signed already chosen: Enter goes to Authentication; on another
    choice Enter chooses it and stays."""
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "certificate")
        modes = app.screen.query_one("#mode")
        await focus(pilot, modes, "the certificate choice")
        assert app.form.answers.cert.mode == "self-signed"
        send_burst(app, ["enter"])
        await settled(app)
        await wait_screen(pilot, "auth")
        await focus(pilot, app.screen.query_one("#policy"), "the policy choice")
        send_burst(app, ["down", "enter"])
        await settled(app)
        assert app.form.answers.auth.policy == "local"
        assert getattr(app.screen, "NAME", "") == "auth"


async def test_dns_starts_on_next_not_on_check_again(request):
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "dns")
        await wait_until(pilot, lambda: app.focused is not None, "a focus")
        assert app.focused.id != "recheck"


async def test_capital_a_and_p_work_as_the_screen_shows_them(request):
    """The users section reads "A add, P password": Shift+A and Shift+P act as a and p."""
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await on_users_list(pilot)
        send_burst(app, ["A", *"bob"])
        await settled(app)
        assert app.screen.query_one("#name", Input).value == "bob"
        send_burst(app, ["escape"])
        await settled(app)
        assert getattr(app.screen, "NAME", "") == "auth"
