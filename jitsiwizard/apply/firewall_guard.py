"""Firewall changes over SSH: confirm or revert, as `netplan try` does.

When a run changed the firewall (ufw), a guard process is started that outlives the wizard:
it is in a session of its own, so neither a hang-up of the SSH link, nor the wizard being
killed, nor the terminal closing stops it. Unless the admin confirms from the running session
within the window, the guard runs the undo commands of the run's firewall steps, newest
first, marks them undone in the run's journal (a later rollback does not run them again), and
records that it reverted. Only the firewall is reverted: the rest of the run stays applied.

Markers in the run's directory: `firewall-confirmed` (written by the session on
confirmation), `firewall-undo-now` (written by the session when the admin asks for the undo
before the deadline: the guard does it at once), `firewall-reverted` (written by the guard:
what it undid, or what failed), `firewall-guard` (written by the guard as it ends: its
outcome).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from jitsiwizard.apply.fsio import read_json, write_private
from jitsiwizard.apply.journal import Journal, decode_argv
from jitsiwizard.apply.lock import Lock
from jitsiwizard.apply.runs import runs_dir, states
from jitsiwizard.errors import UserError
from jitsiwizard.rootfs import Root
from jitsiwizard.runner import Runner
from jitsiwizard.secrets import Redactor

CONFIRMED = "firewall-confirmed"
UNDO_NOW = "firewall-undo-now"
REVERTED = "firewall-reverted"
GUARD_DONE = "firewall-guard"
WINDOW = 60.0  # seconds the admin has to confirm
LOCK_WAIT = 30.0  # a rollback in progress may hold the state lock this long


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


def changed_firewall(root: Root, run_id: str) -> bool:
    """Whether the run changed the firewall in a way it can undo."""
    path = _run_dir(root, run_id) / "journal.jsonl"
    entries = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    break
    except OSError:
        return False
    return bool(firewall_undos(entries))


def arm(root: Root, run_id: str, seconds: float = WINDOW, *, simulate: bool = False) -> float:
    """Start the guard for this run; returns the deadline (time.time())."""
    deadline = time.time() + seconds
    argv = [sys.executable, "-m", "jitsiwizard.apply.firewall_guard", "--root",
            str(root.base), "--run", run_id, "--deadline", f"{deadline:.3f}"]
    if simulate:
        argv.append("--simulate")
    # A session of its own: a hang-up or the wizard's death does not reach it.
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    return deadline


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
        if state is None or state.get("status") != "applied":
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jitsi-wizard-firewall-guard")
    parser.add_argument("--root", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--deadline", type=float, required=True)
    parser.add_argument("--simulate", action="store_true")
    args = parser.parse_args(argv)
    root = Root(args.root)
    marker = _run_dir(root, args.run) / CONFIRMED
    now = _run_dir(root, args.run) / UNDO_NOW
    # A timer: it sleeps to the deadline, waking early only to see a confirmation or a
    # request to undo now.
    while time.time() < args.deadline and not marker.exists() and not now.exists():
        time.sleep(min(0.5, max(0.0, args.deadline - time.time())))
    try:
        outcome = revert_unless_confirmed(root, args.run, simulate=args.simulate)
    except UserError:
        outcome = "failed"  # the state lock stayed taken: nothing was undone
    write_private(_run_dir(root, args.run) / GUARD_DONE,
                  json.dumps({"outcome": outcome}).encode())
    return 0 if outcome in ("confirmed", "reverted", "gone") else 1


if __name__ == "__main__":  # pragma: no cover - started by arm()
    os.umask(0o077)
    raise SystemExit(main())
