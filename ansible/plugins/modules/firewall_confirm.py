#!/usr/bin/python
"""Keep (or undo now) the firewall change of a jitsi-wizard run that its guard is watching:
what the admin's `yes` does at the wizard's terminal."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: firewall_confirm
short_description: Keep or undo a jitsi-wizard run's firewall change
version_added: 0.1.0
description:
  - A jitsi-wizard run that changes the firewall starts a guard that undoes the change unless
    it is confirmed within 60 seconds. This module confirms it (or has the guard undo it now).
  - M(jitsiwizard.fleet.replay) calls it over a new connection by itself. With
    O(jitsiwizard.fleet.replay#module:confirm_firewall=later) it leaves the decision to the
    play, which checks something else first (a new SSH connection from a bastion, a
    monitoring probe) and then calls this module within the window.
author:
  - jitsi-wizard contributors
options:
  run_id:
    description:
      - The run whose firewall change to keep or undo (the replay's
        RV(jitsiwizard.fleet.replay#module:run_id)).
    type: str
    required: true
  keep:
    description: V(true) keeps the change; V(false) has the guard undo it now.
    type: bool
    default: true
  root:
    description: The filesystem root the run was made under (labs and tests).
    type: path
    default: /
attributes:
  check_mode:
    description: Says what it would do and changes nothing.
    support: full
  diff_mode:
    description: No diff.
    support: none
"""

EXAMPLES = r"""
- name: Replay; the firewall change is confirmed later in the play
  jitsiwizard.fleet.replay:
    answers_file: /root/answers.toml
    confirm_firewall: later
  register: replayed

- name: Keep it once the monitoring still reaches the host
  jitsiwizard.fleet.firewall_confirm:
    run_id: "{{ replayed.firewall.run_id }}"
  when: replayed.firewall is defined
"""

RETURN = r"""
state:
  description: V(confirmed), V(reverted) (undone, by this call or because the window closed),
    or the guard's other outcomes V(failed) and V(gone).
  returned: always
  type: str
  sample: confirmed
undo:
  description: Commands that undo the firewall change by hand, when the guard could not.
  returned: when the change could not be undone
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={
        "run_id": {"type": "str", "required": True},
        "keep": {"type": "bool", "default": True},
        "root": {"type": "path", "default": "/"},
    }, supports_check_mode=True)
    try:
        from jitsiwizard.errors import UserError
        from jitsiwizard.rootfs import Root
        from jitsiwizard.workflow.session import Session
    except ImportError as exc:
        module.fail_json(msg=f"jitsi-wizard is not installed for this Python: {exc}",
                         fix="set ansible_python_interpreter to /opt/jitsi-wizard/bin/python")
    run_id, keep = module.params["run_id"], module.params["keep"]
    session = Session(Root(module.params["root"]))
    if module.check_mode:
        module.exit_json(changed=True, state="confirmed" if keep else "reverted")
    try:
        if keep:
            if session.firewall.confirm(run_id):
                module.exit_json(changed=True, state="confirmed")
        else:
            session.firewall.undo_now(run_id)
        state = session.firewall.outcome(run_id, timeout=60.0) or "still running"
    except UserError as exc:
        module.fail_json(msg=exc.render(), fix=exc.hint)
    if state == "reverted":
        if keep:
            module.fail_json(msg=f"the firewall change of run {run_id} was already undone "
                             "(the window to confirm it had closed)", state=state,
                             fix="replay the answers again to make the change anew")
        module.exit_json(changed=True, state=state)
    module.fail_json(msg=f"undoing the firewall change of run {run_id} did not finish "
                     f"({state}): check `ufw status`", state=state,
                     undo=session.firewall.undo_commands(run_id),
                     fix="run the undo commands on the host")


if __name__ == "__main__":
    main()
