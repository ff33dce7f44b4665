"""DNS: do the hostname's A and AAAA records point at this host?

Asks the resolver (the system's, or one given as ADDR[:PORT]) and, at the same time, the
zone's authoritative servers: a record added a minute ago is often still missing from the
resolver's cache, and the admin should hear "wait" rather than "missing".
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import subprocess
from dataclasses import dataclass, field

from jitsiwizard.checks.result import FAIL, OK, WARN, CheckResult, in_thread
from jitsiwizard.errors import UserError

DNS_PORT = 53
MAX_CNAMES = 10
NO_ANSWER = "no answer in time"

# Networks behind which a host needs a NAT mapping to be reachable. Everything else that is
# not loopback or link-local counts as public (documentation ranges too, so tests can use them).
_PRIVATE_NETS = [ipaddress.ip_network(n) for n in
                 ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")]


def is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in net for net in _PRIVATE_NETS if net.version == ip.version)


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (is_private(address) or ip.is_loopback or ip.is_link_local
                or ip.is_unspecified or ip.is_multicast)


def parse_resolver(text: str) -> tuple[str, int]:
    """"ADDR", "ADDR:PORT", "[V6]:PORT" or a bare IPv6 address -> (address, port)."""
    text = text.strip()
    address, port = text, DNS_PORT
    if text.startswith("["):
        head, _, tail = text[1:].partition("]")
        address = head
        if tail:
            if not tail.startswith(":") or not tail[1:].isdigit():
                address = ""
            else:
                port = int(tail[1:])
    elif text.count(":") == 1:
        address, _, given = text.partition(":")
        port = int(given) if given.isdigit() else -1
    try:
        ipaddress.ip_address(address)
    except ValueError:
        address = ""
    if not address or not 0 < port < 65536:
        raise UserError(f"{text!r} is not a resolver address",
                        "give an IP address with an optional port: 127.0.0.1, "
                        "127.0.0.1:5353 or [::1]:5353", field="--resolver")
    return address, port


def local_addresses(timeout: float = 3.0) -> list[str]:
    """This host's interface addresses (not loopback, not link-local), from `ip -j address`."""
    try:
        done = subprocess.run(["ip", "-j", "address", "show"], capture_output=True, text=True,
                              timeout=timeout, check=False)
        interfaces = json.loads(done.stdout or "[]")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    found = []
    for interface in interfaces:
        for info in interface.get("addr_info", []):
            address = info.get("local", "")
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                continue
            if not (ip.is_loopback or ip.is_link_local) and address not in found:
                found.append(address)
    return found


@dataclass
class Lookup:
    """One answer for one record type, from one source."""

    source: str  # "resolver 127.0.0.1:53", "authoritative ns1.example.org (192.0.2.1)"
    kind: str  # answer | nxdomain | nodata | error
    addresses: list[str] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)  # "alias -> target" steps followed
    detail: str = ""  # for errors: what went wrong
    negative_ttl: int | None = None  # how long a cache may keep a "no such record" answer

    def describe(self, name: str, rdtype: str) -> list[str]:
        lines = [f"{self.source}: CNAME {step}" for step in self.chain]
        if self.kind == "answer":
            lines.append(f"{self.source}: {name} {rdtype} -> {', '.join(self.addresses)}")
        elif self.kind == "nxdomain":
            lines.append(f"{self.source}: {name} does not exist (NXDOMAIN)")
        elif self.kind == "nodata":
            lines.append(f"{self.source}: {name} exists but has no {rdtype} record")
        else:
            lines.append(f"{self.source}: {rdtype} lookup failed: {self.detail}")
        return lines


def _soa_minimum(response) -> int | None:
    import dns.rdatatype

    for rrset in getattr(response, "authority", []) or []:
        if rrset.rdtype == dns.rdatatype.SOA:
            return min(rrset.ttl, rrset[0].minimum)
    return None


def _cnames(response, rdtype_name: str) -> list[str]:
    import dns.rdatatype

    return [f"{rrset.name.to_text(omit_final_dot=True)} -> "
            f"{rrset[0].target.to_text(omit_final_dot=True)}"
            for rrset in getattr(response, "answer", []) or []
            if rrset.rdtype == dns.rdatatype.CNAME]


def _make_resolver(resolver: str | None):
    import dns.asyncresolver

    if resolver is None:
        res = dns.asyncresolver.Resolver()  # /etc/resolv.conf
        label = "resolver " + ", ".join(str(n) for n in res.nameservers)
    else:
        address, port = parse_resolver(resolver)
        res = dns.asyncresolver.Resolver(configure=False)
        res.nameservers = [address]
        res.port = port
        label = f"resolver {address}:{port}"
    res.cache = None
    return res, label


def _remaining(deadline: float) -> float:
    return max(0.05, deadline - asyncio.get_running_loop().time())


async def _resolve(res, label: str, name: str, rdtype: str, deadline: float,
                   depth: int = 0) -> Lookup:
    import dns.exception
    import dns.rdatatype
    import dns.resolver

    try:
        answer = await res.resolve(name, rdtype, search=False, raise_on_no_answer=False,
                                   lifetime=_remaining(deadline))
    except dns.resolver.NXDOMAIN as exc:
        responses = list(exc.responses().values())
        chain = _cnames(responses[-1], rdtype) if responses else []
        ttl = _soa_minimum(responses[-1]) if responses else None
        return Lookup(label, "nxdomain", chain=chain, negative_ttl=ttl)
    except dns.resolver.LifetimeTimeout:
        return Lookup(label, "error", detail=NO_ANSWER)
    except dns.resolver.NoNameservers as exc:
        return Lookup(label, "error", detail=_no_nameservers_text(exc))
    except dns.exception.DNSException as exc:
        return Lookup(label, "error", detail=str(exc) or exc.__class__.__name__)
    chain = _cnames(answer.response, rdtype)
    if answer.rrset is None:
        aliases = [r for r in answer.response.answer if r.rdtype == dns.rdatatype.CNAME]
        if aliases and depth < MAX_CNAMES:
            # Some servers answer only the first step of a CNAME chain: follow it ourselves.
            rest = await _resolve(res, label, aliases[-1][0].target.to_text(), rdtype,
                                  deadline, depth + 1)
            rest.chain = chain + rest.chain
            return rest
        return Lookup(label, "nodata", chain=chain, negative_ttl=_soa_minimum(answer.response))
    return Lookup(label, "answer", [r.address for r in answer.rrset], chain)


def _no_nameservers_text(exc) -> str:
    errors = exc.kwargs.get("errors") or []
    parts = []
    for error in errors:
        # (server, tcp, port, exception or rcode text, response) in dnspython 2.x
        what = error[3] if len(error) > 3 else error
        parts.append(str(what))
    return "the resolver answered with an error: " + ("; ".join(parts) or str(exc))


async def _ask_server(address: str, port: int, name: str, rdtype: str, timeout: float):
    """One non-recursive query over a connected UDP socket (so "port unreachable" fails at
    once instead of waiting out the timeout), over TCP when the answer is truncated."""
    import dns.asyncquery
    import dns.flags
    import dns.message

    query = dns.message.make_query(name, rdtype)
    query.flags &= ~dns.flags.RD  # this server's own data, not what it could find out
    loop = asyncio.get_running_loop()
    reply: asyncio.Future = loop.create_future()

    class Protocol(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr) -> None:
            with contextlib.suppress(Exception):  # not a DNS message, or not ours: ignore
                response = dns.message.from_wire(data)
                if not reply.done() and query.is_response(response):
                    reply.set_result(response)

        def error_received(self, exc: Exception) -> None:
            if not reply.done():
                reply.set_exception(exc)

    transport, _ = await loop.create_datagram_endpoint(Protocol, remote_addr=(address, port))
    try:
        transport.sendto(query.to_wire())
        response = await asyncio.wait_for(reply, timeout)
    finally:
        transport.close()
    if response.flags & dns.flags.TC:
        response = await dns.asyncquery.tcp(query, address, timeout=timeout, port=port)
    return response


def _read_authoritative(response, name: str, rdtype: str) -> tuple[str, list[str], list[str], str]:
    """(kind, addresses, chain, final name) from one authoritative response, CNAMEs followed
    as far as the response goes."""
    import dns.name
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype

    wanted = dns.rdatatype.from_text(rdtype)
    current = dns.name.from_text(name)
    chain: list[str] = []
    for _ in range(MAX_CNAMES):
        rrset = response.get_rrset(response.answer, current, dns.rdataclass.IN, wanted)
        if rrset is not None:
            return "answer", [r.address for r in rrset], chain, current.to_text()
        alias = response.get_rrset(response.answer, current, dns.rdataclass.IN,
                                   dns.rdatatype.CNAME)
        if alias is None:
            break
        target = alias[0].target
        chain.append(f"{current.to_text(omit_final_dot=True)} -> "
                     f"{target.to_text(omit_final_dot=True)}")
        current = target
    if chain:
        return "chase", [], chain, current.to_text()
    if response.rcode() == dns.rcode.NXDOMAIN:
        return "nxdomain", [], chain, current.to_text()
    return "nodata", [], chain, current.to_text()


async def _authoritative(res, name: str, deadline: float, port: int
                         ) -> tuple[dict[str, Lookup], list[str]]:
    """Ask the zone's own servers for A and AAAA. Returns lookups by type (empty when no
    authoritative server answered) and evidence lines about how far it got."""
    servers, evidence = await _zone_servers(res, name, deadline)
    if not servers:
        return {}, evidence
    found, failures = await _ask_servers(res, name, servers, deadline, port)
    if len(found) < 2:
        names = ", ".join(f"{ns} ({address})" for ns, address in servers)
        reason = "; ".join(failures[:3]) or "no answer in time"
        evidence.append(f"authoritative servers {names} did not all answer: {reason}")
    return found, evidence


async def _zone_servers(res, name: str, deadline: float
                        ) -> tuple[list[tuple[str, str]], list[str]]:
    """The authoritative servers of the zone holding `name`, as (server name, address), and
    evidence lines; no servers when the zone, its NS records or their addresses are not
    found."""
    import dns.asyncresolver
    import dns.exception

    try:
        # zone_for_name takes no lifetime before dnspython 2.8 (Python 3.10+): bound it here.
        zone = await asyncio.wait_for(dns.asyncresolver.zone_for_name(name, resolver=res),
                                      _remaining(deadline))
        ns_answer = await res.resolve(zone, "NS", lifetime=_remaining(deadline))
    except asyncio.TimeoutError:
        return [], [f"authoritative servers: not found ({NO_ANSWER})"]
    except dns.exception.DNSException as exc:
        return [], [f"authoritative servers: not found ({exc.__class__.__name__})"]
    ns_names = sorted(r.target.to_text(omit_final_dot=True) for r in ns_answer)
    wanted = [(ns, rdtype) for ns in ns_names for rdtype in ("A", "AAAA")]
    ns_lookups = await asyncio.gather(*(_resolve(res, "resolver", ns, rdtype, deadline)
                                        for ns, rdtype in wanted))
    servers = [(ns, address) for (ns, _), lookup in zip(wanted, ns_lookups)
               for address in lookup.addresses]
    evidence = [f"zone {zone.to_text(omit_final_dot=True)}: authoritative servers "
                f"{', '.join(ns_names) or '(none)'}"]
    if not servers:
        evidence.append("authoritative servers: none of their names resolved")
    return servers, evidence


async def _ask_servers(res, name: str, servers: list[tuple[str, str]], deadline: float,
                       port: int) -> tuple[dict[str, Lookup], list[str]]:
    """A and AAAA asked of every server at once: the first usable answer of each type counts
    (an alias leading out of the zone is followed through the resolver). Returns the lookups
    by type and why the other answers did not count."""
    async def ask(ns: str, address: str, rdtype: str):
        return ns, address, rdtype, await _ask_server(address, port, name, rdtype,
                                                      _remaining(deadline))

    pending = {asyncio.ensure_future(ask(ns, address, rdtype))
               for ns, address in servers for rdtype in ("A", "AAAA")}
    found: dict[str, Lookup] = {}
    failures: list[str] = []
    try:
        while pending and len(found) < 2:
            done, pending = await asyncio.wait(pending, timeout=_remaining(deadline),
                                               return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break
            for task in done:
                answered, failure = _answered(task)
                if answered is None:
                    failures.append(failure)
                    continue
                ns, address, rdtype, response = answered
                if rdtype in found:
                    continue
                source = f"authoritative {ns} ({address})"
                failure = _not_authoritative(response, source)
                if failure:
                    failures.append(failure)
                    continue
                found[rdtype] = await _authoritative_lookup(res, response, name, rdtype,
                                                            source, deadline)
    finally:
        for task in pending:
            task.cancel()
    return found, failures


def _answered(task) -> tuple[tuple | None, str]:
    """(ns, address, rdtype, response) of a finished question, or (None, why it failed)."""
    import dns.exception

    try:
        return task.result(), ""
    except ConnectionRefusedError:
        return None, "port unreachable (no DNS server listens there)"
    except asyncio.TimeoutError:
        return None, "no answer in time"
    except (OSError, EOFError, dns.exception.DNSException) as exc:
        return None, f"{exc.__class__.__name__}: {exc}".rstrip(": ")


def _not_authoritative(response, source: str) -> str:
    """Why an answer cannot count as the zone's own ("" when it can)."""
    import dns.flags
    import dns.rcode

    if not response.flags & dns.flags.AA:
        return f"{source} does not answer authoritatively"
    if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return f"{source} answered {dns.rcode.to_text(response.rcode())}"
    return ""


async def _authoritative_lookup(res, response, name: str, rdtype: str, source: str,
                                deadline: float) -> Lookup:
    """What an authoritative answer says about `name`; an alias that leads out of the zone
    is asked of the resolver."""
    kind, addresses, chain, final = _read_authoritative(response, name, rdtype)
    if kind != "chase":
        return Lookup(source, kind, addresses, chain, negative_ttl=_soa_minimum(response))
    target = await _resolve(res, f"{source}, then the resolver", final, rdtype, deadline)
    target.chain = chain + target.chain
    return target


def _addresses_text(addresses: list[str]) -> str:
    return ", ".join(addresses) if addresses else "(none)"


@dataclass
class _Verdict:
    status: str
    reason: str
    summary: str
    fix: str = ""
    data: dict = field(default_factory=dict)


def _judge_ipv4(name: str, lookup: Lookup, host: list[str], public_address: str) -> _Verdict:
    public_here = [a for a in host if is_public(a)]
    private_here = [a for a in host if is_private(a)]
    suggest = public_here[0] if public_here else (public_address or "this host's public address")
    if lookup.kind == "error":
        return _Verdict(FAIL, "resolver_failure", f"could not look up {name}: {lookup.detail}",
                        "check the resolver in /etc/resolv.conf (or pass --resolver) and that "
                        "this host can reach it on port 53")
    if lookup.kind == "nxdomain":
        return _Verdict(FAIL, "nxdomain", f"{name} does not exist in DNS (NXDOMAIN)",
                        f"create an A record: {name} -> {suggest}")
    if lookup.kind == "nodata":
        return _Verdict(FAIL, "no_a_record", f"{name} has no A (IPv4) record",
                        f"create an A record: {name} -> {suggest}")
    answered = lookup.addresses
    ours = [a for a in answered if a in host]
    if ours and len(ours) == len(answered):
        return _Verdict(OK, "ok", f"{name} points at this host ({_addresses_text(ours)})")
    if ours:
        others = [a for a in answered if a not in host]
        return _Verdict(FAIL, "partly_elsewhere",
                        f"{name} has several A records and {_addresses_text(others)} is not "
                        "this host: some clients and the certificate authority will go there",
                        f"remove the A record(s) for {_addresses_text(others)}")
    if len(answered) == 1 and is_public(answered[0]) and private_here and not public_here:
        mapping = {"local_address": private_here[0], "public_address": answered[0]}
        if public_address == answered[0]:
            return _Verdict(OK, "nat_mapped",
                            f"{name} points at {answered[0]}, forwarded to this host's private "
                            f"address {private_here[0]}; the videobridge mapping is set",
                            data=mapping)
        return _Verdict(WARN, "nat",
                        f"{name} points at public address {answered[0]} while this host only "
                        f"has private addresses ({_addresses_text(private_here)}): it is behind "
                        "NAT, and the videobridge needs the address mapping",
                        f"forward 80/tcp, 443/tcp and 10000/udp from {answered[0]} to "
                        f"{private_here[0]}, and let the plan add the videobridge mapping "
                        f"(host.public_address = \"{answered[0]}\")", data=mapping)
    return _Verdict(FAIL, "elsewhere",
                    f"{name} points at {_addresses_text(answered)}, which is not this host "
                    f"({_addresses_text(host)})",
                    f"change the A record of {name} to {suggest}")


def _judge_ipv6(name: str, lookup: Lookup, host: list[str]) -> _Verdict:
    global_here = [a for a in host if is_public(a)]
    if lookup.kind == "error":
        return _Verdict(FAIL, "resolver_failure",
                        f"could not look up the AAAA record of {name}: {lookup.detail}",
                        "check the resolver in /etc/resolv.conf (or pass --resolver)")
    if lookup.kind in ("nxdomain", "nodata"):
        if global_here:
            return _Verdict(WARN, "aaaa_missing",
                            f"{name} has no AAAA record although this host has the global "
                            f"IPv6 address {global_here[0]}: IPv6 clients use IPv4",
                            f"add an AAAA record: {name} -> {global_here[0]}")
        return _Verdict(OK, "no_ipv6",
                        f"{name} has no AAAA record and this host has no global IPv6 address")
    ours = [a for a in lookup.addresses if a in host]
    if len(ours) == len(lookup.addresses):
        return _Verdict(OK, "ok", f"{name} AAAA points at this host ({_addresses_text(ours)})")
    others = [a for a in lookup.addresses if a not in host]
    fix = (f"change the AAAA record of {name} to {global_here[0]}" if global_here else
           f"remove the AAAA record of {name}: this host has no global IPv6 address")
    return _Verdict(FAIL, "aaaa_elsewhere",
                    f"{name} AAAA points at {_addresses_text(others)}, which is not this host: "
                    "IPv6 clients will fail to connect", fix)


def _same(one: Lookup, other: Lookup) -> bool:
    return one.kind == other.kind and sorted(one.addresses) == sorted(other.addresses)


def _combine(rdtype: str, resolved: Lookup, authoritative: Lookup | None,
             judge) -> _Verdict:
    """Judge what the resolver says, and say so when the zone's own servers disagree."""
    now = judge(resolved)
    if authoritative is None or _same(authoritative, resolved):
        return now
    soon = judge(authoritative)
    if resolved.kind == "error":
        # The resolver failed but the zone answered: judge the zone, remembering the failure.
        status = soon.status if soon.status == FAIL else WARN
        return _Verdict(status, soon.reason if status == FAIL else "resolver_failure",
                        f"{soon.summary}; but the resolver failed ({resolved.detail})",
                        soon.fix or "check the resolver in /etc/resolv.conf", soon.data)
    if soon.status == OK and now.status != OK:
        wait = (f"up to {resolved.negative_ttl} s" if resolved.negative_ttl is not None
                else "until the cached answer expires")
        return _Verdict(WARN, "not_yet_visible",
                        f"the zone's servers already have the right {rdtype} record "
                        f"({soon.summary}), but the resolver still answers: {now.summary}",
                        f"wait {wait} for caches to catch up, then check again", soon.data)
    if now.status == OK:
        return _Verdict(WARN, "zone_changed",
                        f"{now.summary}, but the zone's servers now say: {soon.summary}",
                        soon.fix or "check the record at your DNS provider", now.data)
    return now


async def check_dns(hostname: str, *, resolver: str | None = None, timeout: float = 5.0,
                    host_addresses: list[str] | None = None, public_address: str = "",
                    authoritative_port: int = DNS_PORT) -> list[CheckResult]:
    """Results `dns.ipv4` and `dns.ipv6` for `hostname`, within `timeout` seconds.

    `host_addresses` are this host's addresses (read from the interfaces when None);
    `public_address` is the NAT address the answers already give, if any.
    """
    name = hostname.strip().rstrip(".")
    if not name:
        return [CheckResult("dns.hostname", FAIL, "no hostname given", [],
                            "set host.hostname to the name people will type")]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        res, label = _make_resolver(resolver)
    except UserError:
        raise
    except Exception as exc:  # no usable /etc/resolv.conf
        return [CheckResult(f"dns.{family}", FAIL, f"no resolver to ask: {exc}",
                            [f"system resolver: {exc.__class__.__name__}"],
                            "add a nameserver line to /etc/resolv.conf, or pass --resolver",
                            {"reason": "resolver_failure"}) for family in ("ipv4", "ipv6")]
    host_v4, host_v6 = await _this_host(host_addresses, timeout)

    fqdn = name + "."
    v4, v6, (zone_answers, zone_evidence) = await asyncio.gather(
        _resolve(res, label, fqdn, "A", deadline),
        _resolve(res, label, fqdn, "AAAA", deadline),
        _authoritative(res, fqdn, deadline, authoritative_port))
    for lookup in (v4, v6):
        if lookup.kind == "error" and lookup.detail == NO_ANSWER:
            lookup.detail = f"no answer from {label[len('resolver '):]} within {timeout:g} s"

    return [
        _result(name, "A", v4, zone_answers.get("A"), zone_evidence, host_v4,
                lambda lk: _judge_ipv4(name, lk, host_v4, public_address)),
        _result(name, "AAAA", v6, zone_answers.get("AAAA"), zone_evidence, host_v6,
                lambda lk: _judge_ipv6(name, lk, host_v6))]


async def _this_host(host_addresses: list[str] | None,
                     timeout: float) -> tuple[list[str], list[str]]:
    """This host's (IPv4, IPv6) addresses: those given (each must be an IP address), else
    read from the interfaces."""
    if host_addresses is None:
        host_addresses = await asyncio.wait_for(in_thread(local_addresses, min(timeout, 3.0)),
                                                timeout)
    for address in host_addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise UserError(f"{address!r} is not an IP address", "give this host's addresses "
                            "as plain IPv4 or IPv6 addresses", field="--host-address") from None
    return ([a for a in host_addresses if ipaddress.ip_address(a).version == 4],
            [a for a in host_addresses if ipaddress.ip_address(a).version == 6])


def _result(name: str, rdtype: str, resolved: Lookup, authoritative: Lookup | None,
            zone_evidence: list[str], here: list[str], judge) -> CheckResult:
    """dns.ipv4 (rdtype A) or dns.ipv6 (AAAA): the verdict, and every answer seen."""
    verdict = _combine(rdtype, resolved, authoritative, judge)
    evidence = resolved.describe(name, rdtype)
    if authoritative is not None and _same(authoritative, resolved):
        evidence.append(f"{authoritative.source}: the same answer")
    elif authoritative is not None:
        evidence += authoritative.describe(name, rdtype)
    evidence += zone_evidence
    family = "IPv4" if rdtype == "A" else "IPv6"
    evidence.append(f"this host's {family} addresses: {_addresses_text(here)}")
    data = {"reason": verdict.reason, **verdict.data}
    return CheckResult(f"dns.{'ipv4' if rdtype == 'A' else 'ipv6'}", verdict.status,
                       verdict.summary, evidence, verdict.fix, data)
