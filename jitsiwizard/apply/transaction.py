"""apply() and rollback(): a plan applied as one transaction under the lock, rolled back
whole on any failure, and an earlier (or interrupted) run undone on request."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Callable

from jitsiwizard.answers.secrets import Redactor
from jitsiwizard.apply.executors import Event, Executor, explain
from jitsiwizard.apply.fsio import StepFailed
from jitsiwizard.apply.journal import Journal, LogTee
from jitsiwizard.apply.lock import Lock
from jitsiwizard.apply.restore import edited_since, roll_back
from jitsiwizard.apply.runner import Runner
from jitsiwizard.apply.runs import managed_records, package_versions, states, wizards_own_file
from jitsiwizard.apply.signals import SignalGuard
from jitsiwizard.errors import EXIT_CHECKS_FAILED, EXIT_INTERRUPTED, UserError
from jitsiwizard.formats.regions import own_chunks, record_chunks
from jitsiwizard.paths import MANAGED_FILE
from jitsiwizard.plan.steps import Plan, RemovePath
from jitsiwizard.rootfs import Root


@dataclass
class RunOutcome:
    run_id: str
    status: str  # "applied" | "rolled-back" | "nothing-to-do"
    failed_step: int | None = None
    error: str | None = None
    rollback_errors: list[str] = field(default_factory=list)
    log_path: str = ""
    fallbacks: list[str] = field(default_factory=list)
    verification: dict | None = None  # the report after the restarts (Report.to_dict())
    failed_phase: str = ""  # "" (a step), "config check" or "verification"
    # Set when the run applied only the install steps: why the configuration was not planned
    # (a simulated install leaves no Jitsi files to plan against).
    not_planned: str | None = None
    kept: list[tuple[str, str]] = field(default_factory=list)  # (file, its hand-edited copy)
    # files a rollback undid the run's lines in, keeping what others changed there since
    merged: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool | None:
        return None if self.verification is None else bool(self.verification.get("ok"))


@dataclass
class Phases:
    """What a run checks around its restarts, given by the session (the checks themselves
    live in jitsiwizard.health, outside the transaction).

    `check_configs(services)` runs once, before the first restart or reload, with every
    service the run will restart; it returns findings (objects with .ok, .render()). Any
    finding with ok False stops the run, which rolls back before touching a service.
    `verify(services)` runs after the last step with the services the run restarted and
    returns a report (.ok, .summary(), .render(), .to_dict()). A failed report rolls the
    run back (files, then the services restarted as they were), unless `keep_on_failure`.
    `guard_firewall(run_id)` runs once, before the run's first firewall command: it starts
    the guard that undoes the firewall change unless the admin confirms it (firewall_guard).
    """

    check_configs: Callable[[set], list] | None = None
    verify: Callable[[list], object] | None = None
    keep_on_failure: bool = False
    guard_firewall: Callable[[str], object] | None = None


def _is_firewall(step) -> bool:
    argv = getattr(step, "argv", None)
    return getattr(step, "kind", "") == "command" and bool(argv) and str(argv[0]) == "ufw"


class CheckFailed(StepFailed):
    def __init__(self, phase: str, text: str):
        super().__init__(text)
        self.phase = phase


def _check_configs(ex: Executor, phases: Phases, steps: list, number: int) -> None:
    services = {s.name for s in steps if getattr(s, "kind", "") == "service"}
    ex.event("check", number, "checking the new configuration before any restart: "
                              + ", ".join(sorted(services)))
    findings = phases.check_configs(services)
    for finding in findings:
        ex.journal.say(f"config check: {finding.render().strip()}")
    failed = [f for f in findings if f.ok is False]
    if failed:
        raise CheckFailed("config check", "the new configuration was refused before any "
                          "restart: " + "; ".join(f"{f.name}: {f.evidence}" for f in failed))


def _verify(ex: Executor, phases: Phases, number: int):
    restarted = sorted(ex.services)
    ex.event("verify", number, "checking that Jitsi works: " + (", ".join(restarted)
                                                                 or "no service restarted"))
    report = phases.verify(restarted)
    ex.journal.say("verification:\n" + report.render())
    return report


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


def _managed_record(path: str, digest: str, texts: tuple | None, earlier: object) -> object:
    """What managed.json keeps of a file this run wrote: the sha256 alone when the whole file
    is the wizard's; for a file of the packages, also the lines the wizard wrote in it, so
    that a later change elsewhere in the file (a package upgrade) is not a hand edit."""
    prior, content = texts if texts is not None else (None, None)
    if prior is None or content is None:
        return digest
    chunks = record_chunks(earlier)
    if chunks is None and earlier is not None and wizards_own_file(path):
        return digest
    return {"sha256": digest, "own": own_chunks(prior, content, chunks or [])}


def _save_managed(ex: Executor) -> None:
    """managed.json with this run's writes and removals, written as a change of the run
    (journaled, so a rollback puts the earlier one back)."""
    before = managed_records(ex.root)
    after = {p: s for p, s in before.items() if p not in ex.removed}
    for path, digest in ex.written.items():
        after[path] = _managed_record(path, digest, ex.texts.get(path), before.get(path))
    if not after:
        # Nothing of the wizard's is left (the last bridge removed): no empty record either.
        if ex.root.exists(MANAGED_FILE):
            ex.do_remove(RemovePath(MANAGED_FILE, "nothing is managed any more"), "managed")
        return
    if after == before and ex.root.exists(MANAGED_FILE):
        return
    ex.journal.make_parents(MANAGED_FILE, "managed")
    ex.journal.record(MANAGED_FILE, "managed")
    data = (json.dumps(dict(sorted(after.items())), indent=2) + "\n").encode()
    ex.write_file(MANAGED_FILE, data, 0o600, os.geteuid(), os.getegid(), "managed")
    # Recorded as written by this run, so its rollback does not take it for a hand edit.
    ex.journal.append({"op": "wrote", "step": "managed", "path": MANAGED_FILE,
                       "sha256": hashlib.sha256(data).hexdigest()})


class _Run:
    """One run going through its plan: the step being done, or what is being done between
    steps (for the journal when it fails), and what the end of the run reports."""

    def __init__(self, ex: Executor, phases: Phases):
        self.ex, self.journal, self.phases = ex, ex.journal, phases
        self.number = 0  # the last top-level step started
        self.current: int | None = None  # the top-level step being done
        self.stage = "finishing the run"  # what is being done between steps
        self.report = None  # the verification's, once it ran
        self.guarded = False  # the firewall guard was started

    def step(self, step) -> None:
        self.number += 1
        self.current = self.number
        if not self.guarded and self.phases.guard_firewall is not None and _is_firewall(step):
            self.phases.guard_firewall(self.journal.state["run_id"])
            self.journal.say("firewall guard started: the change is undone unless confirmed")
            self.guarded = True
        self.ex.do_step(step, self.number, str(self.number))

    def install_first(self, plan: Plan, replan: Callable[[], Plan] | None) -> list:
        """With `replan`, the plan's install part done, and the steps planned again for the
        installed packages returned; otherwise the plan's steps, all still to do."""
        # The install part runs up to the last install-phase step: the files its commands
        # need (apt sources, debconf answers) have no phase of their own.
        marked = [i for i, s in enumerate(plan.steps) if getattr(s, "phase", "") == "install"]
        install = plan.steps[: marked[-1] + 1] if marked else []
        if replan is None or not install:
            return plan.steps
        for step in install:
            self.step(step)
        self.current = None
        self.stage = "planning the configuration after the install steps"
        self.journal.say("packages installed: planning the configuration again")
        self.ex.event("replan", self.number, "planning the configuration for the installed "
                                             "packages")
        fresh = replan()
        for note in fresh.notes:
            self.journal.say(f"note: {note}")
        return fresh.steps

    def do_steps(self, steps: list) -> None:
        """The steps, the new configuration checked before the first restart."""
        checked = self.phases.check_configs is None
        for index, step in enumerate(steps):
            if not checked and getattr(step, "kind", "") == "service":
                self.current = None
                self.stage = "checking the new configuration before the restarts"
                checked = True
                _check_configs(self.ex, self.phases, steps[index:], self.number + 1)
            self.step(step)

    def finish(self) -> RunOutcome:
        """managed.json written, the result verified, the run recorded as applied."""
        ex, journal = self.ex, self.journal
        self.current = None
        self.stage = "finishing the run"
        ex.check_interrupt()
        _save_managed(ex)
        note = journal.state["plan"]
        report = None
        if self.phases.verify is not None:
            self.stage = "verifying that Jitsi works after the restarts"
            report = self.report = _verify(ex, self.phases, self.number)
            ex.check_interrupt()
            if not report.ok:
                said = f"verification failed: {report.summary()}"
                if not self.phases.keep_on_failure:
                    raise CheckFailed("verification", said)
                journal.say(f"{said}; the changes are kept (--keep-on-failure)")
                note += "; verification FAILED, changes kept"
            else:
                note += "; verified"
        if ex.fallbacks:
            note += f"; {len(ex.fallbacks)} fallback(s) taken"
        verification = report.to_dict() if report is not None else None
        journal.set_state("applied", summary=note, fallbacks=ex.fallbacks,
                          verification=verification, packages=package_versions(ex.root),
                          finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        journal.say("applied")
        ex.event("applied", self.number, journal.state["run_id"])
        return RunOutcome(journal.state["run_id"], "applied", log_path=str(journal.log_path),
                          fallbacks=list(ex.fallbacks), verification=verification,
                          failed_phase="verification" if report is not None and not report.ok
                          else "")

    def fail(self, exc: BaseException) -> RunOutcome:
        """The run rolled back after `exc`, and recorded as such."""
        ex, journal = self.ex, self.journal
        error = journal.redact(explain(journal, exc))
        failed = self.current
        where = f"step {failed}" if failed is not None else self.stage
        journal.say(f"failed at {where}: {error}")
        ex.event("failed", failed or 0, error)
        if ex.signals is not None:
            ex.signals.start_rollback()
        ex.event("rollback", failed or 0, "rolling back every change of this run")
        problems = roll_back(journal, ex.runner, ex.signals)
        verification = self.report.to_dict() if self.report is not None else None
        journal.set_state("rolled-back", failed_step=failed, error=error,
                          summary=f"{journal.state['plan']}; failed at {where}: {error}",
                          rollback_errors=problems, fallbacks=ex.fallbacks,
                          verification=verification)
        ex.event("rolled-back", failed or 0, "; ".join(problems) or "rolled back")
        return RunOutcome(journal.state["run_id"], "rolled-back", failed, error, problems,
                          str(journal.log_path), list(ex.fallbacks), verification,
                          exc.phase if isinstance(exc, CheckFailed) else "")


def _run_plan(ex: Executor, plan: Plan, replan: Callable[[], Plan] | None,
              phases: Phases | None = None) -> RunOutcome:
    run = _Run(ex, phases or Phases())
    try:
        run.do_steps(run.install_first(plan, replan))
        return run.finish()
    except BaseException as exc:
        outcome = run.fail(exc)
        if not isinstance(exc, Exception):
            raise
        return outcome


def apply(plan: Plan, root: Root, runner: Runner, *, redact: Redactor,
          answers_text: str | None = None, replan: Callable[[], Plan] | None = None,
          on_event: Event | None = None, phases: Phases | None = None) -> RunOutcome:
    """Apply `plan` as one transaction; on any failure roll everything back.

    `phases` checks the new configuration before the first restart and verifies the
    result after the last step (see Phases); either failing rolls the run back.

    With `replan`, the plan's steps up to its last step of phase "install" run first (with
    the files those commands need), then `replan()` is called and ITS steps are applied in
    the same run (configuration planned against the installed files); the original plan's
    later steps are then not used. Without install steps, the plan is applied as it is.

    `on_event(kind, step_number, text)` reports progress (text redacted): kinds "step",
    "done", "fallback", "replan", "check", "verify", "failed", "rollback", "rolled-back",
    "applied". It may raise (a closed terminal); the run goes on without it.

    Signals: SIGHUP, SIGTERM and SIGINT stop the current command and roll the run back;
    they are ignored while rolling back (handlers are set only when called on the main
    thread, and restored afterwards).
    """
    if plan.is_empty:
        return RunOutcome("", "nothing-to-do")
    with Lock(root):
        for state in states(root):
            if state.get("status") in ("applying", "rolling-back"):
                raise UserError(f"run {state['run_id']} was interrupted and left changes "
                                "half done", "roll it back first: jitsi-wizard rollback",
                                exit_code=EXIT_INTERRUPTED)
        # The handlers first: a signal that arrives once the run is recorded as applying
        # must lead to its rollback, never leave it half recorded (the first step checks).
        with SignalGuard(runner) as signals:
            journal = Journal.create(root, redact, answers_text, _plan_summary(plan.steps))
            try:
                with LogTee(journal, runner):
                    ex = Executor(journal, runner, on_event, signals)
                    if not signals.installed:
                        journal.say("not on the main thread: signals are left to the caller")
                    return _run_plan(ex, plan, replan, phases)
            finally:
                journal.close()


def _edited_diff(edited: list[tuple[str, str, str | None]], redact: Redactor) -> str:
    import difflib

    from jitsiwizard.answers.secrets import find_secrets

    out = []
    for path, now, back in edited:
        for value in find_secrets(now) | find_secrets(back):
            redact.add_value(value)
        out.append("".join(difflib.unified_diff(
            now.splitlines(keepends=True), (back or "").splitlines(keepends=True),
            fromfile=f"{path} (now, edited by hand)",
            tofile=f"{path} (after rollback)" if back is not None else "/dev/null")))
    return redact("".join(out))


def rollback(root: Root, runner: Runner, run_id: str | None = None, *,
             redact: Redactor, force: bool = False) -> RunOutcome:
    """Undo a run: by default the newest one not rolled back yet (an applied run, or one that
    was interrupted). An older run can only be undone after every newer one.

    A file the run wrote and someone changed since is not overwritten (or removed) unless
    `force`: without it, a UserError shows what the rollback would undo; with it, the edited
    version is kept beside the run's backups (RunOutcome.kept says where)."""
    with Lock(root):
        recorded = states(root)
        live = [s for s in recorded if s.get("status") != "rolled-back"]
        if run_id is None:
            if not live:
                raise UserError("there is no run to roll back",
                                "every recorded run is already rolled back",
                                exit_code=EXIT_CHECKS_FAILED)
            target = live[-1]
        else:
            found = [s for s in recorded if s["run_id"] == run_id]
            if not found:
                known = ", ".join(s["run_id"] for s in recorded[-5:]) or "none"
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
        journal = Journal.reopen(root, redact, target)
        try:
            edited = edited_since(journal) if not force else []
            if edited:
                names = ", ".join(path for path, _, _ in edited)
                raise UserError(
                    f"{names} changed after run {target['run_id']} wrote "
                    f"{'them' if len(edited) > 1 else 'it'}; the rollback would undo these "
                    f"edits:\n{_edited_diff(edited, redact).rstrip()}",
                    "rerun with --force to roll back anyway (the edited versions are kept "
                    "beside the run's backups), or undo the edits by hand first",
                    field="rollback")
            with SignalGuard(runner, rolling_back=True) as signals, LogTee(journal, runner):
                journal.say(f"rollback of run {target['run_id']} (was {target.get('status')})")
                problems = roll_back(journal, runner, signals)
                how = ("rolled back on request" if target.get("status") == "applied"
                       else "interrupted run rolled back")
                journal.set_state("rolled-back", rollback_errors=problems,
                                  summary=f"{journal.state.get('plan', '')}; {how}")
        finally:
            journal.close()
        return RunOutcome(target["run_id"], "rolled-back", rollback_errors=problems,
                          log_path=str(journal.log_path), kept=list(journal.kept),
                          merged=list(journal.merged))
