"""The plan for a videobridge host ([role] kind = "videobridge"): pure, like meeting.py.

Such a host runs only jitsi-videobridge2. It logs in to the main host's Prosody (5222/tcp)
with its own account of auth.MAIN and joins the brewery MUC, where jicofo finds it. What the
plan does:

- on a host without the bridge: the Jitsi repository (signed-by), a debconf preseed of
  jitsi-videobridge/jvb-hostname = MAIN, and `apt-get install jitsi-videobridge2` alone;
- the shard settings (HOSTNAME, DOMAIN, USERNAME, PASSWORD, MUC_JIDS, MUC_NICKNAME), with
  certificate verification ON: in a managed block of jvb.conf, or, where the legacy
  sip-communicator.properties holds the shard (it wins over jvb.conf), there;
- the main host's certificate (fetched and checked against the pin before planning) in a
  PKCS#12 trust store, handed to the bridge's Java through a systemd drop-in, so the bridge
  trusts exactly that certificate instead of turning verification off;
- the NAT mapping when behind NAT; ufw for SSH and 10000/udp when the wizard manages the
  firewall; a restart of the bridge.

The DNS, certificate and authentication steps of a meeting server do not apply here.
"""

from __future__ import annotations

from dataclasses import dataclass

from jitsiwizard.answers.model import Answers, BridgeAnswers
from jitsiwizard.errors import UserError
from jitsiwizard.formats import hocon, properties
from jitsiwizard.host.bridges import LEGACY_SHARD
from jitsiwizard.host.facts import HostFacts
from jitsiwizard.paths import (
    BRIDGE_DEBCONF_PRESEED,
    BRIDGE_TRUST_DROPIN,
    BRIDGE_TRUST_PEM,
    BRIDGE_TRUST_STORE,
    JVB_CONF,
    JVB_PROPS,
)
from jitsiwizard.plan.builder import Builder, install_with_preseed, prepare_apt, require_debian
from jitsiwizard.plan.nat import (
    jvb_conf_nat,
    nat_addresses,
    with_nat_keys,
    without_nat_keys,
)
from jitsiwizard.plan.render import render
from jitsiwizard.plan.steps import Plan, TargetPath
from jitsiwizard.rootfs import FileView

BRIDGE_PACKAGE = "jitsi-videobridge2"
BRIDGE_UNIT = "jitsi-videobridge2"
MEDIA_PORT = 10000
# The trust store holds one public certificate: its password guards nothing secret, but
# PKCS#12 tools want one.
TRUST_STORE_PASSWORD = "jitsi-wizard-public"
TRUST_ALIAS = "jitsi-wizard-main"
XMPP_PORT = 5222  # the main host's Prosody, where a bridge logs in
# Where the shard's keys are (read and written alike): host/bridges.py.
SHARD_SECRET_KEYS = ("PASSWORD", f"{LEGACY_SHARD}PASSWORD")


@dataclass(frozen=True)
class MainCertificate:
    """The main host's Prosody certificate (PEM) and its SHA-256: a fact about another host,
    fetched from it (or given as a file) and checked against the pin before planning
    (health/bridge.py). The bridge trusts exactly this certificate. Never part of
    the answers: a replay fetches it again."""

    pem: str
    sha256: str


def shard_settings(bridge: BridgeAnswers) -> dict[str, str]:
    """The shard's keys, as jvb.conf and the legacy properties name them."""
    return {
        "HOSTNAME": bridge.main_address or bridge.main,
        "DOMAIN": bridge.domain,
        "USERNAME": bridge.username,
        "PASSWORD": bridge.password.value if bridge.password else "",
        "MUC_JIDS": bridge.brewery,
        # The account name is unique on the main host, so it is a unique nickname too.
        "MUC_NICKNAME": bridge.username,
        "DISABLE_CERTIFICATE_VERIFICATION": "false",
    }


def build_bridge(answers: Answers, facts: HostFacts, files: FileView, *, force: bool = False,
                 ssh_port_in_use: int | None = None,
                 main_certificate: MainCertificate | None = None) -> Plan:
    """The plan that takes this bridge host to these answers. Pure, like meeting.build;
    `main_certificate` is needed once the bridge is installed."""
    bridge = answers.bridge
    if bridge is None:
        raise UserError("[role] kind = 'videobridge' needs a [bridge] section",
                        "use the answers file `jitsi-wizard bridge add` wrote", field="bridge")
    b = Builder(facts, files, force)
    for warning in facts.warnings:
        b.note(warning)
    if facts.jitsi_installed:
        raise UserError(
            f"this host is a Jitsi meeting server ({facts.hostname}); a videobridge host runs "
            "only the bridge", "run the videobridge answers on a separate host, or remove "
            "the [role] section to configure this meeting server", field="role.kind")
    if not facts.bridge_installed:
        _install_steps(b, answers)
        b.note("jitsi-videobridge2 is not installed yet: the run installs it first, then "
               "plans and applies its configuration against the files the package creates "
               "(in the same run and the same rollback; the package stays if it is rolled "
               "back)")
        return b.plan
    pin = bridge.main_certificate_sha256.replace(":", "").lower()
    if main_certificate is None or main_certificate.sha256 != pin:  # never another one
        raise UserError("the main host's certificate was not fetched",
                        "the session fetches it from MAIN:5222 and checks it against "
                        "bridge.main_certificate_sha256 before planning",
                        field="bridge.main_certificate_sha256")
    _shard_steps(b, answers)
    _trust_steps(b, bridge, main_certificate)
    _nat_steps(b, answers)
    from jitsiwizard.plan.firewall import firewall_steps

    firewall_steps(b, answers, ssh_port_in_use,
                   ports=[(MEDIA_PORT, "udp", "media to this videobridge")])
    b.refuse_hand_edits()
    if b.restart:
        b.service(BRIDGE_UNIT, "restart", f"log in to {bridge.main} with the new settings")
    return b.plan


def _legacy_shard(files: FileView) -> bool:
    """The legacy properties hold shard settings, which the bridge reads before jvb.conf."""
    text = files.read_text(JVB_PROPS)
    return text is not None and LEGACY_SHARD in text


def _shard_steps(b: Builder, answers: Answers) -> None:
    bridge = answers.bridge
    settings = shard_settings(bridge)
    summary = (f"log in to {bridge.main} as {bridge.username}@{bridge.domain} and join "
               f"{bridge.brewery}, verifying its certificate")
    services = (BRIDGE_UNIT,)
    if _legacy_shard(b.files):
        text = b.files.read_text(JVB_PROPS) or ""
        for key, value in settings.items():
            text = properties.properties_set(text, LEGACY_SHARD + key, value)
        b.file(JVB_PROPS, text, summary, services=services, secret_keys=SHARD_SECRET_KEYS)
        return
    if b.files.read_text(JVB_CONF) is None and not b.files.exists(JVB_PROPS):
        raise UserError(f"neither {JVB_CONF} nor {JVB_PROPS} exists",
                        "reinstall the jitsi-videobridge2 package", field="role.kind")
    b.file(JVB_CONF, b.edit(JVB_CONF, hocon.hocon_managed_block, _jvb_block(answers)),
           summary, services=services, secret_keys=SHARD_SECRET_KEYS)


def _jvb_block(answers: Answers) -> str:
    """The managed block of a bridge host's jvb.conf: the shard, and the NAT mapping (one
    block per file, so both live in it; a later run rewrites it whole)."""
    local, public = nat_addresses(answers.host) or ("", "")
    settings = shard_settings(answers.bridge)
    del settings["DISABLE_CERTIFICATE_VERIFICATION"]  # a boolean: the template writes it
    return render("jvb-bridge.hocon.j2", shard=settings, local_address=local,
                  public_address=public)


def _nat_steps(b: Builder, answers: Answers) -> None:
    """Behind NAT: in jvb.conf's block (written with the shard) when jvb.conf exists, else
    the legacy properties' harvester keys."""
    if b.files.read_text(JVB_CONF) is not None and not _legacy_shard(b.files):
        return  # in the block _shard_steps wrote
    if b.files.read_text(JVB_CONF) is not None:
        jvb_conf_nat(b, answers.host, BRIDGE_UNIT)
        return
    text = b.files.read_text(JVB_PROPS)
    if text is None:
        return
    mapping = nat_addresses(answers.host)
    text = with_nat_keys(text, *mapping) if mapping else without_nat_keys(text)
    b.file(JVB_PROPS, text, "videobridge NAT mapping", services=(BRIDGE_UNIT,),
           secret_keys=SHARD_SECRET_KEYS)


def _trust_steps(b: Builder, bridge: BridgeAnswers, main: MainCertificate) -> None:
    """The main host's certificate as the bridge's only trust anchor."""
    services = (BRIDGE_UNIT,)
    changed = b.file(BRIDGE_TRUST_PEM, main.pem,
                     f"the certificate of {bridge.main}'s Prosody (SHA-256 "
                     f"{bridge.main_certificate_sha256[:16]}...), pinned",
                     services=services, mode=0o644)
    if changed or not b.files.exists(BRIDGE_TRUST_STORE):
        if b.files.exists(BRIDGE_TRUST_STORE):
            b.file(BRIDGE_TRUST_STORE, None, "the trust store is made again",
                   services=services)
        b.command(["keytool", "-importcert", "-noprompt", "-alias", TRUST_ALIAS,
                   "-file", TargetPath(BRIDGE_TRUST_PEM),
                   "-keystore", TargetPath(BRIDGE_TRUST_STORE), "-storetype", "PKCS12",
                   "-storepass", TRUST_STORE_PASSWORD],
                  "a trust store for the bridge's Java holding only that certificate",
                  snapshot=(BRIDGE_TRUST_STORE,), timeout=60)
        b.restart.add(BRIDGE_UNIT)
    dropin = render("jvb-truststore.conf.j2", store=BRIDGE_TRUST_STORE,
                    password=TRUST_STORE_PASSWORD)
    if b.file(BRIDGE_TRUST_DROPIN, dropin, "the bridge's Java trusts only that store",
              services=services):
        b.command(["systemctl", "daemon-reload"], "make systemd read the bridge's drop-in")


def _install_steps(b: Builder, answers: Answers) -> None:
    require_debian(b.facts, "the videobridge", field="role.kind")
    prepare_apt(b)
    install_with_preseed(b, BRIDGE_DEBCONF_PRESEED,
                         render("bridge-debconf-preseed.txt.j2", main=answers.bridge.main),
                         "the package's question: which main host",
                         "give debconf the answer, so the install asks nothing",
                         BRIDGE_PACKAGE, "install the videobridge alone")
