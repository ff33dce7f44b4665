"""Doing each kind of step (file, remove, link, command, service, verify), every change
journaled before it is made."""

from __future__ import annotations

import hashlib
import os
import posixpath
import shlex
import signal
import stat
import traceback
from typing import Callable

from jitsiwizard.apply import verifiers
from jitsiwizard.apply.fsio import (
    StepFailed,
    fsync_dir,
    immutable,
    lstat_or_none,
    resolve,
    write_all,
)
from jitsiwizard.apply.journal import Journal, encode_argv
from jitsiwizard.apply.runner import Runner, tail
from jitsiwizard.apply.signals import Interrupted, SignalGuard, die_here, kill_point
from jitsiwizard.errors import UserError
from jitsiwizard.plan.steps import (
    Command,
    FileChange,
    RemovePath,
    Service,
    Symlink,
    Verify,
)
from jitsiwizard.rootfs import Root

Event = Callable[[str, int, str], None]


def account_ids(root: Root, table: str, name: str) -> tuple[int, int] | None:
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


def set_owner(journal: Journal, fd: int, uid: int, gid: int, shown: str) -> None:
    """chown an open file, or say in run.log why not (not running as root)."""
    st = os.fstat(fd)
    if (st.st_uid, st.st_gid) == (uid, gid):
        return
    if os.geteuid() != 0:
        journal.say(f"not running as root: {shown} keeps owner {st.st_uid}:{st.st_gid} "
                    f"instead of {uid}:{gid}")
        return
    os.fchown(fd, uid, gid)


def stale(path: str, expected: str | None, current: str | None) -> StepFailed:
    if expected is None:
        what = "it did not exist when the plan was made and exists now"
    elif current is None:
        what = "it existed when the plan was made and is gone now"
    else:
        what = "its content changed after the plan was made"
    return StepFailed(f"the plan is out of date for {path}: {what}; run the wizard "
                      "again so that it plans against the current files")


def explain(journal: Journal, exc: BaseException) -> str:
    """The admin's words for what stopped a step (an unexpected error's traceback goes to
    run.log)."""
    if isinstance(exc, Interrupted):
        name = signal.Signals(exc.signum).name
        why = " (the terminal or SSH connection closed)" if exc.signum == signal.SIGHUP else ""
        return f"interrupted by {name}{why}"
    if isinstance(exc, UserError):
        return f"{exc.message} (fix: {exc.hint})" if exc.hint else exc.message
    if isinstance(exc, StepFailed):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    journal.say("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    return f"unexpected error: {exc.__class__.__name__}: {exc}"


class Executor:
    """Does steps against a run's journal, and keeps what the end of the run needs: the
    content written and the paths removed (for managed.json), and the fallbacks taken."""

    def __init__(self, journal: Journal, runner: Runner, on_event: Event | None = None,
                 signals: SignalGuard | None = None):
        self.journal = journal
        self.root = journal.root
        self.runner = runner
        self.redact = journal.redact
        self.on_event = on_event
        self.signals = signals
        self.services: set[str] = set()
        self.written: dict[str, str] = {}  # step path -> sha256 of the content written
        # step path -> (its text before, the text written): the wizard's own lines in it
        self.texts: dict[str, tuple[str | None, str]] = {}
        self.removed: set[str] = set()
        self.fallbacks: list[str] = []
        self.kill = kill_point()

    def event(self, kind: str, number: int, text: str) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(kind, number, self.redact(text))
        except Exception as exc:  # a closed terminal must not stop a rollback
            self.journal.say(f"progress display failed ({exc.__class__.__name__}); "
                             "continuing without it")
            self.on_event = None

    def check_interrupt(self) -> None:
        if self.signals is not None and self.signals.received is not None:
            raise Interrupted(self.signals.received)

    def write_file(self, target: str, data: bytes, mode: int, uid: int, gid: int, label: str,
                   *, kill_midway: bool = False) -> None:
        """Atomic replace: temp file (journaled first) in the same directory, fsync, owner and
        mode, rename, fsync the directory."""
        real = self.root.path(target)
        tmp_target = posixpath.join(posixpath.dirname(target),
                                    f".{real.name[:180]}.{self.journal.next_name()}"
                                    f".jw-{self.journal.state['run_id'][-4:]}.tmp")
        self.journal.append({"op": "tmp", "step": label, "path": tmp_target})
        tmp = self.root.path(tmp_target)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            if kill_midway:
                write_all(fd, data[: len(data) // 2])
                os.fsync(fd)
                die_here()
            write_all(fd, data)
            os.fsync(fd)
            # Before chmod: chown clears setuid bits.
            set_owner(self.journal, fd, uid, gid, target)
            os.fchmod(fd, mode)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        try:
            os.rename(tmp, real)
        except PermissionError:
            os.unlink(tmp)
            if immutable(real):
                raise StepFailed(
                    f"{target} is immutable (chattr +i or +a): not even root can replace it. "
                    f"Remove the flag with `chattr -i -a {shlex.quote(str(real))}` and run "
                    "again, or leave this setting alone") from None
            raise
        fsync_dir(real.parent)

    def owner_ids(self, step: FileChange, st: os.stat_result | None) -> tuple[int, int]:
        uid, gid = (st.st_uid, st.st_gid) if st is not None else (0, 0)
        if step.owner:
            found = account_ids(self.root, "passwd", step.owner)
            if found is None:
                raise StepFailed(f"{step.path}: user {step.owner!r} does not exist "
                                 "(not in /etc/passwd)")
            uid = found[0]
            if st is None:
                gid = found[1]  # a new file gets the owner's primary group
        if step.group:
            found = account_ids(self.root, "group", step.group)
            if found is None:
                raise StepFailed(f"{step.path}: group {step.group!r} does not exist "
                                 "(not in /etc/group)")
            gid = found[0]
        return uid, gid

    def do_file(self, step: FileChange, label: str, number: int) -> None:
        target = resolve(self.root, step.path, follow_last=True)
        real = self.root.path(target)
        st = lstat_or_none(real)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise StepFailed(f"{step.path} is not a regular file; refusing to replace it")
        current = self.root.read_text(target) if st is not None else None
        if current != step.before:
            raise stale(step.path, step.before, current)
        mode = step.mode if step.mode is not None else (
            stat.S_IMODE(st.st_mode) if st is not None else 0o644)
        uid, gid = self.owner_ids(step, st)
        data = step.content.encode("utf-8", "surrogateescape")
        if "PRIVATE KEY-----" in step.content:
            self.journal.say("(content not logged: it holds a private key)")
        else:
            self.journal.say(step.diff().rstrip("\n"))
        # Directories first: rollback goes in reverse, removing the file before them.
        self.journal.make_parents(target, label)
        self.journal.record(target, label)
        kill = self.kill == ("write", number) and label == str(number)
        digest = hashlib.sha256(data).hexdigest()
        if current is not None and "PRIVATE KEY-----" not in step.content:
            self.journal.keep_written(digest, data)
        self.write_file(target, data, mode, uid, gid, label, kill_midway=kill)
        self.journal.append({"op": "wrote", "step": label, "path": target, "sha256": digest})
        self.written[step.path] = digest
        # a path written twice in a run: its text before the first write
        self.texts[step.path] = (self.texts.get(step.path, (current,))[0], step.content)
        self.removed.discard(step.path)

    def do_remove(self, step: RemovePath, label: str) -> None:
        target = resolve(self.root, step.path, follow_last=False)
        real = self.root.path(target)
        st = lstat_or_none(real)
        if st is None:
            self.journal.say(f"{step.path} is already absent")
        elif stat.S_ISDIR(st.st_mode):
            if any(os.scandir(real)):
                raise StepFailed(f"{step.path} is a directory with files in it; only files, "
                                 "links and empty directories are removed")
            self.journal.record(target, label)  # rollback makes it again, mode and owner
            os.rmdir(real)
            fsync_dir(real.parent)
        else:
            if step.before is not None and stat.S_ISREG(st.st_mode):
                current = self.root.read_text(target)
                if current != step.before:
                    raise stale(step.path, step.before, current)
            self.journal.record(target, label)
            os.unlink(real)
            fsync_dir(real.parent)
        self.removed.add(step.path)
        self.written.pop(step.path, None)
        self.texts.pop(step.path, None)

    def do_link(self, step: Symlink, label: str) -> None:
        target = resolve(self.root, step.path, follow_last=False)
        real = self.root.path(target)
        st = lstat_or_none(real)
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise StepFailed(f"{step.path} is a directory; refusing to replace it with a link")
        if st is not None and stat.S_ISLNK(st.st_mode) and os.readlink(real) == step.target:
            self.journal.say(f"{step.path} already links to {step.target}")
            return
        self.journal.make_parents(target, label)
        self.journal.record(target, label)
        tmp_target = posixpath.join(posixpath.dirname(target),
                                    f".{real.name[:180]}.{self.journal.next_name()}"
                                    ".jw-link.tmp")
        self.journal.append({"op": "tmp", "step": label, "path": tmp_target})
        tmp = self.root.path(tmp_target)
        os.symlink(step.target, tmp)
        os.rename(tmp, real)
        fsync_dir(real.parent)

    def do_command(self, step: Command, label: str) -> None:
        for path in step.snapshot:
            self.journal.snapshot(path, label)
        if step.undo:
            self.journal.append({"op": "undo", "step": label, "argv": encode_argv(step.undo),
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
            raise StepFailed(f"{step.shown()} {how}" + (f": {said}" if said else ""))

    def do_service(self, step: Service, label: str) -> None:
        if step.name not in self.services:
            state = self.runner.service_state(step.name)
            self.journal.append({"op": "service", "step": label, "name": step.name,
                                 "state": state})
            self.services.add(step.name)
        result = self.runner.service(step.name, step.action)
        self.check_interrupt()
        if not result.ok:
            said = tail(result.stderr, 10) or tail(result.stdout, 10) or "(no output)"
            raise StepFailed(f"{step.action} {step.name} failed (exit {result.code}): {said}")

    def do_verify(self, step: Verify, label: str, number: int) -> None:
        try:
            check = verifiers.get(step.name)
        except KeyError as exc:
            raise StepFailed(str(exc.args[0])) from None
        try:
            ok, message = check(self.root, self.runner, step.args)
        except Exception as exc:
            raise StepFailed(f"{step.summary}: the check itself failed: "
                             f"{exc.__class__.__name__}: {exc}") from None
        self.check_interrupt()
        if ok:
            self.journal.say(f"verified: {message}")
            return
        if not step.otherwise:
            raise StepFailed(f"{step.summary}: {message}")
        # The summary states what was expected; the message what was found instead.
        note = f"{step.summary}? No: {message}"
        if step.why_otherwise:
            note += f"; {step.why_otherwise}"
        self.journal.say(f"fallback: {note}")
        self.fallbacks.append(self.redact(note))
        self.journal.append({"op": "fallback", "step": label})
        self.event("fallback", number, note)
        for index, sub in enumerate(step.otherwise, 1):
            self.do_step(sub, number, f"{label}.{index}")

    def do_step(self, step: object, number: int, label: str) -> None:
        """Do one step (`number` is its top-level step, `label` its place, e.g. "4.1" for the
        first step of step 4's fallback), journaled as done when it is."""
        self.check_interrupt()
        if self.kill == ("step", number) and label == str(number):
            die_here()
        describe = step.describe() if hasattr(step, "describe") else repr(step)
        self.journal.say(f"step {label}: {describe}")
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
            raise StepFailed(f"unknown step type {type(step).__name__}")
        self.journal.append({"op": "done", "step": label})
        self.event("done", number, getattr(step, "summary", ""))
