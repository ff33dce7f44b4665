"""The `check`, `probe-listen` and `probe` sub-commands: part of the command line, over the
session and the checks. Also runs on its own: python -m jitsiwizard.cli.checks ..."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from jitsiwizard.answers.model import Answers
from jitsiwizard.errors import EXIT_CHECKS_FAILED, EXIT_OK

DEFAULT_TIMEOUT = 5.0
LISTEN_TIMEOUT = 300.0


def register(subparsers) -> None:
    check = subparsers.add_parser(
        "check", help="run the DNS, port and LDAP checks for an answers file",
        description="Run every preflight check the answers call for, concurrently. "
                    "Exit status 1 when any check fails.")
    check.add_argument("--answers", required=True, metavar="FILE", help="the answers (TOML)")
    check.add_argument("--json", action="store_true", help="print the results as JSON")
    check.add_argument("--resolver", metavar="ADDR[:PORT]",
                       help="ask this DNS server instead of the system's resolver")
    check.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                       help=f"bound for each check (default {DEFAULT_TIMEOUT:g})")
    check.add_argument("--host-address", action="append", dest="host_addresses",
                       metavar="ADDR", help="compare DNS with this address instead of the "
                       "interfaces' (repeatable)")
    check.set_defaults(func=check_command)

    listen = subparsers.add_parser(
        "probe-listen", help="listen on the Jitsi ports so another machine can probe them",
        description="Open temporary listeners on the ports that are not in use, print the "
                    "command to run on another machine, and report which ports it reached.")
    listen.add_argument("--host", help="the name or address the other machine should use "
                        "(default: host.hostname from --answers)")
    listen.add_argument("--answers", metavar="FILE", help="take the hostname from here")
    listen.add_argument("--ports", help="ports to open (default 80/tcp,443/tcp,10000/udp)")
    listen.add_argument("--timeout", type=float, default=LISTEN_TIMEOUT, metavar="SECONDS",
                        help=f"how long to wait for the probe (default {LISTEN_TIMEOUT:g})")
    listen.add_argument("--settle", type=float, default=10.0, metavar="SECONDS",
                        help="after the first probe arrives, wait this long for the other "
                        "ports (default 10)")
    listen.add_argument("--bind", metavar="ADDR", help="listen on this address only")
    listen.add_argument("--token", help=argparse.SUPPRESS)
    listen.add_argument("--json", action="store_true", help="print the report as JSON")
    listen.set_defaults(func=probe_listen_command)

    probe = subparsers.add_parser(
        "probe", help="from another machine, test which Jitsi ports reach the server",
        description="The outside half of probe-listen: send the token to each port.")
    probe.add_argument("host")
    probe.add_argument("token")
    probe.add_argument("--ports", help="ports to probe (default 80/tcp,443/tcp,10000/udp)")
    probe.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    probe.add_argument("--json", action="store_true", help="print the report as JSON")
    probe.set_defaults(func=probe_command)


# --- check ------------------------------------------------------------------------------------

def check_command(args: argparse.Namespace) -> int:
    from jitsiwizard.answers.load import load_file

    return run_check_command(load_file(args.answers).answers, args)


def run_check_command(answers: Answers, args: argparse.Namespace) -> int:
    from jitsiwizard.answers.files import file_problems
    from jitsiwizard.errors import ProblemList
    from jitsiwizard.rootfs import Root
    from jitsiwizard.workflow.session import Session

    _positive(getattr(args, "timeout", DEFAULT_TIMEOUT))
    root = Root(getattr(args, "root", None) or "/")
    problems = file_problems(answers, root)  # the CA file, before the LDAP check opens it
    if problems:
        raise ProblemList(problems, "the files the answers name")
    session = Session(root,
                      resolver=getattr(args, "resolver", None),
                      check_timeout=getattr(args, "timeout", DEFAULT_TIMEOUT))
    results = session.checks.run_all(answers,
                                     host_addresses=getattr(args, "host_addresses", None))
    redact = session.redactor(answers)
    if getattr(args, "json", False):
        print(redact(json.dumps([r.to_json() for r in results], indent=2)))
    else:
        for result in results:
            print(redact(result.render()))
        failed = sum(r.failed for r in results)
        warned = sum(r.status == "warn" for r in results)
        print(f"\n{len(results)} checks: {failed} failed, {warned} warnings")
    return EXIT_CHECKS_FAILED if any(r.failed for r in results) else EXIT_OK


# --- probe-listen and probe -------------------------------------------------------------------

MAX_TIMEOUT = 3600.0  # seconds; a check or a probe that needs longer is waiting on nothing


def _positive(timeout: float) -> None:
    from jitsiwizard.errors import UserError

    # `not 0 < t <= MAX` also refuses nan and inf (argparse's float() accepts both).
    if not 0 < timeout <= MAX_TIMEOUT:
        raise UserError(f"timeout {timeout:g} is not a number of seconds from 0 to "
                        f"{MAX_TIMEOUT:g}", "give e.g. --timeout 5", field="--timeout")


def _ports(text: str | None):
    from jitsiwizard.checks.ports import JITSI_PORTS, parse_ports

    return parse_ports(text) if text else list(JITSI_PORTS)


def probe_listen_command(args: argparse.Namespace) -> int:
    from jitsiwizard.checks.ports import JITSI_PORTS, port_label
    from jitsiwizard.checks.probe import REACHED, listen, new_token, outside_commands

    host = args.host
    if not host and args.answers:
        from jitsiwizard.answers.load import load_file

        host = load_file(args.answers).answers.host.hostname
    named = bool(host)
    host = host or "HOST"
    ports = _ports(args.ports)
    _positive(args.timeout)
    if not 0 <= args.settle <= MAX_TIMEOUT:
        from jitsiwizard.errors import UserError

        raise UserError(f"settle {args.settle:g} is not a number of seconds from 0 to "
                        f"{MAX_TIMEOUT:g}", "give e.g. --settle 10", field="--settle")
    token = args.token or new_token()

    def ready(listening, skipped) -> None:
        out = sys.stderr if args.json else sys.stdout
        shown = ", ".join(port_label(p) for p in listening) or "no port"
        print(f"listening on {shown} for {args.timeout:g} s", file=out)
        for outcome in skipped:
            print(f"  {port_label(outcome.port)}: {outcome.detail}", file=out)
        if listening:
            wizard, plain = outside_commands(host, token, listening, JITSI_PORTS)
            if not named:
                print("(replace HOST with this server's public name or address)", file=out)
            print("On a machine outside this network, run:", file=out)
            print(f"  {wizard}", file=out)
            print("or, without the wizard:", file=out)
            print(f"  {plain}", file=out)
        out.flush()

    outcomes = asyncio.run(listen(ports, token, timeout=args.timeout, settle=args.settle,
                                  address=args.bind, on_ready=ready))
    _report(outcomes, args.json)
    probed = [o for o in outcomes if o.status != "skipped"]
    return EXIT_OK if probed and all(o.status == REACHED for o in probed) else \
        EXIT_CHECKS_FAILED


def probe_command(args: argparse.Namespace) -> int:
    from jitsiwizard.checks.probe import REACHED, probe

    _positive(args.timeout)
    outcomes = asyncio.run(probe(args.host, args.token, _ports(args.ports),
                                 timeout=args.timeout))
    _report(outcomes, args.json)
    return EXIT_OK if all(o.status == REACHED for o in outcomes) else EXIT_CHECKS_FAILED


_WORDS = {"reached": "reached", "not_reached": "not reached", "refused": "refused",
          "no_answer": "blocked", "other_service": "other", "error": "error",
          "skipped": "skipped"}


def _report(outcomes, as_json: bool) -> None:
    from jitsiwizard.checks.ports import port_label

    if as_json:
        print(json.dumps([o.to_json() for o in outcomes], indent=2))
    else:
        for outcome in outcomes:
            word = _WORDS.get(outcome.status, outcome.status)
            print(f"{port_label(outcome.port):>11}  {word:<11}  {outcome.detail}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """These sub-commands on their own (python -m jitsiwizard.cli.checks ...)."""
    from jitsiwizard.errors import UserError

    parser = argparse.ArgumentParser(prog="jitsi-wizard")
    parser.add_argument("--root", default="/", help=argparse.SUPPRESS)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
