"""The plan builder every planner uses (meeting.py for a meeting server, bridge.py for a
videobridge host, certs.py and firewall.py for their parts, bridges.py for `bridge add` and
`bridge remove`): the one way plan steps are made. Pure, reading the host's files only through
a FileView. Also the apt sources of Jitsi and Prosody."""

from __future__ import annotations

import hashlib

from jitsiwizard.errors import UserError
from jitsiwizard.formats import regions
from jitsiwizard.host.facts import HostFacts
from jitsiwizard.paths import STATE_DIR
from jitsiwizard.plan.render import render
from jitsiwizard.plan.steps import (
    Command,
    FileChange,
    Plan,
    RemovePath,
    Service,
    Step,
    Symlink,
    TargetPath,
    Verify,
)
from jitsiwizard.rootfs import FileView

JITSI_KEY_URL = "https://download.jitsi.org/jitsi-key.gpg.key"
JITSI_KEYRING = "/usr/share/keyrings/jitsi-keyring.gpg"
JITSI_LIST = "/etc/apt/sources.list.d/jitsi-stable.list"
PROSODY_KEY_URL = "https://prosody.im/files/prosody-debian-packages.key"
PROSODY_KEYRING = "/usr/share/keyrings/prosody-debian-packages.gpg"
PROSODY_LIST = "/etc/apt/sources.list.d/prosody-debian-packages.list"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
# apt-get writes its progress to fd 1 as well: the runner logs those lines and drives the
# package progress bar with them (apply/runner.py).
APT_GET = ("apt-get", "-o", "APT::Status-Fd=1")


class Builder:
    """Collects a plan's steps: each file as its new text (unchanged files give no step),
    links, commands, the services the changes touch, and files edited by hand."""

    def __init__(self, facts: HostFacts, files: FileView, force: bool):
        self.facts = facts
        self.files = files
        self.force = force
        self.plan = Plan()
        self.restart: set[str] = set()
        self.hand_edited: list[str] = []
        self.installing: set[str] = set()  # packages an earlier step of this plan installs

    def note(self, text: str) -> None:
        if text not in self.plan.notes:
            self.plan.notes.append(text)

    def _guard(self, path: str, before: str | None) -> None:
        recorded = self.facts.managed.get(path)
        if recorded is None or before is None or self.force:
            return
        if hashlib.sha256(before.encode("utf-8", "surrogateescape")).hexdigest() == recorded:
            return
        own = self.facts.managed_own.get(path)
        if own is not None and regions.intact(before, own):
            # A package upgrade (or an admin) changed the file elsewhere: the edit is
            # computed from the file as it is now, so those changes stay.
            self.note(f"{path} was changed since jitsi-wizard last wrote it, outside its own "
                      "lines (a package upgrade, or an admin): those changes are kept")
            return
        self.hand_edited.append(path)

    def file(self, path: str, text: str | None, summary: str, *, services=(), mode=None,
             owner=None, group=None, secret_keys=(), secret: bool = False) -> bool:
        """Plan `path` to hold `text` (None: absent, a file or an empty directory removed).
        Returns whether anything changes.
        Every file step is made here, so every one is checked for hand edits. `secret`: the
        whole content is a secret, never shown (nor, when removed, its old content)."""
        before = self.files.read_text(path)
        if text is None:
            if before is None and not self.files.exists(path):
                return False
            self._guard(path, before)
            self.plan.steps.append(RemovePath(path, summary, None if secret else before,
                                              tuple(secret_keys), tuple(services)))
        else:
            if before == text and not self._mode_differs(path, mode):
                return False
            self._guard(path, before)
            self.plan.steps.append(FileChange(path, text, summary, before, mode, owner, group,
                                              tuple(secret_keys), tuple(services), secret))
        self.restart.update(services)
        return True

    def _mode_differs(self, path: str, mode: int | None) -> bool:
        if mode is None:
            return False
        return self.files.mode(path) != mode  # an absent file differs too

    def edit(self, path: str, transform, *args) -> str:
        """The text of `path` after `transform(text, *args)`; a file the edit cannot
        understand is named in the error."""
        text = self.files.read_text(path) or ""
        try:
            return transform(text, *args)
        except UserError as exc:
            raise UserError(f"{path}: {exc.message}", exc.hint or "restore the file from its "
                            "package, or fix it by hand", field=exc.field) from None

    def link(self, path: str, target: str | None, summary: str, services=()) -> bool:
        current = self.files.readlink(path)
        if target is None:
            if current is None and not self.files.exists(path):
                return False
            self.plan.steps.append(RemovePath(path, summary, services=tuple(services)))
        else:
            if current == target:
                return False
            self.plan.steps.append(Symlink(path, target, summary, tuple(services)))
        self.restart.update(services)
        return True

    def command(self, argv, summary: str, **kw) -> None:
        self.plan.steps.append(Command(list(argv), summary, **kw))

    def apt(self, words, summary: str, **kw) -> None:
        """One apt-get command, non-interactive, its progress on fd 1 (APT_GET)."""
        self.command([*APT_GET, *words], summary, env=dict(APT_ENV), **kw)

    def install(self, packages, summary: str = "", *, timeout: float = 600,
                options=(), **kw) -> None:
        """One apt-get install for the packages neither on the host nor already installed by
        an earlier step of this plan (`summary` by default: "install" and their names)."""
        wanted = [p for p in packages
                  if p not in self.installing and not self.facts.has_package(p)]
        if not wanted:
            return
        self.installing.update(wanted)
        self.apt(["install", "-y", *options, *wanted],
                 summary or "install " + ", ".join(wanted), timeout=timeout, **kw)

    def service(self, name: str, action: str, summary: str) -> None:
        self.plan.steps.append(Service(name, action, summary))

    def verify(self, name: str, summary: str, args: dict, *, otherwise: list[Step] = (),
               why_otherwise: str = "") -> None:
        self.plan.steps.append(Verify(name, summary, args, list(otherwise), why_otherwise))

    def aside(self, make, *args) -> list[Step]:
        """The steps `make(self, *args)` plans, kept out of the plan (a Verify's fallback)."""
        start = len(self.plan.steps)
        make(self, *args)
        steps = self.plan.steps[start:]
        del self.plan.steps[start:]
        return steps

    def refuse_hand_edits(self) -> None:
        """Refuse a plan that would change files edited by hand since the wizard last wrote
        them (unless --force), showing what it would do to each: the admin's edit is on the
        "-" side. A change only in a secret line redacts alike on both sides: said so rather
        than shown as nothing."""
        if not self.hand_edited:
            return
        diffs = "".join(step.diff() or f"{step.path}: the difference is in a secret value "
                        "(not shown)\n" for step in self.plan.steps
                        if isinstance(step, (FileChange, RemovePath))
                        and step.path in self.hand_edited)
        raise UserError(
            "these files were changed by hand since jitsi-wizard last wrote them: "
            + ", ".join(self.hand_edited) + "; this run would change them so:\n"
            + diffs.rstrip(),
            "look at the differences with `jitsi-wizard plan --answers FILE --force`, "
            "then rerun with --force to overwrite them (a backup is kept)", field="--force")


def apt_repository(b: Builder, name: str, key_url: str, keyring: str, list_file: str,
                    url: str, suite: str, phase: str = "configure") -> None:
    armored = f"{STATE_DIR}/{name}-key.asc"
    b.command(["curl", "-fsSL", "--max-time", "60", "-o", TargetPath(armored), key_url],
              f"download {name}'s signing key", snapshot=(armored,), timeout=90, phase=phase)
    # Saved as-is, apt rejects the armored key (NO_PUBKEY): de-armor it.
    b.command(["gpg", "--batch", "--yes", "--dearmor", "-o", TargetPath(keyring),
               TargetPath(armored)], f"store {name}'s key as {keyring}",
              snapshot=(keyring,), timeout=60, phase=phase)
    b.file(list_file, render("apt-source.list.j2", keyring=keyring, url=url, suite=suite),
           f"apt source for {name}")


def prepare_apt(b: Builder, extra: tuple[str, ...] = ()) -> None:
    """The install steps every role starts with: read the package lists, the tools the
    Jitsi repository needs (and `extra` ones), then the repository itself (signed-by)."""
    b.apt(["update"], "read the package lists", timeout=600, phase="install")
    b.install(("gnupg", "curl", "apt-transport-https", *extra), timeout=900, phase="install")
    apt_repository(b, "jitsi", JITSI_KEY_URL, JITSI_KEYRING, JITSI_LIST,
                   "https://download.jitsi.org", "stable/", phase="install")


def require_debian(facts: HostFacts, what: str, *, field: str) -> None:
    """Refuse to install `what` on a system other than Debian or Ubuntu."""
    if facts.os_id not in ("debian", "ubuntu"):
        raise UserError(f"this system is {facts.release or 'unknown'}, not Debian or Ubuntu",
                        f"jitsi-wizard installs {what} on Debian 11-13 and Ubuntu "
                        "20.04-24.04", field=field)


def install_with_preseed(b: Builder, preseed_path: str, preseed: str, preseed_summary: str,
                         debconf_summary: str, package: str, summary: str) -> None:
    """The last install steps of either role: debconf's answers from a preseed file (so the
    install asks nothing), the new package lists, then the role's package."""
    b.file(preseed_path, preseed, preseed_summary, mode=0o600)
    b.command(["debconf-set-selections", TargetPath(preseed_path)], debconf_summary,
              timeout=60, phase="install")
    b.apt(["update"], "read the new package lists", timeout=600, phase="install")
    b.apt(["install", "-y", package], summary, timeout=1800, phase="install")
