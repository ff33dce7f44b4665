"""A whole host's filesystem for one lab host, so the wizard can run there as it runs on a
real server: `/` as its root, without --simulate, its commands run for real.

It is an overlay over the tree's own `/`: every write lands in an upper layer under the
test's directory and leaves with it; the tree the suite runs in never changes. /proc, /dev,
/run, /tmp (where the tests keep their files, and the overlay's layers: the suite's trees
mount /tmp apart from `/`, as overlayfs needs) and the checkout the wizard is installed from
are the tree's own. A fixture tree (a bridge host, say) is copied on top, so the host
looks like that install: its os-release, its dpkg status, its /etc/jitsi.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

SHARED = ("/proc", "/dev", "/run", "/tmp", str(Path(__file__).resolve().parents[2]))


def _mount(*argv: str) -> None:
    done = subprocess.run(["mount", *argv], capture_output=True, text=True, timeout=30)
    if done.returncode:
        raise RuntimeError(f"mount {' '.join(argv)}: {done.stderr.strip()}")


@contextlib.contextmanager
def host_root(workdir: Path, tree: Path):
    """The merged `/` of a host shaped like `tree`; unmounted on leaving."""
    workdir = Path(workdir)
    upper, work, merged = workdir / "upper", workdir / "work", workdir / "merged"
    for path in (upper, work, merged):
        path.mkdir(parents=True)
    _mount("-t", "overlay", "overlay", "-o",
           f"lowerdir=/,upperdir={upper},workdir={work}", str(merged))
    mounted = [merged]
    try:
        for shared in SHARED:
            inside = merged / shared.lstrip("/")
            if any(inside.is_relative_to(m) for m in mounted[1:]):
                continue  # the checkout under /tmp, say: there already
            # /tmp not recursively: the overlay itself sits under it and must not reappear.
            # /dev with what is mounted under it (pts for sshd's sessions, shm).
            _mount("--rbind" if shared == "/dev" else "--bind", shared, str(inside))
            mounted.append(inside)
        # Over what the tree's `/` has there (its os-release, its dpkg status).
        subprocess.run(["cp", "-a", "--remove-destination", f"{tree}/.", str(merged)],
                       check=True, capture_output=True, timeout=60)
        yield merged
    finally:
        for path in reversed(mounted):
            # Lazily: a process the test left inside (a guard, say) must not keep it.
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)
