"""Reruns and a wrong LDAP port on the screens (issue #20's second walk, points 2, 3 and 5),
driven by Pilot; tests/test_tui_tmux_rerun.py walks the same points in a real terminal.

- A host whose nginx serves a Let's Encrypt certificate: the Certificate step starts on "keep",
  and an authentication change reaches Review with no certbot and no certificate change.
- A host where LDAP was applied over plain ldap:// (StartTLS off, clear text allowed): the
  Authentication step shows it so, with the saved bind password kept, and Next goes on.
- The LDAP test against a web server (an `HTTP/1.1 400`, the connection held): the results
  name the cause and the fix, not a decoder's error to report."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Checkbox, Input, RadioButton

from jitsiwizard import fixtures
from jitsiwizard.cli.main import main
from jitsiwizard.plan.steps import Command, FileChange
from jitsiwizard.rootfs import Root
from jitsiwizard.screens.base import ConfirmDialog
from jitsiwizard.screens.widgets import FieldError
from jitsiwizard.workflow.live_checks import LiveChecks
from tests.conftest import answers_toml
from tests.lab.hostile import Conn, Peer
from tests.test_keep_certificate import LIVE, letsencrypt_host
from tests.test_tui_support import (
    HOST,
    SIZE,
    FixedChecks,
    FixedResults,
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
    wait_screen,
    wait_until,
)
from tests.test_tui_walk import auth_step, choose, tick

NGINX_SITE = f"/etc/nginx/sites-available/{HOST}.conf"
BIND_PASSWORD = "plain-bind-pw"


# --- point 2: a Let's Encrypt certificate is kept -------------------------------------------

def certificate_files(root: Path) -> dict[str, bytes]:
    """What serves the certificate: certbot's live files and the nginx site naming them."""
    return {path: (root / path.lstrip("/")).read_bytes()
            for path in (f"{LIVE}/fullchain.pem", f"{LIVE}/privkey.pem", NGINX_SITE)}


async def review_text(pilot) -> str:
    """The Review step's notes, summary and every step of its list, once the plan is shown."""
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.ready and pilot.app.plan is not None, "the plan")
    steps = screen.query_one("#steps-list")
    parts = [str(screen.query_one(box).render()) for box in ("#plan-notes", "#plan-summary")]
    parts += [str(steps.get_option_at_index(i).prompt) for i in range(steps.option_count)]
    return "\n".join(parts)


def argv_text(step) -> str:
    return " ".join(str(getattr(a, "path", a)) for a in step.argv)


async def test_a_lets_encrypt_certificate_starts_as_kept_and_an_auth_change_leaves_it(
        tmp_path):
    root = letsencrypt_host(tmp_path)
    before = certificate_files(root)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for name in ("hostname", "dns", "firewall", "certificate"):
            await next_step(pilot, name)
        screen = app.screen
        chosen = [b.id for b in screen.query(RadioButton)
                  if b.value and (b.id or "").startswith("mode-")]
        assert chosen == ["mode-keep"], screen_text(app)
        route = str(screen.query_one("#route").render())
        assert route.startswith("Route: nothing to change"), route

        await next_step(pilot, "auth")
        await auth_step(pilot, "local", False, "")  # open -> local, with alice
        await next_step(pilot, "review")
        shown = await review_text(pilot)
        plan = app.plan

    assert app.form.answers.cert.mode == "keep"
    commands = [argv_text(s) for s in plan.steps if isinstance(s, Command)]
    assert not [c for c in commands if "certbot" in c], commands  # no install, no certonly
    assert any("prosodyctl register alice" in c for c in commands), commands
    written = [s.path for s in plan.steps if isinstance(s, FileChange)]
    assert not [p for p in written if p.startswith(("/etc/letsencrypt/", "/etc/nginx/"))], \
        written
    assert any(note.startswith("certificate (keep)") for note in plan.notes), plan.notes
    assert "certificate (keep): the certificate nginx serves now is kept" in shown, shown
    assert "certbot" not in shown
    assert certificate_files(root) == before  # planning touched nothing either


# --- point 3: a plain-LDAP host keeps its settings ------------------------------------------

def plain_ldap_host(tmp_path: Path) -> tuple[Path, Path]:
    """A host where LDAP was applied over ldap:// with StartTLS off and clear text allowed,
    the bind password given by reference to a file (the answers saved by the run keep the
    reference). Returns (root, the password file)."""
    root = fixtures.build(tmp_path / "root")
    # A path longer than the password box, as an admin's secrets directory may well be.
    secret = tmp_path / "secrets-kept-out-of-the-answers-file" / "bind.secret"
    secret.parent.mkdir()
    secret.write_text(BIND_PASSWORD + "\n")
    secret.chmod(0o600)
    text = answers_toml("ldap", ldap_password=f"file:{secret}").replace(
        'url = "ldap://ldap.example.org"',
        'url = "ldap://ldap.example.org"\nstarttls = false\nallow_plaintext = true')
    path = tmp_path / "ldap.toml"
    path.write_text(text)
    path.chmod(0o600)
    assert main(["--answers", str(path), "--root", str(root), "--simulate",
                 "--skip-checks"]) == 0
    return root, secret


async def test_a_rerun_on_a_plain_ldap_host_shows_its_settings_and_next_goes_on(tmp_path):
    root, secret = plain_ldap_host(tmp_path)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for name in ("hostname", "dns", "firewall", "certificate", "auth"):
            await next_step(pilot, name)
        screen = app.screen
        assert screen.query_one("#policy-ldap", RadioButton).value
        assert screen.query_one("#panel-ldap").display
        assert screen.query_one("#ldap-url", Input).value == "ldap://ldap.example.org"
        assert screen.query_one("#ldap-starttls", Checkbox).value is False
        assert screen.query_one("#ldap-plain", Checkbox).value is True
        password = screen.query_one("#ldap-bind-pw", Input)
        # Kept, not asked for again: the field is empty and says what it keeps.
        assert password.value == ""
        # A long path loses its middle, not its file name, and the hint fits the box.
        hint = password.placeholder
        assert len(f"file:{secret}") > 60
        assert hint.startswith("(unchanged: file:…") and hint.endswith("/bind.secret)"), hint
        assert len(hint) <= password.content_size.width, (hint, password.content_size)
        assert app.form.answers.auth.ldap.bind_password.value == BIND_PASSWORD

        await press(pilot, "ctrl+n")
        # No problem holds Next: only the question any untested LDAP setting gets.
        dialog = await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog)
                                  and app.screen, "the question about the LDAP test")
        assert dialog.message.startswith("The LDAP test was not run"), dialog.message
        # Nothing under a field nor in the step's box ("StartTLS is false for an ldap://
        # URL", "Bind password is missing" were).
        shown = [str(line.render()) for line in screen.query(FieldError) if line.display]
        shown.append(str(screen.query_one("#auth-problems").render()).strip())
        assert shown == [""], shown
        assert screen.current_problems() == []
        await confirm(pilot)
        await wait_screen(pilot, "review")
        shown = await review_text(pilot)
    # The settings the host runs, the password it has: no file changes. (The package the
    # first run installed is planned again: under --simulate it was only recorded.)
    assert "0 file change(s)" in shown, shown
    assert not app.plan.changes_files and not app.plan.file_steps(), shown


# --- point 5: the LDAP test against a web server --------------------------------------------

# A web server's 400 to an LDAP request. ldap3 reads its second byte ('T', 84) as a BER length
# and so takes the first 86 bytes for one LDAP message: at exactly that length it decodes them
# and its decoder fails, KeyError((1, 20)) as in the walk. (Held open at another length,
# ldap3 waits for the rest of that "message", and the check reports no answer in time.)
HTTP_400 = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n"
            b"Bad Request\n")
assert len(HTTP_400) == 86


def http_400_held(conn: Conn) -> None:
    """Reads the request, answers 400, and holds the connection open (Peer keeps reading)."""
    conn.read_until(b"\x30")  # an LDAP request begins with a SEQUENCE tag
    conn.send(HTTP_400)


@pytest.fixture
def web_server():
    with Peer(http_400_held) as peer:
        yield peer


class LdapForReal(FixedResults):
    """Fixed DNS and port results; the LDAP test runs for real."""

    def ldap(self, ldap, hostname: str) -> list:
        return LiveChecks.ldap(self, ldap, hostname)


def real_ldap_session(root: Path) -> FixedChecks:
    session = FixedChecks(Root(root))
    fixed = session.checks
    session.checks = LdapForReal(Root(root), fixed.dns_results, fixed.ports_results, [])
    # Bounded well above the answer's arrival: a timeout would be the wrong finding.
    session.checks.timeout = 5.0
    return session


@pytest.mark.parametrize("starttls", [True, False], ids=["starttls", "clear-text"])
async def test_the_ldap_test_against_a_web_server_names_the_cause(request, web_server,
                                                                  starttls):
    root = tui_root(request)
    app = make_app(root, checks=real_ldap_session(root))
    url = f"ldap://127.0.0.1:{web_server.port}"
    async with app.run_test(size=SIZE) as pilot:
        await on_step(pilot, "auth")
        await choose(pilot, "policy-ldap")
        await type_into(pilot, "#ldap-url", url)
        if not starttls:
            await tick(pilot, "ldap-starttls", False)
            await tick(pilot, "ldap-plain", True)
        await type_into(pilot, "#ldap-bind-dn", "cn=jitsi,ou=services,dc=example,dc=org")
        await type_into(pilot, "#ldap-bind-pw", "service-secret")
        await type_into(pilot, "#ldap-base", "ou=people,dc=example,dc=org")
        button = app.screen.query_one("#ldap-test")
        await focus(pilot, button, "the test button")
        await press(pilot, "enter")
        box = app.screen.query_one("#ldap-results")
        await wait_until(pilot, lambda: app.screen.ldap_results is not None
                         and "Connection test failed" in str(box.render()),
                         "the LDAP test's result", timeout=15)
        results = str(box.render())
        found = app.screen.ldap_results

    failed = [r for r in found if r.status == "fail"]
    assert [r.data.get("reason") for r in failed] == ["not_ldap"], results
    # The decoder's exception is evidence at most ("saw:"), never the message or the fix.
    assert "KeyError" not in failed[0].summary + failed[0].fix
    where = f"127.0.0.1:{web_server.port}"
    assert results.splitlines()[0] == \
        f"Connection test failed: {where} answered, but not as an LDAP server", results
    flat = " ".join(results.split())  # long lines wrap on the screen
    assert ("fix: check the URL's host and port: another service (a web server?) listens "
            "there") in flat, results
    assert "report this" not in flat and "stopped with an error" not in flat
    assert "within" not in flat  # the port answered: not taken for a silent one
