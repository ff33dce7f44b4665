"""Would this host's firewall let a new connection to a port in from anywhere?

Reads nftables' JSON (`nft -j list ruleset`, which also shows iptables-nft rules) and the text
of `iptables-legacy-save` (converted to the same shape); ufw's own rule files are read by
jitsiwizard/formats/ufw.py. The answer
is allowed or blocked, the rule that decided it, and what could not be read for certain:
a rule with a match we do not understand is reported, never silently guessed.
"""

from __future__ import annotations

import re
import shlex

from jitsiwizard.formats.ufw import Decision, Packet

_PROTO_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp"}
_MAX_DEPTH = 16


class _Unknown(Exception):
    """An expression we cannot evaluate for certain."""


def _proto_name(value: object) -> str:
    text = str(value).lower()
    return _PROTO_NUMBERS.get(text, text)


class NftRuleset:
    """An nftables ruleset as `nft -j list ruleset` prints it."""

    def __init__(self, document: dict):
        self.chains: dict[tuple[str, str, str], dict] = {}
        self.rules: dict[tuple[str, str, str], list[dict]] = {}
        self.sets: dict[tuple[str, str, str], list] = {}
        for item in document.get("nftables", []):
            if "chain" in item:
                chain = item["chain"]
                key = (chain["family"], chain["table"], chain["name"])
                self.chains[key] = chain
                self.rules.setdefault(key, [])
            elif "rule" in item:
                rule = item["rule"]
                key = (rule["family"], rule["table"], rule["chain"])
                self.rules.setdefault(key, []).append(rule)
            elif "set" in item:
                nset = item["set"]
                self.sets[(nset["family"], nset["table"], nset["name"])] = nset.get("elem", [])

    @property
    def empty(self) -> bool:
        return not self.input_chains("ip") and not self.input_chains("ip6")

    def input_chains(self, family: str) -> list[tuple[str, str, str]]:
        """Base chains on the input hook that see packets of `family`, by priority."""
        found = [(chain.get("prio", 0), key) for key, chain in self.chains.items()
                 if chain.get("hook") == "input" and chain.get("type", "filter") == "filter"
                 and key[0] in (family, "inet")]
        return [key for _, key in sorted(found)]

    def decide(self, packet: Packet) -> Decision | None:
        """None when no chain filters this family (nothing is blocked by nftables)."""
        chains = self.input_chains(packet.family)
        if not chains:
            return None
        doubts: list[str] = []
        only_from: list[str] = []
        reasons = []
        for key in chains:
            verdict, where = self._walk(key, packet, doubts, only_from, 0)
            if verdict is None:
                policy = self.chains[key].get("policy", "accept")
                verdict, where = policy, f"policy {policy} of {_chain_name(key)}"
            if verdict != "accept":
                return Decision(False, where, doubts, only_from)
            reasons.append(where)
        return Decision(True, " and ".join(reasons), doubts, only_from)

    def _walk(self, key, packet: Packet, doubts: list[str], only_from: list[str],
              depth: int) -> tuple[str | None, str]:
        if depth > _MAX_DEPTH or key not in self.rules:
            return None, ""
        for rule in self.rules[key]:
            where = f"{_chain_name(key)} rule {rule.get('handle', '?')} ({_rule_text(rule)})"
            outcome = self._rule(rule, packet, doubts, only_from, where)
            if outcome is None:
                continue
            kind, target = outcome
            if kind in ("accept", "drop"):
                return kind, where
            if kind in ("jump", "goto"):
                sub = (key[0], key[1], target)
                verdict, sub_where = self._walk(sub, packet, doubts, only_from, depth + 1)
                if verdict is not None or kind == "goto":
                    return verdict, sub_where
            elif kind == "return":
                return None, ""
        return None, ""

    def _rule(self, rule: dict, packet: Packet, doubts: list[str], only_from: list[str],
              where: str) -> tuple[str, str] | None:
        """(verdict kind, jump target) when the rule applies to the packet, else None."""
        unsure = False
        restricted = ""
        for expr in rule.get("expr", []):
            if "match" in expr:
                match = expr["match"]
                left = match.get("left", {})
                source = _source_match(left)
                if source and source.split()[0] != packet.family:
                    return None  # an address of the other family: the rule is for those
                if source:
                    restricted = f"{source} {_value_text(match.get('right'))}"
                    continue
                try:
                    hit = self._match(left, match.get("op", "=="), match.get("right"), packet,
                                      rule)
                except _Unknown:
                    unsure = True
                    continue
                if not hit:
                    return None
            elif "vmap" in expr:
                try:
                    verdict = self._vmap(expr["vmap"], packet, rule)
                except _Unknown:
                    unsure = True
                    verdict = None
                if verdict is None:
                    if unsure:
                        doubts.append(f"{where}: cannot tell whether it applies")
                    return None
                return self._applies(verdict, unsure, restricted, doubts, only_from, where)
            elif "xt" in expr:
                unsure = True
            else:
                verdict = _verdict(expr)
                if verdict is not None:
                    return self._applies(verdict, unsure, restricted, doubts, only_from, where)
        return None

    @staticmethod
    def _applies(verdict: tuple[str, str], unsure: bool, restricted: str, doubts: list[str],
                 only_from: list[str], where: str) -> tuple[str, str] | None:
        if restricted:
            # Rules for some sources only: they do not decide for "anyone on the internet".
            if verdict[0] == "accept":
                only_from.append(f"{restricted} ({where})")
            return None
        if unsure:
            doubts.append(f"{where}: cannot tell whether it applies")
            return None
        return verdict

    def _match(self, left: dict, op: str, right: object, packet: Packet, rule: dict) -> bool:
        value = self._left_value(left, packet)
        if value is None:  # the expression concerns another protocol or family: no match
            return False
        if isinstance(value, frozenset):  # flags such as ct state
            hit = bool(value & {str(v) for v in _flatten(right, self._set_elems(rule))})
        else:
            hit = self._compare(value, op, right, rule)
            if op in ("<", ">", "<=", ">="):
                return hit
        return not hit if op == "!=" else hit

    def _left_value(self, left: dict, packet: Packet):
        if "payload" in left:
            payload = left["payload"]
            proto, name = payload.get("protocol"), payload.get("field")
            if proto in ("tcp", "udp"):
                if proto != packet.proto:
                    return None
                if name == "dport":
                    return packet.port
                if name == "sport":
                    raise _Unknown
                raise _Unknown
            if proto == "th" and name == "dport":
                return packet.port
            if proto in ("ip", "ip6"):
                if proto != packet.family:
                    return None
                if name in ("protocol", "nexthdr"):
                    return packet.proto
                raise _Unknown  # daddr and other header fields
            if proto in ("icmp", "icmpv6", "igmp", "sctp", "dccp"):
                return None
            raise _Unknown
        if "meta" in left:
            key = left["meta"].get("key")
            if key == "l4proto":
                return packet.proto
            if key == "nfproto":
                return "ipv4" if packet.family == "ip" else "ipv6"
            if key in ("iifname", "iif"):
                return "\0external"  # not lo; any other name is unknown below
            if key == "pkttype":
                return "host"
            raise _Unknown
        if "ct" in left and left["ct"].get("key") == "state":
            return frozenset({"new"})
        raise _Unknown

    def _compare(self, value, op: str, right: object, rule: dict) -> bool:
        elems = self._set_elems(rule)
        if value == "\0external":
            names = [str(v) for v in _flatten(right, elems)]
            if names and all(n == "lo" for n in names):
                return False
            raise _Unknown  # an interface name: depends on where the packet arrives
        if op in ("<", ">", "<=", ">="):
            if not isinstance(value, int) or not isinstance(right, int):
                raise _Unknown
            return {"<": value < right, ">": value > right, "<=": value <= right,
                    ">=": value >= right}[op]
        for item in _flatten(right, elems):
            if isinstance(item, dict) and "range" in item:
                low, high = item["range"]
                if isinstance(value, int) and int(low) <= value <= int(high):
                    return True
            elif isinstance(item, dict):
                raise _Unknown
            elif isinstance(value, int):
                if str(item).isdigit() and int(item) == value:
                    return True
                if _service_port(str(item)) == value:
                    return True
            elif _proto_name(item) == str(value):
                return True
        return False

    def _vmap(self, vmap: dict, packet: Packet, rule: dict) -> tuple[str, str] | None:
        key = vmap.get("key", {})
        if _source_match(key):
            raise _Unknown
        value = self._left_value(key, packet)
        if value is None:
            return None
        data = vmap.get("data", {})
        entries = data.get("set", []) if isinstance(data, dict) else []
        for entry in entries:
            if not isinstance(entry, list) or len(entry) != 2:
                raise _Unknown
            item, verdict = entry
            hit = (bool(value & {str(v) for v in _flatten(item, {})})
                   if isinstance(value, frozenset) else self._compare(value, "==", item, rule))
            if hit:
                return _verdict(verdict)
        return None

    def _set_elems(self, rule: dict) -> dict[str, list]:
        return {name: elems for (family, table, name), elems in self.sets.items()
                if family == rule.get("family") and table == rule.get("table")}


def _flatten(right: object, sets: dict[str, list]) -> list:
    if isinstance(right, str) and right.startswith("@"):
        if right[1:] not in sets:
            raise _Unknown
        return _flatten(sets[right[1:]], sets)
    if isinstance(right, dict) and "set" in right:
        return _flatten(right["set"], sets)
    if isinstance(right, list):
        out: list = []
        for item in right:
            out.extend(_flatten(item, sets))
        return out
    if isinstance(right, dict) and "elem" in right:
        return _flatten(right["elem"].get("val"), sets)
    return [right]


def _source_match(left: dict) -> str:
    payload = left.get("payload") if isinstance(left, dict) else None
    if payload and payload.get("protocol") in ("ip", "ip6") and payload.get("field") == "saddr":
        return f"{payload['protocol']} saddr"
    return ""


def _verdict(expr: object) -> tuple[str, str] | None:
    if not isinstance(expr, dict):
        return None
    if "accept" in expr:
        return ("accept", "")
    if "drop" in expr or "reject" in expr:
        return ("drop", "")
    if "jump" in expr:
        return ("jump", expr["jump"].get("target", ""))
    if "goto" in expr:
        return ("goto", expr["goto"].get("target", ""))
    if "return" in expr:
        return ("return", "")
    return None


def _service_port(name: str) -> int | None:
    return {"ssh": 22, "http": 80, "https": 443}.get(name)


def _chain_name(key: tuple[str, str, str]) -> str:
    return f"{key[0]} {key[1]} {key[2]}"


def _value_text(value: object) -> str:
    if isinstance(value, dict):
        if "set" in value:
            return "{ " + ", ".join(_value_text(v) for v in value["set"]) + " }"
        if "range" in value:
            return "-".join(str(v) for v in value["range"])
        if "prefix" in value:
            return f"{value['prefix'].get('addr')}/{value['prefix'].get('len')}"
        return "?"
    if isinstance(value, list):
        return ",".join(_value_text(v) for v in value)
    return str(value)


def _rule_text(rule: dict) -> str:
    """A short nft-like rendering of a rule, for evidence."""
    parts = []
    for expr in rule.get("expr", []):
        if "match" in expr:
            match = expr["match"]
            left = match.get("left", {})
            if "payload" in left:
                name = f"{left['payload'].get('protocol')} {left['payload'].get('field')}"
            elif "meta" in left:
                name = f"meta {left['meta'].get('key')}"
            elif "ct" in left:
                name = f"ct {left['ct'].get('key')}"
            else:
                name = next(iter(left), "?") if isinstance(left, dict) else "?"
            op = match.get("op", "==")
            op_text = "" if op in ("==", "in") else f"{op} "
            parts.append(f"{name} {op_text}{_value_text(match.get('right'))}")
        elif "xt" in expr:
            parts.append(f"xt {expr['xt'].get('name', '?')}")
        elif "vmap" in expr:
            parts.append("vmap {...}")
        else:
            verdict = _verdict(expr)
            if verdict:
                parts.append(" ".join(v for v in verdict if v))
    return " ".join(parts) or "empty rule"


# --- iptables-legacy-save ---------------------------------------------------------------------

def iptables_to_nft(text: str, family: str = "ip") -> dict:
    """The filter table of `iptables-save` output, as the nft JSON shape NftRuleset reads."""
    items: list[dict] = []
    table = None
    handle = 0
    builtin = {"INPUT", "FORWARD", "OUTPUT"}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
            continue
        if table != "filter" or not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith(":"):
            name, policy = (line[1:].split() + ["-"])[:2]
            chain = {"family": family, "table": "filter", "name": name}
            if name == "INPUT":
                chain.update({"type": "filter", "hook": "input", "prio": 0,
                              "policy": "drop" if policy in ("DROP", "REJECT") else "accept"})
            items.append({"chain": chain})
            continue
        if line.startswith("-A "):
            handle += 1
            try:
                words = shlex.split(line)
            except ValueError:
                words = line.split()
            items.append({"rule": {"family": family, "table": "filter", "chain": words[1],
                                   "handle": handle,
                                   "expr": _iptables_exprs(words[2:], builtin)}})
    return {"nftables": items}


def _iptables_exprs(words: list[str], builtin: set[str]) -> list[dict]:
    exprs: list[dict] = []
    proto = ""
    i = 0
    negate = False
    while i < len(words):
        word = words[i]
        arg = words[i + 1] if i + 1 < len(words) else ""
        op = "!=" if negate else "=="
        negate = False
        if word == "!":
            negate = True
            i += 1
            continue
        if word in ("-p", "--protocol"):
            proto = _proto_name(arg)
            exprs.append(_m({"meta": {"key": "l4proto"}}, op, proto))
        elif word in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            ports: list = []
            for part in arg.split(","):
                low, _, high = part.partition(":")
                ports.append({"range": [int(low), int(high)]} if high else int(low))
            left = {"payload": {"protocol": proto or "th", "field": "dport"}}
            exprs.append(_m(left, op, {"set": ports} if len(ports) > 1 else ports[0]))
        elif word in ("-s", "--source"):
            exprs.append(_m({"payload": {"protocol": "ip", "field": "saddr"}}, op, arg))
        elif word in ("-i", "--in-interface"):
            exprs.append(_m({"meta": {"key": "iifname"}}, op, arg))
        elif word in ("--ctstate", "--state"):
            exprs.append(_m({"ct": {"key": "state"}}, "!=" if op == "!=" else "in",
                            [s.lower() for s in arg.split(",")]))
        elif word in ("-m", "--match"):
            if arg not in ("tcp", "udp", "conntrack", "state", "multiport", "comment"):
                exprs.append({"xt": {"type": "match", "name": arg}})
        elif word == "--comment":
            pass
        elif word in ("-j", "--jump", "-g", "--goto"):
            target = {"ACCEPT": {"accept": None}, "DROP": {"drop": None},
                      "REJECT": {"reject": None}, "RETURN": {"return": None}}.get(arg)
            if target is None and arg in ("LOG", "NFLOG", "ULOG"):
                i += 2
                continue
            if target is None and re.fullmatch(r"[A-Z_]+", arg) and arg not in builtin:
                target = {"xt": {"type": "target", "name": arg}}
            if target is None:
                target = {"jump" if word in ("-j", "--jump") else "goto": {"target": arg}}
            exprs.append(target)
            break  # what follows are the target's options (--reject-with ...)
        elif word.startswith("-"):
            exprs.append({"xt": {"type": "match", "name": word.lstrip("-")}})
            if arg and not arg.startswith("-"):
                i += 1
            i += 1
            continue
        i += 2
    return exprs


def _m(left: dict, op: str, right: object) -> dict:
    return {"match": {"op": op, "left": left, "right": right}}
