"""Step 6: who may start meetings (open, local accounts, LDAP) and whether guests may join;
the local users editor; the LDAP form with a live "Test connection"."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, OptionList, RadioButton, RadioSet, Static
from textual.widgets.option_list import Option

from jitsiwizard.answers.model import LocalUser
from jitsiwizard.answers.validate import check_user_name, check_user_password
from jitsiwizard.errors import ProblemList
from jitsiwizard.screens.base import (
    WizardScreen,
    focus_soon,
    plain_console,
    result_text,
    text_width,
)
from jitsiwizard.screens.steps import problems_on
from jitsiwizard.screens.widgets import Choice, Choices, Field, Tick
from jitsiwizard.workflow.form import typed

INTRO = "Who may start a meeting, and whether people without an account may join one."
POLICIES = (
    ("open", "Anyone who has the link may start a meeting"),
    ("local", "Hosts log in with accounts kept on this server"),
    ("ldap", "Hosts log in with their directory (LDAP, AD) account"),
)
SCOPES = ("subtree", "onelevel", "base")
# LDAP form fields: (widget id, label, attribute of LdapAnswers, placeholder)
LDAP_FIELDS = (
    ("ldap-url", "Server URL(s)", "urls", "ldaps://ldap.example.org (several: a, b)"),
    ("ldap-ca", "CA file", "ca_file", "/etc/ssl/certs/ldap-ca.pem (empty: system CAs)"),
    ("ldap-bind-dn", "Bind DN", "bind_dn", "cn=jitsi,ou=services,dc=example,dc=org"),
    ("ldap-bind-pw", "Bind password", "bind_password", ""),
    ("ldap-base", "User base", "user_base", "ou=people,dc=example,dc=org"),
    ("ldap-filter", "User filter", "user_filter", "(objectClass=inetOrgPerson)"),
    ("ldap-login", "Login attribute", "username_attribute", "uid (AD: sAMAccountName)"),
    ("ldap-name", "Name attribute", "name_attribute", "cn"),
    ("ldap-test-user", "Test user", "test_user", "optional: a user to log in as"),
    ("ldap-test-pw", "Test password", "test_password", ""),
)
SECRET_FIELDS = {"bind_password", "test_password"}


# A placeholder is one line: at 80 columns the password box shows about 57 characters.
REF_SHOWN = 44


def short_ref(ref: str) -> str:
    """A secret's reference (`file:PATH`, `env:NAME`) as it fits the box: a long path loses
    its middle, never its scheme or its file name, which is what the admin recognises."""
    if len(ref) <= REF_SHOWN:
        return ref
    scheme, _, rest = ref.partition(":")
    keep = REF_SHOWN - len(scheme) - 2
    return f"{scheme}:…{rest[-keep:]}"


def answers_key(attr: str) -> str:
    """The answers key of an LDAP setting (its problems show under its widget)."""
    return "auth.ldap." + ("url" if attr == "urls" else attr)


class UsersList(OptionList):
    BINDINGS: ClassVar = [
        Binding("a,A,shift+a", "screen.add_user", "Add"),
        Binding("p,P,shift+p", "screen.set_password", "Password"),
        Binding("delete,r,R,shift+r", "screen.toggle_remove", "Remove/keep"),
    ]


class AuthScreen(WizardScreen):
    NAME = "auth"
    TITLE = "Authentication"
    INTRO = INTRO
    HELP = (INTRO + "\n\nOpen: anyone with the link starts meetings.\nLocal: hosts log in "
            "with accounts stored by Prosody on this server (passwords hashed). A adds a user "
            "(passwords: at least 8 characters); in the list, P sets a password, Delete (or "
            "R) marks a user for removal (press again to keep it). Existing users keep their "
            "password unless you set one.\n"
            "LDAP: Prosody checks logins against your directory (its own ldap module, which "
            "escapes user names). 'Test connection' connects, binds with the service account, "
            "counts the users the base and filter match, and logs in as the test user if you "
            "give one. Next asks before going on without a passing test.\nGuests: with "
            "local or LDAP, people without an account may join a meeting once a host has "
            "started it.\n\nPasswords are never shown; they are "
            "stored for replay in root-only files under /var/lib/jitsi-wizard/secrets when "
            "the plan is applied.")

    def __init__(self):
        super().__init__()
        self._form_seen = None  # the form whose secrets are remembered below
        self._given: dict[str, object] = {}  # secrets the form came with, kept unless retyped
        # The LDAP test: the settings it ran with, and its results (None while it runs).
        self.tested_for: tuple | None = None
        self.ldap_results: list | None = None
        self.accepted_for: tuple | None = None  # "continue anyway" given for these settings

    BINDINGS: ClassVar = [*WizardScreen.BINDINGS,
                          Binding("a,A,shift+a", "add_user", "Add user", show=False)]

    def check_action(self, action: str, parameters) -> bool | None:
        # A adds a user wherever the focus is (a field takes the letter first), with the
        # local policy only.
        if action == "add_user":
            return self.form.answers.auth.policy == "local"
        return True

    def compose_body(self) -> ComposeResult:
        with Choices(id="policy", compact=True):
            for policy, label in POLICIES:
                yield Choice(f"{policy:<7}{label}", id=f"policy-{policy}", compact=True)
        yield Tick("Guests without an account may join once a host started the meeting",
                       id="guests", compact=True)
        with Vertical(id="panel-open"):
            yield Static("Nobody logs in: anyone who can open the site starts meetings.",
                         classes="note")
        with Vertical(id="panel-local"):
            yield Static("Users (A add, P password, Delete remove/keep)", classes="section")
            yield UsersList(id="users")
            with Horizontal(classes="buttons"):
                yield Button("Add user", id="add-user", compact=True)
                yield Button("Set password", id="set-password", compact=True)
                yield Button("Remove/keep", id="remove-user", compact=True)
        with Vertical(id="panel-ldap"):
            for widget_id, label, attr, placeholder in LDAP_FIELDS:
                secret = attr in SECRET_FIELDS
                yield Field(label, placeholder=placeholder, id=widget_id, password=secret,
                            key=answers_key(attr))
                if widget_id == "ldap-url":
                    starttls = Tick("StartTLS for ldap:// URLs (recommended)",
                                    id="ldap-starttls", compact=True, key=answers_key("starttls"))
                    yield starttls
                    yield starttls.error
                    yield Tick("Allow clear-text passwords (plain ldap://, trusted LAN only)",
                               id="ldap-plain", compact=True)
                if widget_id == "ldap-name":
                    yield Static("Search scope", classes="field-label")
                    with Choices(id="ldap-scope", compact=True, classes="inline"):
                        for scope in SCOPES:
                            yield Choice(scope, id=f"scope-{scope}", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Test connection", id="ldap-test", compact=True)
            yield Static("", id="ldap-results", classes="results")
        yield Static("", id="auth-problems", classes="check-line")

    # -- showing the form ------------------------------------------------------------------

    def refresh_from_form(self) -> None:
        auth = self.form.answers.auth
        if self._form_seen is not self.form:
            self._form_seen = self.form
            self._given = {attr: getattr(auth.ldap, attr) for attr in SECRET_FIELDS}
        self.query_one(f"#policy-{auth.policy}", RadioButton).value = True
        self.query_one("#guests", Checkbox).value = auth.guests
        ldap = auth.ldap
        for widget_id, _, attr, _ in LDAP_FIELDS:
            box = self.query_one(f"#{widget_id}", Input)
            value = getattr(ldap, attr)
            if attr == "urls":
                value = ", ".join(value)
            elif attr in SECRET_FIELDS:
                given = self._given.get(attr)
                unreadable = self.form.unresolved.get(f"auth.ldap.{attr}")
                if value is None and unreadable:
                    box.placeholder = f"(type it; {short_ref(unreadable)} is not readable here)"
                    value = ""
                elif value is not None and value is given:
                    box.placeholder = (f"(unchanged: {short_ref(given.ref)})"
                                       if given.ref != "literal"
                                       else "(unchanged: given in the answers file)")
                    value = ""
                else:
                    value = value.value if value is not None else ""
            if box.value != value:
                box.value = value
        self.query_one("#ldap-starttls", Checkbox).value = ldap.starttls
        self.query_one("#ldap-plain", Checkbox).value = ldap.allow_plaintext
        scope = ldap.scope if ldap.scope in SCOPES else "subtree"
        self.query_one(f"#scope-{scope}", RadioButton).value = True
        self.show_users()
        self.show_policy()

    def show_policy(self) -> None:
        policy = self.form.answers.auth.policy
        for name in ("open", "local", "ldap"):
            self.query_one(f"#panel-{name}").display = name == policy
        guests = self.query_one("#guests", Checkbox)
        guests.disabled = policy == "open"

    def user_state(self, user: LocalUser) -> str:
        exists = self.form.existing_user(user.name)
        if user.remove:
            return "will be removed" if exists else "not added (marked for removal)"
        unreadable = self.form.unresolved.get(f"user:{user.name}")
        if unreadable and user.password is None and not user.remove:
            if exists:
                return f"exists, password kept ({unreadable} is not readable here)"
            return f"NEEDS A PASSWORD ({unreadable} is not readable here): press P"
        if not exists:
            return "new, password set" if user.password else "new: NEEDS A PASSWORD"
        return "exists, new password" if user.password else "exists, password kept"

    def show_users(self, keep: int | None = None) -> None:
        users = self.query_one("#users", UsersList)
        highlighted = users.highlighted if keep is None else keep
        users.clear_options()
        for user in self.form.answers.auth.users:
            prompt = Text.assemble((f"{user.name:<24}", "bold"), f" {self.user_state(user)}")
            users.add_option(Option(prompt, id=user.name))
        if not self.form.answers.auth.users:
            users.add_option(Option(Text("(no users yet: press A to add one)", "dim"),
                                    disabled=True))
        elif highlighted is not None:
            users.highlighted = min(highlighted, len(self.form.answers.auth.users) - 1)

    # -- edits -----------------------------------------------------------------------------

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        pressed = event.pressed.id or ""
        if event.radio_set.id == "policy":
            self.form.answers.auth.policy = pressed[len("policy-"):]
            self.show_policy()
        elif event.radio_set.id == "ldap-scope":
            self.form.answers.auth.ldap.scope = pressed[len("scope-"):]
            self.ldap_changed()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        auth = self.form.answers.auth
        if event.checkbox.id == "guests":
            auth.guests = event.value
        elif event.checkbox.id == "ldap-starttls":
            auth.ldap.starttls = event.value
            self.ldap_changed()
        elif event.checkbox.id == "ldap-plain":
            auth.ldap.allow_plaintext = event.value
            self.ldap_changed()

    def ldap_key(self) -> tuple:
        """The LDAP settings as they stand: a test result holds only for the settings it
        ran with."""
        ldap = self.form.answers.auth.ldap
        return tuple(repr(getattr(ldap, name)) if name not in SECRET_FIELDS else
                     (None if getattr(ldap, name) is None else getattr(ldap, name).value)
                     for name in sorted(vars(ldap)))

    def ldap_changed(self) -> None:
        """An LDAP setting changed: the old test result no longer says anything."""
        if self.forget_stale_check(self.ldap_key(), "#ldap-test", "#ldap-results", "test"):
            self.ldap_results = None

    def on_input_changed(self, event: Input.Changed) -> None:
        fields = {widget_id: attr for widget_id, _, attr, _ in LDAP_FIELDS}
        attr = fields.get(event.input.id or "")
        if attr is None:
            return
        ldap = self.form.answers.auth.ldap
        if attr == "urls":
            ldap.urls = [u for u in event.value.replace(",", " ").split() if u]
        elif attr in SECRET_FIELDS:
            # Empty keeps what the answers came with; typing replaces it.
            setattr(ldap, attr, typed(event.value) or self._given.get(attr))
        else:
            setattr(ldap, attr, event.value.strip())
        self.ldap_changed()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"add-user": self.action_add_user, "set-password": self.action_set_password,
                   "remove-user": self.action_toggle_remove, "ldap-test": self.action_test_ldap}
        action = actions.get(event.button.id or "")
        if action is None:
            super().on_button_pressed(event)
            return
        event.stop()
        action()

    def selected_user(self) -> LocalUser | None:
        users = self.query_one("#users", UsersList)
        if users.highlighted is None or not self.form.answers.auth.users:
            return None
        option = users.get_option_at_index(users.highlighted)
        return self.form.user(option.id) if option.id else None

    def action_add_user(self) -> None:
        existing = {u.name for u in self.form.answers.auth.users}

        def added(result) -> None:
            if result:
                name, password = result
                self.form.answers.auth.users.append(LocalUser(name, typed(password)))
                self.show_users(keep=len(self.form.answers.auth.users) - 1)
                self.query_one("#users", UsersList).focus()

        self.app.push_screen(UserDialog(existing), added)

    def action_set_password(self) -> None:
        user = self.selected_user()
        if user is None:
            self.notify("Choose a user in the list first.", severity="warning")
            return

        def changed(result) -> None:
            if result is not None:
                user.password = typed(result[1])
                user.remove = False
                self.show_users()

        self.app.push_screen(UserDialog(set(), name=user.name,
                                        keep_allowed=self.form.existing_user(user.name)),
                             changed)

    def action_toggle_remove(self) -> None:
        user = self.selected_user()
        if user is None:
            return
        if not self.form.existing_user(user.name) and not user.remove:
            self.form.answers.auth.users.remove(user)  # never on the host: just forget it
        else:
            user.remove = not user.remove
            if user.remove:
                user.password = None
        self.show_users()

    # -- LDAP test -------------------------------------------------------------------------

    def action_test_ldap(self) -> None:
        problems = [p for p in problems_on("auth", self.form)
                    if p.field.startswith("auth.ldap")]
        box = self.query_one("#ldap-results", Static)
        if problems:  # as Next shows them: under their fields, the first one focused
            self.show_problems(problems)
            box.update("")
            return
        try:
            ldap = self.form.build().answers.auth.ldap
        except ProblemList:
            ldap = self.form.answers.auth.ldap  # other steps have errors; this one is fine
        box.update(Text("Testing the connection...", "dim"))
        self.tested_for = self.ldap_key()
        self.ldap_results = None
        self.status.start(f"testing LDAP (up to {self.app.session.check_timeout:g} s)")
        self.query_one("#ldap-test", Button).disabled = True
        self.test_ldap(ldap)

    @work(thread=True, exclusive=True, group="ldap")
    def test_ldap(self, ldap) -> None:
        key = self.tested_for
        results = self.app.session.checks.ldap(ldap, self.form.answers.host.hostname)
        self.app.call_from_thread(self.ldap_tested, results, key)

    def ldap_tested(self, results: list, key: tuple | None = None) -> None:
        button = self.query_one("#ldap-test", Button)
        button.disabled = False
        if self.app.focused is None:  # disabling the button took the focus from it
            button.focus(scroll_visible=False)
        current = key is None or key == self.tested_for
        if current:
            self.ldap_results = results
        failed = [r for r in results if r.status == "fail"]
        counts = [r.data.get("count") for r in results if r.data.get("count") is not None]
        head = Text()
        if failed:
            head.append("Connection test failed: ", "bold red")
            head.append(failed[0].summary)
            self.status.stop("LDAP test failed")
        else:
            head.append("Connection works", "bold green")
            if counts:
                head.append(f": {counts[0]} users match the base and filter")
            self.status.stop("LDAP test passed")
        head.append("\n")
        head.append_text(result_text(results, width=text_width(
            self.query_one("#ldap-results", Static))))
        if not current:  # shown, but it does not count for the settings as they are now
            head.append("\nThe settings changed while it ran: test again.", "bold")
        results_box = self.query_one("#ldap-results", Static)
        results_box.update(head)
        # The verdict and its fix sit under the button: bring them into view (a failure's
        # fix fell below row 24).
        self.call_after_refresh(results_box.scroll_visible, animate=False)

    # -- leaving ---------------------------------------------------------------------------

    PROBLEMS_BOX = "#auth-problems"

    def check_before_next(self) -> list:
        return self.current_problems()

    def current_problems(self) -> list:
        problems = problems_on("auth", self.form)
        auth = self.form.answers.auth
        if not problems and auth.policy == "local":
            missing = [u.name for u in auth.users if not u.remove and u.password is None
                       and not self.form.existing_user(u.name)]
            if missing:
                from jitsiwizard.errors import Problem

                problems = [Problem("auth.users", f"new user {name} has no password",
                                    "highlight it and press P") for name in missing]
        return problems

    def warning_before_next(self) -> str:
        auth = self.form.answers.auth
        if auth.policy == "local" and not [u for u in auth.users if not u.remove]:
            return ("No user will be able to log in, so nobody can start a meeting. "
                    "Continue anyway?")
        if auth.policy == "ldap" and self.accepted_for != self.ldap_key():
            return self.ldap_warning()
        return ""

    def ldap_warning(self) -> str:
        """As on the DNS step: the live test comes before anything changes."""
        if self.tested_for != self.ldap_key():
            return ("The LDAP test was not run with these settings. Continue without it? "
                    "If the directory refuses the service account, nobody can log in.")
        if self.ldap_results is None:
            return "The LDAP test has not finished. Continue without its result?"
        failed = [r for r in self.ldap_results if r.status == "fail"]
        if failed:
            return ("The LDAP test failed:\n" + "\n".join(f"- {r.summary}" for r in failed)
                    + "\n\nContinue anyway? Nobody can log in until the directory answers.")
        return ""

    def accept_warning(self) -> None:
        if self.form.answers.auth.policy == "ldap":
            self.accepted_for = self.ldap_key()


class UserDialog(ModalScreen):
    """Add a user (name and password) or set one user's password. Returns (name, password),
    or None when cancelled; the password is never shown."""

    BINDINGS: ClassVar = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, taken: set[str], *, name: str = "", keep_allowed: bool = False):
        super().__init__()
        self.taken = taken
        self.fixed_name = name
        self.keep_allowed = keep_allowed

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Password for {self.fixed_name}" if self.fixed_name else "Add a user",
                         classes="title")
            if not self.fixed_name:
                yield Field("User name", placeholder="alice", id="name")
            yield Field("Password", password=True, id="password")
            yield Field("Again", password=True, id="again")
            yield Static("", id="dialog-problem", classes="check-line")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("OK", id="ok", compact=True, variant="primary")

    def on_mount(self) -> None:
        if plain_console():
            self.add_class("plain")
        focus_soon(self, "Input")

    def field_submitted(self, field: Input) -> None:
        if field.id == "again":
            # After the keys still queued for this field: they are part of the password.
            field.call_later(self.submit)
        else:
            self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.submit()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def problem(self, *, final: bool) -> str:
        """What is wrong with the dialog's values; while typing (not final), only what is
        wrong already, not what is still missing."""
        name = self.fixed_name
        if not name:
            name = self.query_one("#name", Input).value.strip()
            if not name:
                return "Give a user name." if final else ""
            if name in self.taken:
                return f"{name} is already in the list."
            error = check_user_name(name)
            if error:
                return f"User name {error}"
        password = self.query_one("#password", Input).value
        again = self.query_one("#again", Input).value
        if not password:
            if not final:
                return ""
            return ("Type the password twice." if not self.keep_allowed else
                    "Type a new password twice (Cancel keeps the current one).")
        error = check_user_password(password)
        if error:
            return f"The password {error}."
        if (final or len(again) >= len(password)) and password != again:
            return "The two passwords differ."
        return ""

    def on_input_changed(self) -> None:
        self.query_one("#dialog-problem", Static).update(Text(self.problem(final=False)))

    def submit(self) -> None:
        problem = self.problem(final=True)
        self.query_one("#dialog-problem", Static).update(Text(problem))
        if problem:
            return
        name = self.fixed_name or self.query_one("#name", Input).value.strip()
        self.dismiss((name, self.query_one("#password", Input).value))
