"""The files an answers file names (an own certificate and key, the directory's CA), read
under the root before anything is planned: bounded, without blocking, and only as the kind
of PEM expected."""

from __future__ import annotations

import re

from jitsiwizard.answers.model import Answers
from jitsiwizard.errors import Problem, UserError
from jitsiwizard.rootfs import NotRegular, Root, read_regular

MAX_PEM = 1 << 20  # bytes: a certificate chain or a key

_PEM_KINDS = {
    "certificate": re.compile(r"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+"
                              r"-----END CERTIFICATE-----"),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----\r?\n"
                              r"[A-Za-z0-9+/=:,\- \r\n]+-----END (?:RSA |EC |ENCRYPTED )?"
                              r"PRIVATE KEY-----"),
}


def file_problems(answers: Answers, root: Root) -> list[Problem]:
    """The files the answers name, under the root: each must resolve inside it, be a regular
    file (no directory, device, FIFO or socket), hold at most MAX_PEM bytes and be PEM of
    the kind expected. Read without blocking; nothing is written."""
    wanted: list[tuple[str, str, str]] = []
    if answers.cert.mode == "own":
        wanted += [("cert.cert_file", answers.cert.cert_file, "certificate"),
                   ("cert.key_file", answers.cert.key_file, "private key")]
    if answers.auth.policy == "ldap" and answers.auth.ldap and answers.auth.ldap.ca_file:
        wanted.append(("auth.ldap.ca_file", answers.auth.ldap.ca_file, "certificate"))
    problems = [pem_problem(key, target, kind, root) for key, target, kind in wanted if target]
    return [p for p in problems if p is not None]


def pem_problem(key: str, target: str, kind: str, root: Root) -> Problem | None:
    """What is wrong with the PEM file `target` under the root (see file_problems), or None."""
    try:
        raw = read_regular(root.real(target), MAX_PEM)
    except UserError as exc:  # a link out of the root
        return Problem(key, exc.message, exc.hint)
    except FileNotFoundError:
        return Problem(key, f"{target} does not exist", f"copy the {kind} there or fix the path")
    except NotRegular as exc:
        return Problem(key, f"{target} {exc.strerror}",
                       f"give the path of the {kind} file itself (PEM)")
    except OSError as exc:
        return Problem(key, f"{target} cannot be read ({exc.strerror})",
                       "make it readable by root (the wizard runs as root)")
    if not _PEM_KINDS[kind].search(raw.decode("ascii", "replace")):
        return Problem(key, f"{target} holds no PEM {kind}",
                       f"give the {kind} in PEM form (-----BEGIN ...)")
    return None
