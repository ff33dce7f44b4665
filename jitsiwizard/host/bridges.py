"""What this host's files say about extra videobridges: on the main host, the registry
`bridge add` keeps (bridges.json, written by plan/extra_bridges.py) and whether the wizard manages
the firewall; on a videobridge host the wizard configured, the main host its shard names."""

from __future__ import annotations

import json

from jitsiwizard.paths import BRIDGE_TRUST_PEM, BRIDGES_FILE, JVB_CONF, JVB_PROPS, SAVED_ANSWERS
from jitsiwizard.rootfs import FileView

# The shard's keys in the legacy sip-communicator.properties (read before jvb.conf), and the
# object that holds them in jvb.conf (templates/jvb-bridge.hocon.j2): read here, written by
# plan/videobridge.py.
LEGACY_SHARD = "org.jitsi.videobridge.xmpp.user.shard."
SHARD_CONFIG = ("videobridge", "apis", "xmpp-client", "configs", "shard")


def read_registry(files: FileView) -> list[dict]:
    """The bridges `bridge add` recorded (bridges.json): [] when there is none, or the file
    is not what the wizard writes."""
    try:
        doc = json.loads(files.read_text(BRIDGES_FILE) or "null")
    except ValueError:
        doc = None
    entries = doc.get("bridges") if isinstance(doc, dict) else None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def wizard_manages_firewall(files: FileView) -> bool:
    """Whether the last run's answers say the wizard manages the firewall."""
    from jitsiwizard.answers.load import tomllib  # tomllib, or tomli before Python 3.11

    text = files.read_text(SAVED_ANSWERS)
    try:
        data = tomllib.loads(text or "")
    except tomllib.TOMLDecodeError:
        return False
    firewall = data.get("firewall")
    return isinstance(firewall, dict) and firewall.get("manage") is True


def main_of_this_bridge(files: FileView) -> str | None:
    """On a videobridge host the wizard configured (it trusts the main host's certificate):
    the main host its shard names, from the legacy properties or jvb.conf's managed block."""
    from jitsiwizard.formats.hocon import hocon_get, hocon_get_managed_block
    from jitsiwizard.formats.properties import properties_get

    if files.read_text(BRIDGE_TRUST_PEM) is None:
        return None
    props = files.read_text(JVB_PROPS)
    domain = properties_get(props, LEGACY_SHARD + "DOMAIN") if props else None
    if domain is None:
        block = hocon_get_managed_block(files.read_text(JVB_CONF) or "") or ""
        found = hocon_get(block, *SHARD_CONFIG, "DOMAIN")
        domain = found if isinstance(found, str) else None
    if not domain:
        return None
    return domain[len("auth."):] if domain.startswith("auth.") else domain
