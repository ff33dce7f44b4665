"""A stand-in for systemctl in the apply tests: unit states live in a JSON file.

    python tests/apply_systemctl.py STATE.json ACTION UNIT

STATE.json: {"units": {name: {"enabled": bool, "active": bool}}, "calls": [...],
"watch": {name: path}}. Each call is logged; a restart or start also logs the content of
the unit's watched file, so a test can see which configuration the service was started with.
Unknown units answer like systemctl does (not found).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    state_path, action, name = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    state = json.loads(state_path.read_text())
    unit = state["units"].get(name)
    call = [action, name]
    if action in ("restart", "start") and name in state["watch"]:
        watched = Path(state["watch"][name])
        call.append(watched.read_text() if watched.exists() else None)
    state["calls"].append(call)
    code = 0
    if unit is None:
        if action in ("enable", "disable", "start", "stop", "restart", "reload"):
            state["units"][name] = unit = {"enabled": action == "enable",
                                           "active": action in ("start", "restart")}
        else:
            sys.stderr.write(f"Failed to get unit file state for {name}.service: "
                             "No such file or directory\n")
            code = 1 if action == "is-enabled" else 4
            print("inactive" if action == "is-active" else "", end="")
    if unit is not None:
        if action == "is-enabled":
            print("enabled" if unit["enabled"] else "disabled")
            code = 0 if unit["enabled"] else 1
        elif action == "is-active":
            print("active" if unit["active"] else "inactive")
            code = 0 if unit["active"] else 3
        elif action in ("restart", "start", "reload"):
            if unit.get("broken"):
                sys.stderr.write(f"Job for {name}.service failed.\n")
                code = 1
            else:
                unit["active"] = True
        elif action == "stop":
            unit["active"] = False
        elif action in ("enable", "disable"):
            unit["enabled"] = action == "enable"
    state_path.write_text(json.dumps(state))
    return code


if __name__ == "__main__":
    sys.exit(main())
