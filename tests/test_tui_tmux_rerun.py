"""Reruns and a wrong LDAP port in a real terminal (issue #20's second walk, points 2, 3 and 5):
tmux runs `jitsi-wizard --root TREE --simulate` on a configured tree, and every burst of keys
is written to it in one write, as SSH delivers keys typed ahead. tests/test_tui_rerun.py walks
the same points with Pilot."""

from __future__ import annotations

import pytest

from jitsiwizard import fixtures
from tests.lab.hostile import Peer
from tests.test_keep_certificate import letsencrypt_host
from tests.test_tui_rerun import BIND_PASSWORD, certificate_files, http_400_held, plain_ldap_host
from tests.test_tui_tmux import (  # noqa: F401 (terminal: the fixture)
    Terminal,
    burst,
    forward,
    terminal,
    wait_title,
)
from tests.test_tui_tmux_keys import row

CTRL_N = "\x0e"
DOWN = "\x1b[B"
RIGHT = "\x1b[C"
TAB = "\t"
ENTER = "\r"
WHEEL_DOWN = "\x1b[<65;40;12M"  # a wheel turn over the middle of the screen (SGR mouse)
PASSWORD = "Pass-w0rd-123"


@pytest.fixture
def wizard(terminal):  # noqa: F811 (the fixture)
    """wizard(name, root) -> a Terminal running the wizard on the tree `root`, commands
    simulated, DNS asked of a server that never answers."""
    return lambda name, root: terminal(name, args=("--root", str(root), "--simulate"))


def walk_to(term: Terminal, last: str) -> str:
    term.wait_for("Files under")
    burst(term, ENTER)  # Next has the focus on Welcome
    wait_title(term, "hostname")
    shown = ""
    for name in ("dns", "firewall", "certificate", "auth"):
        shown = forward(term, name, bursts=True)
        if name == last:
            break
    return shown


def quit_wizard(term: Terminal) -> int:
    burst(term, "\x11")  # Ctrl+Q
    term.wait_for("Quit the wizard?")
    burst(term, RIGHT + ENTER)
    return term.exit_status()


# --- point 2 ------------------------------------------------------------------------------

def test_a_lets_encrypt_certificate_is_kept_through_an_auth_change(wizard, tmp_path):
    root = letsencrypt_host(tmp_path)
    before = certificate_files(root)
    term = wizard("rerun-cert", root)
    walk_to(term, "certificate")
    shown = term.wait_for("(*) keep")
    assert "Route: nothing to change" in shown
    assert "(*) certbot" not in shown and "(*) letsencrypt" not in shown

    forward(term, "auth", bursts=True)
    term.wait_for("(*) open")
    # local, then a user added, typed ahead in one burst.
    burst(term, DOWN + ENTER + "a" + "alice" + ENTER + PASSWORD + ENTER + PASSWORD + ENTER)
    shown = term.wait_for("new, password set")
    assert "(*) local" in shown and PASSWORD not in shown

    forward(term, "review", bursts=True)
    shown = term.wait_for("certificate (keep): the certificate nginx serves now is kept")
    assert "certbot" not in shown
    burst(term, CTRL_N)
    term.wait_for("Not yet")
    burst(term, RIGHT + ENTER)
    term.wait_for("Applied.", 30)

    # What the run did: no certbot installed or run, the certificate and nginx untouched.
    logs = list((root / "var/lib/jitsi-wizard/runs").glob("*/run.log"))
    assert len(logs) == 1
    commands = [line for line in logs[0].read_text().splitlines() if "(simulated) $" in line]
    assert any("prosodyctl register alice" in line for line in commands), commands
    assert not [line for line in commands if "certbot" in line], commands
    assert certificate_files(root) == before
    saved = (root / "var/lib/jitsi-wizard/answers.toml").read_text()
    assert 'mode = "keep"' in saved

    forward(term, "done", bursts=True)
    burst(term, CTRL_N)  # Quit
    assert term.exit_status() == 0


# --- point 3 ------------------------------------------------------------------------------

def test_a_rerun_on_a_plain_ldap_host_keeps_its_settings(wizard, tmp_path):
    root, _ = plain_ldap_host(tmp_path)
    term = wizard("rerun-ldap", root)
    walk_to(term, "auth")
    term.wait_for("(*) ldap")
    shown = term.wait_for("Bind password")
    assert "ldap://ldap.example.org" in row(shown, "Server URL(s)")
    assert "[ ] StartTLS" in shown and "[x] Allow clear-text" in shown
    # Kept, not asked for again; a long path loses its middle, not the file's name.
    assert "(unchanged: file:…" in row(shown, "Bind password")
    assert "/bind.secret)" in row(shown, "Bind password")
    assert BIND_PASSWORD not in shown

    burst(term, CTRL_N)
    # Only the question an untested LDAP setting gets: no problem holds Next.
    shown = term.wait_for("The LDAP test was not run")
    assert "is false for an ldap:// URL" not in shown and "is missing" not in shown
    burst(term, RIGHT + ENTER)
    wait_title(term, "review")
    term.wait_for("0 file change(s)")  # the host already runs these settings
    assert quit_wizard(term) == 1  # nothing applied


# --- point 5 ------------------------------------------------------------------------------

@pytest.mark.parametrize("starttls", [True, False], ids=["starttls", "clear-text"])
def test_the_ldap_test_against_a_web_server_names_the_cause(wizard, tmp_path, starttls):
    root = fixtures.build(tmp_path / "root")
    with Peer(http_400_held) as web:
        term = wizard(f"ldap-web-{'tls' if starttls else 'plain'}", root)
        walk_to(term, "auth")
        term.wait_for("(*) open")
        url = f"ldap://127.0.0.1:{web.port}"
        burst(term, DOWN + DOWN + ENTER + TAB + TAB + url)
        term.wait_for(url)
        ticks = TAB + TAB if starttls else TAB + " " + TAB + " "
        # The rest of the form, then Tab to the test button (past the filter, login and
        # name attributes, scope, test user and password) and Enter: one burst.
        burst(term, ticks + TAB + TAB + "cn=jitsi,ou=services,dc=example,dc=org" + TAB
              + "service-secret" + TAB + "ou=people,dc=example,dc=org" + TAB * 7 + ENTER)
        term.wait_for("Connection test failed", 20)
        # The results run on below the screen's last row: the mouse wheel brings them up.
        burst(term, WHEEL_DOWN * 10)
        shown = term.wait_for("another service (a web server?)")
    flat = " ".join(shown.split())
    where = f"127.0.0.1:{web.port}"
    assert f"Connection test failed: {where} answered, but not as an LDAP server" in flat, \
        shown
    assert "check the URL's host and port: another service (a web server?) listens" in flat
    assert "report this" not in flat and "stopped with an error" not in flat
    assert "KeyError:" not in flat and "within" not in flat
