"""Firewall changes over SSH: confirm or revert, as `netplan try` does.

A run that changes the firewall (ufw) starts a guard process before its first firewall
command, so no moment of the run leaves a change with nobody to undo it. The guard is in a
session of its own: neither a hang-up of the SSH link, nor the wizard being killed, nor the
terminal closing stops it. It waits while the run applies; once the run is applied the
wizard starts the countdown (the admin's window), and unless the admin confirms from the
running session in time, the guard runs the undo commands of the run's firewall steps,
newest first, marks them undone in the run's journal (a later rollback does not run them
again), and records that it reverted. Only the firewall is reverted: the rest of the run
stays applied. When the wizard dies before anyone confirmed (SIGKILL while applying, a
hang-up at the question), nobody can confirm any more: the guard undoes the change at once.
A run that hands the confirmation to another process (Ansible's module ends, and the play
confirms over a new connection) says so with its countdown: then the wizard's end is
expected, and only the deadline undoes the change.
When the run is rolled back instead, the rollback undid the change and the guard ends.
The wizard watches its guard in turn: if the guard dies before a decision, the wizard undoes
the change itself at the deadline, and says so at once (see firewall_state).

Markers in the run's directory: `firewall-guard-armed` (the guard's and the wizard's pids),
`firewall-countdown` (the deadline, written by the wizard when the run is applied),
`firewall-confirmed` (written by the session on confirmation), `firewall-undo-now` (written
by the session when the admin asks for the undo before the deadline: the guard does it at
once), `firewall-reverted` (what was undone, or what failed), `firewall-guard` (written by
the guard as it ends: its outcome).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from jitsiwizard.answers.secrets import Redactor
from jitsiwizard.apply.fsio import read_json, write_private
from jitsiwizard.apply.journal import Journal, decode_argv, read_entries
from jitsiwizard.apply.lock import Lock
from jitsiwizard.apply.runner import Runner
from jitsiwizard.apply.runs import runs_dir, states
from jitsiwizard.errors import UserError
from jitsiwizard.rootfs import Root

ARMED = "firewall-guard-armed"
COUNTDOWN = "firewall-countdown"
CONFIRMED = "firewall-confirmed"
UNDO_NOW = "firewall-undo-now"
REVERTED = "firewall-reverted"
GUARD_DONE = "firewall-guard"
WINDOW = 60.0  # seconds the admin has to confirm
LOCK_WAIT = 30.0  # a rollback in progress may hold the state lock this long
POLL = 0.2  # the guard watches files and a pid of other processes: nothing to wait on


def _run_dir(root: Root, run_id: str) -> Path:
    return runs_dir(root) / run_id


def firewall_undos(entries: list[dict]) -> list[tuple[int, list]]:
    """(journal index, undo argv) of the firewall commands not undone yet, newest first."""
    done = {e["index"] for e in entries if e.get("op") == "undone"}
    found = []
    for index, entry in enumerate(entries):
        if entry.get("op") == "undo" and index not in done:
            argv = decode_argv(entry["argv"])
            if argv and str(argv[0]) == "ufw":
                found.append((index, argv))
    return found[::-1]


def arm(root: Root, run_id: str, window: float = WINDOW, *, simulate: bool = False) -> int:
    """Start the guard for this run (before its first firewall command); returns its pid.
    It waits for the run to be applied and the countdown to start (start_countdown)."""
    argv = [sys.executable, "-m", "jitsiwizard.apply.firewall_guard", "--root",
            str(root.base), "--run", run_id, "--wizard-pid", str(os.getpid()),
            "--window", f"{window:.3f}"]
    if simulate:
        argv.append("--simulate")
    # A session of its own: a hang-up or the wizard's death does not reach it.
    guard = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True,
                             close_fds=True)
    write_private(_run_dir(root, run_id) / ARMED, json.dumps(
        {"guard_pid": guard.pid, "wizard_pid": os.getpid(), "armed": time.time()}).encode())
    return guard.pid


def undo_commands(root: Root, run_id: str) -> list[str]:
    """The run's firewall undo commands not run yet, newest first, quoted for the shell."""
    from shlex import quote

    try:
        entries = read_entries(_run_dir(root, run_id) / "journal.jsonl")
    except OSError:
        return []
    return [" ".join(quote(str(a)) for a in argv) for _, argv in firewall_undos(entries)]


def start_countdown(root: Root, run_id: str, seconds: float = WINDOW, *,
                    elsewhere: bool = False) -> float:
    """The run is applied: the admin has `seconds` to confirm; `elsewhere`: from another
    process, after this one has ended. Returns the deadline (time.time())."""
    deadline = time.time() + seconds
    write_private(_run_dir(root, run_id) / COUNTDOWN,
                  json.dumps({"deadline": deadline, "elsewhere": elsewhere}).encode())
    return deadline


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, an exited child nobody reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def guard_alive(root: Root, run_id: str) -> bool | None:
    """Whether this run's guard still runs; None when the run armed none."""
    doc = read_json(_run_dir(root, run_id) / ARMED)
    if not isinstance(doc, dict) or not isinstance(doc.get("guard_pid"), int):
        return None
    return alive(doc["guard_pid"])


def firewall_state(root: Root, run_id: str) -> str | None:
    """What became of the run's firewall change: "pending" (the guard waits for a decision),
    "kept", "undone", "undo failed", "unknown" (the guard stopped before a decision), or
    None when the run changed no firewall or did not guard it."""
    run_dir = _run_dir(root, run_id)
    done = reverted(root, run_id)
    if done is not None:
        return "undo failed" if done.get("problems") else "undone"
    if (run_dir / CONFIRMED).exists():
        return "kept"
    outcome = guard_outcome(root, run_id)
    if outcome == "gone":
        return "undone"  # with the run's rollback
    running = guard_alive(root, run_id)
    if running is None:
        return None
    return "pending" if running and outcome is None else "unknown"


def confirm(root: Root, run_id: str) -> bool:
    """Keep the firewall change. False when the guard already reverted it."""
    run_dir = _run_dir(root, run_id)
    if (run_dir / REVERTED).exists():
        return False
    write_private(run_dir / CONFIRMED, f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
                  .encode())
    # The guard may have started reverting in the same instant: its marker says so.
    return not (run_dir / REVERTED).exists()


def undo_now(root: Root, run_id: str) -> None:
    """Ask the guard to undo the change now rather than at the deadline."""
    write_private(_run_dir(root, run_id) / UNDO_NOW,
                  f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode())


def reverted(root: Root, run_id: str) -> dict | None:
    """What the guard recorded when it reverted this run's firewall change, if it did."""
    doc = read_json(_run_dir(root, run_id) / REVERTED)
    return doc if isinstance(doc, dict) else None


def guard_outcome(root: Root, run_id: str) -> str | None:
    """How the guard ended ("confirmed", "reverted", "failed", "gone"), None while it runs."""
    doc = read_json(_run_dir(root, run_id) / GUARD_DONE)
    return doc.get("outcome") if isinstance(doc, dict) else None


def _lock(root: Root, deadline: float) -> Lock:
    """The state lock, waiting for a rollback in progress to end."""
    while True:
        try:
            return Lock(root).__enter__()
        except UserError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)  # polling a lock another process holds; nothing to wait on


def revert_unless_confirmed(root: Root, run_id: str, *, simulate: bool = False) -> str:
    """At the deadline: "confirmed", "reverted", "gone" (the run was rolled back meanwhile)
    or "failed" (an undo command failed; the marker says which)."""
    run_dir = _run_dir(root, run_id)
    if (run_dir / CONFIRMED).exists():
        return "confirmed"
    lock = _lock(root, time.monotonic() + LOCK_WAIT)
    try:
        if (run_dir / CONFIRMED).exists():
            return "confirmed"
        state = next((s for s in states(root) if s.get("run_id") == run_id), None)
        status = state.get("status") if state is not None else None
        # A run left applying or rolling back (its process died) keeps that status: the next
        # start rolls back the rest, and skips what is marked undone here.
        if status not in ("applied", "applying", "rolling-back"):
            return "gone"
        redact = Redactor()
        journal = Journal.reopen(root, redact, state)
        runner = Runner(root, simulate=simulate, redact=redact, log=journal.say)
        undone, problems = [], []
        try:
            journal.say("the firewall change was not confirmed in time: undoing it")
            for index, argv in firewall_undos(journal.entries()):
                shown = " ".join(str(a) for a in argv)
                result = runner.run(argv, timeout=30.0)
                if result.ok:
                    journal.append({"op": "undone", "index": index})
                    undone.append(shown)
                else:
                    problems.append(f"{shown} exited with code {result.code}")
            if status == "applied":
                summary = (f"{state.get('summary', '')}; firewall change not confirmed, "
                           + ("undone" if not problems else "undo FAILED"))
                journal.set_state("applied", summary=summary, firewall="reverted")
        finally:
            journal.close()
        write_private(run_dir / REVERTED, json.dumps(
            {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "undone": undone,
             "problems": problems}, indent=2).encode())
        return "failed" if problems else "reverted"
    finally:
        lock.__exit__(None, None, None)


def _decide(root: Root, run_id: str, wizard_pid: int) -> str | None:
    """One look: what the guard must do now ("confirmed", "undo", "gone"), or None to wait."""
    run_dir = _run_dir(root, run_id)
    if (run_dir / CONFIRMED).exists():
        return "confirmed"
    if (run_dir / UNDO_NOW).exists():
        return "undo"
    state = next((s for s in states(root) if s.get("run_id") == run_id), None)
    status = state.get("status") if state is not None else None
    if status == "rolled-back" or state is None:
        return "gone"  # the rollback undid the firewall with the rest
    countdown = read_json(run_dir / COUNTDOWN)
    counting = status == "applied" and isinstance(countdown, dict)
    if not alive(wizard_pid) and not (counting and countdown.get("elsewhere") is True):
        return "undo"  # nobody is left to confirm, or to roll the run back now
    if counting and time.time() >= float(countdown.get("deadline", 0)):
        return "undo"
    return None


def watch(root: Root, run_id: str, wizard_pid: int, *, simulate: bool = False,
          window: float = WINDOW) -> str:
    """The guard's life: wait for a decision, undo the change unless it is to be kept."""
    applied_seen = None
    while True:
        decision = _decide(root, run_id, wizard_pid)
        if decision is None:
            # An applied run whose wizard never starts the countdown (it hangs): the guard
            # starts it itself.
            if applied_seen is None and any(s.get("run_id") == run_id and
                                            s.get("status") == "applied"
                                            for s in states(root)):
                applied_seen = time.time()
            if applied_seen is not None and time.time() >= applied_seen + 2 * window \
                    and not (_run_dir(root, run_id) / COUNTDOWN).exists():
                decision = "undo"
        if decision == "confirmed":
            return "confirmed"
        if decision == "gone":
            return "gone"
        if decision == "undo":
            try:
                return revert_unless_confirmed(root, run_id, simulate=simulate)
            except UserError:
                return "failed"  # the state lock stayed taken: nothing was undone
        time.sleep(POLL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jitsi-wizard-firewall-guard")
    parser.add_argument("--root", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--wizard-pid", type=int, required=True)
    parser.add_argument("--window", type=float, default=WINDOW)
    parser.add_argument("--simulate", action="store_true")
    args = parser.parse_args(argv)
    root = Root(args.root)
    outcome = watch(root, args.run, args.wizard_pid, simulate=args.simulate,
                    window=args.window)
    write_private(_run_dir(root, args.run) / GUARD_DONE,
                  json.dumps({"outcome": outcome}).encode())
    return 0 if outcome in ("confirmed", "reverted", "gone") else 1


if __name__ == "__main__":  # pragma: no cover - started by arm()
    os.umask(0o077)
    raise SystemExit(main())
