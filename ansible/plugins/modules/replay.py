#!/usr/bin/python
"""Ansible's face of jitsi-wizard: replay answers on the target host through the wizard's own
session (the one its command line and its screens drive), never through the command line."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: replay
short_description: Replay jitsi-wizard answers on a Jitsi host
version_added: 0.1.0
description:
  - Replays answers on the target host as C(jitsi-wizard --answers FILE) does, through the
    wizard's own session, with the same validation, checks, plan, transaction, verification
    and rollback.
  - The target needs jitsi-wizard installed (C(scripts/install) puts it in
    C(/opt/jitsi-wizard)); point C(ansible_python_interpreter) at its Python,
    C(/opt/jitsi-wizard/bin/python).
  - In check mode the plan is built and nothing is changed; the task reports a change when the
    plan has steps. With C(--diff) the plan's file diffs are shown, secrets redacted.
  - A run that fails is rolled back by the wizard, and the task fails with the wizard's message
    and fix. A second run with the same answers changes nothing and reports no change.
  - A firewall change must be confirmed, or the wizard's guard undoes it after 60 seconds
    (the CLI asks on the terminal). This module's action plugin confirms it once a new
    connection to the host works; see O(confirm_firewall).
author:
  - jitsi-wizard contributors
options:
  answers:
    description:
      - "The answers, in the shape of the answers file (C(jitsi-wizard example-answers) prints
        every key), e.g. C({host: {hostname: meet.example.org}, auth: {policy: local}})."
      - A password is given as its value (from a vault, say), masked in Ansible's output like
        a C(no_log) value and left out of the answers the wizard saves; or as a reference,
        C(file:/path) (a root-only file on the target) or C(env:NAME) (the module's
        environment). Do not pass passwords through the C(environment) keyword, as C(-vvv)
        prints the command line it is set on.
      - Exactly one of O(answers) and O(answers_file) is required.
    type: dict
  answers_file:
    description:
      - An answers file on the target host (TOML), instead of O(answers).
    type: path
  root:
    description:
      - Treat this directory as the filesystem root for every read and write (labs and
        tests); commands then need O(simulate). As C(--root).
    type: path
    default: /
  simulate:
    description:
      - Record commands instead of running them; files under O(root) are still written. As
        C(--simulate).
    type: bool
    default: false
  force:
    description:
      - Overwrite the wizard's own lines (or files) edited by hand since it wrote them
        (backups are kept). As C(--force).
    type: bool
    default: false
  allow_disruption:
    description:
      - Apply even while meetings are running (restarting Prosody, jicofo or the bridge drops
        them), or when jicofo cannot say. Otherwise such a run changes nothing and fails. As
        C(--allow-disruption).
    type: bool
    default: false
  keep_on_failure:
    description:
      - When the verification after the restarts fails, keep the changes (for debugging)
        instead of rolling the run back; the task still fails. As C(--keep-on-failure).
    type: bool
    default: false
  skip_checks:
    description:
      - Apply without the checks before planning (DNS, ports, LDAP on a meeting server; the
        main host's certificate and login on a videobridge host). As C(--skip-checks).
    type: bool
    default: false
  main_certificate:
    description:
      - A videobridge host only; the main host's Prosody certificate (PEM) on the target,
        checked against the pin, instead of fetching it. As C(--main-certificate).
    type: path
  confirm_firewall:
    description:
      - How a firewall change is confirmed. V(new_connection) confirms it once the play
        reaches the host over a new connection (the action plugin closes its connection and
        opens another); if that fails, the wizard's guard undoes the firewall change after
        60 seconds (the rest of the run stays applied) and the task fails.
      - V(later) leaves the decision to the play; the result's RV(firewall) names the run,
        and M(jitsiwizard.fleet.firewall_confirm) keeps (or undoes) the change; the guard
        undoes it if neither happens within 60 seconds.
      - V(skip) applies the firewall change without confirmation. Risky, as nothing undoes a
        change that shuts Ansible out. As C(--confirm-firewall=skip).
      - Runs with O(simulate) change no firewall and need no confirmation.
    type: str
    choices: [new_connection, later, skip]
    default: new_connection
  endpoints:
    description:
      - Where the verification after the restarts looks; the defaults are this host's own
        services (labs and odd ports). Given, they are probed even with O(simulate).
    type: dict
    suboptions:
      xmpp:
        description: Prosody's client port as C(ADDR:PORT) (default C(127.0.0.1:5222)).
        type: str
      xmpp_ca:
        description: The CA Prosody's certificate must chain to, a file on the target.
        type: path
      jicofo_url:
        description: Jicofo's REST interface (default C(http://127.0.0.1:8888)).
        type: str
      bridge_url:
        description: The videobridge's private HTTP interface (default C(http://127.0.0.1:8080)).
        type: str
      https:
        description: Where nginx serves the site, C(ADDR:PORT) (default C(127.0.0.1:443)).
        type: str
      prosody_config:
        description: The main Prosody configuration C(prosodyctl check config) reads.
        type: path
      settle:
        description: Seconds restarted services get to pass the checks (0 to 600; default 30).
        type: float
attributes:
  check_mode:
    description: Builds the plan and changes nothing; changed when the plan has steps.
    support: full
  diff_mode:
    description: The plan's file diffs, secrets redacted.
    support: full
notes:
  - The wizard keeps every run under C(/var/lib/jitsi-wizard/runs) (under O(root));
    C(jitsi-wizard rollback RUN_ID) on the host undoes one.
seealso:
  - module: jitsiwizard.fleet.firewall_confirm
"""

EXAMPLES = r"""
- name: The meeting server, local accounts, self-signed certificate
  jitsiwizard.fleet.replay:
    answers:
      host:
        hostname: meet.example.org
      cert:
        mode: self-signed
      auth:
        policy: local
        users:
          - name: alice
            password: "{{ vault_alice_password }}"
  vars:
    ansible_python_interpreter: /opt/jitsi-wizard/bin/python

- name: The same from an answers file already on the host, plan only
  jitsiwizard.fleet.replay:
    answers_file: /root/answers.toml
  check_mode: true
  diff: true
  register: planned

- name: A lab tree, commands recorded instead of run
  jitsiwizard.fleet.replay:
    answers_file: /srv/lab/answers.toml
    root: /srv/lab/tree
    simulate: true
    skip_checks: true
"""

RETURN = r"""
status:
  description:
    - V(applied), V(nothing-to-do) (the host already matches), V(planned) (check mode),
      V(rolled-back) (the run failed; the task fails), or V(not-configured) (only the
      install steps ran, C(--simulate) on a host without Jitsi).
  returned: always, once the answers were read
  type: str
  sample: applied
run_id:
  description: The wizard's run, which C(jitsi-wizard rollback RUN_ID) undoes; none in check mode.
  returned: when a run was made
  type: str
  sample: 20261204-093321-4f2a
steps:
  description: The plan's steps, numbered as the wizard shows them, secrets redacted.
  returned: always, once planned
  type: list
  elements: str
  sample: ["write /etc/prosody/conf.avail/meet.example.org.cfg.lua: ..."]
notes:
  description: Warnings and facts worth reading (the plan's notes, the answers' warnings).
  returned: always, once planned
  type: list
  elements: str
events:
  description: What the run said as it went (C([step]), C([check]), C([verify]) lines), redacted.
  returned: when a run was made
  type: list
  elements: str
verification:
  description:
    - The verification after the restarts, C(ok) and its C(findings) (name, ok, evidence,
      fix), as C(jitsi-wizard status) keeps it. None when the run restarted nothing.
  returned: when a run was made
  type: dict
checks:
  description: The checks before planning (name, ok or status, and what was seen), rendered.
  returned: when checks ran
  type: list
  elements: str
log:
  description: The run's log file on the host.
  returned: when a run was made
  type: str
firewall:
  description:
    - A firewall change awaiting confirmation, C(run_id) and C(deadline) (seconds since the
      epoch); the action plugin then confirms it and sets C(state) to V(confirmed).
  returned: when the run changed the firewall and the change must be confirmed
  type: dict
fix:
  description: What to try, when the task failed with the wizard's message.
  returned: on failure
  type: str
problems:
  description: Every problem with the answers, each with its C(field), C(message) and C(fix).
  returned: when the answers were refused
  type: list
  elements: dict
ansible_facts:
  description: The same outcome for later tasks.
  returned: always, once planned
  type: dict
  contains:
    jitsi_wizard:
      description: C(status), C(run_id), C(steps) and C(verification), as above.
      type: dict
"""

import os
import sys

from ansible.module_utils.basic import AnsibleModule

ENDPOINT_OPTIONS = {
    "xmpp": {"type": "str"},
    "xmpp_ca": {"type": "path"},
    "jicofo_url": {"type": "str"},
    "bridge_url": {"type": "str"},
    "https": {"type": "str"},
    "prosody_config": {"type": "path"},
    "settle": {"type": "float"},
}

ARGUMENT_SPEC = {
    "answers": {"type": "dict"},
    "answers_file": {"type": "path"},
    "root": {"type": "path", "default": "/"},
    "simulate": {"type": "bool", "default": False},
    "force": {"type": "bool", "default": False},
    "allow_disruption": {"type": "bool", "default": False},
    "keep_on_failure": {"type": "bool", "default": False},
    "skip_checks": {"type": "bool", "default": False},
    "main_certificate": {"type": "path"},
    "confirm_firewall": {"type": "str", "default": "new_connection",
                         "choices": ["new_connection", "later", "skip"]},
    "endpoints": {"type": "dict", "options": ENDPOINT_OPTIONS},
}

NOT_INSTALLED_FIX = ("install jitsi-wizard on the host (scripts/install puts it in "
                     "/opt/jitsi-wizard) and set ansible_python_interpreter to its Python, "
                     "/opt/jitsi-wizard/bin/python")


class Failed(Exception):
    """The task fails with the wizard's message (and its fix)."""

    def __init__(self, msg, fix="", **result):
        super().__init__(msg)
        self.msg = msg
        self.result = dict(result, fix=fix) if fix else result


def _address(value, option):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        example = "127.0.0.1:5222" if option == "xmpp" else "127.0.0.1:443"
        raise Failed(f"endpoints.{option} {value!r} is not ADDR:PORT",
                     f"give an address and a port, e.g. {example}")
    return host.strip("[]"), int(port)


def _endpoints(given):
    """The verification's endpoints, or None for this host's own."""
    given = {k: v for k, v in (given or {}).items() if v is not None}
    if not given:
        return None
    from jitsiwizard.health import Endpoints

    ends = Endpoints(given=True)
    if "xmpp" in given:
        ends.c2s_host, ends.c2s_port = _address(given["xmpp"], "xmpp")
    if "https" in given:
        ends.https_host, ends.https_port = _address(given["https"], "https")
    for name in ("jicofo_url", "bridge_url"):
        if name in given:
            if not given[name].startswith("http://"):
                raise Failed(f"endpoints.{name} {given[name]!r} is not an http:// URL",
                             "give one such as http://127.0.0.1:8888")
            setattr(ends, name, given[name].rstrip("/"))
    for name in ("xmpp_ca", "prosody_config"):
        if name in given:
            if not os.path.isfile(given[name]):
                raise Failed(f"endpoints.{name} {given[name]}: no such file on the host",
                             "give an existing file")
            setattr(ends, name, given[name])
    if "settle" in given:
        if not 0 <= given["settle"] <= 600:
            raise Failed(f"endpoints.settle {given['settle']:g} is out of range",
                         "give 0 to 600 seconds")
        ends.settle = given["settle"]
    return ends


def _plain(value):
    """Ansible's own string and mapping types as the plain ones the answers parser expects."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _password_values(value, key=""):
    """The values of every password key in the answers as given, found before they are
    parsed: a refused answers option must not print them either."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _password_values(v, str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _password_values(v, key)
    elif ("password" in key and isinstance(value, str) and value
          and not value.startswith(("env:", "file:"))):  # a reference is no secret
        yield value


def _load(params):
    from jitsiwizard.answers.load import load_file, parse

    if params["answers_file"]:
        return load_file(params["answers_file"])
    return parse(_plain(params["answers"]), "", "the answers option")


def _diffs(plan, redact):
    """Ansible's diff entries: each file step's diff as the wizard shows it, redacted."""
    out = []
    for step in plan.file_steps():
        text = step.diff() if hasattr(step, "diff") else ""
        header = str(getattr(step, "path", ""))
        if not text:
            text = f"{step.describe()}\n"
        out.append({"before_header": header, "after_header": header,
                    "prepared": redact(text)})
    return out


def _steps(plan, redact):
    return [redact(f"{n}. {step.describe()}") for n, step in enumerate(plan.steps, 1)]


def _outcome_status(outcome):
    if outcome.status == "applied" and outcome.not_planned:
        return "not-configured"
    return outcome.status


def _failure_text(outcome):
    """The wizard's words for a failed run, as its command line prints them."""
    if outcome.failed_phase == "verification":
        head = f"FAILED after the restarts: {outcome.error}"
    elif outcome.failed_phase:
        head = f"FAILED before any restart: {outcome.error}"
    else:
        head = f"FAILED at step {outcome.failed_step}: {outcome.error}"
    if outcome.rollback_errors:
        tail = ("rollback could not restore everything: "
                + "; ".join(outcome.rollback_errors))
    elif outcome.status == "applied":  # a failed verification, kept (keep_on_failure)
        tail = "the changes were kept (keep_on_failure)"
    else:
        tail = ("every change of this run was rolled back: files and services are as they "
                "were before it (packages it installed stay installed)")
    return f"{head}; {tail}. Details: {outcome.log_path}"


def replay(module):
    """The run; returns the task's result. Raises Failed, or the wizard's UserError."""
    from jitsiwizard.rootfs import Root
    from jitsiwizard.workflow.session import Session

    params = module.params
    if not os.path.isdir(params["root"]):
        raise Failed(f"root {params['root']} is not a directory on the host",
                     "give an existing directory")
    simulate = params["simulate"]
    session = Session(Root(params["root"]), simulate=simulate, force=params["force"],
                      endpoints=_endpoints(params["endpoints"]),
                      keep_on_failure=params["keep_on_failure"],
                      # The play confirms once this module has ended (the action
                      # plugin over a new connection, or a later task).
                      confirm_firewall="skip" if params["confirm_firewall"] == "skip"
                      else "elsewhere",
                      main_certificate_file=params["main_certificate"])
    loaded = _load(params)
    for secret in loaded.answers.secrets():  # Ansible masks them wherever it prints
        if secret is not None and secret.value:
            module.no_log_values.add(secret.value)
    check_mode = module.check_mode
    result = {"changed": False, "notes": [p.render().strip() for p in loaded.warnings]}
    if not check_mode:
        session.require_permission()
        session.refuse_if_interrupted()
    answers = loaded.answers
    if answers.is_bridge and not params["skip_checks"] and not check_mode:
        checks = session.bridge_preflight(answers)
        result["checks"] = [c.render() for c in checks]
        if any(not c.ok for c in checks):
            raise Failed("the checks before planning failed: nothing was changed",
                         "fix what they saw (see checks), or set skip_checks if you know "
                         "better", **result)
    planned = session.plan(loaded)
    redact = planned.redact
    for value in _secret_values(planned):
        module.no_log_values.add(value)
    result["notes"] += [redact(p.render().strip()) for p in
                        planned.warnings[len(loaded.warnings):]]
    result["notes"] += [redact(note) for note in planned.plan.notes]
    if (not params["skip_checks"] and not check_mode and session.root.is_real
            and not simulate and not answers.is_bridge):
        checks = session.checks.run_all(answers)
        result["checks"] = [redact(c.render()) for c in checks]
        if any(c.status == "fail" for c in checks):
            raise Failed("the checks before planning failed: nothing was changed",
                         "fix what they saw (see checks), or set skip_checks if you know "
                         "better", **result)
    plan = planned.plan
    result["steps"] = _steps(plan, redact)
    if module._diff:
        result["diff"] = _diffs(plan, redact)
    if check_mode or plan.is_empty:
        result["status"] = "planned" if check_mode else "nothing-to-do"
        result["changed"] = not plan.is_empty
        return _with_facts(result)

    meetings = session.meetings(planned)
    if meetings.message():
        result["notes"].append(meetings.message())
    if meetings.disruptive and not params["allow_disruption"]:
        raise Failed(f"{meetings.message()}: nothing was changed",
                     "apply when no one is in a meeting, or set allow_disruption", **result)

    events = []

    def on_event(kind, number, text):
        events.append(redact(f"[{kind}] {number}: {text}" if number else f"[{kind}] {text}"))

    # The run sequence both faces call: apply, keep the answers, start the window to confirm
    # a firewall change.
    run = session.run(planned, on_event=on_event)
    outcome, deadline = run.outcome, run.deadline
    result["notes"] += [f"note: {note}" for note in run.notes]
    result.update(events=events, run_id=outcome.run_id, log=outcome.log_path,
                  verification=outcome.verification, status=_outcome_status(outcome))
    result["notes"] += [f"fallback: {text}" for text in outcome.fallbacks]
    if outcome.status == "rolled-back" or outcome.verified is False:
        result["changed"] = outcome.status == "applied"
        raise Failed(redact(_failure_text(outcome)),
                     "see the run's events and log; the same answers can be replayed once "
                     "fixed", **_with_facts(result))
    result["changed"] = outcome.status == "applied"
    if outcome.not_planned:
        result["notes"].append(f"NOT CONFIGURED: {outcome.not_planned}")
    if run.guard_error is not None:  # the run stays applied, its firewall change unguarded
        raise Failed(f"the run was applied, but the guard of its firewall change could not "
                     f"start: {run.guard_error}", "check `ufw status`; these commands undo "
                     "the change: " + "; ".join(session.firewall.undo_commands(outcome.run_id)),
                     **_with_facts(result))
    if deadline is not None:
        result["firewall"] = {"run_id": outcome.run_id, "deadline": deadline,
                              "state": "awaiting confirmation",
                              "root": params["root"],
                              "undo": session.firewall.undo_commands(outcome.run_id)}
    return _with_facts(result)


def _secret_values(planned):
    """Every secret the plan knows: the answers' and those found in the host's files."""
    values = [s.value for s in planned.answers.secrets() if s is not None and s.value]
    return values + [v for v in planned.facts.secrets if v]


def _with_facts(result):
    result["ansible_facts"] = {"jitsi_wizard": {
        key: result.get(key) for key in ("status", "run_id", "steps", "verification")}}
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                           mutually_exclusive=[("answers", "answers_file")],
                           required_one_of=[("answers", "answers_file")])
    for value in _password_values(module.params["answers"] or {}):
        module.no_log_values.add(value)
    try:
        from jitsiwizard.errors import ProblemList, UserError
    except ImportError as exc:
        module.fail_json(msg=f"jitsi-wizard is not installed for {sys.executable}: {exc}",
                         fix=NOT_INSTALLED_FIX)
    try:
        result = replay(module)
    except Failed as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    except ProblemList as exc:
        problems = [{"field": p.field, "message": p.message, "fix": p.hint, "line": p.line,
                     "warning": p.warning} for p in exc.problems]
        module.fail_json(msg=exc.render(), problems=problems, exit_code=exc.exit_code,
                         fix="correct the answers; nothing was changed")
    except UserError as exc:
        module.fail_json(msg=exc.render(), fix=exc.hint, exit_code=exc.exit_code)
    except OSError as exc:
        module.fail_json(msg=f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
                         fix="give paths that exist and can be read on the host")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
