"""Rolling a run back: every journaled change undone, newest first, then the touched services
put back. Restoring is idempotent, so a rollback that was cut short can simply run again."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import stat
from pathlib import Path

from jitsiwizard.apply.executors import explain, set_owner
from jitsiwizard.apply.fsio import (
    StepFailed,
    fsync_dir,
    lstat_or_none,
    read_kept,
    remove,
    sha256_file,
    write_all,
)
from jitsiwizard.apply.journal import Journal, decode_argv
from jitsiwizard.apply.runner import Runner, tail
from jitsiwizard.apply.signals import SignalGuard, die_here, kill_point
from jitsiwizard.errors import UserError
from jitsiwizard.formats.regions import undo_change
from jitsiwizard.rootfs import Root


def undo_words(entry: dict) -> str:
    """One run.log line for a rollback action."""
    op, path = entry["op"], entry.get("path", "")
    if op == "path":
        prior = entry["prior"]
        was = {"absent": "remove it (it did not exist before)",
               "file": f"put back its earlier content (backup/{prior.get('backup')}, "
                       f"mode {prior.get('mode', 0):04o})",
               "symlink": f"make it a link to {prior.get('target')} again",
               "dir": "make it the directory it was",
               "other": "leave it alone"}.get(prior["type"], "")
        return f"restore {path}: {was}"
    if op == "tree":
        return f"restore the directory tree {path}" if entry["existed"] else \
            f"remove {path} (it did not exist before)"
    if op == "mkdir":
        return f"remove directory {path} (created by this run)"
    if op == "tmp":
        return f"remove temporary file {path} if left over"
    return f"undo step {entry.get('step')}: run its undo command"


# The journal entries a rollback undoes one by one, newest first; "service" entries are put
# back after them, oldest first.
_UNDONE_OPS = ("path", "tree", "mkdir", "tmp", "undo")


def roll_back(journal: Journal, runner: Runner, signals: SignalGuard | None) -> list[str]:
    """Undo every journaled change, newest first, then put touched services back.
    Returns what could not be restored (empty when all was)."""
    try:
        journal.set_state("rolling-back")
    except OSError as exc:  # restoring matters more than recording that we do
        journal.say(f"could not record the rollback in state.json: {exc}")
    journal.say("rolling back")
    kill = kill_point()
    undoer = _Undoer(journal, runner)
    problems: list[str] = []
    services = []
    actions = 0
    for index in range(len(undoer.entries) - 1, -1, -1):
        entry = undoer.entries[index]
        op = entry.get("op")
        if op == "service":
            services.insert(0, entry)
            continue
        if op not in _UNDONE_OPS:
            continue
        actions += 1
        if kill == ("rollback", actions):
            die_here()
        journal.say(undo_words(entry))
        try:
            problems += undoer.undo(index, entry)
        except (OSError, StepFailed) as exc:
            problems.append(journal.redact(f"{entry.get('path', op)}: {explain(journal, exc)}"))
    for entry in services:
        restore_service(journal, runner, entry["name"], entry["state"], problems)
    for problem in problems:
        journal.say(f"rollback problem: {problem}")
    if signals is not None and signals.ignored:
        names = ", ".join(sorted({signal.Signals(s).name for s in signals.ignored}))
        journal.say(f"ignored {names} until the rollback was done")
    journal.say("rolled back" if not problems else "rolled back, with problems")
    return problems


class _Undoer:
    """Undoes one journal entry at a time, with what the whole journal says about each path
    (what the run wrote there, what an earlier rollback already did)."""

    def __init__(self, journal: Journal, runner: Runner):
        self.journal, self.runner = journal, runner
        self.entries = journal.entries()
        self.done_undos = {e["index"] for e in self.entries if e.get("op") == "undone"}
        self.wrote = _written(self.entries)
        self.last = _last_written(self.entries)
        self.merged = _merged(self.entries)

    def undo(self, index: int, entry: dict) -> list[str]:
        """Undo entries[index]; returns the problem an undo command had, if any."""
        journal, op = self.journal, entry.get("op")
        if op == "path":
            path = entry["path"]
            restore(journal, path, entry["prior"], bool(entry.get("tree")),
                    self.wrote.get(path, set()), self.last.get(path), self.merged.get(path))
        elif op == "tree":
            restore_tree(journal.root, entry)
        elif op == "mkdir":
            remove_created_dir(journal.root, entry["path"])
        elif op == "tmp":
            real = journal.root.path(entry["path"])
            if lstat_or_none(real) is not None:
                os.unlink(real)
                fsync_dir(real.parent)
        elif op == "undo" and index not in self.done_undos:
            result = self.runner.run(decode_argv(entry["argv"]),
                                     timeout=entry.get("timeout", 120.0))
            if not result.ok:
                said = tail(result.stderr, 5) or "(no output)"
                return [journal.redact(f"undo of step {entry['step']} exited with code "
                                       f"{result.code}: {said}")]
            journal.append({"op": "undone", "index": index})
        return []


def keep_edited(journal: Journal, target: str, real: Path, st: os.stat_result,
                ours: set[str]) -> None:
    """A file this run wrote but that someone changed since: keep that version in backup/
    before restoring, so a rollback never silently drops a hand edit."""
    if not ours or not stat.S_ISREG(st.st_mode):
        return
    if sha256_file(real) in ours:
        return
    copy = journal.dir / "backup" / f"edited-{journal.next_name()}"
    shutil.copyfile(real, copy)
    journal.kept.append((target, str(copy)))
    journal.say(f"{target} was changed after this run wrote it; that version is kept in {copy}")


def _written(entries: list[dict]) -> dict[str, set[str]]:
    wrote: dict[str, set[str]] = {}
    for e in entries:
        if e.get("op") == "wrote":
            wrote.setdefault(e["path"], set()).add(e["sha256"])
    return wrote


def _last_written(entries: list[dict]) -> dict[str, str]:
    """Path -> the sha256 of the last content the run wrote there."""
    return {e["path"]: e["sha256"] for e in entries if e.get("op") == "wrote"}


def _merged(entries: list[dict]) -> dict[str, str]:
    """Path -> the sha256 a rollback of the run left there, keeping others' changes: a
    rollback that was cut short and runs again must not undo the run's change twice."""
    return {e["path"]: e["sha256"] for e in entries if e.get("op") == "merged"}


def merged_since(journal: Journal, target: str, prior: dict,
                 last: str | None) -> tuple[str, bool] | None:
    """What a rollback leaves in a file that others changed after this run wrote it: the
    run's own change undone, theirs kept (formats/regions.py), and whether that was clean
    (no change made since touches the run's own lines). None when the run created the file
    or kept no copy of what it wrote (runs of earlier versions): then the whole backup is
    what the rollback puts back."""
    if prior["type"] != "file" or last is None:
        return None
    written = journal.written_copy(last)
    try:
        now = journal.root.read_text(target)
    except UserError:  # no longer a config file (too large): the backup goes back whole
        return None
    if written is None or now is None:
        return None
    back = read_kept(journal.dir / "backup" / prior["backup"])
    return undo_change(written, back, now)


def edited_since(journal: Journal) -> list[tuple[str, str, str]]:
    """Files this run wrote whose lines from this run were changed afterwards (by hand): a
    rollback would overwrite or remove those edits. [(target, text now, text the rollback
    puts back)]. A file changed only elsewhere (by a package upgrade) is not one of them:
    the rollback keeps those changes."""
    entries = journal.entries()
    wrote = _written(entries)
    last = _last_written(entries)
    left = _merged(entries)
    found = []
    seen = set()
    for entry in entries:
        path = entry.get("path", "")
        if entry.get("op") != "path" or path not in wrote or path in seen:
            continue
        seen.add(path)
        prior = entry["prior"]
        real = journal.root.path(path)
        st = lstat_or_none(real)
        if st is None or not stat.S_ISREG(st.st_mode):
            continue
        ours = wrote[path] | ({prior["sha256"]} if prior["type"] == "file" else set())
        now_sha = sha256_file(real)
        if now_sha in ours or now_sha == left.get(path):
            continue
        merged = merged_since(journal, path, prior, last.get(path))
        if merged is not None:
            if not merged[1]:
                found.append((path, journal.root.read_text(path) or "", merged[0]))
            continue
        now = journal.root.read_text(path) or ""
        back = ""
        if prior["type"] == "file":
            back = read_kept(journal.dir / "backup" / prior["backup"])
        found.append((path, now, back if prior["type"] == "file" else None))
    return found


def _merge_back(journal: Journal, target: str, real: Path, prior: dict, ours: set[str],
                last: str | None, done: str | None) -> bool:
    """Undo only this run's own change in a file that others changed since it wrote it,
    keeping their changes (a package upgrade's migrations, say), with the file's owner and
    mode as they are now. `done`: what an earlier, cut short, rollback left there. False
    when that does not apply: the whole backup goes back."""
    now = sha256_file(real)
    if now in ours | {prior["sha256"]}:
        return False
    if now == done:
        return True
    merged = merged_since(journal, target, prior, last)
    if merged is None:
        return False
    text, clean = merged
    st = os.lstat(real)
    if clean:
        journal.say(f"{target} was changed after this run wrote it, outside the lines the run "
                    "wrote (a package upgrade, or an admin): those changes are kept, and only "
                    "the run's own change is undone")
        journal.merged.append(target)
    else:
        keep_edited(journal, target, real, st, ours | {prior["sha256"]})
    data = text.encode("utf-8", "surrogateescape")
    # On record before the file changes: a rollback run again knows it is done.
    journal.append({"op": "merged", "path": target,
                    "sha256": hashlib.sha256(data).hexdigest()})
    scratch = real.parent / f".{real.name[:180]}.jw-restore.tmp"
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        write_all(fd, data)
        os.fsync(fd)
        set_owner(journal, fd, st.st_uid, st.st_gid, target)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
    finally:
        os.close(fd)
    os.rename(scratch, real)
    fsync_dir(real.parent)
    return True


def restore(journal: Journal, target: str, prior: dict, tree: bool, ours: set[str],
            last: str | None = None, merged: str | None = None) -> None:
    """Put `target` back in its journaled prior state; `ours` are the checksums this run
    wrote there, `last` the one it wrote last, `merged` what an earlier rollback of it left
    there. A file changed since outside the run's own lines keeps those changes (only the
    run's change is undone); any other content is kept aside first."""
    real = journal.root.path(target)
    kind = prior["type"]
    scratch = real.parent / f".{real.name[:180]}.jw-restore.tmp"
    if lstat_or_none(scratch) is not None:
        os.unlink(scratch)  # left by a rollback that was cut short
    st = lstat_or_none(real)
    if kind == "other":
        return
    if st is not None and kind != "dir":
        if stat.S_ISDIR(st.st_mode):
            if not tree:
                raise StepFailed("is a directory now; it was not one before this run, "
                                 "and it is left in place")
            shutil.rmtree(real)
            st = None
        else:
            if (kind == "file" and stat.S_ISREG(st.st_mode)
                    and _merge_back(journal, target, real, prior, ours, last, merged)):
                return
            keep_edited(journal, target, real, st,
                        ours | ({prior["sha256"]} if kind == "file" else set()))
    if kind == "absent":
        if st is not None:
            os.unlink(real)
            fsync_dir(real.parent)
        return
    if kind == "dir":
        ensure_dir(real, prior)
        return
    real.parent.mkdir(parents=True, exist_ok=True)
    if kind == "symlink":
        _restore_symlink(real, scratch, prior, st)
    else:
        _restore_file(journal, target, real, scratch, prior, st)


def _restore_symlink(real: Path, scratch: Path, prior: dict, st: os.stat_result | None) -> None:
    if not (st is not None and stat.S_ISLNK(st.st_mode)
            and os.readlink(real) == prior["target"]):
        os.symlink(prior["target"], scratch)
        os.rename(scratch, real)
        fsync_dir(real.parent)
    if os.geteuid() == 0:
        os.lchown(real, prior["uid"], prior["gid"])


def _restore_file(journal: Journal, target: str, real: Path, scratch: Path, prior: dict,
                  st: os.stat_result | None) -> None:
    """The backup's content, owner, mode and times back in place (only what differs)."""
    same = (st is not None and stat.S_ISREG(st.st_mode)
            and sha256_file(real) == prior["sha256"])
    if not same:
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600)
        try:
            with open(journal.dir / "backup" / prior["backup"], "rb") as src:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    write_all(fd, chunk)
            os.fsync(fd)
            set_owner(journal, fd, prior["uid"], prior["gid"], target)
            os.fchmod(fd, prior["mode"])
        finally:
            os.close(fd)
        os.rename(scratch, real)
        fsync_dir(real.parent)
    else:
        # Only what differs: a file the run never changed (an immutable one, say) is left
        # untouched, and so is not reported as a file the rollback could not restore.
        if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (prior["uid"], prior["gid"]):
            os.lchown(real, prior["uid"], prior["gid"])
        if stat.S_IMODE(st.st_mode) != prior["mode"]:
            os.chmod(real, prior["mode"])
        if st.st_mtime_ns == prior["mtime_ns"]:
            return
    os.utime(real, ns=(prior["atime_ns"], prior["mtime_ns"]), follow_symlinks=False)


def ensure_dir(real: Path, prior: dict) -> None:
    st = lstat_or_none(real)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        os.unlink(real)
        st = None
    if st is None:
        os.mkdir(real, 0o700)
    if os.geteuid() == 0:
        os.lchown(real, prior["uid"], prior["gid"])
    os.chmod(real, prior["mode"])


def restore_tree(root: Root, entry: dict) -> None:
    """Put back a directory tree a command may have changed: its directories, and no
    files that were not there (the files' content is restored by their own entries)."""
    top = root.path(entry["path"])
    if not entry["existed"]:
        remove(top)
        return
    dirs: dict = entry["dirs"]
    files = set(entry["entries"])
    for rel in sorted(dirs, key=lambda r: (r.count("/"), r) if r else (-1, r)):
        ensure_dir(top / rel if rel else top, dirs[rel])
    pending = [""]
    while pending:
        rel = pending.pop()
        with os.scandir(top / rel if rel else top) as listing:
            items = list(listing)
        for item in items:
            sub = f"{rel}/{item.name}" if rel else item.name
            is_dir = item.is_dir(follow_symlinks=False)
            if is_dir and sub in dirs:
                pending.append(sub)
            elif sub not in files or is_dir:
                remove(Path(item.path))


def remove_created_dir(root: Root, target: str) -> None:
    real = root.path(target)
    st = lstat_or_none(real)
    if st is None or not stat.S_ISDIR(st.st_mode):
        return
    try:
        os.rmdir(real)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise StepFailed("this run created the directory, but it holds files now "
                             "that the run did not write; it is left in place") from None
        raise
    fsync_dir(real.parent)


def restore_service(journal: Journal, runner: Runner, name: str, state: dict,
                    problems: list[str]) -> None:
    """Restart a touched service so it reads the restored files (or stop it if it was
    stopped), and put its enabled state back."""
    action = "stop" if state.get("active") is False else "restart"
    result = runner.service(name, action)
    if not result.ok:
        problems.append(journal.redact(f"{action} {name} exited with code {result.code}: "
                                       f"{tail(result.stderr, 5) or '(no output)'}"))
    wanted = state.get("enabled")
    if wanted is None:
        return
    if runner.service_state(name).get("enabled") != wanted:
        action = "enable" if wanted else "disable"
        result = runner.service(name, action)
        if not result.ok:
            problems.append(journal.redact(f"{action} {name} exited with code {result.code}: "
                                           f"{tail(result.stderr, 5) or '(no output)'}"))
