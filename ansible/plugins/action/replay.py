"""The controller's half of jitsiwizard.fleet.replay: it runs the module, and when the run
changed the firewall, it answers the wizard's confirm-or-revert the Ansible way: the change is
kept once the host is reached over a NEW connection (the one the module ran over may outlive
a rule that shuts out new ones), else the wizard's guard undoes it at its deadline."""

from __future__ import annotations

from ansible.errors import AnsibleConnectionFailure
from ansible.plugins.action import ActionBase

CONFIRM_MODULE = "jitsiwizard.fleet.firewall_confirm"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result.update(self._execute_module(module_name="jitsiwizard.fleet.replay",
                                           module_args=self._task.args,
                                           task_vars=task_vars))
        pending = result.get("firewall")
        mode = self._task.args.get("confirm_firewall", "new_connection")
        if result.get("failed") or not pending or mode != "new_connection":
            return result
        try:
            self._connection.reset()  # e.g. ssh: the ControlPersist master is closed
            confirmed = self._execute_module(
                module_name=CONFIRM_MODULE, task_vars=task_vars,
                module_args={"run_id": pending["run_id"], "root": pending["root"]})
        except AnsibleConnectionFailure as exc:
            confirmed = {"failed": True, "msg": str(exc), "unreachable": True}
        rollback = f"`jitsi-wizard rollback {pending['run_id']}` on the host undoes the rest"
        if confirmed.get("unreachable"):
            result.update(failed=True, firewall=dict(pending, state="not confirmed"), msg=(
                "the run changed the firewall and the host could not be reached over a new "
                f"connection ({confirmed.get('msg', 'no answer')}): the wizard's guard undoes "
                "the firewall change at its deadline; the rest of the run stays applied"),
                fix=("check the firewall answers (firewall.ssh_port must be the port Ansible "
                     f"connects to); {rollback}; confirm_firewall=later lets the play decide"))
            return result
        if confirmed.get("failed"):  # reached, but the change could not be kept
            result.update(failed=True, msg=(
                "the run changed the firewall and the host was reached over a new connection, "
                f"but the change was not kept: {confirmed.get('msg', 'no answer')}; the rest "
                "of the run stays applied"),
                firewall=dict(pending, state=confirmed.get("state", "not confirmed")),
                fix=f"{confirmed.get('fix') or 'check `ufw status` on the host'}; {rollback}")
            return result
        result["firewall"] = dict(pending, state=confirmed.get("state", "confirmed"))
        return result
