"""Bursts in a real terminal: each burst is written to the wizard's terminal in one write, as
SSH delivers keys typed ahead, and every key lands where it was typed (issue #20's walk)."""

from __future__ import annotations

from tests.test_tui_tmux import (  # noqa: F401 (terminal: the fixture)
    burst,
    forward,
    terminal,
    wait_title,
    walk_to_auth,
)

DOWN = "\x1b[B"
TAB = "\t"
ENTER = "\r"


def row(shown: str, label: str) -> str:
    return next((line for line in shown.splitlines() if line.strip().startswith(label)), "")


def test_an_ldap_form_typed_ahead_in_two_bursts(terminal):  # noqa: F811 (the fixture)
    term = terminal("burst-ldap")
    walk_to_auth(term)
    term.wait_for("(*) open")
    url = "ldap://127.0.0.1:3489"
    burst(term, DOWN + DOWN + ENTER + TAB + TAB + url)
    shown = term.wait_for(url)
    assert "(*) ldap" in shown
    assert url in row(shown, "Server URL(s)")
    term.wait_focus("Server URL(s)")
    dn, base = "cn=jitsi,ou=services,dc=example,dc=org", "ou=people,dc=example,dc=org"
    # StartTLS off, clear text allowed, past the CA file, then three fields.
    burst(term, TAB + " " + TAB + " " + TAB + TAB + dn + TAB + "pw12" + TAB + base)
    term.wait_focus("User base")
    shown = term.wait_for(base)
    assert "[ ] StartTLS" in shown and "[x] Allow clear-text" in shown
    assert dn in row(shown, "Bind DN") and base in row(shown, "User base")
    assert "pw12" not in shown  # a password field shows no characters


def test_a_user_added_in_one_burst(terminal):  # noqa: F811 (the fixture)
    term = terminal("burst-user")
    walk_to_auth(term)
    term.wait_for("(*) open")
    burst(term, DOWN + ENTER + "a" + "bob")
    term.wait_for("Add a user")
    shown = term.wait_for("bob")
    assert any("User name" in line and "bob" in line for line in shown.splitlines())


def test_space_ticks_and_enter_goes_on(terminal):  # noqa: F811 (the fixture)
    """Firewall starts on its tick (not on Check again); Space ticks it; Enter then goes to
    the SSH port, leaving the tick as it is."""
    term = terminal("burst-tick")
    term.wait_for("Files under")
    term.keys("Enter")
    wait_title(term, "hostname")
    for name in ("dns", "firewall"):
        forward(term, name)
    term.wait_for("[ ] Let the wizard manage ufw")
    term.wait_for("no firewall rules filter")  # the check's lines above it are in
    burst(term, " " + ENTER + "5")
    shown = term.wait_for("SSH port        225")
    assert "[x] Let the wizard manage ufw" in shown
