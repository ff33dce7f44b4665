"""The plan builder both roles' planners use (plan.py for a meeting server, bridge_plan.py
for a videobridge host): pure, reading the host's files only through a FileView. Also the
apt sources of Jitsi and Prosody."""

from __future__ import annotations

import hashlib

from jitsiwizard.errors import UserError
from jitsiwizard.formats import regions
from jitsiwizard.host.facts import HostFacts
from jitsiwizard.paths import STATE_DIR
from jitsiwizard.plan.render import render
from jitsiwizard.plan.steps import Command, FileChange, Plan, RemovePath, Symlink, TargetPath
from jitsiwizard.rootfs import FileView

JITSI_KEY_URL = "https://download.jitsi.org/jitsi-key.gpg.key"
JITSI_KEYRING = "/usr/share/keyrings/jitsi-keyring.gpg"
JITSI_LIST = "/etc/apt/sources.list.d/jitsi-stable.list"
PROSODY_KEY_URL = "https://prosody.im/files/prosody-debian-packages.key"
PROSODY_KEYRING = "/usr/share/keyrings/prosody-debian-packages.gpg"
PROSODY_LIST = "/etc/apt/sources.list.d/prosody-debian-packages.list"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}


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
             owner=None, group=None, secret_keys=()) -> bool:
        """Plan `path` to hold `text` (None: absent). Returns whether anything changes."""
        before = self.files.read_text(path)
        if text is None:
            if before is None and not self.files.exists(path):
                return False
            self._guard(path, before)
            self.plan.steps.append(RemovePath(path, summary, before, tuple(secret_keys),
                                              tuple(services)))
        else:
            if before == text and not self._mode_differs(path, mode):
                return False
            self._guard(path, before)
            self.plan.steps.append(FileChange(path, text, summary, before, mode, owner, group,
                                              tuple(secret_keys), tuple(services)))
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

    def install(self, packages, summary: str, *, timeout: float = 600) -> None:
        """One apt-get install for the packages neither on the host nor already installed by
        an earlier step of this plan."""
        wanted = [p for p in packages
                  if p not in self.installing and not self.facts.has_package(p)]
        if not wanted:
            return
        self.installing.update(wanted)
        self.command(["apt-get", "-o", "APT::Status-Fd=1", "install", "-y", *wanted], summary,
                     timeout=timeout, env=APT_ENV)


def apt_repository(b: Builder, name: str, key_url: str, keyring: str, list_file: str,
                    url: str, suite: str, phase: str = "configure") -> None:
    armored = f"{STATE_DIR}/{name}-key.asc"
    b.command(["curl", "-fsSL", "--max-time", "60", "-o", TargetPath(armored), key_url],
              f"download {name}'s signing key", snapshot=(armored,), timeout=90, phase=phase)
    # Saved as-is, apt rejects the armored key (NO_PUBKEY): de-armor it.
    b.command(["gpg", "--batch", "--yes", "--dearmor", "-o", TargetPath(keyring),
               TargetPath(armored)], f"store {name}'s key as {keyring}",
              snapshot=(keyring,), timeout=60, phase=phase)
    text = render("apt-source.list.j2", keyring=keyring, url=url, suite=suite)
    before = b.files.read_text(list_file)
    if before != text:
        b.plan.steps.append(FileChange(list_file, text, f"apt source for {name}", before))


def prepare_apt(b: Builder, extra: tuple[str, ...] = ()) -> None:
    """The install steps every role starts with: read the package lists, the tools the
    Jitsi repository needs (and `extra` ones), then the repository itself (signed-by)."""
    facts = b.facts
    needed = [p for p in ("gnupg", "curl", "apt-transport-https", *extra)
              if not facts.has_package(p)]
    b.command(["apt-get", "-o", "APT::Status-Fd=1", "update"], "read the package lists",
              timeout=600, env=APT_ENV, phase="install")
    if needed:
        b.command(["apt-get", "-o", "APT::Status-Fd=1", "install", "-y", *needed],
                  "install " + ", ".join(needed), timeout=900, env=APT_ENV, phase="install")
    apt_repository(b, "jitsi", JITSI_KEY_URL, JITSI_KEYRING, JITSI_LIST,
                   "https://download.jitsi.org", "stable/", phase="install")
