"""Step 9: the meeting URL, what changed, where the backup, the run log and the saved answers
are, and what to do next."""

from __future__ import annotations

from shlex import quote, split
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Button, Static

from jitsiwizard.screens.base import WizardScreen

INTRO = "The wizard is done."
SHOWN_CHANGES = 5  # steps listed by name; the rest are counted


LABEL_WIDTH = 14


def shell_lines(command: str, width: int) -> list[str]:
    """A command in lines of at most `width` where it can be broken (between words), each
    but the last ending in a backslash: pasted as shown, the shell reads one command."""
    words = [quote(word) for word in split(command)]
    lines: list[str] = []
    line = ""
    for word in words:
        if line and len(line) + 1 + len(word) + 2 > width:
            lines.append(line + " \\")
            line = "  " + word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return lines


def _line(text: Text, label: str, value: str, width: int = 78, *,
          command: bool = False) -> None:
    """A label and its value; a value too long for the line goes on its own lines below,
    indented, so that it never wraps back to the first column in the middle of a word."""
    text.append(f"{label:<{LABEL_WIDTH}}", "bold")
    if LABEL_WIDTH + len(value) <= width:
        text.append(f"{value}\n")
        return
    text.append("\n")
    lines = shell_lines(value, width - 2) if command else path_lines(value, width - 2)
    for number, line in enumerate(lines):
        text.append(f"{'  ' if number == 0 or command else '    '}{line}\n")


def path_lines(path: str, width: int) -> list[str]:
    """A path in lines of at most `width`, broken after a slash (the lines after the first
    are indented two more), so that a part never breaks mid-name; a part longer than a line
    stays whole."""
    if len(path) <= width:
        return [path]
    parts = [part + "/" for part in path.split("/")]
    parts[-1] = parts[-1][:-1]
    lines, line = [], ""
    for part in parts:
        room = width if not lines else width - 2
        if line not in ("", "/") and len(line) + len(part) > room:
            lines.append(line)
            line = part
        else:
            line += part
    lines.append(line)
    return lines


class DoneScreen(WizardScreen):
    NAME = "done"
    TITLE = "Done"
    INTRO = INTRO
    NEXT_LABEL = "Quit"
    HAS_BACK = False
    HELP = (INTRO + "\n\nThe answers used are saved (mode 0600, passwords as references to "
            "root-only files) so the same setup can be replayed on this or another host with "
            "`jitsi-wizard --answers FILE`, or changed with `jitsi-wizard --edit FILE`.\n\n"
            "Every change can be undone with `jitsi-wizard rollback`: the backup of each "
            "file is kept with the run.")
    BINDINGS: ClassVar = [Binding("escape", "back", "Back", show=False),
                          Binding("ctrl+n", "next", "Quit"),
                          # The focus is on Quit: the summary scrolls from there.
                          Binding("down", "scroll('scroll_down')", show=False),
                          Binding("up", "scroll('scroll_up')", show=False),
                          Binding("pagedown", "scroll('page_down')", show=False),
                          Binding("pageup", "scroll('page_up')", show=False)]

    def action_scroll(self, how: str) -> None:
        getattr(self.query_one("#body"), f"action_{how}")()

    def compose_body(self) -> ComposeResult:
        yield Static("", id="done-url", classes="url")
        yield Static("", id="done-summary")

    def focus_first(self) -> None:
        self.query_one("#next", Button).focus()

    def refresh_from_form(self) -> None:
        app = self.app
        if app.saved_answers is None and app.loaded is not None:
            # Nothing needed changing: the answers are still saved for replay.
            from jitsiwizard.errors import EXIT_OK

            app.saved_answers, app.saved_notes = app.session.save_answers(app.loaded.answers)
            app.exit_code = EXIT_OK
        answers = app.loaded.answers if app.loaded is not None else app.form.answers
        if answers.is_bridge:
            self.query_one("#done-url", Static).update(Text.assemble(
                ("Videobridge for: ", "bold"), (answers.bridge.main, "bold underline")))
        else:
            self.query_one("#done-url", Static).update(Text.assemble(
                ("Meetings: ", "bold"), (f"https://{answers.host.hostname}/",
                                         "bold underline")))
        self.query_one("#done-summary", Static).update(self.summary(answers))
        app.farewell = self.farewell(answers)

    def places(self) -> list[tuple[str, str, bool]]:
        """Where things are, and the commands: (label, value, is a command), for Done's
        summary and for the lines printed when the wizard exits."""
        app = self.app
        outcome = app.outcome
        command = app.session.command
        rows = []
        if outcome is not None and outcome.run_id:
            rows += [("Run", outcome.run_id, False),
                     ("Undo with", command(f"rollback {outcome.run_id}"), True),
                     ("Run log", outcome.log_path, False),
                     ("Backups", f"{outcome.log_path.rsplit('/', 1)[0]}/backup", False)]
        if app.saved_answers:
            rows += [("Answers", app.saved_answers, False),
                     ("Replay with", command(f"--answers {quote(app.saved_answers)}"), True)]
        firewall = self.firewall_summary()
        if firewall:
            rows.append(("Firewall", firewall, False))
        return rows

    def farewell(self, answers) -> list[str]:
        """What stays on the terminal once the wizard has gone: where things are and the
        commands, each on one line (copied from the scrollback, they paste as printed)."""
        app = self.app
        lines = ["jitsi-wizard: done."]
        if answers.is_bridge:
            lines.append(f"  Videobridge for: {answers.bridge.main}")
        else:
            lines.append(f"  Meetings:    https://{answers.host.hostname}/")
        lines += [f"  {label + ':':<12} {value}" for label, value, _ in self.places()]
        lines += [f"  note: {note}" for note in app.saved_notes]
        if app.session.demo and not app.session.demo_kept:
            lines.append("  note: the demo's tree is removed now: start it with --keep-demo "
                         "to try these commands")
        return lines

    def summary(self, answers) -> Text:
        """Where things are first (they are what the admin needs later), then what to do
        next, then what changed (the Review step showed it in full)."""
        app = self.app
        text = Text()
        plan, outcome, redact = app.plan, app.outcome, app.redact or (lambda t: t)
        width = max(40, self.app.size.width - 4)  # the body's padding and scroll bar
        if app.session.demo and not app.session.demo_kept:  # first: in view at 80x24
            text.append("note: the demo removes its tree when you quit; start it with "
                        "--keep-demo to try these commands afterwards\n", "yellow")
        for label, value, is_command in self.places():
            _line(text, label, value, width, command=is_command)
        for note in app.saved_notes:
            text.append(f"note: {note}\n", "yellow")
        text.append("\nNext steps\n", "bold underline")
        for step in self.next_steps(answers):
            text.append(f"  - {step}\n")
        text.append("\nWhat changed\n", "bold underline")
        if plan is None or plan.is_empty or outcome is None:
            text.append("  nothing: the host already matched these answers\n")
            return text
        for step in plan.steps[:SHOWN_CHANGES]:
            text.append(f"  - {redact(step.describe())}\n")
        more = len(plan.steps) - SHOWN_CHANGES
        if more > 0:
            text.append(f"  ... and {more} more step{'s' if more > 1 else ''} (all in the "
                        "run log)\n")
        for fallback in outcome.fallbacks:
            text.append(f"  fallback taken: {fallback}\n", "yellow")
        return text

    def firewall_summary(self) -> str:
        """What became of the run's firewall change (the Apply step asked): "" if none."""
        if not self.app.is_screen_installed("apply"):
            return ""
        return self.app.get_screen("apply").firewall_summary()

    def next_steps(self, answers) -> list[str]:
        if answers.is_bridge:
            main = answers.bridge.main
            return [f"On {main}, run `jitsi-wizard bridge list`: this bridge shows as in the "
                    "brewery once the videobridge has logged in.",
                    "Start a test meeting there: jicofo now spreads conferences over the "
                    "bridges.",
                    "Keep 10000/udp open to this host in every firewall in front of it."]
        host = answers.host.hostname
        steps = [f"Open https://{host}/ in a browser and start a test meeting."]
        policy = answers.auth.policy
        if policy == "local":
            steps.append("Hosts log in with the accounts you set; add more with the wizard "
                         "(Authentication) or `prosodyctl adduser NAME@" + host + "`.")
        elif policy == "ldap":
            steps.append("Hosts log in with their directory account (user name, not e-mail, "
                         "unless the login attribute says otherwise).")
        if answers.auth.guests:
            steps.append("Guests can join a meeting once a host has started it; until then "
                         "they are asked to wait for the host.")
        if answers.cert.mode == "self-signed":
            steps.append("Browsers will warn about the self-signed certificate, and the "
                         "mobile apps will not connect: switch to Let's Encrypt when DNS works.")
        if answers.host.public_address:
            steps.append(f"Forward 80/tcp, 443/tcp and 10000/udp from "
                         f"{answers.host.public_address} to this host on the NAT router.")
        if not answers.firewall.manage:
            steps.append("Make sure 80/tcp, 443/tcp and 10000/udp are open in every firewall "
                         "in front of this host.")
        return steps

    def action_back(self) -> None:
        self.notify("The wizard is done; Ctrl+N or Ctrl+Q quits.")

    def action_next(self) -> None:
        self.app.exit(self.app.exit_code)
