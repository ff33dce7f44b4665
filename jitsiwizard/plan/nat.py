"""The videobridge's NAT mapping, alike on a meeting server and on a videobridge host: a static
mapping in the managed block of jvb.conf, or, on a 2020-era bridge without jvb.conf, the
harvester keys of its legacy sip-communicator.properties."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jitsiwizard.errors import UserError
from jitsiwizard.formats import hocon, properties
from jitsiwizard.paths import JVB_CONF
from jitsiwizard.plan.render import render

if TYPE_CHECKING:
    from jitsiwizard.answers.model import HostAnswers
    from jitsiwizard.plan.builder import Builder

NAT_LOCAL_KEY = "org.ice4j.ice.harvest.NAT_HARVESTER_LOCAL_ADDRESS"
NAT_PUBLIC_KEY = "org.ice4j.ice.harvest.NAT_HARVESTER_PUBLIC_ADDRESS"
NAT_SUMMARY = "videobridge maps its private address to the public one (NAT)"
NO_NAT_SUMMARY = "no NAT address mapping"


def nat_addresses(host: HostAnswers) -> tuple[str, str] | None:
    """(local, public) when the host is behind NAT, else None. A public address without the
    private one cannot be mapped: refused."""
    if host.public_address and host.local_address:
        return host.local_address, host.public_address
    if host.public_address:
        raise UserError("host.public_address is set but host.local_address is not",
                        "give this host's private address (the one `ip addr` shows) as "
                        "local_address under [host]", field="host.local_address")
    return None


def nat_block(host: HostAnswers) -> str | None:
    """jvb.conf's static mapping (templates/jvb-nat.hocon.j2), or None without NAT."""
    mapping = nat_addresses(host)
    if mapping is None:
        return None
    return render("jvb-nat.hocon.j2", local_address=mapping[0], public_address=mapping[1])


def jvb_conf_nat(b: Builder, host: HostAnswers, service: str) -> None:
    """The mapping as the managed block of jvb.conf (the block holds nothing else here)."""
    body = nat_block(host)
    b.file(JVB_CONF, b.edit(JVB_CONF, hocon.hocon_managed_block, body),
           NAT_SUMMARY if body else NO_NAT_SUMMARY, services=(service,))


def with_nat_keys(text: str, local: str, public: str) -> str:
    """The legacy properties with the harvester's two keys set."""
    text = properties.properties_set(text, NAT_LOCAL_KEY, local)
    return properties.properties_set(text, NAT_PUBLIC_KEY, public)


def without_nat_keys(text: str) -> str:
    """The legacy properties without the harvester's keys."""
    return properties.properties_remove(properties.properties_remove(text, NAT_PUBLIC_KEY),
                                        NAT_LOCAL_KEY)
