"""What the host has now, as data both faces show (`jitsi-wizard status`, `runs`): its
configuration, the runs recorded and their firewall changes, what changed since the last run,
and the last verification."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jitsiwizard.host.facts import HostFacts
    from jitsiwizard.rootfs import Root


def runs(root: Root) -> list:
    """The runs recorded on the host, oldest first, each with its firewall change's state."""
    from jitsiwizard.apply import list_runs
    from jitsiwizard.apply.firewall_guard import firewall_state

    found = list_runs(root)
    for run in found:
        run.firewall = firewall_state(root, run.run_id)
    return found


def host_status(root: Root, facts: HostFacts, interrupted, last_verification: dict | None
                ) -> dict:
    """The host as `facts` read it, with the run left half done (`interrupted`, or None)
    and the last verification's report."""
    from jitsiwizard.workflow.bridges import main_of_this_bridge, read_registry

    recorded = runs(root)
    return {
        "bridges": [str(e.get("name")) for e in read_registry(root)],
        "videobridge_of": main_of_this_bridge(root),
        "os": facts.release, "jitsi_installed": facts.jitsi_installed,
        "generation": facts.generation, "hostname": facts.hostname,
        "policy": facts.policy, "authentication_module": facts.main_auth,
        "guests": facts.guests, "anonymousdomain": facts.anonymousdomain,
        "jicofo_authentication": facts.jicofo_auth,
        "legacy_jicofo_key": facts.legacy_auth_key,
        "ldap": None if facts.ldap is None else {
            "backend": facts.ldap.backend, "file": facts.ldap.file,
            "server": facts.ldap.server, "base": facts.ldap.base},
        "users": sorted(facts.users), "certificate": facts.cert_file,
        "key": facts.key_file,
        "packages": {k: v for k, v in facts.packages.items()
                     if k.startswith(("jitsi", "jicofo", "prosody", "nginx", "lua-ldap"))},
        "warnings": facts.warnings,
        "last_run": recorded[-1].run_id if recorded else None,
        "last_run_status": recorded[-1].status if recorded else None,
        "last_run_firewall": recorded[-1].firewall if recorded else None,
        "interrupted_run": interrupted.run_id if interrupted else None,
        "last_verification": _verification_line(last_verification),
        **_changed_since_last_run(root, facts),
    }


def _changed_since_last_run(root: Root, facts: HostFacts) -> dict:
    """The files the wizard wrote that changed since (outside its own lines: a package
    upgrade or an admin; inside: a hand edit the next run refuses), their diff with secret
    values redacted, and the packages upgraded since the last run."""
    from jitsiwizard.answers.secrets import Redactor
    from jitsiwizard.apply.drift import changed_files, upgraded_packages

    redact = Redactor()
    for value in facts.secrets:
        redact.add_value(value)
    changed = []
    for item in changed_files(root):
        redact.add_found("\n".join(line[2:] for line in item.diff))
        changed.append({"path": item.path, "inside": item.inside, "gone": item.gone,
                        "diff": [redact(line) for line in item.diff]})
    return {"changed_since_last_run": changed,
            "upgraded_since_last_run": [f"{name} {old} -> {new}" for name, old, new
                                        in upgraded_packages(root)]}


def _verification_line(doc: dict | None) -> dict | None:
    """The last verification in brief: healthy or not, when, and what failed."""
    if doc is None:
        return None
    findings = doc.get("findings") if isinstance(doc.get("findings"), list) else []
    failed = [f"{f.get('name')}: {f.get('evidence')}" for f in findings
              if isinstance(f, dict) and f.get("ok") is False]
    return {"ok": bool(doc.get("ok")), "when": str(doc.get("when", "?")),
            "failed": failed}
