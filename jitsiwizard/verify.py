"""Verifiers that `Verify` plan steps name. Each takes (root, runner, args) and returns
(ok, message); the message says what was seen, in words an admin can act on."""

from __future__ import annotations

import importlib
from typing import Callable

Verifier = Callable[..., "tuple[bool, str]"]
_VERIFIERS: dict[str, Verifier] = {}

# Modules that register verifiers, imported only when a Verify step runs.
_PROVIDERS = ("jitsiwizard.certs",)


def register(name: str) -> Callable[[Verifier], Verifier]:
    def deco(fn: Verifier) -> Verifier:
        _VERIFIERS[name] = fn
        return fn

    return deco


def get(name: str) -> Verifier:
    if name not in _VERIFIERS:
        for module in _PROVIDERS:
            try:
                importlib.import_module(module)
            except ImportError:
                continue
    try:
        return _VERIFIERS[name]
    except KeyError:
        raise KeyError(f"no verifier named {name!r}") from None
