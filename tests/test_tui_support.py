"""Shared helpers for the TUI tests (no tests here): a wizard on a fixture tree, the screen as
plain text, bounded waits, and checks with fixed results for screens that must look the same
on every machine."""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console

from jitsiwizard import fixtures
from jitsiwizard.checks.result import CheckResult
from jitsiwizard.rootfs import Root
from jitsiwizard.screens.app import WizardApp
from jitsiwizard.workflow.live_checks import LiveChecks
from jitsiwizard.workflow.session import Session

SIZE = (80, 24)
HOST = "meet.example.org"


def tui_root(request, **kw) -> Path:
    """A fixture install at /tmp/jw-XXXXXXXX, removed when the test ends. The screens show
    the path, so it has a fixed length: a snapshot must not wrap differently between runs."""
    base = Path(tempfile.mkdtemp(prefix="jw-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(base, ignore_errors=True))
    fixtures.build(base, **kw)
    return base


class FixedResults(LiveChecks):
    """DNS, ports and LDAP checks that answer with the results the test gives."""

    def __init__(self, root: Root, dns: list, ports: list, ldap: list):
        super().__init__(root, timeout=1.0)
        self.dns_results, self.ports_results, self.ldap_results = dns, ports, ldap

    def dns(self, hostname: str, public_address: str = "") -> list:
        return list(self.dns_results)

    def ports(self, ssh_port: int, manage: bool, bridge: bool = False) -> list:
        return list(self.ports_results)

    def ldap(self, ldap, hostname: str) -> list:
        return list(self.ldap_results)


class FixedChecks(Session):
    """A session with the real own-certificate validation, whose DNS, ports and LDAP checks
    (and a bridge host's preflight) answer with fixed results. `settings`: the session's,
    over commands simulated and a 1 s check timeout."""

    def __init__(self, root: Root, *, dns=None, ports=None, ldap=None, bridge=None,
                 **settings):
        super().__init__(root, **{"simulate": True, "check_timeout": 1.0, **settings})
        dns_results = dns if dns is not None else [
            CheckResult("dns.ipv4", "ok", f"{HOST} points at this host (192.0.2.10)",
                        [f"resolver 127.0.0.1:53: {HOST} A -> 192.0.2.10"]),
            CheckResult("dns.ipv6", "ok", f"{HOST} has no AAAA record and this host has no "
                        "global IPv6 address")]
        ports_results = ports if ports is not None else [
            CheckResult("ports.listen.443/tcp", "ok", "443/tcp is held by nginx"),
            CheckResult("ports.firewall", "ok", "no firewall rules filter inbound traffic")]
        ldap_results = ldap if ldap is not None else [
            CheckResult("ldap.bind", "ok", "bound as cn=jitsi,ou=services,dc=example,dc=org"),
            CheckResult("ldap.search", "ok", "3 users match", [], "", {"count": 3})]
        self.checks = FixedResults(root, dns_results, ports_results, ldap_results)
        # The bridge host's preflight; the answers it was last asked about.
        self.bridge_results = bridge if bridge is not None else [
            CheckResult("bridge.resolve", "ok", "main host resolves", [f"{HOST} is 192.0.2.10"]),
            CheckResult("bridge.tls", "ok", f"TLS on {HOST}:5222",
                        ["STARTTLS with the pinned certificate"]),
            CheckResult("bridge.login", "ok", f"login bridge2@auth.{HOST}", ["accepted"])]
        self.bridge_asked = None

    def bridge_preflight(self, answers) -> list:
        self.bridge_asked = answers
        return list(self.bridge_results)


def make_app(root: Path, *, edit: str | None = None, checks: Session | None = None,
             resolver: str | None = None, check_timeout: float = 5.0) -> WizardApp:
    """The wizard on a tree, commands simulated; with fixed check results unless a resolver
    is given (then the checks are real)."""
    if checks is None:
        checks = (Session(Root(root), simulate=True, resolver=resolver,
                          check_timeout=check_timeout) if resolver else FixedChecks(Root(root)))
    return WizardApp(checks, edit=edit)


def screen_text(app) -> str:
    """The whole terminal as plain text, dialogs included: what a snapshot compares."""
    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(),
                      force_terminal=True, color_system=None, record=True,
                      legacy_windows=False)
    console.print(app.screen._compositor.render_update(
        full=True, screen_stack=app._background_screens))
    return console.export_text()


async def wait_until(pilot, condition, what: str, timeout: float = 10.0):
    """Let the app run until `condition()` is truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n"
                                 + screen_text(pilot.app))
        await asyncio.sleep(0.005)


async def press(pilot, *keys: str) -> None:
    """Key presses through the driver, as Pilot.press sends them, but waiting only until the
    screen has handled each one (Pilot.press also waits for the whole process to look idle,
    about 50 ms a key, far more on a busy machine)."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        try:
            char = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(pilot.app)
        pilot.app._driver.send_message(event)
        await pilot._wait_for_screen()


async def wait_idle(pilot, timeout: float = 10.0) -> None:
    """Until no worker of the app is running (checks, plan, apply) and no spinner turns."""
    def idle():
        busy = [w for w in pilot.app.workers if w.is_running]
        spinning = [s for s in pilot.app.screen.query("#status") if s.running]
        return not busy and not spinning

    await wait_until(pilot, idle, "the workers to finish", timeout)


async def wait_screen(pilot, name: str, timeout: float = 10.0) -> None:
    """Until the step `name` is shown and filled in, and its checks are done."""
    def arrived():
        screen = pilot.app.screen
        return (getattr(screen, "NAME", "") == name and screen._composed
                and not screen.entering)

    await wait_until(pilot, arrived, f"the {name} screen", timeout)
    await wait_idle(pilot, timeout)


async def loaded(pilot) -> None:
    await wait_until(pilot, lambda: pilot.app.loaded_host, "the host facts")
    await wait_idle(pilot)


async def on_step(pilot, name: str) -> None:
    """Once the first screen is up, straight to the step `name` (app.go), shown."""
    await loaded(pilot)
    pilot.app.go(name)
    await wait_screen(pilot, name)


async def next_step(pilot, name: str) -> None:
    """Ctrl+N, accepting a "continue anyway" question if one comes, until `name` shows."""
    from jitsiwizard.screens.base import ConfirmDialog

    await press(pilot, "ctrl+n")
    # The question, when there is one, may come a moment after the key.
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmDialog)
                     or getattr(pilot.app.screen, "NAME", "") == name,
                     f"the {name} screen or a question")
    if isinstance(pilot.app.screen, ConfirmDialog):
        await confirm(pilot)
    await wait_screen(pilot, name)


async def confirm(pilot) -> None:
    """Answer the question on screen with its "yes" button, by keyboard (Right, Enter)."""
    dialog = await wait_until(pilot, lambda: pilot.app.screen.query("#no")
                              and pilot.app.screen.query_one("#no").has_focus
                              and pilot.app.screen, "the question to have the focus")
    await press(pilot, "right")
    await wait_until(pilot, lambda: dialog.query_one("#yes").has_focus, "the yes button")
    await press(pilot, "enter")
    await wait_until(pilot, lambda: pilot.app.screen is not dialog, "the question to close")


async def focus(pilot, widget, what: str) -> None:
    """Focus `widget`, asking again until it takes the focus: a field in a panel that a
    choice just revealed cannot take it before the panel is shown."""
    def focused():
        if not widget.has_focus:
            widget.focus()
        return widget.has_focus

    await wait_until(pilot, focused, what)


async def type_into(pilot, selector: str, text: str) -> None:
    """Replace a field's text as a paste would (typing every character costs a pilot round
    trip each; the tmux test types for real), then a real key press (End)."""
    widget = pilot.app.screen.query_one(selector)
    await focus(pilot, widget, f"{selector} to have the focus")
    widget.value = text
    await press(pilot, "end")
    await wait_until(pilot, lambda: widget.value == text, f"{selector} to read {text!r}")


def normalise(text: str, root: Path) -> str:
    """Screen text without what differs between runs: the root path, run IDs, spaces at
    line ends."""
    text = text.replace(str(root), "/tmp/jw-XXXXXXXX")
    text = re.sub(r"\b\d{8}-\d{6}-[0-9a-f]{4}\b", "YYYYMMDD-HHMMSS-XXXX", text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
