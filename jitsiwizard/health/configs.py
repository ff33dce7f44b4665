"""Before any restart: each service's new configuration checked by its own checker, so a run
whose files a service would refuse stops (and rolls back) while the old services still run.

- Prosody: `prosodyctl check config` against the new files. Only its real errors count: a
  configuration it cannot load (exit 1, "A problem occurred while reading the config file",
  with the `Error:` line naming file and line). Its advice (exit 2, "Problems found"):
  obsolete options such as the `cross_domain_bosh` every Jitsi host file carries, options
  it would rather see global, unreferenced components, is logged, not fatal: a stock Jitsi
  host gets it on every run.
- jicofo and the bridge: a strict HOCON parse of jicofo.conf and jvb.conf (pyhocon), since
  both refuse to start on a file Typesafe Config cannot parse.
- nginx: `nginx -t` is already a step of every plan that reloads nginx (plan/certs.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from jitsiwizard.health.report import Finding
from jitsiwizard.paths import JICOFO_CONF, JVB_CONF, PROSODY_CFG
from jitsiwizard.plan.steps import TargetPath

if TYPE_CHECKING:
    from jitsiwizard.apply.runner import Runner
    from jitsiwizard.health.report import Endpoints
    from jitsiwizard.rootfs import Root

PROSODYCTL_TIMEOUT = 60.0
_LOAD_PROBLEM = "A problem occurred while reading the config file"


def prosody_verdict(code: int, output: str) -> tuple[bool, str]:
    """(passed, what to tell the admin) from `prosodyctl check config`'s exit code and
    output."""
    errors = [line.strip() for line in output.splitlines()
              if line.strip().startswith("Error:")]
    if code == 0:
        return True, "prosodyctl check config: all checks passed"
    if code == 2 and _LOAD_PROBLEM not in output and "Problems found" in output:
        advice = [line.strip() for line in output.splitlines()
                  if re.match(r"\s{4}You |\s{4}Your |\s{4}No ", line)]
        said = "; ".join(advice[:4]) or "see the run log"
        return True, f"prosodyctl check config: loads; advice only ({said})"
    said = "; ".join(errors[:3]) or (output.strip().splitlines() or ["(no output)"])[-1]
    return False, f"prosodyctl check config refuses the new files (exit {code}): {said}"


def check_prosody(runner: Runner, endpoints: Endpoints) -> Finding:
    if runner.simulate:
        return Finding("prosody config", None, "not checked: commands are only recorded "
                       "(--simulate), so nothing is restarted either")
    config = endpoints.prosody_config or TargetPath(PROSODY_CFG)
    result = runner.run([*endpoints.prosodyctl, "--config", config, "check", "config"],
                        timeout=PROSODYCTL_TIMEOUT)
    if result.code in (126, 127):
        return Finding("prosody config", False, result.stderr.strip() or
                       f"prosodyctl could not run (exit {result.code})",
                       "install prosody, or check that prosodyctl is on PATH")
    if result.timed_out:
        return Finding("prosody config", False, f"prosodyctl check config did not finish "
                       f"within {PROSODYCTL_TIMEOUT:g}s")
    ok, said = prosody_verdict(result.code, result.stdout + result.stderr)
    return Finding("prosody config", ok, said,
                   "" if ok else "fix the file and line it names (the run was rolled back)")


def hocon_problem(text: str) -> str | None:
    """None when `text` parses as HOCON, else the parser's message (with line, column)."""
    from pyhocon import ConfigFactory

    try:
        ConfigFactory.parse_string(text, resolve=False)
    except Exception as exc:  # pyparsing and pyhocon raise several types
        return str(exc).strip() or exc.__class__.__name__
    return None


def check_hocon(root: Root, path: str, service: str) -> Finding:
    text = root.read_text(path)
    if text is None:
        return Finding(f"{service} config", None, f"{path} does not exist: nothing to parse")
    problem = hocon_problem(text)
    if problem is None:
        return Finding(f"{service} config", True, f"{path} parses as HOCON")
    return Finding(f"{service} config", False, f"{path} is not valid HOCON: {problem}",
                   f"{service} would not start with it: fix that line")


def check_configs(services: set[str], root: Root, runner: Runner,
                  endpoints: Endpoints) -> list[Finding]:
    """The checks for the services about to be restarted."""
    found: list[Finding] = []
    if "prosody" in services:
        found.append(check_prosody(runner, endpoints))
    if "jicofo" in services:
        found.append(check_hocon(root, JICOFO_CONF, "jicofo"))
    if "jitsi-videobridge2" in services:
        found.append(check_hocon(root, JVB_CONF, "jitsi-videobridge2"))
    return found
