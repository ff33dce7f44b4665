#!/usr/bin/python
"""The main host's side of extra videobridges for Ansible: `jitsi-wizard bridge add`, `list`
and `remove` through the same session code the command line's `bridge` commands call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bridge
short_description: Add, list or remove a meeting server's extra videobridges
version_added: 0.2.0
description:
  - Runs on the main host (the meeting server), as C(jitsi-wizard bridge add), C(bridge list)
    and C(bridge remove) do, through the wizard's own session; each change is a journaled run
    that C(jitsi-wizard rollback) undoes.
  - V(present) creates the bridge's account on C(auth.HOST) (a generated password), opens
    5222/tcp to its address when the wizard manages the firewall, and keeps the bridge host's
    answers and password on the main host (mode 0600). A bridge already registered with the
    same address changes nothing.
  - The result carries the bridge host's answers (RV(answers)); its password only with
    O(return_secret), for a task with C(no_log) that hands it to the bridge host
    (the role C(jitsiwizard.fleet.videobridge) does).
  - The target needs jitsi-wizard installed; point C(ansible_python_interpreter) at
    C(/opt/jitsi-wizard/bin/python).
author:
  - jitsi-wizard contributors
options:
  name:
    description:
      - The bridge's name, its account on C(auth.HOST) (1-64 lower-case letters, digits,
        C(.), C(_) or C(-)). Required unless O(state=list).
    type: str
  address:
    description:
      - The bridge host's IP address as the main host sees it (the firewall rule's source).
        Required with O(state=present).
    type: str
  state:
    description:
      - V(present) adds the bridge, V(absent) removes it (its account, firewall rule and
        files), V(list) only lists the bridges (RV(bridges)).
    type: str
    choices: [present, absent, list]
    default: present
  return_secret:
    description:
      - With O(state=present), also return the bridge's password (RV(secret)). Set C(no_log)
        on such a task, as Ansible prints a task's result otherwise.
    type: bool
    default: false
  root:
    description:
      - Treat this directory as the filesystem root (labs and tests); commands then need
        O(simulate). As C(--root).
    type: path
    default: /
  simulate:
    description: Record commands instead of running them. As C(--simulate).
    type: bool
    default: false
  xmpp:
    description:
      - The main Prosody's client port as C(ADDR:PORT) (default C(127.0.0.1:5222)), asked
        for its certificate (V(present)) and who is in the brewery (V(list)). As C(--xmpp).
    type: str
attributes:
  check_mode:
    description: Says whether the bridge would be added or removed, and changes nothing.
    support: full
  diff_mode:
    description: No diff.
    support: none
notes:
  - Runs on the main host only; one bridge at a time (C(throttle=1) when several bridge hosts
    delegate to the same main host), as the wizard takes one run at a time.
seealso:
  - module: jitsiwizard.fleet.replay
"""

EXAMPLES = r"""
- name: Add the bridge on the main host
  jitsiwizard.fleet.bridge:
    name: bridge2
    address: 192.0.2.20
  delegate_to: meet.example.org
  throttle: 1
  register: added

- name: The bridges and whether each is in the brewery
  jitsiwizard.fleet.bridge:
    state: list
  register: listed

- name: Remove it
  jitsiwizard.fleet.bridge:
    name: bridge2
    state: absent
"""

RETURN = r"""
answers:
  description:
    - The bridge host's answers, in the shape of the answers file (C(role), C(bridge) with
      C(main), C(username), C(password) as a C(file:) reference to where the bridge host keeps
      its password, C(main_certificate_sha256)), for M(jitsiwizard.fleet.replay) there.
  returned: with O(state=present), unless in check mode for a bridge not yet added
  type: dict
registered:
  description: Whether the bridge is in the main host's list of bridges now.
  returned: with O(state=present) or O(state=absent)
  type: bool
secret:
  description: The bridge's password. Only with O(return_secret).
  returned: with O(return_secret), once the bridge is added
  type: str
secret_path:
  description: Where the main host keeps the bridge's password (under O(root)).
  returned: with O(state=present)
  type: str
bridges:
  description:
    - Each bridge, C(name), C(address), C(in_brewery) (true, false, or null when it could not
      be asked) and C(evidence), as C(jitsi-wizard bridge list --json) prints them.
  returned: with O(state=list)
  type: list
  elements: dict
run_id:
  description: The wizard's run, which C(jitsi-wizard rollback RUN_ID) undoes.
  returned: when a run was made
  type: str
steps:
  description: The run's steps, as the wizard prints them, secrets redacted.
  returned: when something was (or, in check mode, would be) done
  type: list
  elements: str
fix:
  description: What to try, when the task failed with the wizard's message.
  returned: on failure
  type: str
"""

import sys

from ansible.module_utils.basic import AnsibleModule

NOT_INSTALLED_FIX = ("install jitsi-wizard on the host (scripts/install puts it in "
                     "/opt/jitsi-wizard) and set ansible_python_interpreter to its Python, "
                     "/opt/jitsi-wizard/bin/python")


class Failed(Exception):
    def __init__(self, msg, fix=""):
        super().__init__(msg)
        self.msg, self.fix = msg, fix


def _session(params):
    import os

    from jitsiwizard.health import Endpoints
    from jitsiwizard.rootfs import Root
    from jitsiwizard.workflow.session import Session

    if not os.path.isdir(params["root"]):
        raise Failed(f"root {params['root']} is not a directory on the host",
                     "give an existing directory")
    ends = None
    if params["xmpp"]:
        host, sep, port = params["xmpp"].rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise Failed(f"xmpp {params['xmpp']!r} is not ADDR:PORT",
                         "give an address and a port, e.g. 127.0.0.1:5222")
        ends = Endpoints(c2s_host=host.strip("[]"), c2s_port=int(port), given=True)
    return Session(Root(params["root"]), simulate=params["simulate"], endpoints=ends)


def _entry(session, name):
    from jitsiwizard.host.bridges import read_registry

    return next((e for e in read_registry(session.root) if e.get("name") == name), None)


def _answers(session, name):
    """The bridge host's answers as `bridge add` wrote them, and its password."""
    from jitsiwizard.answers.load import tomllib
    from jitsiwizard.plan.extra_bridges import bridge_paths

    answers_path, secret_path = bridge_paths(name)
    text, secret = session.root.read_text(answers_path), session.root.read_text(secret_path)
    if text is None or secret is None:
        raise Failed(f"bridge {name} is registered, but its answers or password are gone "
                     f"from {answers_path}", "remove it (state=absent) and add it again")
    return tomllib.loads(text), secret.rstrip("\n")


def _apply(module, session, run, result):
    steps = [run.redact(f"{n}. {step.describe()}") for n, step in enumerate(run.plan.steps, 1)]
    result.update(changed=True, steps=steps)
    if module.check_mode:
        return
    events = []
    outcome = session.apply_plan(run.plan, run.redact,
                                 on_event=lambda kind, n, text: events.append(text))
    result.update(run_id=outcome.run_id, events=[run.redact(e) for e in events])
    if outcome.status != "applied":
        raise Failed(f"FAILED: {outcome.error}; every change of this run was rolled back. "
                     f"Details: {outcome.log_path}",
                     "see the run's events; the task can be run again once fixed")


def present(module, session, result):
    from jitsiwizard.plan.extra_bridges import bridge_paths
    from jitsiwizard.workflow.bridges import check_address, plan_add

    params = module.params
    name, address = params["name"], params["address"]
    entry = _entry(session, name)
    result["secret_path"] = bridge_paths(name)[1]
    if entry is None or entry.get("address") != check_address(address):
        if not module.check_mode:
            session.require_permission()
            session.refuse_if_interrupted()
        # A name registered with another address is refused here, with the wizard's words.
        run = plan_add(session, name, address)
        _apply(module, session, run, result)
        if module.check_mode:
            result["registered"] = False
            return
    answers, secret = _answers(session, name)
    result.update(answers=answers, registered=True)
    if params["return_secret"]:
        result["secret"] = secret
    else:  # masked wherever it could show up (it is in no field returned)
        module.no_log_values.add(secret)


def absent(module, session, result):
    from jitsiwizard.workflow.bridges import check_name, plan_remove

    check_name(module.params["name"])
    result["registered"] = False
    if _entry(session, module.params["name"]) is None:
        return
    if not module.check_mode:
        session.require_permission()
        session.refuse_if_interrupted()
    _apply(module, session, plan_remove(session, module.params["name"]), result)


def main():
    module = AnsibleModule(argument_spec={
        "name": {"type": "str"},
        "address": {"type": "str"},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent", "list"]},
        "return_secret": {"type": "bool", "default": False},
        "root": {"type": "path", "default": "/"},
        "simulate": {"type": "bool", "default": False},
        "xmpp": {"type": "str"},
    }, supports_check_mode=True,
        required_if=[("state", "present", ("name", "address")), ("state", "absent", ("name",))])
    try:
        from jitsiwizard.errors import UserError
    except ImportError as exc:
        module.fail_json(msg=f"jitsi-wizard is not installed for {sys.executable}: {exc}",
                         fix=NOT_INSTALLED_FIX)
    result = {"changed": False}
    try:
        session = _session(module.params)
        if module.params["state"] == "list":
            from jitsiwizard.workflow.bridges import list_bridges

            result["bridges"] = list_bridges(session)
        elif module.params["state"] == "absent":
            absent(module, session, result)
        else:
            present(module, session, result)
    except Failed as exc:
        module.fail_json(msg=exc.msg, fix=exc.fix, **result)
    except UserError as exc:
        module.fail_json(msg=exc.render(), fix=exc.hint, exit_code=exc.exit_code, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
