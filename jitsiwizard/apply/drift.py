"""What changed since the wizard's last run: the files it wrote that something else changed
since (a package upgrade, an admin), told apart by whether the wizard's own lines are still
whole, and the Jitsi packages upgraded since (for `status`)."""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field

from jitsiwizard.apply.fsio import read_kept
from jitsiwizard.apply.runs import (
    managed_records,
    package_versions,
    runs_dir,
    states,
    wizards_own_file,
)
from jitsiwizard.formats.regions import intact, record_checksum, record_chunks
from jitsiwizard.rootfs import Root


@dataclass
class Changed:
    path: str
    # the wizard's own lines changed (a hand edit), not only the rest; None: not known (a
    # package's file recorded by an earlier version, as a checksum alone)
    inside: bool | None
    gone: bool = False  # the file is not there any more
    diff: list[str] = field(default_factory=list)  # "+ line" / "- line", when known


def _written(root: Root, digest: str) -> str | None:
    """What the wizard wrote with that sha256, from the run that kept a copy of it."""
    for state in reversed(states(root)):
        copy = runs_dir(root) / state["run_id"] / "written" / digest
        if copy.is_file():
            return read_kept(copy)
    return None


def changed_files(root: Root) -> list[Changed]:
    found = []
    for path, record in sorted(managed_records(root).items()):
        text = root.read_text(path)
        if text is None:
            found.append(Changed(path, inside=True, gone=True))
            continue
        digest = record_checksum(record)
        if hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest() == digest:
            continue
        chunks = record_chunks(record)
        if chunks is not None:
            inside = not intact(text, chunks)
        else:
            inside = True if wizards_own_file(path) or isinstance(record, dict) else None
        changed = Changed(path, inside=inside)
        written = _written(root, digest)
        if written is not None:
            changed.diff = [line[0] + " " + line[1:] for line in difflib.unified_diff(
                written.splitlines(), text.splitlines(), lineterm="", n=0)
                if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        found.append(changed)
    return found


def upgraded_packages(root: Root) -> list[tuple[str, str, str]]:
    """(package, version at the last run, version now) for each one that changed since the
    newest applied run that recorded its versions."""
    recorded = next((s["packages"] for s in reversed(states(root))
                     if s.get("status") == "applied" and isinstance(s.get("packages"), dict)),
                    None)
    if recorded is None:
        return []
    now = package_versions(root)
    return [(name, str(recorded[name]), now[name]) for name in sorted(recorded)
            if name in now and now[name] != recorded[name]]
