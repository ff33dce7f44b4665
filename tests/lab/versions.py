"""Versions of the lab's Debian packages, for the differences between releases that the
tests pin down (each use says which difference and why)."""

from __future__ import annotations

import re
import subprocess
from functools import cache


@cache
def package_version(name: str) -> tuple[int, ...]:
    """The installed version of Debian package `name` as numbers: '1.2.5-1+b1' -> (1, 2, 5);
    () when it is not installed."""
    done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True,
                          text=True, timeout=30)
    upstream = done.stdout.split(":")[-1].split("-")[0] if done.returncode == 0 else ""
    return tuple(int(n) for n in re.findall(r"\d+", upstream)[:3])
