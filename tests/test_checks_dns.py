"""DNS checks against a real dnsmasq on loopback: every classification, and the time bound."""

from __future__ import annotations

import asyncio
import time

import pytest

from jitsiwizard.checks.dnscheck import check_dns, is_public, parse_resolver
from jitsiwizard.errors import UserError
from tests.lab.dns import Dnsmasq, RefusingDns, SilentDns

pytestmark = pytest.mark.lab

ZONE = "example.test"
HERE_V4 = "192.0.2.10"  # stands in for this host's public address
HERE_V6 = "2001:db8::10"
RECORDS = {
    "meet": (HERE_V4, HERE_V6),
    "v4only": (HERE_V4, None),
    "v6only": (None, HERE_V6),
    "elsewhere": ("198.51.100.7", None),
    "v6elsewhere": (HERE_V4, "2001:db8::99"),
    "natted": ("203.0.113.5", None),
}


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    server = Dnsmasq(tmp_path_factory.mktemp("dns"), ZONE, RECORDS,
                     cnames={"alias": "meet", "alias2": "alias"}).start()
    yield server
    server.stop()


def by_name(results):
    return {r.name: r for r in results}


async def run(zone, name, host, **kw):
    results = await check_dns(f"{name}.{ZONE}", resolver=zone.resolver, timeout=3,
                              host_addresses=host, authoritative_port=zone.port, **kw)
    return by_name(results)


async def test_records_pointing_here_are_ok(zone):
    found = await run(zone, "meet", [HERE_V4, HERE_V6, "10.0.0.5"])
    assert found["dns.ipv4"].status == "ok"
    assert found["dns.ipv6"].status == "ok"
    # The zone's own server was found through its NS record and asked too.
    assert any(line.startswith("authoritative ns1.example.test") for line in
               found["dns.ipv4"].evidence)


async def test_cnames_are_followed(zone):
    found = await run(zone, "alias2", [HERE_V4, HERE_V6])
    assert found["dns.ipv4"].status == "ok"
    evidence = "\n".join(found["dns.ipv4"].evidence)
    assert "CNAME alias2.example.test -> alias.example.test" in evidence
    assert "CNAME alias.example.test -> meet.example.test" in evidence


async def test_nxdomain(zone):
    found = await run(zone, "nothere", [HERE_V4])
    result = found["dns.ipv4"]
    assert (result.status, result.data["reason"]) == ("fail", "nxdomain")
    assert "NXDOMAIN" in result.summary
    assert f"-> {HERE_V4}" in result.fix


async def test_name_without_a_record(zone):
    found = await run(zone, "v6only", [HERE_V4, HERE_V6])
    assert found["dns.ipv4"].data["reason"] == "no_a_record"
    assert found["dns.ipv4"].status == "fail"
    assert found["dns.ipv6"].status == "ok"


async def test_record_pointing_elsewhere(zone):
    found = await run(zone, "elsewhere", [HERE_V4])
    result = found["dns.ipv4"]
    assert (result.status, result.data["reason"]) == ("fail", "elsewhere")
    assert "198.51.100.7" in result.summary and HERE_V4 in result.fix


async def test_private_address_with_public_answer_is_nat(zone):
    found = await run(zone, "natted", ["10.0.0.5"])
    result = found["dns.ipv4"]
    assert (result.status, result.data["reason"]) == ("warn", "nat")
    assert result.data["local_address"] == "10.0.0.5"
    assert result.data["public_address"] == "203.0.113.5"
    assert "videobridge" in result.summary
    # Once the answers carry the public address, the mapping is in place.
    mapped = await run(zone, "natted", ["10.0.0.5"], public_address="203.0.113.5")
    assert (mapped["dns.ipv4"].status, mapped["dns.ipv4"].data["reason"]) == ("ok",
                                                                              "nat_mapped")
    assert mapped["dns.ipv4"].data["public_address"] == "203.0.113.5"


async def test_missing_aaaa_with_global_ipv6_warns(zone):
    found = await run(zone, "v4only", [HERE_V4, HERE_V6])
    result = found["dns.ipv6"]
    assert (result.status, result.data["reason"]) == ("warn", "aaaa_missing")
    assert HERE_V6 in result.fix
    # Without a global IPv6 address (a ULA is not one) there is nothing to publish.
    quiet = await run(zone, "v4only", [HERE_V4, "fd00::2"])
    assert (quiet["dns.ipv6"].status, quiet["dns.ipv6"].data["reason"]) == ("ok", "no_ipv6")


async def test_aaaa_pointing_elsewhere_fails(zone):
    found = await run(zone, "v6elsewhere", [HERE_V4, HERE_V6])
    result = found["dns.ipv6"]
    assert (result.status, result.data["reason"]) == ("fail", "aaaa_elsewhere")
    assert "IPv6 clients" in result.summary
    assert found["dns.ipv4"].status == "ok"


async def test_resolver_error_answer(zone):
    with RefusingDns() as refusing:
        results = await check_dns("meet.elsewhere.test", resolver=refusing.resolver, timeout=3,
                                  host_addresses=[HERE_V4], authoritative_port=zone.port)
    result = by_name(results)["dns.ipv4"]
    assert (result.status, result.data["reason"]) == ("fail", "resolver_failure")
    assert "REFUSED" in result.summary


async def test_unresponsive_resolver_is_bounded_and_explained():
    with SilentDns() as silent:
        started = time.monotonic()
        results = await check_dns(f"meet.{ZONE}", resolver=silent.resolver, timeout=1.0,
                                  host_addresses=[HERE_V4], authoritative_port=silent.port)
        elapsed = time.monotonic() - started
    assert elapsed < 2.0
    result = by_name(results)["dns.ipv4"]
    assert (result.status, result.data["reason"]) == ("fail", "resolver_failure")
    assert f"no answer from {silent.resolver} within 1 s" in result.summary


@pytest.fixture
def start_dns(tmp_path):
    """start_dns(name, records) -> a started Dnsmasq for ZONE, stopped after the test."""
    started: list[Dnsmasq] = []

    def start(name: str, records: dict) -> Dnsmasq:
        server = Dnsmasq(tmp_path / name, ZONE, records).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def test_fresh_record_seen_by_authoritative_server_only(start_dns):
    """The resolver still has the old zone (no record); the zone's own server, found via
    NS, already has it: the admin is told to wait, not to add the record again."""
    fresh = start_dns("auth", {"meet": (HERE_V4, None)})
    stale = start_dns("cache", {})
    # The stale server names ns1 at 127.0.0.1; the zone's servers are asked on the fresh
    # server's port.
    results = by_name(await check_dns(f"meet.{ZONE}", resolver=stale.resolver, timeout=3,
                                      host_addresses=[HERE_V4],
                                      authoritative_port=fresh.port))
    result = results["dns.ipv4"]
    assert (result.status, result.data["reason"]) == ("warn", "not_yet_visible")
    assert "wait up to 600 s" in result.fix
    evidence = "\n".join(result.evidence)
    assert "NXDOMAIN" in evidence and f"A -> {HERE_V4}" in evidence
    assert "authoritative ns1.example.test (127.0.0.1)" in evidence


async def test_zone_changed_while_resolver_has_the_old_answer(start_dns):
    moved = start_dns("auth", {"meet": ("198.51.100.7", None)})
    cached = start_dns("cache", {"meet": (HERE_V4, None)})
    results = by_name(await check_dns(f"meet.{ZONE}", resolver=cached.resolver, timeout=3,
                                      host_addresses=[HERE_V4],
                                      authoritative_port=moved.port))
    result = results["dns.ipv4"]
    assert (result.status, result.data["reason"]) == ("warn", "zone_changed")
    assert "198.51.100.7" in result.summary


async def test_dns_checks_run_concurrently(zone):
    """Many names at once against a dead resolver take one timeout, not many."""
    with SilentDns() as silent:
        started = time.monotonic()
        await asyncio.gather(*(check_dns(f"n{i}.{ZONE}", resolver=silent.resolver, timeout=0.8,
                                         host_addresses=[HERE_V4]) for i in range(4)))
        assert time.monotonic() - started < 1.6


def test_parse_resolver():
    assert parse_resolver("127.0.0.1") == ("127.0.0.1", 53)
    assert parse_resolver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_resolver("[::1]:5353") == ("::1", 5353)
    assert parse_resolver("::1") == ("::1", 53)
    for bad in ("dns.example.org", "127.0.0.1:0", "127.0.0.1:x", "[::1]x"):
        with pytest.raises(UserError) as caught:
            parse_resolver(bad)
        assert caught.value.field == "--resolver"


def test_public_and_private_addresses():
    assert not is_public("10.1.2.3") and not is_public("100.64.0.1")
    assert not is_public("fd00::2") and not is_public("fe80::1") and not is_public("127.0.0.1")
    assert is_public("203.0.113.5") and is_public("2001:db8::10")
