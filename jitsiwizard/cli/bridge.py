"""The `bridge` sub-commands (add, list, remove) and the bridge host's preflight: parsing
and printing only; the work is the session's (jitsiwizard/workflow/bridges.py)."""

from __future__ import annotations

import sys

from jitsiwizard.errors import EXIT_OK, EXIT_ROLLED_BACK


def register(sub, common, endpoints, make_session) -> None:
    """`make_session(args)` is the CLI's own (this module never imports the CLI)."""
    p = sub.add_parser("bridge", help="extra videobridge hosts for this main host: add, "
                                      "list, remove")
    words = p.add_subparsers(dest="bridge_command", metavar="ACTION", required=True)
    q = words.add_parser("add", help="an account for a new bridge host, 5222/tcp opened to "
                                     "it, and the answers file to run there")
    q.add_argument("name", metavar="NAME", help="the bridge's name (its account on auth.HOST)")
    q.add_argument("--address", metavar="ADDR", required=True,
                   help="the new host's IP address, as this host sees it")
    q.set_defaults(func=cmd_bridge_add)
    q = words.add_parser("list", help="the bridges, their address, and whether each is in "
                                      "the brewery MUC now")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_bridge_list)
    q = words.add_parser("remove", help="delete a bridge's account and close 5222/tcp to it")
    q.add_argument("name", metavar="NAME")
    q.set_defaults(func=cmd_bridge_remove)
    for parser in (p, *words.choices.values()):
        common(parser, sub=True)
        endpoints(parser, sub=True)
        parser.set_defaults(make_session=make_session)


def _event(redact):
    def event(kind: str, number: int, text: str) -> None:
        print(redact(f"[{kind}] {number}: {text}" if number else f"[{kind}] {text}"),
              flush=True)

    return event


def _finish(outcome, session) -> int:
    if outcome.status != "applied":
        print(f"FAILED: {outcome.error}; every change of this run was rolled back",
              file=sys.stderr)
        return EXIT_ROLLED_BACK
    print(f"applied: run {outcome.run_id}; undo it with: "
          f"{session.command(f'rollback {outcome.run_id}')}")
    return EXIT_OK


def cmd_bridge_add(args) -> int:
    session = args.make_session(args)
    session.require_permission()
    session.refuse_if_interrupted()  # reported (exit 4) before anything about NAME or ADDR
    from jitsiwizard.workflow.bridges import plan_add

    run = plan_add(session, args.name, args.address)
    print(run.plan.render(run.redact), end="")
    outcome = session.apply_plan(run.plan, run.redact, on_event=_event(run.redact))
    code = _finish(outcome, session)
    if code == EXIT_OK:
        print(f"answers for the new host: {run.answers_path} (its password beside it: "
              f"{run.secret_path}; both mode 0600)")
        print("next, from this host (with jitsi-wizard installed on the new one):")
        for command in run.commands:
            print(f"  {command}")
    return code


def cmd_bridge_remove(args) -> int:
    session = args.make_session(args)
    session.require_permission()
    session.refuse_if_interrupted()  # before NAME: the interrupted run may be its `add`
    from jitsiwizard.workflow.bridges import plan_remove

    run = plan_remove(session, args.name)
    print(run.plan.render(run.redact), end="")
    return _finish(session.apply_plan(run.plan, run.redact, on_event=_event(run.redact)),
                   session)


def cmd_bridge_list(args) -> int:
    from jitsiwizard.workflow.bridges import list_bridges

    rows = list_bridges(args.make_session(args))
    if args.json:
        import json

        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no bridges: add one with `jitsi-wizard bridge add NAME --address ADDR`")
    for row in rows:
        state = {True: "in the brewery", False: "NOT in the brewery",
                 None: "brewery unknown"}[row["in_brewery"]]
        print(f"{row['name']:<16} {row['address']:<40} {state} ({row['evidence']})")
    return EXIT_OK


def run_preflight(session, answers) -> bool:
    """The bridge host's checks, printed; False when one failed."""
    checks = session.bridge_preflight(answers)
    for check in checks:
        print(check.render())
    failed = [c for c in checks if not c.ok]
    if failed:
        print("checks failed: nothing was changed. Fix the above, or rerun with "
              "--skip-checks if you know better.", file=sys.stderr)
    return not failed
