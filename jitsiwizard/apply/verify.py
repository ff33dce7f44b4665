"""The verifiers that `Verify` plan steps name, looked up by name for apply.

Each takes (root, runner, args) and returns (ok, message). The table lives with the code it
checks: jitsiwizard.apply.verifiers.VERIFIERS."""

from __future__ import annotations

from typing import Callable

Verifier = Callable[..., "tuple[bool, str]"]


def get(name: str) -> Verifier:
    # Imported here: apply loads this module whenever a run is recorded, and the certificate
    # code is needed only once a Verify step runs.
    from jitsiwizard.apply.verifiers import VERIFIERS

    try:
        return VERIFIERS[name]
    except KeyError:
        known = ", ".join(sorted(VERIFIERS))
        raise KeyError(f"no verifier named {name!r} (known: {known})") from None
