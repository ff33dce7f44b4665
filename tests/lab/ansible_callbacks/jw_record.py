"""An Ansible callback for the tests: every task's result per host, and the play recap, as
JSON in the file JW_RECORD names (ansible-core has no JSON output of its own; the human
output stays on stdout, where the tests read it as an admin would)."""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: jw_record
type: aggregate
short_description: jitsi-wizard's tests, the results as JSON in $JW_RECORD
description: Every task's result per host, and the recap.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "jw_record"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self.tasks = []  # [(name, {host: result})], in order

    def _record(self, result, **extra):
        name, host = result._task.get_name(), result._host.get_name()
        # The latest entry of this task that has no result of this host yet: under the free
        # strategy, hosts' results of different tasks interleave.
        entry = next((hosts for n, hosts in reversed(self.tasks)
                      if n == name and host not in hosts), None)
        if entry is None:
            entry = {}
            self.tasks.append((name, entry))
        entry[host] = dict(result._result, **extra)

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_playbook_on_stats(self, stats):
        doc = {"tasks": [{"name": n, "hosts": h} for n, h in self.tasks],
               "stats": {host: stats.summarize(host) for host in sorted(stats.processed)}}
        with open(os.environ["JW_RECORD"], "w") as fh:
            json.dump(doc, fh, default=str)
