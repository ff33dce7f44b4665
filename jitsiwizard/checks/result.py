"""What every check returns, and the helpers that keep checks bounded in time."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

OK = "ok"
WARN = "warn"
FAIL = "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}


@dataclass
class CheckResult:
    """One finding: `name` is dotted (dns.ipv4, ports.firewall, ldap.bind, ...), `status`
    is ok, warn or fail, `evidence` lists what was seen, `fix` says what to try in plain words.
    `data` carries machine-readable details (the reason code, addresses for a NAT mapping)."""

    name: str
    status: str
    summary: str
    evidence: list[str] = field(default_factory=list)
    fix: str = ""
    data: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in _RANK:
            raise ValueError(f"status must be ok, warn or fail, not {self.status!r}")

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def to_json(self) -> dict:
        return {"name": self.name, "status": self.status, "summary": self.summary,
                "evidence": list(self.evidence), "fix": self.fix, "data": dict(self.data)}

    def render(self) -> str:
        """A few lines for a terminal: status, summary, evidence, fix."""
        lines = [f"[{self.status.upper():>4}] {self.name}: {self.summary}"]
        lines += [f"       saw: {line}" for line in self.evidence]
        if self.fix and self.status != OK:
            lines.append(f"       fix: {self.fix}")
        return "\n".join(lines)


def worst(statuses: list[str]) -> str:
    return max(statuses, key=_RANK.__getitem__, default=OK)


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a blocking call in a daemon thread and await its result.

    Unlike asyncio.to_thread, a call still blocked when the caller gives up (wait_for timed
    out) cannot hold up interpreter exit: the executor's threads are joined at exit, these
    are not.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def work() -> None:
        try:
            outcome = (True, fn(*args))
        except BaseException as exc:  # handed to the awaiting side, which re-raises it
            outcome = (False, exc)
        # A closed loop (RuntimeError) means nobody waits for this answer any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, daemon=True, name=f"check:{getattr(fn, '__name__', fn)}").start()
    return await future
