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
    EXIT_NOT_PLANNED,
    EXIT_OK,
    EXIT_ROLLED_BACK,
    UserError,
)
from jitsiwizard.rootfs import Root
from jitsiwizard.workflow.session import Session

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
3 apply failed and was rolled back; 4 an interrupted run needs `jitsi-wizard rollback`;
5 only the install ran (--simulate on a host without Jitsi): the configuration was not planned"""


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


def _endpoints(parser: argparse.ArgumentParser, sub: bool) -> None:
    """Where the verification looks (defaults: this host's own services)."""
    default = argparse.SUPPRESS if sub else None
    group = parser.add_argument_group(
        "verification endpoints", "where the checks after a run (and `verify`) look; the "
        "defaults are this host's own services. Given explicitly, they are probed even with "
        "--simulate")
    group.add_argument("--xmpp", metavar="ADDR:PORT", default=default,
                       help="Prosody's client port (default 127.0.0.1:5222)")
    group.add_argument("--xmpp-ca", metavar="FILE", default=default,
                       help="the CA Prosody's certificate must chain to (default: Prosody's "
                            "own certificate for the host, else the system CAs)")
    group.add_argument("--jicofo-url", metavar="URL", default=default,
                       help="jicofo's REST interface (default http://127.0.0.1:8888)")
    group.add_argument("--bridge-url", metavar="URL", default=default,
                       help="the videobridge's private HTTP (default http://127.0.0.1:8080)")
    group.add_argument("--https", metavar="ADDR:PORT", default=default,
                       help="where nginx serves the site (default 127.0.0.1:443)")
    group.add_argument("--prosody-config", metavar="FILE", default=default,
                       help="the main Prosody config `prosodyctl check config` reads "
                            "(default /etc/prosody/prosody.cfg.lua under --root)")
    group.add_argument("--settle", metavar="SECONDS", type=float, default=default,
                       help="how long restarted services get to pass the checks (default 30)")


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
    _wizard_and_replay(parser)
    _endpoints(parser, sub=False)
    parser.set_defaults(func=cmd_main)

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _plan_command(sub)
    from jitsiwizard.cli import bridge as cli_bridge
    cli_bridge.register(sub, _common, _endpoints, _session)
    _host_commands(sub)
    _document_commands(sub)
    if with_checks:
        from jitsiwizard.cli import checks as check_commands
        check_commands.register(sub)
        for name in CHECK_COMMANDS:
            _common(sub.choices[name], sub=True)
    return parser


def _wizard_and_replay(parser: argparse.ArgumentParser) -> None:
    """The options of the command without a sub-command: the wizard, or a replay."""
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
    parser.add_argument("--keep-on-failure", action="store_true",
                        help="when the checks after the restarts fail, keep the changes "
                             "(for debugging) instead of rolling the run back")
    parser.add_argument("--main-certificate", metavar="FILE",
                        help="a videobridge host: the main host's Prosody certificate (PEM), "
                             "checked against the pin, instead of fetching it")
    parser.add_argument("--allow-disruption", action="store_true",
                        help="apply even while meetings are running (restarting Prosody, "
                             "jicofo or the bridge drops them), or when jicofo cannot say")
    parser.add_argument("--confirm-firewall", choices=("ask", "skip"), default="ask",
                        help="ask (default): a firewall change is undone unless you confirm "
                             "it on this terminal within 60 s, as `netplan try` does; skip: "
                             "no confirmation, for automation. RISKY over SSH: nothing then "
                             "undoes a change that shuts you out")


def _plan_command(sub) -> None:
    p = sub.add_parser("plan", help="show the plan for an answers file")
    _common(p, sub=True)
    p.add_argument("--answers", metavar="FILE", required=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--main-certificate", metavar="FILE", default=argparse.SUPPRESS,
                   help="a videobridge host: the main host's certificate (PEM), not fetched")
    p.set_defaults(func=cmd_plan)


def _host_commands(sub) -> None:
    """What the host has and had: status, verify, rollback, runs."""
    p = sub.add_parser("status", help="what is configured on this host now")
    _common(p, sub=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("verify", help="check now that Jitsi works: services, logins, "
                                      "health, the certificate served (exit 0 healthy)")
    _common(p, sub=True)
    _endpoints(p, sub=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("rollback", help="undo the last run, or the named one")
    _common(p, sub=True)
    p.add_argument("run_id", nargs="?", metavar="RUN_ID")
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("runs", help="list the runs and their state")
    _common(p, sub=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)


def _document_commands(sub) -> None:
    """The answers file's documentation: an example, and its JSON Schema."""
    p = sub.add_parser("example-answers", help="print a documented answers file")
    p.set_defaults(func=cmd_example)
    p = sub.add_parser("schema", help="print the JSON Schema of the answers file")
    p.set_defaults(func=cmd_schema)


# --- helpers --------------------------------------------------------------------------------

def _root(args) -> Root:
    path = getattr(args, "root", "/") or "/"
    if not os.path.isdir(path):
        raise UserError(f"{path} is not a directory", "give an existing directory to --root",
                        field="--root")
    return Root(path)


def _address(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"{option} {value!r} is not ADDR:PORT",
                        f"give an address and a port, e.g. {option} 127.0.0.1:5222",
                        field=option)
    return host.strip("[]"), int(port)


def _url(value: str, option: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname or parts.query or parts.fragment:
        raise UserError(f"{option} {value!r} is not an http:// URL",
                        f"give one such as {option} http://127.0.0.1:8888", field=option)
    return value.rstrip("/")


def _endpoints_from(args):
    """The verification's endpoints from the options; None when none was given."""
    given = {name: getattr(args, name, None) for name in (
        "xmpp", "xmpp_ca", "jicofo_url", "bridge_url", "https", "prosody_config")}
    settle = getattr(args, "settle", None)
    if not any(v is not None for v in given.values()) and settle is None:
        return None
    from jitsiwizard.health import Endpoints

    ends = Endpoints(given=any(v is not None for v in given.values()))
    if given["xmpp"] is not None:
        ends.c2s_host, ends.c2s_port = _address(given["xmpp"], "--xmpp")
    if given["https"] is not None:
        ends.https_host, ends.https_port = _address(given["https"], "--https")
    for name in ("jicofo_url", "bridge_url"):
        if given[name] is not None:
            setattr(ends, name, _url(given[name], "--" + name.replace("_", "-")))
    for name in ("xmpp_ca", "prosody_config"):
        if given[name] is not None:
            if not os.path.isfile(given[name]):
                option = "--" + name.replace("_", "-")
                raise UserError(f"{option} {given[name]}: no such file",
                                "give an existing file", field=option)
            setattr(ends, name, os.path.abspath(given[name]))
    if settle is not None:
        if not 0 <= settle <= 600:
            raise UserError(f"--settle {settle:g} is out of range", "give 0 to 600 seconds",
                            field="--settle")
        ends.settle = settle
    return ends


def _session(args) -> Session:
    return Session(_root(args), simulate=bool(getattr(args, "simulate", False)),
                   force=bool(getattr(args, "force", False)),
                   resolver=getattr(args, "resolver", None),
                   demo=bool(getattr(args, "demo", False)),
                   demo_kept=bool(getattr(args, "keep_demo", False)),
                   endpoints=_endpoints_from(args),
                   keep_on_failure=bool(getattr(args, "keep_on_failure", False)),
                   confirm_firewall=getattr(args, "confirm_firewall", "ask") or "ask",
                   main_certificate_file=getattr(args, "main_certificate", None))


def _warn(text: str) -> None:
    print(text, file=sys.stderr)


def _load(path: str):
    from jitsiwizard.answers.load import load_file

    loaded = load_file(path)
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


# Waits for the demo's process to end (a pidfd: no polling), then removes its tree.
DEMO_SWEEPER = """
import os, select, shutil, sys, time
pid, base = int(sys.argv[1]), sys.argv[2]
try:
    select.select([os.pidfd_open(pid)], [], [])
except (AttributeError, OSError):  # no pidfd (an old kernel): look each second
    while os.path.exists(f"/proc/{pid}"):
        time.sleep(1)
shutil.rmtree(base, ignore_errors=True)
"""


def run_demo(args) -> int:
    import shutil
    import subprocess
    import tempfile
    from shlex import quote

    from jitsiwizard import fixtures
    base = tempfile.mkdtemp(prefix="jw-demo-")
    args.root, args.simulate = base, True
    sweeper = None
    if not getattr(args, "keep_demo", False):
        # A hang-up (an SSH drop) ends the wizard wherever it is, cleanup or not: a sweeper
        # of its own session removes the tree once the wizard is gone, however it ended.
        sweeper = subprocess.Popen(
            [sys.executable, "-c", DEMO_SWEEPER, str(os.getpid()), base],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True)
    try:
        fixtures.build(base)
        return run_tui(args, edit=args.edit)
    finally:
        if getattr(args, "keep_demo", False):
            print(f"demo: its throwaway host stays in {quote(base)} for a look; remove it "
                  f"with: rm -rf {quote(base)}")
        else:
            shutil.rmtree(base, ignore_errors=True)
        if sweeper is not None:  # an ordinary end: the tree is gone already
            sweeper.kill()
            sweeper.wait()


def run_tui(args, edit: str | None) -> int:
    session = _session(args)
    session.prefetch_host()  # read while the screens are imported
    from jitsiwizard import collector
    from jitsiwizard.screens.app import run_app

    return run_app(session, edit=edit, first_frame=collector.release)


def run_replay(args) -> int:
    session = _session(args)
    loaded = _load(args.answers)
    if not args.dry_run:
        session.require_permission()
        session.refuse_if_interrupted()
    if loaded.answers.is_bridge and not args.skip_checks and not args.dry_run:
        from jitsiwizard.cli.bridge import run_preflight

        if not run_preflight(session, loaded.answers):
            return EXIT_CHECKS_FAILED
    planned = session.plan(loaded)
    _warn_problems(planned.warnings[len(loaded.warnings):])
    redact = planned.redact
    root = session.root

    if (not args.skip_checks and not args.dry_run and root.is_real and not args.simulate
            and not planned.answers.is_bridge):
        failed = _run_checks(session, planned.answers)
        if failed:
            return EXIT_CHECKS_FAILED

    print(planned.plan.render(redact), end="")
    if args.dry_run or planned.plan.is_empty:
        return EXIT_OK

    if session.firewall.needs_confirming(planned) and not sys.stdin.isatty():
        raise UserError("this run changes the firewall, and a firewall change over SSH must "
                        "be confirmed from a terminal within 60 s (or it is undone)",
                        "run it in a terminal, or add --confirm-firewall=skip if nothing "
                        "here depends on the SSH link", field="--confirm-firewall")

    meetings = session.meetings(planned)
    if meetings.message():
        _warn(meetings.message())
    if meetings.disruptive and not args.allow_disruption:
        _warn("nothing was changed: apply when no one is in a meeting, or add "
              "--allow-disruption to apply now")
        return EXIT_CHECKS_FAILED

    def event(kind: str, number: int, text: str) -> None:
        print(redact(f"[{kind}] {number}: {text}" if number else f"[{kind}] {text}"),
              flush=True)

    result = session.run(planned, on_event=event)
    for note in result.notes:
        _warn(f"note: {note}")
    code = _report(result.outcome, session)
    if result.guard_error is not None:
        raise result.guard_error  # after the report: the run stays applied
    if result.deadline is not None and not _firewall_confirmed(
            session, result.outcome.run_id, result.deadline):
        return EXIT_CHECKS_FAILED
    return code


def _firewall_confirmed(session: Session, run_id: str, deadline: float) -> bool:
    """Ask on the terminal, until the deadline, to keep the firewall change; watch the guard
    meanwhile (if it dies, this process undoes the change itself at the deadline)."""
    import select
    import time

    print(f"\nThe firewall was changed. From another terminal, check that you can still "
          f"open a NEW SSH connection to this host; then type yes and Enter here within "
          f"{max(0, round(deadline - time.time()))} s to keep it. Otherwise it is undone "
          "(the rest of the run stays applied).", flush=True)
    guard_lost = False
    while time.time() < deadline:
        if not guard_lost and not session.firewall.guard_alive(run_id):
            guard_lost = True
            _guard_lost(session, run_id)
        wait = max(0.0, min(1.0, deadline - time.time()))  # a look at the guard each second
        ready, _, _ = select.select([sys.stdin], [], [], wait)
        if not ready:
            continue
        answer = sys.stdin.readline()
        if not answer:
            break  # end of input: no one can confirm
        if answer.strip().lower() in ("yes", "y"):
            if session.firewall.confirm(run_id):
                print("firewall change kept")
                return True
            break
        print("type yes to keep the firewall change", flush=True)
    outcome = session.firewall.outcome(run_id, timeout=60.0)
    if outcome == "reverted":
        print("not confirmed: the firewall change was undone; the rest of the run stays "
              f"applied. Undo the rest with: {session.command(f'rollback {run_id}')}",
              file=sys.stderr)
    else:
        state = outcome or "still running"
        print(f"not confirmed, and undoing the firewall change did not finish ({state}): "
              "check `ufw status` and the run log; these commands undo it:", file=sys.stderr)
        for command in session.firewall.undo_commands(run_id):
            print(f"  {command}", file=sys.stderr)
    return False


def _guard_lost(session: Session, run_id: str) -> None:
    print("\nWARNING: the firewall guard stopped before a decision. This wizard undoes the "
          "change itself at the deadline unless you type yes; if this session ends first, "
          "nothing will. These commands undo it:", file=sys.stderr, flush=True)
    for command in session.firewall.undo_commands(run_id):
        print(f"  {command}", file=sys.stderr, flush=True)


def _print_verification(doc: dict | None, out=None) -> None:
    from jitsiwizard.health import Finding

    for item in (doc or {}).get("findings", []):
        print(Finding(**item).render(), file=out or sys.stdout)


def _report(outcome, session: Session) -> int:
    for text in outcome.fallbacks:
        print(f"fallback: {text}")
    if outcome.status == "applied" and outcome.not_planned:
        print(f"applied the install steps only: run {outcome.run_id}; log {outcome.log_path}")
        print(f"NOT CONFIGURED: {outcome.not_planned}")
        print(f"undo it with: {session.command(f'rollback {outcome.run_id}')}")
        return EXIT_NOT_PLANNED
    if outcome.status == "applied":
        _print_verification(outcome.verification)
        print(f"applied: run {outcome.run_id}; log {outcome.log_path}")
        print(f"undo it with: {session.command(f'rollback {outcome.run_id}')}")
        if outcome.verified is False:
            print("VERIFICATION FAILED (above); the changes were kept (--keep-on-failure)",
                  file=sys.stderr)
            return EXIT_CHECKS_FAILED
        return EXIT_OK
    if outcome.status == "nothing-to-do":
        print("nothing to do: the host already matches")
        return EXIT_OK
    if outcome.failed_phase == "verification":
        _print_verification(outcome.verification, sys.stderr)
        print(f"FAILED after the restarts: {outcome.error}", file=sys.stderr)
    elif outcome.failed_phase:
        print(f"FAILED before any restart: {outcome.error}", file=sys.stderr)
    else:
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
    results = session.checks.run_all(answers)
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
    loaded = _load(args.answers)
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
    if doc["videobridge_of"]:
        print(f"videobridge: this host is a bridge of {doc['videobridge_of']}")
    elif not doc["jitsi_installed"]:
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
        print(f"bridges:     {len(doc['bridges'])} extra"
              + (f" ({', '.join(doc['bridges'])})" if doc["bridges"] else ""))
    for warning in doc["warnings"]:
        print(f"warning: {warning}")
    if doc["interrupted_run"]:
        print(f"INTERRUPTED run {doc['interrupted_run']}: undo it with "
              f"`{session.command('rollback ' + doc['interrupted_run'])}`")
    if doc["last_run"]:
        firewall = doc["last_run_firewall"]
        print(f"last run:    {doc['last_run']} ({doc['last_run_status']}"
              + (f"; firewall change {firewall}" if firewall else "") + ")")
        if firewall in ("unknown", "undo failed"):
            print(f"warning: the firewall change of run {doc['last_run']} is {firewall}: "
                  "check `ufw status`; these commands undo it:")
            for command in session.firewall.undo_commands(doc["last_run"]):
                print(f"  {command}")
    _print_changed_since(doc)
    checked = doc["last_verification"]
    if checked:
        said = "healthy" if checked["ok"] else "FAILED: " + "; ".join(checked["failed"])
        print(f"verified:    {checked['when']}: {said}")
    else:
        print(f"verified:    never (run `{session.command('verify')}`)")
    return EXIT_OK


DIFF_LINES_SHOWN = 12  # a file's changed lines `status` shows


def _print_changed_since(doc: dict) -> None:
    """What changed since the last run: the packages upgraded, and each file jitsi-wizard
    wrote that changed since (with its changed lines, secrets redacted)."""
    if doc["upgraded_since_last_run"]:
        print("upgraded since the last run: " + ", ".join(doc["upgraded_since_last_run"]))
    if not doc["changed_since_last_run"]:
        return
    print("changed since the last run:")
    for item in doc["changed_since_last_run"]:
        if item["gone"]:
            print(f"  {item['path']}: removed; the next run writes it again")
        elif item["inside"] is None:
            print(f"  {item['path']}: changed since an earlier version of jitsi-wizard wrote it, "
                  "which did not record its own lines: the next run that changes this file "
                  "refuses without --force, and shows the diff")
        elif item["inside"]:
            print(f"  {item['path']}: changed inside jitsi-wizard's lines (a hand edit): the "
                  "next run that changes this file refuses without --force, and shows the diff")
        else:
            print(f"  {item['path']}: changed outside jitsi-wizard's lines (a package upgrade, "
                  "or an admin): kept by the next run and by rollbacks")
        shown = item["diff"][:DIFF_LINES_SHOWN]
        for line in shown:
            print(f"      {line}")
        if len(item["diff"]) > len(shown):
            print(f"      ... and {len(item['diff']) - len(shown)} more changed line(s)")


def cmd_verify(args) -> int:
    session = _session(args)
    report = session.verification.now()
    if args.json:
        print(report.to_json())
    else:
        print(report.render())
        print("healthy" if report.ok else f"NOT healthy: {len(report.failures)} check(s) "
              "failed")
    return EXIT_OK if report.ok else EXIT_CHECKS_FAILED


def cmd_rollback(args) -> int:
    session = _session(args)
    session.require_permission()
    outcome = session.rollback(args.run_id)
    if outcome.rollback_errors:
        print(f"rollback of {outcome.run_id} could not restore everything:", file=sys.stderr)
        for err in outcome.rollback_errors:
            print(f"  - {err}", file=sys.stderr)
        return EXIT_ROLLED_BACK
    if outcome.merged:
        print(f"rolled back run {outcome.run_id}: its changes are undone")
        for path in outcome.merged:
            print(f"  {path} changed since, outside the run's lines (a package upgrade, or an "
                  "admin): those changes are kept")
    else:
        print(f"rolled back run {outcome.run_id}: files are as they were before it")
    for path, copy in outcome.kept:
        print(f"  {path} had been edited by hand: that version is kept in {copy}")
    return EXIT_OK


def cmd_runs(args) -> int:
    from jitsiwizard.workflow.status import runs as recorded_runs

    runs = recorded_runs(_root(args))
    if args.json:
        import json

        print(json.dumps([r.__dict__ for r in runs], indent=2))
    elif not runs:
        print("no runs yet")
    for r in runs if not args.json else []:
        firewall = f" [firewall change {r.firewall}]" if r.firewall else ""
        print(f"{r.run_id}  {r.status:<12} {r.summary}{firewall}")
    return EXIT_OK


def cmd_example(args) -> int:
    from importlib.resources import files

    print(files("jitsiwizard").joinpath("data/answers.example.toml").read_text(), end="")
    return EXIT_OK


def cmd_schema(args) -> int:
    import json

    from jitsiwizard.answers.spec import json_schema

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
    if args.func is not cmd_main or args.answers:
        from jitsiwizard import collector
        collector.release()  # only the wizard's first screen waits for it (collector.py)
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
