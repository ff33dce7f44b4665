"""Applying a plan as one transaction that can always be rolled back.

Before each change, the prior state of everything it touches goes into an fsync'd journal
(with a backup copy of file content), so a failure, a signal, or even SIGKILL at any point
leaves enough on disk to restore the exact earlier state. Restoring is idempotent: restoring
something that was never changed does nothing, and a rollback that was itself cut short can
simply be run again.

State, under the root (the paths are in jitsiwizard.paths):
    STATE_DIR/lock                 flock held while a run or a rollback is in progress
    STATE_DIR/managed.json         target path -> sha256 of what the wizard last wrote (and,
                                   in a package's file, which lines of it are the wizard's)
    STATE_DIR/runs/<ID>/           journal.jsonl, state.json, backup/, written/, run.log,
                                   answers.toml

The modules, lowest first (pyproject.toml's "apply-layers" contract holds this order):
    fsio            fsync, private files and directories, checksums, JSON reads, root paths
    runner          the one way commands run: argv lists, a timeout each, redacted logs
    lock            the flock, and who holds it
    runs            reading recorded runs: list_runs, interrupted_run, managed_checksums,
                    first_backup
    journal         one run's directory: journal, state.json, backups, run.log
    signals         SIGHUP/SIGTERM/SIGINT during a run, and the test-only kill points
    verifiers       what a Verify step checks after its step, looked up by name
    executors       doing each kind of step against the journal
    restore         undoing a journal, newest entry first
    transaction     apply() and rollback()
    drift           what changed since the last run (for `status`)
    firewall_guard  the guard process that undoes a firewall change nobody confirmed
"""

from __future__ import annotations

from jitsiwizard.apply.runs import RunInfo, interrupted_run, list_runs, managed_checksums
from jitsiwizard.apply.transaction import RunOutcome, apply, rollback
from jitsiwizard.paths import STATE_DIR

__all__ = [
    "STATE_DIR",
    "RunInfo",
    "RunOutcome",
    "apply",
    "interrupted_run",
    "list_runs",
    "managed_checksums",
    "rollback",
]
