"""Reading what earlier runs recorded: their states, the interrupted one, managed.json, the
oldest backup of a file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from jitsiwizard.apply.fsio import read_json
from jitsiwizard.apply.lock import lock_holder
from jitsiwizard.formats.regions import record_checksum
from jitsiwizard.paths import MANAGED_FILE, RUNS_DIR, STATE_DIR
from jitsiwizard.rootfs import Root


@dataclass
class RunInfo:
    run_id: str
    status: str  # "applying" | "applied" | "rolled-back" | "rolling-back"
    started: str
    summary: str
    # What became of a firewall change the run guarded (firewall_guard.firewall_state).
    firewall: str | None = None


def runs_dir(root: Root) -> Path:
    return root.path(RUNS_DIR)


def states(root: Root) -> list[dict]:
    """Every run's state.json, oldest first."""
    found = []
    base = runs_dir(root)
    if not base.is_dir():
        return []
    for entry in base.iterdir():
        state = read_json(entry / "state.json")
        if isinstance(state, dict) and state.get("run_id") == entry.name:
            found.append(state)
    return sorted(found, key=lambda s: (s.get("seq", 0), s["run_id"]))


def _info(state: dict) -> RunInfo:
    return RunInfo(state["run_id"], state.get("status", "?"), state.get("started", ""),
                   state.get("summary", ""))


def list_runs(root: Root) -> list[RunInfo]:
    """Every recorded run, oldest first (the last one is the newest)."""
    return [_info(s) for s in states(root)]


def interrupted_run(root: Root) -> RunInfo | None:
    """The newest run left half done (its process died while applying or rolling back),
    or None. A run still in progress in a live process does not count."""
    holder = lock_holder(root)
    for state in reversed(states(root)):
        if state.get("status") not in ("applying", "rolling-back"):
            continue
        if holder is not None and holder in (state.get("pid"), -1):
            continue
        return _info(state)
    return None


def managed_records(root: Root) -> dict[str, object]:
    """managed.json as written: target path -> the sha256 of what the wizard last wrote there
    (the whole file is the wizard's), or {"sha256": ..., "own": [chunks]} for a file of the
    packages where only those lines are the wizard's (formats/regions.py)."""
    data = read_json(root.path(MANAGED_FILE))
    if not isinstance(data, dict):
        return {}
    return {str(k): v if isinstance(v, dict) else str(v) for k, v in data.items()}


def wizards_own_file(path: str) -> bool:
    """A file the wizard creates and owns whole (its Prosody files, drop-ins, hooks, state),
    as opposed to a package's file it edits: told apart by name, which the records of earlier
    versions (a checksum alone, either way) need."""
    return "jitsi-wizard" in path.rsplit("/", 1)[-1] or path.startswith(STATE_DIR + "/")


def managed_checksums(root: Root) -> dict[str, str]:
    """Target path -> sha256 of the content the wizard last wrote there."""
    return {k: record_checksum(v) for k, v in managed_records(root).items()}


# The packages whose upgrade scripts edit the files the wizard edits.
UPGRADING_PACKAGES = ("jitsi", "jicofo", "prosody", "coturn")


def package_versions(root: Root) -> dict[str, str]:
    """The installed versions of those packages (dpkg's status file), as a run records them
    when it ends, so that `status` can name what was upgraded since."""
    from jitsiwizard.host.facts import parse_dpkg_status  # local: host reads, apply writes
    from jitsiwizard.paths import DPKG_STATUS

    return {name: version for name, version in
            sorted(parse_dpkg_status(root.read_text(DPKG_STATUS) or "").items())
            if name.startswith(UPGRADING_PACKAGES)}


def first_backup(root: Root, path: str) -> str | None:
    """The content `path` had before the wizard first changed it: the backup that the oldest
    run whose journal recorded it as a file kept of it (None: no run did, or that backup is
    gone). Read-only, and tolerant of damaged runs: the host is read with it at start-up."""
    base = runs_dir(root)
    if not base.is_dir():
        return None

    def seq(run: Path) -> tuple:  # run ids of the same second sort at random: runs keep a seq
        try:
            state = json.loads(root.read_text(f"{RUNS_DIR}/{run.name}/state.json") or "{}")
        except ValueError:
            state = {}
        return (state.get("seq", 0) if isinstance(state, dict) else 0, run.name)

    for run in sorted(base.iterdir(), key=seq):
        journal = root.read_text(f"{RUNS_DIR}/{run.name}/journal.jsonl") or ""
        for line in journal.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                break  # a damaged journal: what follows in it is not trusted
            prior = entry.get("prior") if isinstance(entry, dict) else None
            if not isinstance(prior, dict) or entry.get("op") != "path" or \
                    entry.get("path") != path or prior.get("type") != "file":
                continue
            name = str(prior.get("backup", ""))
            if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name.startswith("."):
                return None
            return root.read_text(f"{RUNS_DIR}/{run.name}/backup/{name}")
    return None
