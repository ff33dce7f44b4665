"""ufw's rule files (`/etc/ufw/user.rules`, `user6.rules`): the `### tuple ###` lines ufw
keeps for each rule, and whether they let a new connection in. Pure: the planner reads them
to avoid adding rules that exist, the port check to judge a port."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Packet:
    """The first packet of a new connection from somewhere on the internet."""

    proto: str  # tcp | udp
    port: int
    family: str = "ip"  # ip | ip6


@dataclass
class Decision:
    allowed: bool
    why: str  # the rule or policy that decided
    doubts: list[str] = field(default_factory=list)  # rules we could not evaluate
    only_from: list[str] = field(default_factory=list)  # source-restricted accepts seen



@dataclass
class UfwRule:
    action: str  # allow | deny | reject | limit
    proto: str  # tcp | udp | any
    ports: str  # "22", "80,443", "60000:61000", "any"
    source: str
    direction: str  # in | out

    def covers(self, packet: Packet) -> bool:
        if self.proto not in ("any", packet.proto) or self.direction != "in":
            return False
        if self.ports == "any":
            return True
        for part in self.ports.split(","):
            low, _, high = part.partition(":")
            if low.isdigit() and int(low) <= packet.port <= int(high or low):
                return True
        return False

    @property
    def from_anywhere(self) -> bool:
        return self.source in ("0.0.0.0/0", "::/0", "any")

    def text(self) -> str:
        source = "" if self.from_anywhere else f" from {self.source}"
        proto = "" if self.proto == "any" else f"/{self.proto}"
        return f"ufw {self.action} {self.ports}{proto}{source}"


def ufw_rules(text: str) -> list[UfwRule]:
    """The `### tuple ###` lines of ufw's user.rules / user6.rules, in order."""
    rules = []
    for line in text.splitlines():
        if not line.startswith("### tuple ###"):
            continue
        fields = line[len("### tuple ###"):].split()
        if len(fields) < 6:
            continue
        action, proto, dport, _dst, _sport, src = fields[:6]
        direction = fields[-1].split("_", 1)[0] if len(fields) > 6 else "in"
        rules.append(UfwRule(action.split("_", 1)[0], proto, dport, src, direction))
    return rules


def ufw_decide(rules: list[UfwRule], default_policy: str, packet: Packet) -> Decision:
    only_from = []
    for rule in rules:
        if not rule.covers(packet):
            continue
        if not rule.from_anywhere:
            if rule.action in ("allow", "limit"):
                only_from.append(rule.text())
            continue
        return Decision(rule.action in ("allow", "limit"), rule.text(), [], only_from)
    policy = default_policy.lower()
    return Decision(policy == "accept", f"ufw default incoming policy {policy}", [], only_from)
