"""What a `Verify` plan step checks on the host after the step it follows, looked up by name
for apply: the table (VERIFIERS) and its lookup (get), with the verifiers of the certificate
routes.

Each takes (root, runner, args) and returns (ok, message); the message says what was seen, in
words an admin can act on."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from jitsiwizard.rootfs import Root

Verifier = Callable[..., "tuple[bool, str]"]

# The certificate code (jitsiwizard.checks.certs) is imported inside each verifier: apply loads
# this module whenever a run is recorded, and that code is needed only once a Verify step runs.


def _as_root(root) -> Root:
    return root if isinstance(root, Root) else Root(root)


def certificate_issued(root, runner, args: dict) -> tuple[bool, str]:
    """The certificate at args["cert"] comes from a CA, is in date and covers args["hostname"]."""
    from jitsiwizard.checks.certs import format_utc, read_first_cert

    path, host = args["cert"], args["hostname"]
    info = read_first_cert(_as_root(root).read_text(path) or "")
    if info is None:
        return False, f"{path} holds no readable certificate"
    now = datetime.now(timezone.utc)
    if info.self_signed:
        return False, f"{path} is still self-signed ({info.subject}): no certificate was issued"
    if info.not_after <= now:
        return False, f"{path} expired on {format_utc(info.not_after)}"
    if not info.covers(host):
        return False, f"{path} is for {', '.join(info.dns_names) or info.subject}, not {host}"
    return True, (f"{path}: {host}, issued by {info.issuer}, valid until "
                  f"{format_utc(info.not_after)}")


def own_certificate(root, runner, args: dict) -> tuple[bool, str]:
    """validate_own at apply time, so nginx is never pointed at files that changed since."""
    from jitsiwizard.checks.certs import validate_own

    base = _as_root(root)
    problems = validate_own(str(base.path(args["cert"])), str(base.path(args["key"])),
                            args["hostname"])
    errors = [p for p in problems if not p.warning]
    if errors:
        return False, "; ".join(p.message for p in errors)
    return True, f"{args['cert']} and {args['key']} are a valid pair for {args['hostname']}"


# The names are the ones certs.plan writes into `Verify` steps (and so into saved plans).
VERIFIERS: dict[str, Verifier] = {
    "certificate-issued": certificate_issued,
    "own-certificate": own_certificate,
}


def get(name: str) -> Verifier:
    try:
        return VERIFIERS[name]
    except KeyError:
        known = ", ".join(sorted(VERIFIERS))
        raise KeyError(f"no verifier named {name!r} (known: {known})") from None
