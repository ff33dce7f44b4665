"""Command line: argument parsing and exit codes. Chooses the TUI, replay, dry run, rollback,
status. Errors a user can cause print as a message and a fix, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from jitsiwizard import __version__
from jitsiwizard.errors import (
    EXIT_BAD_INPUT,
    EXIT_CHECKS_FAILED,
    EXIT_OK,
    EXIT_ROLLED_BACK,
    UserError,
)
from jitsiwizard.rootfs import Root
from jitsiwizard.session import Session

DESCRIPTION = """\
Set up and reconfigure a self-hosted Jitsi Meet: hostname and DNS, firewall, TLS certificate,
and who may start meetings (open, local users, LDAP; with or without guests). Every change is
shown first and applied as one transaction that can be rolled back.

  sudo jitsi-wizard                          the interactive wizard
  sudo jitsi-wizard --answers FILE           replay saved answers without a screen
  sudo jitsi-wizard --answers FILE --dry-run show the plan only
  jitsi-wizard --demo                        try it safely on a throwaway tree
"""

EXIT_CODES = """\
exit codes: 0 success; 1 checks failed or nothing applied; 2 bad input;
3 apply failed and was rolled back; 4 an interrupted run needs `jitsi-wizard rollback`"""


def _common(parser: argparse.ArgumentParser, sub: bool) -> None:
    """Options valid before or after the sub-command (SUPPRESS keeps a value given earlier)."""
    default = argparse.SUPPRESS if sub else None
    parser.add_argument("--root", metavar="DIR", default=default if sub else "/",
                        help="treat DIR as the filesystem root for every read and write")
    parser.add_argument("--simulate", action="store_true",
                        default=default if sub else False,
                        help="record commands instead of running them (files under the root "
                             "are still written)")
    parser.add_argument("--force", action="store_true", default=default if sub else False,
                        help="overwrite files that were edited by hand since the wizard "
                             "wrote them (backups are kept)")


CHECK_COMMANDS = ("check", "probe", "probe-listen")


def make_parser(with_checks: bool = True) -> argparse.ArgumentParser:
    """The whole command line. `with_checks=False` leaves out the check sub-commands (and
    their imports): the interactive start does not need them and its first screen is
    timed."""
    parser = argparse.ArgumentParser(
        prog="jitsi-wizard", description=DESCRIPTION, epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"jitsi-wizard {__version__}")
    _common(parser, sub=False)
    parser.add_argument("--answers", metavar="FILE",
                        help="replay an answers file: validate, check, plan, apply; no prompts")
    parser.add_argument("--edit", metavar="FILE",
                        help="open the wizard pre-filled from an answers file")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (every step and diff) and change nothing")
    parser.add_argument("--demo", action="store_true",
                        help="the wizard against a fresh throwaway tree shaped like a new "
                             "Jitsi install, with --simulate; nothing else is touched, and "
                             "the tree is removed on exit")
    parser.add_argument("--keep-demo", action="store_true",
                        help="with --demo: keep the throwaway tree for a look afterwards")
    parser.add_argument("--skip-checks", action="store_true",
                        help="replay without the DNS, port and LDAP checks")
    parser.add_argument("--resolver", metavar="ADDR[:PORT]",
                        help="DNS server for the checks (default: the system resolver)")
    parser.set_defaults(func=cmd_main)

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("plan", help="show the plan for an answers file")
    _common(p, sub=True)
    p.add_argument("--answers", metavar="FILE", required=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("status", help="what is configured on this host now")
    _common(p, sub=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("rollback", help="undo the last run, or the named one")
    _common(p, sub=True)
    p.add_argument("run_id", nargs="?", metavar="RUN_ID")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("runs", help="list the runs and their state")
    _common(p, sub=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("example-answers", help="print a documented answers file")
    p.set_defaults(func=cmd_example)
    p = sub.add_parser("schema", help="print the JSON Schema of the answers file")
    p.set_defaults(func=cmd_schema)

    if with_checks:
        from jitsiwizard.checks import commands as check_commands

        check_commands.register(sub)
        for name in CHECK_COMMANDS:
            _common(sub.choices[name], sub=True)
    return parser


# --- helpers --------------------------------------------------------------------------------

def _root(args) -> Root:
    path = getattr(args, "root", "/") or "/"
    if not os.path.isdir(path):
        raise UserError(f"{path} is not a directory", "give an existing directory to --root",
                        field="--root")
    return Root(path)


def _session(args) -> Session:
    return Session(_root(args), simulate=bool(getattr(args, "simulate", False)),
                   force=bool(getattr(args, "force", False)),
                   resolver=getattr(args, "resolver", None),
                   demo=bool(getattr(args, "demo", False)))


def _warn(text: str) -> None:
    print(text, file=sys.stderr)


def _load(session: Session, path: str):
    loaded = session.load_answers(path)
    _warn_problems(loaded.warnings)
    return loaded


def _warn_problems(problems) -> None:
    for problem in problems:
        _warn(problem.render().strip().replace("- warning", "warning", 1))


# --- commands -------------------------------------------------------------------------------

def cmd_main(args) -> int:
    if args.demo:
        return run_demo(args)
    if args.answers:
        return run_replay(args)
    return run_tui(args, edit=args.edit)


def run_demo(args) -> int:
    import shutil
    import tempfile
    from shlex import quote

    from jitsiwizard import fixtures

    base = tempfile.mkdtemp(prefix="jw-demo-")
    args.root, args.simulate = base, True
    try:
        fixtures.build(base)
        return run_tui(args, edit=args.edit)
    finally:
        if getattr(args, "keep_demo", False):
            print(f"demo: its throwaway host stays in {quote(base)} for a look; remove it "
                  f"with: rm -rf {quote(base)}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def run_tui(args, edit: str | None) -> int:
    from jitsiwizard.app import run_app

    return run_app(_session(args), edit=edit)


def run_replay(args) -> int:
    session = _session(args)
    loaded = _load(session, args.answers)
    if not args.dry_run:
        session.require_permission()
        session.refuse_if_interrupted()
    planned = session.plan(loaded)
    _warn_problems(planned.warnings[len(loaded.warnings):])
    redact = planned.redact
    root = session.root

    if not args.skip_checks and not args.dry_run and root.is_real and not args.simulate:
        failed = _run_checks(session, planned.answers)
        if failed:
            return EXIT_CHECKS_FAILED

    print(planned.plan.render(redact), end="")
    if args.dry_run or planned.plan.is_empty:
        return EXIT_OK

    def event(kind: str, number: int, text: str) -> None:
        print(redact(f"[{kind}] {number}: {text}" if number else f"[{kind}] {text}"),
              flush=True)

    outcome = session.apply(planned, on_event=event)
    if outcome.status in ("applied", "nothing-to-do"):
        _, notes = session.save_answers(planned.answers)
        for note in notes:
            _warn(f"note: {note}")
    return _report(outcome, session)


def _report(outcome, session: Session) -> int:
    for text in outcome.fallbacks:
        print(f"fallback: {text}")
    if outcome.status == "applied":
        print(f"applied: run {outcome.run_id}; log {outcome.log_path}")
        print(f"undo it with: {session.command(f'rollback {outcome.run_id}')}")
        return EXIT_OK
    if outcome.status == "nothing-to-do":
        print("nothing to do: the host already matches")
        return EXIT_OK
    print(f"FAILED at step {outcome.failed_step}: {outcome.error}", file=sys.stderr)
    if outcome.rollback_errors:
        print("rollback could not restore everything:", file=sys.stderr)
        for err in outcome.rollback_errors:
            print(f"  - {err}", file=sys.stderr)
    else:
        print("every change of this run was rolled back: files and services are as they "
              "were before it (packages it installed stay installed).", file=sys.stderr)
    print(f"details: {outcome.log_path}", file=sys.stderr)
    return EXIT_ROLLED_BACK


def _run_checks(session: Session, answers) -> bool:
    """Run the preflight checks; print them; True when one failed."""
    results = session.run_checks(answers)
    failed = False
    for r in results:
        print(r.render())
        failed |= r.status == "fail"
    if failed:
        print("checks failed: nothing was changed. Fix the above, or rerun with "
              "--skip-checks if you know better.", file=sys.stderr)
    return failed


def cmd_plan(args) -> int:
    session = _session(args)
    loaded = _load(session, args.answers)
    planned = session.plan(loaded)
    _warn_problems(planned.warnings[len(loaded.warnings):])
    plan, redact = planned.plan, planned.redact
    print(plan.to_json(redact) if args.json else plan.render(redact), end="" if not
          args.json else "\n")
    return EXIT_OK


def cmd_status(args) -> int:
    session = _session(args)
    doc = session.status()
    if args.json:
        import json

        print(json.dumps(doc, indent=2))
        return EXIT_OK
    if not doc["jitsi_installed"]:
        print(f"{doc['os'] or 'unknown system'}: Jitsi Meet is not installed")
    else:
        guests = "with guests" if doc["guests"] else "no guests"
        print(f"host:        {doc['hostname']} ({doc['os']}, {doc['generation']} install)")
        print(f"policy:      {doc['policy']} ({doc['authentication_module']}), {guests}")
        ldap = doc["ldap"]
        if ldap:
            print(f"ldap:        {ldap['backend']} {ldap['server']} base "
                  f"{ldap['base']}".rstrip())
        if doc["users"]:
            print(f"users:       {', '.join(doc['users'])}")
        jicofo = doc["jicofo_authentication"] or doc["legacy_jicofo_key"]
        print(f"jicofo auth: {'on' if jicofo else 'off'}")
        print(f"certificate: {doc['certificate'] or '?'}")
    for warning in doc["warnings"]:
        print(f"warning: {warning}")
    if doc["interrupted_run"]:
        print(f"INTERRUPTED run {doc['interrupted_run']}: undo it with "
              f"`{session.command('rollback ' + doc['interrupted_run'])}`")
    if doc["last_run"]:
        print(f"last run:    {doc['last_run']} ({doc['last_run_status']})")
    return EXIT_OK


def cmd_rollback(args) -> int:
    session = _session(args)
    session.require_permission()
    outcome = session.rollback(args.run_id)
    if outcome.rollback_errors:
        print(f"rollback of {outcome.run_id} could not restore everything:", file=sys.stderr)
        for err in outcome.rollback_errors:
            print(f"  - {err}", file=sys.stderr)
        return EXIT_ROLLED_BACK
    print(f"rolled back run {outcome.run_id}: files are as they were before it")
    return EXIT_OK


def cmd_runs(args) -> int:
    runs = _session(args).runs()
    if args.json:
        import json

        print(json.dumps([r.__dict__ for r in runs], indent=2))
    elif not runs:
        print("no runs yet")
    for r in runs if not args.json else []:
        print(f"{r.run_id}  {r.status:<12} {r.summary}")
    return EXIT_OK


def cmd_example(args) -> int:
    from importlib.resources import files

    print(files("jitsiwizard").joinpath("data/answers.example.toml").read_text(), end="")
    return EXIT_OK


def cmd_schema(args) -> int:
    import json

    from jitsiwizard.answers import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    # Without a sub-command word (or a request for help) the parse is the same either way.
    parser = make_parser(with_checks=any(w in CHECK_COMMANDS or w in ("-h", "--help")
                                         for w in words))
    try:
        args = parser.parse_args(words)
    except SystemExit as exc:  # argparse: 2 for usage errors, 0 for --help
        return int(exc.code or 0)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: nothing more was changed", file=sys.stderr)
        return EXIT_CHECKS_FAILED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # a path the user gave that cannot be read or written
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
              file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
