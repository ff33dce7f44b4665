"""Apply a pickled plan in its own process, for tests that kill or signal the applying process.

    python tests/apply_child.py ROOT SPEC.pickle

SPEC holds {"plan": Plan, "secrets": [str], "systemctl": argv | None}. Prints the outcome as
JSON on the last line of stdout.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import sys

from jitsiwizard.answers.secrets import Redactor
from jitsiwizard.apply import apply
from jitsiwizard.apply.runner import Runner
from jitsiwizard.errors import UserError
from jitsiwizard.rootfs import Root


def main() -> int:
    root = Root(sys.argv[1])
    with open(sys.argv[2], "rb") as fh:
        spec = pickle.load(fh)
    redact = Redactor()
    for value in spec["secrets"]:
        redact.add(value)
    runner = Runner(root, log=print, redact=redact)
    if spec.get("systemctl"):
        runner.systemctl = tuple(spec["systemctl"])
    try:
        outcome = apply(spec["plan"], root, runner, redact=redact,
                        on_event=lambda kind, n, text: print(f"event {kind} {n}", flush=True))
    except UserError as exc:
        print(json.dumps({"user_error": exc.render()}))
        return 2
    print(json.dumps(dataclasses.asdict(outcome)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
