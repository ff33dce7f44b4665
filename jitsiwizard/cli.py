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
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_ROLLED_BACK,
    UserError,
)
from jitsiwizard.rootfs import Root

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
                             "Jitsi install, with --simulate; nothing else is touched")
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


def _require_root_user(root: Root, simulate: bool) -> None:
    if not root.is_real and not simulate:
        # Commands (systemctl, prosodyctl, apt-get) act on this system, not inside DIR.
        raise UserError(f"--root {root.base} needs --simulate: commands cannot run inside "
                        "another root", "add --simulate (files under the root are still "
                        "written), or drop --root to change this system", field="--root")
    if root.is_real and not simulate and os.geteuid() != 0:
        raise UserError("changing this system needs root",
                        "run it with sudo, or add --dry-run to only see the plan")


def _warn(text: str) -> None:
    print(text, file=sys.stderr)


def _load(path: str):
    from jitsiwizard.answers import load_file

    loaded = load_file(path)
    for problem in loaded.warnings:
        _warn(problem.render().strip().replace("- warning", "warning", 1))
    return loaded


def _redactor(answers):
    from jitsiwizard.secrets import Redactor

    redact = Redactor()
    for secret in answers.secrets():
        redact.add_secret(secret)
    return redact


def _refuse_if_interrupted(root: Root) -> None:
    from jitsiwizard.apply import interrupted_run

    run = interrupted_run(root)
    if run is not None:
        raise UserError(
            f"run {run.run_id} (started {run.started}) was interrupted before it finished",
            f"undo it with `jitsi-wizard rollback {run.run_id}`"
            + (f" --root {root.base}" if not root.is_real else "") + ", then run again",
            exit_code=EXIT_INTERRUPTED)


def _build_plan(loaded, root: Root, force: bool):
    from jitsiwizard.host import read_facts
    from jitsiwizard.plan import build

    facts = read_facts(root)
    answers = loaded.answers
    if answers.cert.mode == "own":
        _check_own_certificate(answers, facts, root)
    ssh_port = None
    if answers.firewall.manage:
        from jitsiwizard.firewall import detect_ssh_port

        ssh_port = detect_ssh_port(root, os.environ)
    return facts, build(answers, facts, root, force=force, ssh_port_in_use=ssh_port)


def _check_own_certificate(answers, facts, root: Root) -> None:
    """The admin's certificate is validated before anything is planned (openssl reads it)."""
    from jitsiwizard.certs.files import own_cert_problems
    from jitsiwizard.errors import ProblemList

    problems = own_cert_problems(answers, facts, root)
    errors = [p for p in problems if not p.warning]
    if errors:
        raise ProblemList(problems, "the certificate files")
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
    import tempfile

    from jitsiwizard import fixtures

    base = tempfile.mkdtemp(prefix="jitsi-wizard-demo-")
    fixtures.build(base)
    args.root, args.simulate = base, True
    try:
        return run_tui(args, edit=args.edit, demo=True)
    finally:
        print(f"demo: its throwaway host stays in {base} for a look; remove it with: "
              f"rm -rf {base}")


def run_tui(args, edit: str | None, demo: bool = False) -> int:
    from jitsiwizard.app import run_app

    return run_app(root=_root(args), simulate=bool(args.simulate), edit=edit,
                   force=bool(args.force), resolver=args.resolver, demo=demo)


def run_replay(args) -> int:
    from jitsiwizard.answers import dumps
    from jitsiwizard.apply import apply
    from jitsiwizard.runner import Runner

    root = _root(args)
    loaded = _load(args.answers)
    if not args.dry_run:
        _require_root_user(root, args.simulate)
        _refuse_if_interrupted(root)
    answers = loaded.answers
    redact = _redactor(answers)
    facts, plan = _build_plan(loaded, root, args.force)

    if not args.skip_checks and not args.dry_run and root.is_real and not args.simulate:
        failed = _run_checks(answers, args)
        if failed:
            return EXIT_CHECKS_FAILED

    print(plan.render(redact), end="")
    if args.dry_run:
        return EXIT_OK
    if plan.is_empty:
        return EXIT_OK

    def event(kind: str, number: int, text: str) -> None:
        print(redact(f"[{kind}] {number}: {text}" if number else f"[{kind}] {text}"),
              flush=True)

    replan = None
    if not facts.jitsi_installed:
        replan = make_replan(answers, root, simulate=bool(args.simulate), force=args.force)

    saved, notes = dumps(answers)
    for note in notes:
        _warn(f"note: {note}")
    runner = Runner(root, simulate=bool(args.simulate), redact=redact)
    outcome = apply(plan, root, runner, redact=redact, answers_text=saved, replan=replan,
                    on_event=event)
    return _report(outcome, root)


def make_replan(answers, root: Root, *, simulate: bool, force: bool):
    """After the install steps of a fresh host: plan the configuration against the files the
    packages created."""
    from jitsiwizard.host import read_facts
    from jitsiwizard.plan import build
    from jitsiwizard.steps import Plan

    def replan() -> Plan:
        facts = read_facts(root)
        if facts.jitsi_installed:
            return build(answers, facts, root, force=force)
        if simulate:
            return Plan(notes=["the install was only simulated, so there are no Jitsi files "
                               "to configure yet: the configuration is planned after a real "
                               "install"])
        raise UserError("jitsi-meet was installed but its configuration files are missing",
                        "look at the run log for apt's messages; `dpkg -s jitsi-meet` shows "
                        "the package state")

    return replan


def _report(outcome, root: Root) -> int:
    where = "" if root.is_real else f" --root {root.base}"
    for text in outcome.fallbacks:
        print(f"fallback: {text}")
    if outcome.status == "applied":
        print(f"applied: run {outcome.run_id}; log {outcome.log_path}")
        print(f"undo it with: jitsi-wizard rollback {outcome.run_id}{where}")
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


def _run_checks(answers, args) -> bool:
    """Run the preflight checks; print them; True when one failed."""
    import asyncio

    from jitsiwizard.checks import run_checks

    results = asyncio.run(run_checks(answers, resolver=args.resolver, root=_root(args)))
    failed = False
    for r in results:
        print(r.render())
        failed |= r.status == "fail"
    if failed:
        print("checks failed: nothing was changed. Fix the above, or rerun with "
              "--skip-checks if you know better.", file=sys.stderr)
    return failed


def cmd_plan(args) -> int:
    root = _root(args)
    loaded = _load(args.answers)
    _, plan = _build_plan(loaded, root, args.force)
    redact = _redactor(loaded.answers)
    print(plan.to_json(redact) if args.json else plan.render(redact), end="" if not
          args.json else "\n")
    return EXIT_OK


def cmd_status(args) -> int:
    from jitsiwizard.apply import interrupted_run, list_runs
    from jitsiwizard.host import read_facts

    root = _root(args)
    facts = read_facts(root)
    runs = list_runs(root)
    interrupted = interrupted_run(root)
    doc = {
        "os": facts.release, "jitsi_installed": facts.jitsi_installed,
        "generation": facts.generation, "hostname": facts.hostname,
        "policy": facts.policy, "authentication_module": facts.main_auth,
        "guests": facts.guests, "anonymousdomain": facts.anonymousdomain,
        "jicofo_authentication": facts.jicofo_auth, "legacy_jicofo_key": facts.legacy_auth_key,
        "ldap": None if facts.ldap is None else {
            "backend": facts.ldap.backend, "file": facts.ldap.file,
            "server": facts.ldap.server, "base": facts.ldap.base},
        "users": sorted(facts.users), "certificate": facts.cert_file, "key": facts.key_file,
        "packages": {k: v for k, v in facts.packages.items()
                     if k.startswith(("jitsi", "jicofo", "prosody", "nginx", "lua-ldap"))},
        "warnings": facts.warnings,
        "last_run": runs[-1].run_id if runs else None,
        "interrupted_run": interrupted.run_id if interrupted else None,
    }
    if args.json:
        import json

        print(json.dumps(doc, indent=2))
        return EXIT_OK
    if not facts.jitsi_installed:
        print(f"{facts.release or 'unknown system'}: Jitsi Meet is not installed")
    else:
        guests = "with guests" if facts.guests else "no guests"
        print(f"host:        {facts.hostname} ({facts.release}, {facts.generation} install)")
        print(f"policy:      {facts.policy} ({facts.main_auth}), {guests}")
        if facts.ldap:
            print(f"ldap:        {facts.ldap.backend} {facts.ldap.server} base "
                  f"{facts.ldap.base}".rstrip())
        if facts.users:
            print(f"users:       {', '.join(sorted(facts.users))}")
        print(f"jicofo auth: {'on' if facts.jicofo_auth or facts.legacy_auth_key else 'off'}")
        print(f"certificate: {facts.cert_file or '?'}")
    for warning in facts.warnings:
        print(f"warning: {warning}")
    if interrupted:
        print(f"INTERRUPTED run {interrupted.run_id}: undo it with `jitsi-wizard rollback`")
    if runs:
        print(f"last run:    {runs[-1].run_id} ({runs[-1].status})")
    return EXIT_OK


def cmd_rollback(args) -> int:
    from jitsiwizard.apply import rollback
    from jitsiwizard.runner import Runner
    from jitsiwizard.secrets import Redactor

    root = _root(args)
    _require_root_user(root, args.simulate)
    redact = Redactor()
    outcome = rollback(root, Runner(root, simulate=bool(args.simulate), redact=redact),
                       args.run_id, redact=redact)
    if outcome.rollback_errors:
        print(f"rollback of {outcome.run_id} could not restore everything:", file=sys.stderr)
        for err in outcome.rollback_errors:
            print(f"  - {err}", file=sys.stderr)
        return EXIT_ROLLED_BACK
    print(f"rolled back run {outcome.run_id}: files are as they were before it")
    return EXIT_OK


def cmd_runs(args) -> int:
    from jitsiwizard.apply import list_runs

    runs = list_runs(_root(args))
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
