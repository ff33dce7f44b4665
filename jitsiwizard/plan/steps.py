"""The typed steps a plan is made of. Pure data: building and showing them touches nothing."""

from __future__ import annotations

import difflib
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Union

from jitsiwizard.answers.secrets import REDACTED, Secret, find_secrets


@dataclass(frozen=True)
class TargetPath:
    """A command argument that is a path on the target system: mapped under --root when run."""

    path: str

    def __str__(self) -> str:
        return self.path


Arg = Union[str, TargetPath]


def _mask(text: str | None, keys: tuple[str, ...], values: set[str] = frozenset()
          ) -> str | None:
    """Hide the values of secret-holding keys (`key = value` lines) in text shown to people,
    and every secret value found in the file, wherever it is (see find_secrets)."""
    if text is None:
        return text
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 3:
            text = text.replace(value, REDACTED)
    if not keys:
        return text
    pattern = re.compile(
        r"^(?P<lead>\s*(?:" + "|".join(re.escape(k) for k in keys) + r")\s*[=:]\s*).*$",
        re.MULTILINE,
    )
    return pattern.sub(lambda m: m.group("lead") + REDACTED, text)


def _shown_diff(before: str | None, after: str | None, keys: tuple[str, ...],
                fromfile: str, tofile: str) -> str:
    """A unified diff with secrets masked: by key, and by the values either side assigns to
    secret-looking keys (an old ldap2 bind_password in the middle of a line included)."""
    values = find_secrets(before) | find_secrets(after)
    old = _mask(before, keys, values) or ""
    new = _mask(after, keys, values) or ""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True),
                                        fromfile=fromfile, tofile=tofile))


@dataclass
class FileChange:
    """Create a file or replace its content. Owner and mode of an existing file are kept
    unless given; a new file gets `mode` (default 0644) and `owner`/`group` (default root)."""

    path: str
    content: str
    summary: str
    before: str | None = None  # current content; None when the file does not exist
    mode: int | None = None
    owner: str | None = None
    group: str | None = None
    secret_keys: tuple[str, ...] = ()  # keys whose values are masked when shown
    services: tuple[str, ...] = ()  # services that read this file
    secret: bool = False  # the whole content is a secret: never shown, not even as a diff

    kind = "file"

    def diff(self) -> str:
        if self.secret:
            return f"{self.path}: secret content, not shown\n"
        label_old = self.path if self.before is not None else "/dev/null"
        return _shown_diff(self.before, self.content, self.secret_keys, label_old, self.path)

    def describe(self) -> str:
        mode = f" (mode {self.mode:04o})" if self.mode is not None else ""
        verb = "edit" if self.before is not None else "create"
        return f"{verb} {self.path}{mode}: {self.summary}"

    def to_json(self) -> dict:
        return {"kind": self.kind, "path": self.path, "summary": self.summary,
                "mode": self.mode, "owner": self.owner, "group": self.group,
                "creates": self.before is None, "diff": self.diff()}


@dataclass
class RemovePath:
    """Remove a file, a symlink or an empty directory (never a directory tree)."""

    path: str
    summary: str
    before: str | None = None  # content when a regular file, for the diff
    secret_keys: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    kind = "remove"

    def diff(self) -> str:
        if self.before is None:
            return ""
        return _shown_diff(self.before, None, self.secret_keys, self.path, "/dev/null")

    def describe(self) -> str:
        return f"remove {self.path}: {self.summary}"

    def to_json(self) -> dict:
        return {"kind": self.kind, "path": self.path, "summary": self.summary,
                "diff": self.diff()}


@dataclass
class Symlink:
    """Make `path` a symlink to `target` (replacing an existing link)."""

    path: str
    target: str
    summary: str
    services: tuple[str, ...] = ()

    kind = "link"

    def describe(self) -> str:
        return f"link {self.path} -> {self.target}: {self.summary}"

    def to_json(self) -> dict:
        return {"kind": self.kind, "path": self.path, "target": self.target,
                "summary": self.summary}


@dataclass
class Command:
    """Run a command (argv, never a shell string) with a timeout.

    `stdin` is fed to the command and never shown or logged (how passwords reach prosodyctl).
    `snapshot` lists target paths (files or directories) the command may change: apply saves
    them first and rollback restores them exactly, removing files the command created.
    `undo` is an argv run on rollback for effects outside files.
    """

    argv: list[Arg]
    summary: str
    timeout: float = 120.0
    stdin: Secret | str | None = None
    snapshot: tuple[str, ...] = ()
    undo: list[Arg] | None = None
    env: dict[str, str] = field(default_factory=dict)
    ok_codes: tuple[int, ...] = (0,)
    phase: str = "configure"  # "install" steps run before configuration is planned

    kind = "command"

    def shown(self) -> str:
        return " ".join(shlex.quote(str(a)) for a in self.argv)

    def describe(self) -> str:
        fed = " (password on standard input)" if isinstance(self.stdin, Secret) else ""
        return f"run {self.shown()}{fed}: {self.summary}"

    def to_json(self) -> dict:
        return {"kind": self.kind, "argv": [str(a) for a in self.argv],
                "summary": self.summary, "timeout": self.timeout,
                "snapshot": list(self.snapshot),
                "undo": [str(a) for a in self.undo] if self.undo else None}


@dataclass
class Service:
    """Restart or reload a systemd unit. Apply records whether it was enabled and running
    before, and rollback puts it back that way."""

    name: str
    action: str  # "restart" | "reload"
    summary: str

    kind = "service"

    def describe(self) -> str:
        return f"{self.action} {self.name}: {self.summary}"

    def to_json(self) -> dict:
        return {"kind": self.kind, "name": self.name, "action": self.action,
                "summary": self.summary}


@dataclass
class Verify:
    """Check an outcome (a certificate really issued, a config accepted) with a named verifier
    from `jitsiwizard.apply.verifiers`. When it fails, the `otherwise` steps run in its place (a
    fallback route); with no `otherwise`, the failure aborts the run and rolls it back."""

    name: str  # a key of VERIFIERS in jitsiwizard.apply.verifiers
    summary: str
    args: dict = field(default_factory=dict)
    otherwise: list = field(default_factory=list)  # list[Step]
    why_otherwise: str = ""  # said to the admin when the fallback is taken

    kind = "verify"

    def describe(self) -> str:
        text = f"verify: {self.summary}"
        if self.otherwise:
            text += f" (if not: {len(self.otherwise)} fallback step(s): {self.why_otherwise})"
        return text

    def to_json(self) -> dict:
        return {"kind": self.kind, "name": self.name, "summary": self.summary,
                "args": self.args, "otherwise": [s.to_json() for s in self.otherwise]}


Step = Union[FileChange, RemovePath, Symlink, Command, Service, Verify]


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings and facts worth reading first
    # What the run checks around its restarts, as the session will (the preview shows
    # them where apply prints [check] and [verify]): `checks` before the first restart,
    # `verification` after the last step.
    checks: list[str] = field(default_factory=list)
    verification: list[str] = field(default_factory=list)

    @property
    def checks_before(self) -> int | None:
        """The number of the first restart or reload, before which apply runs the checks."""
        return next((n for n, s in enumerate(self.steps, 1) if s.kind == "service"), None)

    def insert_before_restarts(self, steps: list[Step]) -> None:
        """Put `steps` before the first restart or reload (at the end when there is none):
        for steps added to a plan already built, such as the session's stored secrets."""
        first = (self.checks_before or len(self.steps) + 1) - 1
        self.steps[first:first] = steps

    def file_steps(self) -> list[Step]:
        return [s for s in self.steps if isinstance(s, (FileChange, RemovePath, Symlink))]

    @property
    def changes_files(self) -> bool:
        return bool(self.file_steps())

    @property
    def is_empty(self) -> bool:
        return not self.steps

    def render(self, redact=lambda text: text) -> str:
        """Numbered steps, each file change as a unified diff; secrets redacted."""
        out: list[str] = []
        for note in self.notes:
            out.append(f"note: {note}")
        if not self.steps:
            out.append("Nothing to change: the host already matches these answers.")
            return redact("\n".join(out) + "\n")
        if not self.changes_files:
            out.append("No file changes.")
        for number, step in enumerate(self.steps, 1):
            if number == self.checks_before and self.checks:
                out.append("     [check] before the first restart (a refusal stops the run there):")
                out.extend(f"       - {line}" for line in self.checks)
            out.append(f"{number:>3}. {step.describe()}")
            diff = getattr(step, "diff", None)
            if diff:
                text = diff()
                if text:
                    out.extend("       " + line for line in text.rstrip("\n").split("\n"))
        if self.verification:
            out.append("     [verify] after the last step:")
            out.extend(f"       - {line}" for line in self.verification)
        return redact("\n".join(out) + "\n")

    def to_json(self, redact=lambda text: text) -> str:
        doc = {"notes": self.notes, "changes_files": self.changes_files,
               "steps": [s.to_json() for s in self.steps],
               "checks": {"before_step": self.checks_before, "what": self.checks},
               "verification": self.verification}
        # Each string first (a secret as it is), then the text (a secret as JSON spells it).
        return redact(json.dumps(_redact_strings(doc, redact), indent=2))


def _redact_strings(value, redact):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_strings(v, redact) for v in value]
    if isinstance(value, dict):
        return {k: _redact_strings(v, redact) for k, v in value.items()}
    return value
