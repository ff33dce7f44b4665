"""One run's directory, STATE_DIR/runs/<ID>/: the fsync'd journal of prior states, state.json,
backup copies of file content, and run.log.

Journal entries, one JSON object a line, each written before the change it describes:
    begin     the run started
    path      the prior state of a path ("absent", "file" with its backup, "symlink", "dir",
              "other"); only the first one per path counts
    tree      a directory tree a command may change (or the top of a missing one)
    mkdir     a directory about to be created
    tmp       a temporary file about to be created
    undo      a command that undoes a step's command
    service   a service's state before its first action
    wrote     the sha256 of content written to a path (over an existing file, a copy of it
              is kept in written/, named by that sha256)
    fallback  a verify step took its fallback
    done      a step finished
    undone    an undo command ran (by a rollback that may be cut short)
    merged    a rollback undid only the run's lines in a file others changed since: the
              sha256 it left there (written before the file changes)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import secrets
import stat
import time
from pathlib import Path
from typing import Callable

from jitsiwizard.apply.fsio import (
    fsync_dir,
    lstat_or_none,
    read_kept,
    resolve,
    write_all,
    write_private,
)
from jitsiwizard.apply.runner import Runner
from jitsiwizard.apply.runs import runs_dir, states
from jitsiwizard.paths import STATE_DIR
from jitsiwizard.plan.steps import TargetPath
from jitsiwizard.rootfs import Root

RUN_LOG_TAIL = 200  # final lines run.log keeps of an output too long to log whole


def encode_argv(argv: list) -> list:
    return [{"target": a.path} if isinstance(a, TargetPath) else str(a) for a in argv]


def decode_argv(argv: list) -> list:
    return [TargetPath(a["target"]) if isinstance(a, dict) else a for a in argv]


class Journal:
    def __init__(self, root: Root, redact: Callable[[str], str], run_dir: Path, state: dict):
        self.root = root
        self.redact = redact
        self.dir = run_dir
        self.state = state
        self.log_path = run_dir / "run.log"
        # Open for the whole run (closed by close()); created 0600 as it may quote configs.
        self._log = open(  # noqa: SIM115
            os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600),
            "a", encoding="utf-8", errors="backslashreplace")
        self._journal = os.open(run_dir / "journal.jsonl", os.O_WRONLY | os.O_CREAT
                                | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.recorded: set[str] = set()  # paths whose prior state is journaled
        self.kept: list[tuple[str, str]] = []  # (target, copy) of hand edits a rollback kept
        self.merged: list[str] = []  # files a rollback left with others' later changes in
        self.trees: set[str] = set()
        self.counter = 0  # backup and temp file names

    @classmethod
    def create(cls, root: Root, redact: Callable[[str], str], answers_text: str | None,
               summary: str) -> Journal:
        """A new run's directory, with its state "applying" and the journal begun."""
        base = runs_dir(root)
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        seq = max((s.get("seq", 0) for s in states(root)), default=0) + 1
        while True:
            run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)
            try:
                (base / run_id).mkdir(mode=0o700)
                break
            except FileExistsError:
                continue
        run_dir = base / run_id
        os.chmod(run_dir, 0o700)
        (run_dir / "backup").mkdir(mode=0o700)
        if answers_text is not None:
            write_private(run_dir / "answers.toml", answers_text.encode("utf-8"), 0o600)
        state = {"run_id": run_id, "seq": seq, "status": "applying", "pid": os.getpid(),
                 "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "plan": redact(summary), "summary": redact(summary), "failed_step": None,
                 "error": None, "fallbacks": [], "rollback_errors": []}
        write_private(run_dir / "state.json", json.dumps(state, indent=2).encode())
        fsync_dir(base)
        journal = cls(root, redact, run_dir, state)
        journal.append({"op": "begin", "run_id": run_id})
        return journal

    @classmethod
    def reopen(cls, root: Root, redact: Callable[[str], str], state: dict) -> Journal:
        """The directory of an earlier run, to roll it back."""
        journal = cls(root, redact, runs_dir(root) / state["run_id"], dict(state))
        # New backup names never collide with the run's own.
        journal.counter = len(list((journal.dir / "backup").iterdir()))
        return journal

    def close(self) -> None:
        self._log.close()
        os.close(self._journal)

    # -- records ---------------------------------------------------------------------

    def say(self, text: str) -> None:
        """A line in run.log (redacted)."""
        stamp = time.strftime("%H:%M:%S")
        body = self.redact(text).replace("\n", "\n         ")
        # A full disk must not stop a rollback for the sake of its log.
        with contextlib.suppress(OSError):
            self._log.write(f"{stamp} {body}\n")
            self._log.flush()

    def append(self, entry: dict) -> None:
        """Add an entry to journal.jsonl, on disk before this returns."""
        write_all(self._journal, (json.dumps(entry, sort_keys=True) + "\n").encode())
        os.fsync(self._journal)

    def set_state(self, status: str, **fields: object) -> None:
        self.state.update(fields, status=status, pid=os.getpid())
        write_private(self.dir / "state.json", json.dumps(self.state, indent=2).encode())

    def entries(self) -> list[dict]:
        return read_entries(self.dir / "journal.jsonl")

    # -- what the run wrote --------------------------------------------------------

    def keep_written(self, digest: str, data: bytes) -> None:
        """A copy of content this run writes over an existing file, named by its sha256: the
        common base with which a rollback undoes only the run's own change once others have
        changed the file too (see formats/regions.py)."""
        folder = self.dir / "written"
        if not folder.is_dir():
            folder.mkdir(mode=0o700)
            fsync_dir(self.dir)
        if not (folder / digest).exists():
            write_private(folder / digest, data)

    def written_copy(self, digest: str) -> str | None:
        """The text of what this run wrote with that sha256, when it kept a copy."""
        try:
            return read_kept(self.dir / "written" / digest)
        except (FileNotFoundError, NotADirectoryError):
            return None

    # -- prior states ----------------------------------------------------------------

    def next_name(self) -> str:
        """A fresh name for a backup or temp file of this run."""
        self.counter += 1
        return f"{self.counter:05d}"

    def _backup(self, real: Path, st: os.stat_result) -> dict:
        name = self.next_name()
        dest = self.dir / "backup" / name
        digest = hashlib.sha256()
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with open(real, "rb") as src:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    digest.update(chunk)
                    write_all(fd, chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(dest.parent)
        return {"type": "file", "backup": name, "sha256": digest.hexdigest(),
                "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                "atime_ns": st.st_atime_ns, "mtime_ns": st.st_mtime_ns}

    def record(self, target: str, label: str, *, tree: bool = False) -> None:
        """Journal the prior state of `target`, once per run: the first one is what rollback
        restores."""
        if target in self.recorded:
            return
        real = self.root.path(target)
        st = lstat_or_none(real)
        if st is None:
            prior: dict = {"type": "absent"}
        elif stat.S_ISLNK(st.st_mode):
            prior = {"type": "symlink", "target": os.readlink(real),
                     "uid": st.st_uid, "gid": st.st_gid}
        elif stat.S_ISREG(st.st_mode):
            prior = self._backup(real, st)
        elif stat.S_ISDIR(st.st_mode):
            prior = {"type": "dir", "mode": stat.S_IMODE(st.st_mode),
                     "uid": st.st_uid, "gid": st.st_gid}
        else:
            prior = {"type": "other"}  # a socket or fifo: left alone
        self.append({"op": "path", "step": label, "path": target, "prior": prior,
                     "tree": tree})
        self.recorded.add(target)

    def make_parents(self, target: str, label: str) -> None:
        """Create missing directories above `target`, each journaled first as created."""
        missing = []
        parent = posixpath.dirname(target)
        while parent != "/" and lstat_or_none(self.root.path(parent)) is None:
            missing.append(parent)
            parent = posixpath.dirname(parent)
        for directory in reversed(missing):
            self.append({"op": "mkdir", "step": label, "path": directory})
            real = self.root.path(directory)
            # The wizard's own state (secrets typed in it among them) is root's alone.
            mode = 0o700 if (directory + "/").startswith(STATE_DIR + "/") else 0o755
            os.mkdir(real, mode)
            os.chmod(real, mode)
            fsync_dir(real.parent)

    def snapshot(self, path: str, label: str) -> None:
        """Journal a path a command may change: a file, a link (and what it points to),
        a directory tree (every file in it), or a missing path (whatever appears is removed)."""
        target = resolve(self.root, path, follow_last=False)
        st = lstat_or_none(self.root.path(target))
        if st is None:
            top = target
            while posixpath.dirname(top) != "/" and \
                    lstat_or_none(self.root.path(posixpath.dirname(top))) is None:
                top = posixpath.dirname(top)
            if top not in self.trees and top not in self.recorded:
                self.append({"op": "tree", "step": label, "path": top, "existed": False})
                self.trees.add(top)
        elif stat.S_ISLNK(st.st_mode):
            self.record(target, label)
            pointed = resolve(self.root, path, follow_last=True)
            if pointed != target:
                self.snapshot(pointed, label)
        elif stat.S_ISDIR(st.st_mode):
            self._snapshot_tree(target, label)
        else:
            self.record(target, label)

    def _snapshot_tree(self, target: str, label: str) -> None:
        if target in self.trees:
            return
        top = self.root.path(target)
        dirs: dict[str, dict] = {}
        entries: list[str] = []
        pending = [""]
        while pending:
            rel = pending.pop()
            here = top / rel if rel else top
            st = os.lstat(here)
            dirs[rel] = {"mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
            with os.scandir(here) as listing:
                for item in listing:
                    sub = f"{rel}/{item.name}" if rel else item.name
                    if item.is_dir(follow_symlinks=False):
                        pending.append(sub)
                    else:
                        entries.append(sub)
                        self.record(f"{target}/{sub}", label, tree=True)
        self.append({"op": "tree", "step": label, "path": target, "existed": True,
                     "dirs": dirs, "entries": sorted(entries)})
        self.trees.add(target)


class LogTee:
    """While a run is in progress, the runner's log lines also go to run.log, and command
    output there is kept at greater length."""

    def __init__(self, journal: Journal, runner: Runner):
        self.journal = journal
        self.runner = runner

    def __enter__(self) -> LogTee:
        self.saved = (self.runner.log, self.runner.tail_lines)
        outer = self.runner.log

        def tee(line: str) -> None:
            self.journal.say(line)
            if outer is not None:
                # The terminal may be gone (SSH dropped); run.log still has the line.
                with contextlib.suppress(OSError, ValueError):
                    outer(self.journal.redact(line))

        self.runner.log = tee
        self.runner.tail_lines = RUN_LOG_TAIL
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.log, self.runner.tail_lines = self.saved


def read_entries(path: Path) -> list[dict]:
    """A run's journal entries, in order (a torn last line is the change that never started)."""
    found = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                found.append(json.loads(line))
            except ValueError:
                break
    return found
