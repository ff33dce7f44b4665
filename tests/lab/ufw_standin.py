"""A stand-in for ufw, for the firewall confirm-or-revert tests (ufw itself would change this
machine's firewall). It keeps its state in the JSON file named by JW_UFW_STATE: whether the
firewall is enabled and which rules allow what, and logs every call, as ufw's own commands
change them: `allow SPEC`, `delete allow SPEC`, `--force enable`, `disable`, `status`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def state(path: Path) -> dict:
    """What the stand-in holds now (the file JW_UFW_STATE names)."""
    return json.loads(path.read_text())


def main(argv: list[str]) -> int:
    path = Path(os.environ["JW_UFW_STATE"])
    state = json.loads(path.read_text()) if path.exists() else {"enabled": False,
                                                                 "rules": [], "calls": []}
    state["calls"].append(argv)
    words = [w for w in argv if w != "--force"]
    if words[:1] == ["allow"] and len(words) == 2:
        if words[1] not in state["rules"]:
            state["rules"].append(words[1])
    elif words[:2] == ["delete", "allow"] and len(words) == 3:
        if words[2] not in state["rules"]:
            print("Could not delete non-existent rule", file=sys.stderr)
        else:
            state["rules"].remove(words[2])
    elif words == ["enable"]:
        state["enabled"] = True
    elif words == ["disable"]:
        state["enabled"] = False
    elif words != ["status"]:
        print(f"ufw stand-in: unknown command {argv}", file=sys.stderr)
        return 1
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
