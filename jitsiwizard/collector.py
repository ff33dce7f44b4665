"""The garbage collector, held off while the program starts: the imports and the first screen
allocate tens of thousands of objects that live as long as the program, and collecting them
as they are made costs about 10 ms of a 0.2 s start (measured with scripts/bench). The entry
point (start.py) holds it; it is back on, with those objects set aside (gc.freeze), as soon
as the first screen is drawn or a command other than the wizard starts."""

from __future__ import annotations

import gc


def hold() -> None:
    gc.disable()


def release() -> None:
    """Idempotent: the objects made so far stay for the program's life, so later collections
    need not walk them."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
