"""Applying a plan as one transaction that can always be rolled back.

Before each change, the prior state of everything it touches goes into an fsync'd journal
(with a backup copy of file content), so a failure, a signal, or even SIGKILL at any point
leaves enough on disk to restore the exact earlier state. Restoring is idempotent: restoring
something that was never changed does nothing, and a rollback that was itself cut short can
simply be run again.

State, under the root:
    STATE_DIR/lock                 flock held while a run or a rollback is in progress
    STATE_DIR/managed.json         target path -> sha256 of what the wizard last wrote
    STATE_DIR/runs/<ID>/           journal.jsonl, state.json, backup/, run.log, answers.toml
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import posixpath
import secrets
import shutil
import signal
import stat
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from jitsiwizard import verify
from jitsiwizard.errors import EXIT_CHECKS_FAILED, EXIT_INTERRUPTED, UserError
from jitsiwizard.paths import MANAGED_FILE, STATE_DIR
from jitsiwizard.rootfs import Root
from jitsiwizard.runner import Runner, tail
from jitsiwizard.secrets import Redactor
from jitsiwizard.steps import (
    Command,
    FileChange,
    Plan,
    RemovePath,
    Service,
    Symlink,
    TargetPath,
    Verify,
)

HANDLED_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
RUN_LOG_TAIL = 200  # final lines run.log keeps of an output too long to log whole

# Test-only fault injection, used by the SIGKILL tests: "step:N" kills the process before step N
# (1-based), "write:N" in the middle of step N's file write (half the temp file written),
# "rollback:N" before the N-th undo action of a rollback. Never set it on a real host.
TEST_KILL_ENV = "JITSI_WIZARD_TEST_KILL"

Event = Callable[[str, int, str], None]


@dataclass
class RunOutcome:
    run_id: str
    status: str  # "applied" | "rolled-back" | "nothing-to-do"
    failed_step: int | None = None
    error: str | None = None
    rollback_errors: list[str] = field(default_factory=list)
    log_path: str = ""
    fallbacks: list[str] = field(default_factory=list)


@dataclass
class RunInfo:
    run_id: str
    status: str  # "applying" | "applied" | "rolled-back" | "rolling-back"
    started: str
    summary: str


class _StepFailed(Exception):
    """A step could not be done; the message is meant for the admin (already redacted)."""


class _Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# -- small file helpers ---------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Atomically replace one of our own state files."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        _write_all(fd, data)
        os.fsync(fd)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    _fsync_dir(path.parent)


def _read_json(path: Path) -> object:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def _remove(path: Path) -> None:
    """Remove a file, link or whole directory tree."""
    st = _lstat(path)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    _fsync_dir(path.parent)


def _resolve(root: Root, target: str, *, follow_last: bool) -> str:
    """`target` with every symlink in it followed inside the root (an absolute link target
    means the root's path, never the host's). The last component is followed only when asked,
    so a file behind conf.d/X -> ../conf.avail/X is edited in place and the link kept."""
    pending = [p for p in target.split("/") if p]
    done: list[str] = []
    hops = 0
    while pending:
        name = pending.pop(0)
        if name == ".":
            continue
        if name == "..":
            if done:
                done.pop()
            continue
        here = "/" + "/".join([*done, name])
        if (pending or follow_last) and os.path.islink(str(_root_path(root, here))):
            hops += 1
            if hops > 40:
                raise _StepFailed(f"{target}: too many levels of symbolic links")
            link = os.readlink(str(_root_path(root, here)))
            if link.startswith("/"):
                done = []
            pending = [p for p in link.split("/") if p] + pending
            continue
        done.append(name)
    return "/" + "/".join(done)


def _root_path(root: Root, target: str) -> Path:
    return root.path(target) if target != "/" else root.base


def _account_ids(root: Root, table: str, name: str) -> tuple[int, int] | None:
    """(id, primary gid) of a user or group by name, from the root's etc/passwd or etc/group,
    falling back to the running system's database."""
    text = root.read_text(f"/etc/{table}")
    for line in (text or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[0] == name:
            try:
                number = int(fields[2])
                return number, int(fields[3]) if table == "passwd" else number
            except ValueError:
                break
    try:
        if table == "passwd":
            import pwd

            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
        import grp

        gid = grp.getgrnam(name).gr_gid
        return gid, gid
    except KeyError:
        return None


def _kill_point() -> tuple[str, int] | None:
    spec = os.environ.get(TEST_KILL_ENV, "")
    kind, _, number = spec.partition(":")
    if kind in ("step", "write", "rollback") and number.isdigit():
        return kind, int(number)
    return None


def _die_here() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


# -- the lock -------------------------------------------------------------------------------


class _Lock:
    """One run or rollback at a time, per root. The kernel drops the lock if we die."""

    def __init__(self, root: Root):
        self.path = root.path(STATE_DIR) / "lock"
        self.fd: int | None = None

    def __enter__(self) -> _Lock:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise UserError(f"cannot use the state directory {STATE_DIR}: "
                            f"{exc.strerror or exc}",
                            "run it as root (sudo jitsi-wizard), and check that "
                            f"{STATE_DIR} is a writable directory") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise UserError(f"another jitsi-wizard run is in progress (pid {holder})",
                            "wait for it to finish, then try again",
                            exit_code=EXIT_CHECKS_FAILED) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _lock_holder(root: Root) -> int | None:
    """The pid holding the lock, -1 when held by an unknown pid, None when free."""
    path = root.path(STATE_DIR) / "lock"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else -1
    finally:
        os.close(fd)
    return None


# -- signals --------------------------------------------------------------------------------


class _SignalGuard:
    """During apply, SIGHUP/SIGTERM/SIGINT stop the current command and lead to a rollback;
    during rollback they are noted and ignored. The handlers only set flags and send signals,
    so whatever the main thread was doing (a write, a journal entry) finishes first."""

    def __init__(self, runner: Runner, *, rolling_back: bool = False):
        self.runner = runner
        self.rolling_back = rolling_back
        self.received: int | None = None
        self.ignored: list[int] = []
        self.installed = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _SignalGuard:
        # Python only lets the main thread set handlers; a caller on another thread keeps
        # its own signal handling.
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
            self.installed = True
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.rolling_back:
            self.ignored.append(signum)
            return
        if self.received is None:
            self.received = signum
        self.runner.abort()

    def start_rollback(self) -> None:
        self.rolling_back = True
        self.runner.reset_abort()

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self.runner.reset_abort()


# -- one run --------------------------------------------------------------------------------


def _runs_dir(root: Root) -> Path:
    return root.path(STATE_DIR) / "runs"


def _states(root: Root) -> list[dict]:
    """Every run's state.json, oldest first."""
    found = []
    base = _runs_dir(root)
    if not base.is_dir():
        return []
    for entry in base.iterdir():
        state = _read_json(entry / "state.json")
        if isinstance(state, dict) and state.get("run_id") == entry.name:
            found.append(state)
    return sorted(found, key=lambda s: (s.get("seq", 0), s["run_id"]))


def _plan_summary(steps: list) -> str:
    kinds = [getattr(s, "kind", "?") for s in steps]
    parts = [f"{len(steps)} step(s)"]
    files = sum(k in ("file", "remove", "link") for k in kinds)
    if files:
        parts.append(f"{files} file change(s)")
    if kinds.count("command"):
        parts.append(f"{kinds.count('command')} command(s)")
    if kinds.count("service"):
        parts.append(f"{kinds.count('service')} service action(s)")
    return ", ".join(parts)


def _encode_argv(argv: list) -> list:
    return [{"target": a.path} if isinstance(a, TargetPath) else str(a) for a in argv]


def _decode_argv(argv: list) -> list:
    return [TargetPath(a["target"]) if isinstance(a, dict) else a for a in argv]


def _undo_words(entry: dict) -> str:
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


class _Run:
    def __init__(self, root: Root, runner: Runner, redact: Callable[[str], str], run_dir: Path,
                 state: dict, on_event: Event | None = None):
        self.root = root
        self.runner = runner
        self.redact = redact
        self.dir = run_dir
        self.state = state
        self.on_event = on_event
        self.log_path = run_dir / "run.log"
        # Open for the whole run (closed by close()); created 0600 as it may quote configs.
        self._log = open(  # noqa: SIM115
            os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600),
            "a", encoding="utf-8", errors="backslashreplace")
        self._journal = os.open(run_dir / "journal.jsonl", os.O_WRONLY | os.O_CREAT
                                | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.recorded: set[str] = set()  # paths whose prior state is journaled
        self.trees: set[str] = set()
        self.services: set[str] = set()
        self.written: dict[str, str] = {}  # step path -> sha256 of the content written
        self.removed: set[str] = set()
        self.fallbacks: list[str] = []
        self.counter = 0  # backup and temp file names
        self.current: int | None = None  # the top-level step being done
        self.stage = "finishing the run"  # what is being done between steps
        self.kill = _kill_point()
        self.guard: _SignalGuard | None = None

    @classmethod
    def create(cls, root: Root, runner: Runner, redact: Callable[[str], str],
               on_event: Event | None, answers_text: str | None, summary: str) -> _Run:
        base = _runs_dir(root)
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        seq = max((s.get("seq", 0) for s in _states(root)), default=0) + 1
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
            _write_private(run_dir / "answers.toml", answers_text.encode("utf-8"), 0o600)
        state = {"run_id": run_id, "seq": seq, "status": "applying", "pid": os.getpid(),
                 "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "plan": redact(summary), "summary": redact(summary), "failed_step": None,
                 "error": None, "fallbacks": [], "rollback_errors": []}
        _write_private(run_dir / "state.json", json.dumps(state, indent=2).encode())
        _fsync_dir(base)
        run = cls(root, runner, redact, run_dir, state, on_event)
        run.journal({"op": "begin", "run_id": run_id})
        return run

    def close(self) -> None:
        self._log.close()
        os.close(self._journal)

    # -- records ---------------------------------------------------------------------

    def say(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        body = self.redact(text).replace("\n", "\n         ")
        # A full disk must not stop a rollback for the sake of its log.
        with contextlib.suppress(OSError):
            self._log.write(f"{stamp} {body}\n")
            self._log.flush()

    def event(self, kind: str, number: int, text: str) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(kind, number, self.redact(text))
        except Exception as exc:  # a closed terminal must not stop a rollback
            self.say(f"progress display failed ({exc.__class__.__name__}); continuing without it")
            self.on_event = None

    def journal(self, entry: dict) -> None:
        _write_all(self._journal, (json.dumps(entry, sort_keys=True) + "\n").encode())
        os.fsync(self._journal)

    def set_state(self, status: str, **fields: object) -> None:
        self.state.update(fields, status=status, pid=os.getpid())
        _write_private(self.dir / "state.json", json.dumps(self.state, indent=2).encode())

    def entries(self) -> list[dict]:
        found = []
        with open(self.dir / "journal.jsonl", encoding="utf-8") as fh:
            for line in fh:
                try:
                    found.append(json.loads(line))
                except ValueError:
                    break  # a torn last line: the change after it never started
        return found

    # -- prior states ----------------------------------------------------------------

    def _next_name(self) -> str:
        self.counter += 1
        return f"{self.counter:05d}"

    def _backup(self, real: Path, st: os.stat_result) -> dict:
        name = self._next_name()
        dest = self.dir / "backup" / name
        digest = hashlib.sha256()
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with open(real, "rb") as src:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    digest.update(chunk)
                    _write_all(fd, chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_dir(dest.parent)
        return {"type": "file", "backup": name, "sha256": digest.hexdigest(),
                "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                "atime_ns": st.st_atime_ns, "mtime_ns": st.st_mtime_ns}

    def record(self, target: str, label: str, *, tree: bool = False) -> None:
        """Journal the prior state of `target`, once per run: the first one is what rollback
        restores."""
        if target in self.recorded:
            return
        real = self.root.path(target)
        st = _lstat(real)
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
        self.journal({"op": "path", "step": label, "path": target, "prior": prior,
                      "tree": tree})
        self.recorded.add(target)

    def make_parents(self, target: str, label: str) -> None:
        """Create missing directories above `target`, each journaled first as created."""
        missing = []
        parent = posixpath.dirname(target)
        while parent != "/" and _lstat(self.root.path(parent)) is None:
            missing.append(parent)
            parent = posixpath.dirname(parent)
        for directory in reversed(missing):
            self.journal({"op": "mkdir", "step": label, "path": directory})
            real = self.root.path(directory)
            os.mkdir(real, 0o755)
            os.chmod(real, 0o755)
            _fsync_dir(real.parent)

    def snapshot(self, path: str, label: str) -> None:
        """Journal a path a command may change: a file, a link (and what it points to),
        a directory tree (every file in it), or a missing path (whatever appears is removed)."""
        target = _resolve(self.root, path, follow_last=False)
        st = _lstat(self.root.path(target))
        if st is None:
            top = target
            while posixpath.dirname(top) != "/" and \
                    _lstat(self.root.path(posixpath.dirname(top))) is None:
                top = posixpath.dirname(top)
            if top not in self.trees and top not in self.recorded:
                self.journal({"op": "tree", "step": label, "path": top, "existed": False})
                self.trees.add(top)
        elif stat.S_ISLNK(st.st_mode):
            self.record(target, label)
            pointed = _resolve(self.root, path, follow_last=True)
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
        self.journal({"op": "tree", "step": label, "path": target, "existed": True,
                      "dirs": dirs, "entries": sorted(entries)})
        self.trees.add(target)

    # -- changes ---------------------------------------------------------------------

    def set_owner(self, fd: int, uid: int, gid: int, shown: str) -> None:
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) == (uid, gid):
            return
        if os.geteuid() != 0:
            self.say(f"not running as root: {shown} keeps owner {st.st_uid}:{st.st_gid} "
                     f"instead of {uid}:{gid}")
            return
        os.fchown(fd, uid, gid)

    def write_file(self, target: str, data: bytes, mode: int, uid: int, gid: int, label: str,
                   *, kill_midway: bool = False) -> None:
        """Atomic replace: temp file (journaled first) in the same directory, fsync, owner and
        mode, rename, fsync the directory."""
        real = self.root.path(target)
        tmp_target = posixpath.join(posixpath.dirname(target),
                                    f".{real.name[:180]}.{self._next_name()}"
                                    f".jw-{self.state['run_id'][-4:]}.tmp")
        self.journal({"op": "tmp", "step": label, "path": tmp_target})
        tmp = self.root.path(tmp_target)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            if kill_midway:
                _write_all(fd, data[: len(data) // 2])
                os.fsync(fd)
                _die_here()
            _write_all(fd, data)
            os.fsync(fd)
            self.set_owner(fd, uid, gid, target)  # before chmod: chown clears setuid bits
            os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        os.rename(tmp, real)
        _fsync_dir(real.parent)

    def owner_ids(self, step: FileChange, st: os.stat_result | None) -> tuple[int, int]:
        uid, gid = (st.st_uid, st.st_gid) if st is not None else (0, 0)
        if step.owner:
            found = _account_ids(self.root, "passwd", step.owner)
            if found is None:
                raise _StepFailed(f"{step.path}: user {step.owner!r} does not exist "
                                  "(not in /etc/passwd)")
            uid = found[0]
            if st is None:
                gid = found[1]  # a new file gets the owner's primary group
        if step.group:
            found = _account_ids(self.root, "group", step.group)
            if found is None:
                raise _StepFailed(f"{step.path}: group {step.group!r} does not exist "
                                  "(not in /etc/group)")
            gid = found[0]
        return uid, gid

    def stale(self, path: str, expected: str | None, current: str | None) -> _StepFailed:
        if expected is None:
            what = "it did not exist when the plan was made and exists now"
        elif current is None:
            what = "it existed when the plan was made and is gone now"
        else:
            what = "its content changed after the plan was made"
        return _StepFailed(f"the plan is out of date for {path}: {what}; run the wizard "
                           "again so that it plans against the current files")

    def do_file(self, step: FileChange, label: str, number: int) -> None:
        target = _resolve(self.root, step.path, follow_last=True)
        real = self.root.path(target)
        st = _lstat(real)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise _StepFailed(f"{step.path} is not a regular file; refusing to replace it")
        current = self.root.read_text(target) if st is not None else None
        if current != step.before:
            raise self.stale(step.path, step.before, current)
        mode = step.mode if step.mode is not None else (
            stat.S_IMODE(st.st_mode) if st is not None else 0o644)
        uid, gid = self.owner_ids(step, st)
        data = step.content.encode("utf-8", "surrogateescape")
        if "PRIVATE KEY-----" in step.content:
            self.say("(content not logged: it holds a private key)")
        else:
            self.say(step.diff().rstrip("\n"))
        # Directories first: rollback goes in reverse, removing the file before them.
        self.make_parents(target, label)
        self.record(target, label)
        kill = self.kill == ("write", number) and label == str(number)
        self.write_file(target, data, mode, uid, gid, label, kill_midway=kill)
        digest = hashlib.sha256(data).hexdigest()
        self.journal({"op": "wrote", "step": label, "path": target, "sha256": digest})
        self.written[step.path] = digest
        self.removed.discard(step.path)

    def do_remove(self, step: RemovePath, label: str) -> None:
        target = _resolve(self.root, step.path, follow_last=False)
        real = self.root.path(target)
        st = _lstat(real)
        if st is None:
            self.say(f"{step.path} is already absent")
        elif stat.S_ISDIR(st.st_mode):
            raise _StepFailed(f"{step.path} is a directory; only files and links are removed")
        else:
            if step.before is not None and stat.S_ISREG(st.st_mode):
                current = self.root.read_text(target)
                if current != step.before:
                    raise self.stale(step.path, step.before, current)
            self.record(target, label)
            os.unlink(real)
            _fsync_dir(real.parent)
        self.removed.add(step.path)
        self.written.pop(step.path, None)

    def do_link(self, step: Symlink, label: str) -> None:
        target = _resolve(self.root, step.path, follow_last=False)
        real = self.root.path(target)
        st = _lstat(real)
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise _StepFailed(f"{step.path} is a directory; refusing to replace it with a link")
        if st is not None and stat.S_ISLNK(st.st_mode) and os.readlink(real) == step.target:
            self.say(f"{step.path} already links to {step.target}")
            return
        self.make_parents(target, label)
        self.record(target, label)
        tmp_target = posixpath.join(posixpath.dirname(target),
                                    f".{real.name[:180]}.{self._next_name()}.jw-link.tmp")
        self.journal({"op": "tmp", "step": label, "path": tmp_target})
        tmp = self.root.path(tmp_target)
        os.symlink(step.target, tmp)
        os.rename(tmp, real)
        _fsync_dir(real.parent)

    def do_command(self, step: Command, label: str) -> None:
        for path in step.snapshot:
            self.snapshot(path, label)
        if step.undo:
            self.journal({"op": "undo", "step": label, "argv": _encode_argv(step.undo),
                          "timeout": step.timeout})
        result = self.runner.run(step.argv, timeout=step.timeout, stdin=step.stdin,
                                 env=step.env or None)
        self.check_interrupt()
        if result.code not in step.ok_codes:
            how = (f"timed out after {step.timeout:g}s" if result.timed_out
                   else f"exited with code {result.code}")
            said = tail(result.stderr, 10) or tail(result.stdout, 10)
            if not said and not result.timed_out:
                said = "(no output)"
            raise _StepFailed(f"{step.shown()} {how}" + (f": {said}" if said else ""))

    def do_service(self, step: Service, label: str) -> None:
        if step.name not in self.services:
            state = self.runner.service_state(step.name)
            self.journal({"op": "service", "step": label, "name": step.name, "state": state})
            self.services.add(step.name)
        result = self.runner.service(step.name, step.action)
        self.check_interrupt()
        if not result.ok:
            said = tail(result.stderr, 10) or tail(result.stdout, 10) or "(no output)"
            raise _StepFailed(f"{step.action} {step.name} failed (exit {result.code}): {said}")

    def do_verify(self, step: Verify, label: str, number: int) -> None:
        try:
            check = verify.get(step.name)
        except KeyError as exc:
            raise _StepFailed(str(exc.args[0])) from None
        try:
            ok, message = check(self.root, self.runner, step.args)
        except Exception as exc:
            raise _StepFailed(f"{step.summary}: the check itself failed: "
                              f"{exc.__class__.__name__}: {exc}") from None
        self.check_interrupt()
        if ok:
            self.say(f"verified: {message}")
            return
        if not step.otherwise:
            raise _StepFailed(f"{step.summary}: {message}")
        note = f"{step.summary}: {message}"
        if step.why_otherwise:
            note += f"; {step.why_otherwise}"
        self.say(f"fallback: {note}")
        self.fallbacks.append(self.redact(note))
        self.journal({"op": "fallback", "step": label})
        self.event("fallback", number, note)
        for index, sub in enumerate(step.otherwise, 1):
            self.do_step(sub, number, f"{label}.{index}")

    def do_step(self, step: object, number: int, label: str) -> None:
        self.check_interrupt()
        if self.kill == ("step", number) and label == str(number):
            _die_here()
        describe = step.describe() if hasattr(step, "describe") else repr(step)
        self.say(f"step {label}: {describe}")
        self.event("step", number, describe)
        if isinstance(step, FileChange):
            self.do_file(step, label, number)
        elif isinstance(step, RemovePath):
            self.do_remove(step, label)
        elif isinstance(step, Symlink):
            self.do_link(step, label)
        elif isinstance(step, Command):
            self.do_command(step, label)
        elif isinstance(step, Service):
            self.do_service(step, label)
        elif isinstance(step, Verify):
            self.do_verify(step, label, number)
        else:
            raise _StepFailed(f"unknown step type {type(step).__name__}")
        self.journal({"op": "done", "step": label})
        self.event("done", number, getattr(step, "summary", ""))

    def check_interrupt(self) -> None:
        if self.guard is not None and self.guard.received is not None:
            raise _Interrupted(self.guard.received)

    def save_managed(self) -> None:
        before = managed_checksums(self.root)
        after = {p: s for p, s in before.items() if p not in self.removed}
        after.update(self.written)
        if after == before and self.root.exists(MANAGED_FILE):
            return
        self.make_parents(MANAGED_FILE, "managed")
        self.record(MANAGED_FILE, "managed")
        data = (json.dumps(dict(sorted(after.items())), indent=2) + "\n").encode()
        self.write_file(MANAGED_FILE, data, 0o600, os.geteuid(), os.getegid(), "managed")

    # -- the whole run ---------------------------------------------------------------

    def run_plan(self, plan: Plan, replan: Callable[[], Plan] | None) -> RunOutcome:
        number = 0
        try:
            # The install part runs up to the last install-phase step: the files its commands
            # need (apt sources, debconf answers) have no phase of their own.
            marked = [i for i, s in enumerate(plan.steps) if getattr(s, "phase", "") == "install"]
            install = plan.steps[: marked[-1] + 1] if marked else []
            if replan is not None and install:
                for step in install:
                    number += 1
                    self.current = number
                    self.do_step(step, number, str(number))
                self.current = None
                self.stage = "planning the configuration after the install steps"
                self.say("packages installed: planning the configuration again")
                self.event("replan", number, "planning the configuration for the installed "
                                             "packages")
                fresh = replan()
                for note in fresh.notes:
                    self.say(f"note: {note}")
                steps = fresh.steps
            else:
                steps = plan.steps
            for step in steps:
                number += 1
                self.current = number
                self.do_step(step, number, str(number))
            self.current = None
            self.stage = "finishing the run"
            self.check_interrupt()
            self.save_managed()
            note = self.state["plan"]
            if self.fallbacks:
                note += f"; {len(self.fallbacks)} fallback(s) taken"
            self.set_state("applied", summary=note, fallbacks=self.fallbacks,
                           finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            self.say("applied")
            self.event("applied", number, self.state["run_id"])
            return RunOutcome(self.state["run_id"], "applied", log_path=str(self.log_path),
                              fallbacks=list(self.fallbacks))
        except BaseException as exc:
            error = self.redact(self.explain(exc))
            failed = self.current
            where = f"step {failed}" if failed is not None else self.stage
            self.say(f"failed at {where}: {error}")
            self.event("failed", failed or 0, error)
            if self.guard is not None:
                self.guard.start_rollback()
            self.event("rollback", failed or 0, "rolling back every change of this run")
            problems = self.roll_back()
            self.set_state("rolled-back", failed_step=failed, error=error,
                           summary=f"{self.state['plan']}; failed at {where}: {error}",
                           rollback_errors=problems, fallbacks=self.fallbacks)
            self.event("rolled-back", failed or 0, "; ".join(problems) or "rolled back")
            if not isinstance(exc, Exception):
                raise
            return RunOutcome(self.state["run_id"], "rolled-back", failed, error, problems,
                              str(self.log_path), list(self.fallbacks))

    def explain(self, exc: BaseException) -> str:
        if isinstance(exc, _Interrupted):
            name = signal.Signals(exc.signum).name
            why = " (the terminal or SSH connection closed)" if exc.signum == signal.SIGHUP else ""
            return f"interrupted by {name}{why}"
        if isinstance(exc, UserError):
            return f"{exc.message} (fix: {exc.hint})" if exc.hint else exc.message
        if isinstance(exc, _StepFailed):
            return str(exc)
        if isinstance(exc, OSError):
            return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
        self.say("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        return f"unexpected error: {exc.__class__.__name__}: {exc}"

    # -- rollback --------------------------------------------------------------------

    def roll_back(self) -> list[str]:
        """Undo every journaled change, newest first, then put touched services back.
        Returns what could not be restored (empty when all was)."""
        try:
            self.set_state("rolling-back")
        except OSError as exc:  # restoring matters more than recording that we do
            self.say(f"could not record the rollback in state.json: {exc}")
        self.say("rolling back")
        entries = self.entries()
        done_undos = {e["index"] for e in entries if e.get("op") == "undone"}
        wrote: dict[str, set[str]] = {}
        for e in entries:
            if e.get("op") == "wrote":
                wrote.setdefault(e["path"], set()).add(e["sha256"])
        problems: list[str] = []
        services = []
        actions = 0
        for index in range(len(entries) - 1, -1, -1):
            entry = entries[index]
            op = entry.get("op")
            if op == "service":
                services.insert(0, entry)
                continue
            if op not in ("path", "tree", "mkdir", "tmp", "undo"):
                continue
            actions += 1
            if self.kill == ("rollback", actions):
                _die_here()
            self.say(_undo_words(entry))
            try:
                if op == "path":
                    self.restore(entry["path"], entry["prior"], bool(entry.get("tree")),
                                 wrote.get(entry["path"], set()))
                elif op == "tree":
                    self.restore_tree(entry)
                elif op == "mkdir":
                    self.remove_created_dir(entry["path"])
                elif op == "tmp":
                    real = self.root.path(entry["path"])
                    if _lstat(real) is not None:
                        os.unlink(real)
                        _fsync_dir(real.parent)
                elif op == "undo" and index not in done_undos:
                    result = self.runner.run(_decode_argv(entry["argv"]),
                                             timeout=entry.get("timeout", 120.0))
                    if not result.ok:
                        said = tail(result.stderr, 5) or "(no output)"
                        problems.append(self.redact(
                            f"undo of step {entry['step']} exited with code {result.code}: "
                            f"{said}"))
                    else:
                        self.journal({"op": "undone", "index": index})
            except (OSError, _StepFailed) as exc:
                problems.append(self.redact(f"{entry.get('path', op)}: {self.explain(exc)}"))
        for entry in services:
            self.restore_service(entry["name"], entry["state"], problems)
        for problem in problems:
            self.say(f"rollback problem: {problem}")
        if self.guard is not None and self.guard.ignored:
            names = ", ".join(sorted({signal.Signals(s).name for s in self.guard.ignored}))
            self.say(f"ignored {names} until the rollback was done")
        self.say("rolled back" if not problems else "rolled back, with problems")
        return problems

    def keep_edited(self, target: str, real: Path, st: os.stat_result, ours: set[str]) -> None:
        """A file this run wrote but that someone changed since: keep that version in backup/
        before restoring, so a rollback never silently drops a hand edit."""
        if not ours or not stat.S_ISREG(st.st_mode):
            return
        if _sha256_file(real) in ours:
            return
        copy = self.dir / "backup" / f"edited-{self._next_name()}"
        shutil.copyfile(real, copy)
        self.say(f"{target} was changed after this run wrote it; that version is kept in {copy}")

    def restore(self, target: str, prior: dict, tree: bool, ours: set[str]) -> None:
        real = self.root.path(target)
        kind = prior["type"]
        scratch = real.parent / f".{real.name[:180]}.jw-restore.tmp"
        if _lstat(scratch) is not None:
            os.unlink(scratch)  # left by a rollback that was cut short
        st = _lstat(real)
        if kind == "other":
            return
        if st is not None and kind != "dir":
            if stat.S_ISDIR(st.st_mode):
                if not tree:
                    raise _StepFailed("is a directory now; it was not one before this run, "
                                      "and it is left in place")
                shutil.rmtree(real)
                st = None
            else:
                self.keep_edited(target, real, st, ours | ({prior["sha256"]}
                                                           if kind == "file" else set()))
        if kind == "absent":
            if st is not None:
                os.unlink(real)
                _fsync_dir(real.parent)
            return
        if kind == "dir":
            self._ensure_dir(real, prior)
            return
        real.parent.mkdir(parents=True, exist_ok=True)
        if kind == "symlink":
            if not (st is not None and stat.S_ISLNK(st.st_mode)
                    and os.readlink(real) == prior["target"]):
                os.symlink(prior["target"], scratch)
                os.rename(scratch, real)
                _fsync_dir(real.parent)
            if os.geteuid() == 0:
                os.lchown(real, prior["uid"], prior["gid"])
            return
        same = (st is not None and stat.S_ISREG(st.st_mode)
                and _sha256_file(real) == prior["sha256"])
        if not same:
            fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600)
            try:
                with open(self.dir / "backup" / prior["backup"], "rb") as src:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        _write_all(fd, chunk)
                os.fsync(fd)
                self.set_owner(fd, prior["uid"], prior["gid"], target)
                os.fchmod(fd, prior["mode"])
            finally:
                os.close(fd)
            os.rename(scratch, real)
            _fsync_dir(real.parent)
        else:
            if os.geteuid() == 0:
                os.lchown(real, prior["uid"], prior["gid"])
            os.chmod(real, prior["mode"])
        os.utime(real, ns=(prior["atime_ns"], prior["mtime_ns"]), follow_symlinks=False)

    def _ensure_dir(self, real: Path, prior: dict) -> None:
        st = _lstat(real)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            os.unlink(real)
            st = None
        if st is None:
            os.mkdir(real, 0o700)
        if os.geteuid() == 0:
            os.lchown(real, prior["uid"], prior["gid"])
        os.chmod(real, prior["mode"])

    def restore_tree(self, entry: dict) -> None:
        """Put back a directory tree a command may have changed: its directories, and no
        files that were not there (the files' content is restored by their own entries)."""
        top = self.root.path(entry["path"])
        if not entry["existed"]:
            _remove(top)
            return
        dirs: dict = entry["dirs"]
        files = set(entry["entries"])
        for rel in sorted(dirs, key=lambda r: (r.count("/"), r) if r else (-1, r)):
            self._ensure_dir(top / rel if rel else top, dirs[rel])
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
                    _remove(Path(item.path))

    def remove_created_dir(self, target: str) -> None:
        real = self.root.path(target)
        st = _lstat(real)
        if st is None or not stat.S_ISDIR(st.st_mode):
            return
        try:
            os.rmdir(real)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise _StepFailed("this run created the directory, but it holds files now "
                                  "that the run did not write; it is left in place") from None
            raise
        _fsync_dir(real.parent)

    def restore_service(self, name: str, state: dict, problems: list[str]) -> None:
        """Restart a touched service so it reads the restored files (or stop it if it was
        stopped), and put its enabled state back."""
        action = "stop" if state.get("active") is False else "restart"
        result = self.runner.service(name, action)
        if not result.ok:
            problems.append(self.redact(f"{action} {name} exited with code {result.code}: "
                                        f"{tail(result.stderr, 5) or '(no output)'}"))
        wanted = state.get("enabled")
        if wanted is None:
            return
        if self.runner.service_state(name).get("enabled") != wanted:
            action = "enable" if wanted else "disable"
            result = self.runner.service(name, action)
            if not result.ok:
                problems.append(self.redact(f"{action} {name} exited with code {result.code}: "
                                            f"{tail(result.stderr, 5) or '(no output)'}"))


class _LogTee:
    """While a run is in progress, the runner's log lines also go to run.log, and command
    output there is kept at greater length."""

    def __init__(self, run: _Run, runner: Runner):
        self.run = run
        self.runner = runner

    def __enter__(self) -> _LogTee:
        self.saved = (self.runner.log, self.runner.tail_lines)
        outer = self.runner.log

        def tee(line: str) -> None:
            self.run.say(line)
            if outer is not None:
                # The terminal may be gone (SSH dropped); run.log still has the line.
                with contextlib.suppress(OSError, ValueError):
                    outer(self.run.redact(line))

        self.runner.log = tee
        self.runner.tail_lines = RUN_LOG_TAIL
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.log, self.runner.tail_lines = self.saved


# -- the public interface -------------------------------------------------------------------


def apply(plan: Plan, root: Root, runner: Runner, *, redact: Redactor,
          answers_text: str | None = None, replan: Callable[[], Plan] | None = None,
          on_event: Event | None = None) -> RunOutcome:
    """Apply `plan` as one transaction; on any failure roll everything back.

    With `replan`, the plan's steps up to its last step of phase "install" run first (with
    the files those commands need), then `replan()` is called and ITS steps are applied in
    the same run (configuration planned against the installed files); the original plan's
    later steps are then not used. Without install steps, the plan is applied as it is.

    `on_event(kind, step_number, text)` reports progress (text redacted): kinds "step",
    "done", "fallback", "replan", "failed", "rollback", "rolled-back", "applied". It may
    raise (a closed terminal); the run goes on without it.

    Signals: SIGHUP, SIGTERM and SIGINT stop the current command and roll the run back;
    they are ignored while rolling back (handlers are set only when called on the main
    thread, and restored afterwards).
    """
    if plan.is_empty:
        return RunOutcome("", "nothing-to-do")
    with _Lock(root):
        for state in _states(root):
            if state.get("status") in ("applying", "rolling-back"):
                raise UserError(f"run {state['run_id']} was interrupted and left changes "
                                "half done", "roll it back first: jitsi-wizard rollback",
                                exit_code=EXIT_INTERRUPTED)
        run = _Run.create(root, runner, redact, on_event, answers_text,
                          _plan_summary(plan.steps))
        try:
            with _SignalGuard(runner) as guard, _LogTee(run, runner):
                run.guard = guard
                if not guard.installed:
                    run.say("not on the main thread: signals are left to the caller")
                return run.run_plan(plan, replan)
        finally:
            run.close()


def rollback(root: Root, runner: Runner, run_id: str | None = None, *,
             redact: Redactor) -> RunOutcome:
    """Undo a run: by default the newest one not rolled back yet (an applied run, or one that
    was interrupted). An older run can only be undone after every newer one."""
    with _Lock(root):
        states = _states(root)
        live = [s for s in states if s.get("status") != "rolled-back"]
        if run_id is None:
            if not live:
                raise UserError("there is no run to roll back",
                                "every recorded run is already rolled back",
                                exit_code=EXIT_CHECKS_FAILED)
            target = live[-1]
        else:
            found = [s for s in states if s["run_id"] == run_id]
            if not found:
                known = ", ".join(s["run_id"] for s in states[-5:]) or "none"
                raise UserError(f"there is no run {run_id}",
                                f"recent runs: {known}", field="run")
            target = found[0]
            if target.get("status") == "rolled-back":
                raise UserError(f"run {run_id} is already rolled back", field="run",
                                exit_code=EXIT_CHECKS_FAILED)
            newer = [s["run_id"] for s in live if s.get("seq", 0) > target.get("seq", 0)]
            if newer:
                raise UserError(
                    f"run {newer[-1]} is newer than {run_id} and still applied",
                    "roll back the newer run(s) first, newest first: " + ", ".join(newer[::-1]),
                    field="run")
        run_dir = _runs_dir(root) / target["run_id"]
        run = _Run(root, runner, redact, run_dir, dict(target))
        run.counter = len(list((run_dir / "backup").iterdir()))  # new names never collide
        try:
            with _SignalGuard(runner, rolling_back=True) as guard, _LogTee(run, runner):
                run.guard = guard
                run.say(f"rollback of run {target['run_id']} (was {target.get('status')})")
                problems = run.roll_back()
                run.set_state("rolled-back", rollback_errors=problems,
                              summary=f"{run.state.get('plan', '')}; rolled back on request"
                              if target.get("status") == "applied" else
                              f"{run.state.get('plan', '')}; interrupted run rolled back")
        finally:
            run.close()
        return RunOutcome(target["run_id"], "rolled-back", rollback_errors=problems,
                          log_path=str(run.log_path))


def _info(state: dict) -> RunInfo:
    return RunInfo(state["run_id"], state.get("status", "?"), state.get("started", ""),
                   state.get("summary", ""))


def list_runs(root: Root) -> list[RunInfo]:
    """Every recorded run, oldest first (the last one is the newest)."""
    return [_info(s) for s in _states(root)]


def interrupted_run(root: Root) -> RunInfo | None:
    """The newest run left half done (its process died while applying or rolling back),
    or None. A run still in progress in a live process does not count."""
    holder = _lock_holder(root)
    for state in reversed(_states(root)):
        if state.get("status") not in ("applying", "rolling-back"):
            continue
        if holder is not None and holder in (state.get("pid"), -1):
            continue
        return _info(state)
    return None


def managed_checksums(root: Root) -> dict[str, str]:
    """Target path -> sha256 of the content the wizard last wrote there."""
    data = _read_json(root.path(MANAGED_FILE))
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}
