"""What the screens edit: the admin's answers, kept as the model's dataclasses, and turned into
validated answers through the very same `answers.parse` that replay uses.

Secrets typed in the wizard live only in memory until the plan is applied; then each goes to
a root-only file under STATE_DIR/secrets and the saved answers refer to it (`file:PATH`), so
the saved file replays without holding a password.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Callable

from jitsiwizard import answers as answers_file
from jitsiwizard.errors import Problem, ProblemList
from jitsiwizard.host import HostFacts
from jitsiwizard.model import Answers, LdapAnswers, LocalUser
from jitsiwizard.paths import SAVED_ANSWERS, SECRETS_DIR
from jitsiwizard.rootfs import Root
from jitsiwizard.secrets import Secret

# Stands in for a typed secret while the structure is validated: a literal, never a reference.
_PENDING = "pending-secret"

# Which screen owns which answers key (validation problems are shown where they can be fixed).
FIELD_SCREENS = (
    ("host.hostname", "hostname"),
    ("host.public_address", "dns"),
    ("host.local_address", "dns"),
    ("host.email", "certificate"),
    ("cert.", "certificate"),
    ("auth.", "auth"),
    ("firewall.", "firewall"),
)


def screen_of(field_path: str) -> str:
    for prefix, screen in FIELD_SCREENS:
        if field_path == prefix or field_path.startswith(prefix):
            return screen
    return "review"


def typed(value: str) -> Secret | None:
    """A secret typed in the wizard; None when the field was left empty."""
    return Secret("literal", value) if value else None


@dataclass
class _Slot:
    """Where one secret lives in the answers: a getter and setter on an Answers object."""

    name: str  # the file name under SECRETS_DIR
    get: Callable[[Answers], Secret | None]
    put: Callable[[Answers, Secret | None], None]


def _slots(answers: Answers) -> list[_Slot]:
    found = []
    for index, user in enumerate(answers.auth.users):
        def get(a, i=index):
            return a.auth.users[i].password

        def put(a, value, i=index):
            a.auth.users[i].password = value

        found.append(_Slot(f"user-{user.name}", get, put))
    if answers.auth.ldap is not None:
        for attr, name in (("bind_password", "ldap-bind"), ("test_password", "ldap-test")):
            def get(a, attr=attr):
                return getattr(a.auth.ldap, attr)

            def put(a, value, attr=attr):
                setattr(a.auth.ldap, attr, value)

            found.append(_Slot(name, get, put))
    return found


@dataclass
class WizardForm:
    facts: HostFacts
    answers: Answers  # what the screens edit, in place
    root: Root  # the app's: where typed secrets and the saved answers go
    source: str = ""  # the answers file opened with --edit, if any
    warnings: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.answers.auth.ldap is None:  # kept while another policy is chosen
            self.answers.auth.ldap = LdapAnswers()

    @classmethod
    def for_host(cls, facts: HostFacts, root: Root) -> WizardForm:
        """Start from the host's current state (a rerun changes only what the admin changes)."""
        from jitsiwizard.prefill import answers_from_facts

        return cls(facts, answers_from_facts(facts), root)

    @classmethod
    def from_file(cls, facts: HostFacts, path: str, root: Root) -> WizardForm:
        """Start from an answers file (`--edit FILE`). Raises UserError / ProblemList."""
        loaded = answers_file.load_file(path)
        return cls(facts, loaded.answers, root, source=path, warnings=list(loaded.warnings))

    def existing_user(self, name: str) -> bool:
        return name in self.facts.users

    def secret_ref(self, name: str) -> str:
        """The reference a saved answers file holds for a secret typed here."""
        return "file:" + str(self.root.path(f"{SECRETS_DIR}/{name}"))

    # -- validation ----------------------------------------------------------------------

    def data(self) -> tuple[dict, dict[str, Secret]]:
        """The answers-file data (what `to_data` writes) for the current choices, and the
        secrets typed here by slot name (they are stand-ins in the data)."""
        work = copy.deepcopy(self.answers)
        auth = work.auth
        if auth.policy != "local":
            auth.users = []
        if auth.policy != "ldap":
            auth.ldap = None
        if auth.policy == "open":
            auth.guests = False
        pending: dict[str, Secret] = {}
        for slot in _slots(work):
            secret = slot.get(work)
            if secret is not None and secret.ref == "literal":
                pending[slot.name] = Secret(self.secret_ref(slot.name), secret.value)
                slot.put(work, Secret(_PENDING, secret.value))
        data, _ = answers_file.to_data(work)
        return data, pending

    def build(self) -> answers_file.LoadedAnswers:
        """Validated answers, exactly as replaying the saved file would give them.
        Raises ProblemList (every problem, each with the key path and a fix)."""
        data, pending = self.data()
        loaded = answers_file.parse(data)
        for slot in _slots(loaded.answers):
            if slot.name in pending and slot.get(loaded.answers) is not None:
                slot.put(loaded.answers, pending[slot.name])
        return loaded

    def problems(self, screen: str | None = None) -> list[Problem]:
        """Validation errors (not warnings), only those a given screen can fix when named."""
        try:
            self.build()
        except ProblemList as exc:
            found = [p for p in exc.problems if not p.warning]
        else:
            return []
        if screen is None:
            return found
        return [p for p in found if screen_of(p.field) == screen]

    # -- the local users editor -----------------------------------------------------------

    def user(self, name: str) -> LocalUser | None:
        for user in self.answers.auth.users:
            if user.name == name:
                return user
        return None

    # -- saving ----------------------------------------------------------------------------

    def store_secrets(self, answers: Answers) -> list[str]:
        """Write the secrets typed here (those referring to SECRETS_DIR) to root-only files.
        Called when the plan is applied. Returns the target paths written."""
        prefix = "file:" + str(self.root.path(SECRETS_DIR)) + "/"
        wanted = [s for s in answers.secrets() if s.ref.startswith(prefix)]
        if not wanted:
            return []
        directory = self.root.path(SECRETS_DIR)
        _private_dir(directory.parent)
        _private_dir(directory)
        written = []
        for secret in wanted:
            name = secret.ref[len(prefix):]
            _write_private(directory / name, secret.value)
            written.append(f"{SECRETS_DIR}/{name}")
        return written

    def save_answers(self, answers: Answers) -> tuple[str, list[str]]:
        """Write the answers used, for replay (mode 0600). Returns (path on disk, notes)."""
        path = self.root.path(SAVED_ANSWERS)
        _private_dir(path.parent)
        notes = answers_file.save_file(answers, str(path))
        return str(path), notes


def _private_dir(path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _write_private(path, value: str) -> None:
    """Atomically replace a secret file: created 0600, never readable by others."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        os.fchmod(fd, 0o600)
        data = value.encode("utf-8")
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
