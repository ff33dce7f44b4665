"""Meetings in progress, asked of jicofo before a run that restarts what carries them: both
faces say how many people applying would drop, and the command line refuses to drop them
unless told to (--allow-disruption)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jitsiwizard.health import Endpoints
    from jitsiwizard.workflow.planned import Planned


@dataclass
class MeetingsCheck:
    """What jicofo said (or why it was not asked) before a run."""

    restarts: list[str] = field(default_factory=list)  # the disruptive services restarted
    asked: str = ""  # the URL asked; "" when not asked
    conferences: int = 0
    participants: int = 0
    error: str = ""  # jicofo did not answer: unknown, not zero
    skipped: str = ""  # why jicofo was not asked

    @property
    def disruptive(self) -> bool:
        """Applying would (or might, when jicofo did not answer) drop people's meetings."""
        return bool(self.restarts and self.asked and (self.error or self.conferences
                                                      or self.participants))

    def message(self) -> str:
        if not self.restarts:
            return ""
        if self.skipped:
            return f"meetings in progress not asked: {self.skipped}"
        if self.error:
            return (f"jicofo did not say whether meetings are running ({self.error}); "
                    f"applying restarts {', '.join(self.restarts)} and drops any meeting")
        if self.conferences or self.participants:
            return (f"{self.conferences} meetings with {self.participants} people are "
                    "running: applying drops them")
        return "no meeting is running (jicofo says 0)"


def meetings_in_progress(planned: Planned, endpoints: Endpoints, *,
                         simulate: bool) -> MeetingsCheck:
    """Whether applying would drop meetings: jicofo's /stats (at `endpoints`), asked only
    when the plan restarts Prosody, jicofo or the bridge, and under --simulate only when
    the endpoints were given explicitly."""
    from jitsiwizard.health import DISRUPTIVE
    from jitsiwizard.health.probes import ProbeError, meetings

    restarts = sorted({s.name for s in planned.plan.steps
                       if s.kind == "service" and s.name in DISRUPTIVE})
    check = MeetingsCheck(restarts)
    if not restarts:
        return check
    if planned.answers.is_bridge:
        check.skipped = ("jicofo runs on the main host; it moves this bridge's "
                         "conferences to another bridge while it restarts")
        return check
    if simulate and not endpoints.given:
        check.skipped = "this run only records its commands (--simulate)"
        return check
    check.asked = f"{endpoints.jicofo_url}/stats"
    try:
        seen = meetings(check.asked, endpoints.timeout)
    except ProbeError as exc:
        check.error = str(exc)
        return check
    check.conferences, check.participants = seen.conferences, seen.participants
    return check
