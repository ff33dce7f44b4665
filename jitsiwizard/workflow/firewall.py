"""A firewall change over SSH, confirmed or reverted (`session.firewall`): the guard
(apply/firewall_guard.py) starts before the run's first firewall command and outlives the
wizard; once the run is applied, the admin has a window to confirm the change from the running
session, or the guard undoes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jitsiwizard.rootfs import Root
    from jitsiwizard.workflow.planned import Planned


class FirewallConfirmation:
    """`mode` is "ask" (the change must be confirmed from this process within `window`
    seconds), "elsewhere" (the same, but from another process once this one has ended: the
    Ansible module's play confirms over a new connection) or "skip" (no confirmation, no
    guard); with `simulate` nothing is guarded either."""

    def __init__(self, root: Root, *, simulate: bool, mode: str = "ask",
                 window: float = 60.0):
        self.root = root
        self.simulate = simulate
        self.mode = mode
        self.window = window

    @property
    def guarded(self) -> bool:
        """Whether a run's firewall change is guarded (and must be confirmed)."""
        return not self.simulate and self.mode != "skip"

    def needs_confirming(self, planned: Planned) -> bool:
        """Whether applying may change the firewall in a way the admin must confirm (on a
        fresh host the firewall steps come with the configuration, after the install)."""
        if not self.guarded:
            return False
        if not planned.facts.jitsi_installed:
            return planned.answers.firewall.manage
        return any(s.kind == "command" and s.argv and str(s.argv[0]) == "ufw"
                   for s in planned.plan.steps)

    def start_guard(self, run_id: str) -> int:
        """Start the run's guard, before its first firewall command (the transaction calls
        it); returns the guard's pid."""
        from jitsiwizard.apply import firewall_guard

        return firewall_guard.arm(self.root, run_id, self.window)

    def start_countdown(self, outcome) -> float | None:
        """After an applied run whose firewall change a guard watches (the run started it
        before its first firewall command): start the admin's window. Returns the deadline
        (time.time()), or None when there is nothing to confirm."""
        from jitsiwizard.apply import firewall_guard

        if (outcome.status != "applied" or not self.guarded
                or firewall_guard.guard_alive(self.root, outcome.run_id) is None):
            return None
        return firewall_guard.start_countdown(self.root, outcome.run_id, self.window,
                                              elsewhere=self.mode == "elsewhere")

    def guard_alive(self, run_id: str) -> bool:
        from jitsiwizard.apply import firewall_guard

        return bool(firewall_guard.guard_alive(self.root, run_id))

    def undo_commands(self, run_id: str) -> list[str]:
        """The commands that undo the run's firewall change, ready to paste."""
        from jitsiwizard.apply import firewall_guard

        return firewall_guard.undo_commands(self.root, run_id)

    def confirm(self, run_id: str) -> bool:
        """Keep the firewall change; False when the guard already undid it."""
        from jitsiwizard.apply import firewall_guard

        return firewall_guard.confirm(self.root, run_id)

    def undo_now(self, run_id: str) -> None:
        """Have the guard undo the change now instead of at its deadline (it stays the
        one that undoes it: see outcome())."""
        from jitsiwizard.apply import firewall_guard

        firewall_guard.undo_now(self.root, run_id)

    def outcome(self, run_id: str, timeout: float = 0.0) -> str | None:
        """How the guard ended ("confirmed", "reverted", "failed", "gone"), waiting up to
        `timeout` seconds for it; None while it still runs."""
        import time

        from jitsiwizard.apply import firewall_guard

        end = time.monotonic() + timeout
        while True:
            outcome = firewall_guard.guard_outcome(self.root, run_id)
            if outcome is not None:
                return outcome
            if firewall_guard.guard_alive(self.root, run_id) is False:
                # The guard died before a decision: this process undoes the change itself.
                return self._undo_here(run_id)
            if time.monotonic() >= end:
                return None
            time.sleep(0.2)  # another process's file: nothing to wait on but the file

    def _undo_here(self, run_id: str) -> str:
        from jitsiwizard.apply import firewall_guard
        from jitsiwizard.errors import UserError

        try:
            return firewall_guard.revert_unless_confirmed(self.root, run_id)
        except UserError:  # the state lock stayed taken
            return "failed"
