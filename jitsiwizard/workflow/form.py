"""What the screens edit: the admin's answers, kept as the model's dataclasses, and turned into
validated answers through the very same `answers.parse` that replay uses.

Secrets typed in the wizard live only in memory until the plan is applied; the run then
writes each to a root-only file under SECRETS_DIR (a step of the plan, so a rollback removes
it) and the saved answers refer to it (`file:PATH`), so they replay without holding a password.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from jitsiwizard.answers import load as answers_file
from jitsiwizard.answers.model import (
    Answers,
    BridgeAnswers,
    CertAnswers,
    LdapAnswers,
    LocalUser,
    secret_slots,
)
from jitsiwizard.answers.save import to_data
from jitsiwizard.answers.secrets import Secret, SecretError, resolve
from jitsiwizard.errors import Problem, ProblemList, UserError
from jitsiwizard.host.facts import HostFacts
from jitsiwizard.paths import SAVED_ANSWERS, SECRETS_DIR
from jitsiwizard.rootfs import Root

# Stands in for a typed secret while the structure is validated: a literal, never a reference.
_PENDING = "pending-secret"
_STAND_IN = "stand-in-for-an-unreadable-password"

# What the screens call each answers key (a problem is shown in the screen's words).
FIELD_LABELS = {
    "host.hostname": "Hostname", "host.public_address": "Public address",
    "host.local_address": "Local address", "host.email": "E-mail",
    "cert.mode": "Certificate type", "cert.acme_server": "ACME URL",
    "cert.agree_tos": "The terms", "cert.cert_file": "Certificate",
    "cert.key_file": "Private key", "auth.policy": "Who may start",
    "auth.guests": "Guests", "auth.users": "Users", "auth.ldap": "LDAP",
    "auth.ldap.url": "Server URL(s)", "auth.ldap.starttls": "StartTLS",
    "auth.ldap.allow_plaintext": "Clear-text passwords", "auth.ldap.ca_file": "CA file",
    "auth.ldap.bind_dn": "Bind DN", "auth.ldap.bind_password": "Bind password",
    "auth.ldap.user_base": "User base", "auth.ldap.user_filter": "User filter",
    "auth.ldap.username_attribute": "Login attribute",
    "auth.ldap.name_attribute": "Name attribute", "auth.ldap.scope": "Search scope",
    "auth.ldap.test_user": "Test user", "auth.ldap.test_password": "Test password",
    "firewall.manage": "Manage ufw", "firewall.ssh_port": "SSH port",
    "role.kind": "This host is", "bridge": "Bridge", "bridge.main": "Main host",
    "bridge.username": "Username", "bridge.password": "Password",
    "bridge.main_certificate_sha256": "Certificate SHA-256",
    "bridge.main_address": "Main address",
}
# The fix, as done on the screen, where the answers file's fix names keys and sections.
SCREEN_HINTS = {
    "host.hostname": "type the name whose DNS A record points here, e.g. meet.example.org",
    "host.local_address": "type this host's private address (from `ip addr`), or use the "
                          "detected mapping",
    "host.email": "type the address that gets the certificate's expiry warnings",
    "cert.agree_tos": "tick the box once you have read the terms",
    "cert.cert_file": "type the full path of the certificate (full chain, PEM)",
    "cert.key_file": "type the full path of the private key (PEM)",
    "auth.ldap": "fill in the LDAP form",
    "auth.ldap.url": "type ldaps://host (or ldap://host with StartTLS)",
    "auth.ldap.starttls": "tick StartTLS, or use an ldaps:// URL",
    "auth.ldap.bind_password": "type the service account's password",
    "auth.ldap.bind_dn": "type the service account's DN, e.g. "
                         "cn=jitsi,ou=services,dc=example,dc=org",
    "auth.ldap.user_base": "type where the users are, e.g. ou=people,dc=example,dc=org",
    "auth.users": "highlight the user in the list and press P",
    "bridge.main": "type the main host's name, e.g. meet.example.org (what `jitsi-wizard "
                   "bridge add` printed there)",
    "bridge.username": "type the bridge's name given to `jitsi-wizard bridge add` on the "
                       "main host",
    "bridge.password": "type the password from the answers file `jitsi-wizard bridge add` "
                       "wrote on the main host",
    "bridge.main_certificate_sha256": "copy main_certificate_sha256 from the answers file "
                                      "`bridge add` wrote (64 hex digits, colons allowed)",
    "bridge.main_address": "type the main host's IP address, or leave it empty to use its name",
}
CHOICES = {"'letsencrypt'": "Let's Encrypt", "'certbot'": "certbot",
           "'own'": "your own certificate", "'self-signed'": "a self-signed certificate",
           "'open'": "open", "'local'": "local users", "'ldap'": "LDAP"}
_FILE_WORDS = re.compile(r"\[[a-z.]+\]|\b[a-z_]+ = |\[\[")
# Answers keys as messages spell them (whole, or the last part when it cannot be mistaken
# for a word: cert_file, bind_dn), longest first, with an optional " = " after them.
_KEY_NAMES = sorted({**{key: label for key, label in FIELD_LABELS.items()},
                     **{key.rsplit(".", 1)[1]: label for key, label in FIELD_LABELS.items()
                        if "_" in key.rsplit(".", 1)[-1]}}.items(),
                    key=lambda item: -len(item[0]))
_KEYS = re.compile(r"(?<![\w.])(" + "|".join(re.escape(k) for k, _ in _KEY_NAMES)
                   + r")(?![\w.])( = )?")
_KEY_LABELS = dict(_KEY_NAMES)


def choice_words(text: str) -> str:
    """`cert.mode = 'certbot'` and the like as the screens name the choice."""
    return re.sub(r"\b(?:cert\.mode|auth\.policy|policy) = ('[a-z-]+')",
                  lambda m: CHOICES.get(m.group(1), m.group(1)), text)


def screen_words(text: str) -> str:
    """Answers keys named in a message or a fix, in the screen's labels."""
    return _KEYS.sub(lambda m: _KEY_LABELS[m.group(1)] + (" " if m.group(2) else ""), text)
_USER_KEY = re.compile(r"^auth\.users\[(\d+)\](?:\.(\w+))?$")


def on_screen(problem: Problem, answers: Answers | None = None) -> Problem:
    """The problem in the screen's words: the field's label instead of its key, choices by
    their names, and a fix done on the screen rather than in a file."""
    field_path, label = problem.field, FIELD_LABELS.get(problem.field)
    match = _USER_KEY.match(field_path)
    if match:
        index, part = int(match.group(1)), match.group(2) or ""
        users = answers.auth.users if answers is not None else []
        name = users[index].name if index < len(users) else f"#{index + 1}"
        label = f"User {name}" + (f" ({part})" if part and part != "name" else "")
        field_path = "auth.users"
    message = choice_words(problem.message)
    message = re.sub(r"\b(?:public|local)_address\b",
                     lambda m: FIELD_LABELS["host." + m.group(0)].lower(), message)
    hint = problem.hint
    if field_path in SCREEN_HINTS and (not hint or _FILE_WORDS.search(hint)
                                       or "is missing" in message or "needed" in message):
        hint = SCREEN_HINTS[field_path]
    elif _FILE_WORDS.search(hint):
        hint = ""
    return Problem(label or field_path, screen_words(message), screen_words(hint), None,
                   problem.warning)


def unused_fields(answers: Answers) -> set[str]:
    """The answers keys the chosen options leave unused: the screens hide them, and neither
    their values nor their problems count (an e-mail half typed for Let's Encrypt does not
    block a self-signed certificate)."""
    if answers.is_bridge:  # the main host has the name, the certificate and the logins
        return {"host.hostname", "host.email", "cert", "auth"}
    unused = {"bridge"}
    if answers.cert.mode not in ("letsencrypt", "certbot"):
        unused |= {"host.email", "cert.acme_server", "cert.agree_tos"}
    if answers.cert.mode != "own":
        unused |= {"cert.cert_file", "cert.key_file"}
    if answers.auth.policy != "local":
        unused.add("auth.users")
    if answers.auth.policy != "ldap":
        unused.add("auth.ldap")
    if answers.auth.policy == "open":
        unused.add("auth.guests")
    return unused


def typed(value: str) -> Secret | None:
    """A secret typed in the wizard; None when the field was left empty."""
    return Secret("literal", value) if value else None


def _secret_entries(data: dict) -> list[tuple[str, dict, str]]:
    """(key path, table, key) of every password in answers-file data."""
    found = []
    bridge = data.get("bridge")
    if isinstance(bridge, dict) and isinstance(bridge.get("password"), str):
        found.append(("bridge.password", bridge, "password"))
    auth = data.get("auth")
    if not isinstance(auth, dict):
        return found
    users = auth.get("users")
    for index, user in enumerate(users if isinstance(users, list) else []):
        if isinstance(user, dict) and isinstance(user.get("password"), str):
            found.append((f"auth.users[{index}].password", user, "password"))
    ldap = auth.get("ldap")
    if isinstance(ldap, dict):
        found += [(f"auth.ldap.{key}", ldap, key) for key in ("bind_password", "test_password")
                  if isinstance(ldap.get(key), str)]
    return found


def _unset(loaded: answers_file.LoadedAnswers, keys) -> answers_file.LoadedAnswers:
    """The stand-ins of unreadable passwords taken out again: those fields start empty."""
    for slot in secret_slots(loaded.answers):
        if slot.key in keys:
            slot.put(loaded.answers, None)
    loaded.warnings = [p for p in loaded.warnings if p.field not in keys]
    return loaded


def _as_policy(data: dict, policy: str, unresolved) -> answers_file.LoadedAnswers | None:
    """The data parsed as if `policy` were chosen (None when that does not validate)."""
    other = copy.deepcopy(data)
    other["auth"]["policy"] = policy
    try:
        return _unset(answers_file.parse(other), unresolved)
    except ProblemList:
        return None


def load_for_edit(path: str) -> tuple[answers_file.LoadedAnswers, dict[str, str]]:
    """An answers file to open in the wizard (`--edit FILE`): validated as replay does,
    except that a password reference that cannot be read here (an unset variable, a missing
    file) leaves its field empty, to be typed, rather than refusing the file; and the users
    and LDAP settings are kept whatever the policy, for the admin may switch to them.
    Returns (the answers, {key path: unreadable reference}). Raises UserError /
    ProblemList for anything else, as replay would."""
    try:
        loaded = answers_file.load_file(path)
    except ProblemList as exc:
        if any(p.field == "(file)" for p in exc.problems):
            raise
        loaded = None
    text = loaded.text if loaded is not None else read_answers_text(path)
    data = answers_file.tomllib.loads(text)
    unresolved: dict[str, str] = {}
    for key, table, name in _secret_entries(data):
        given = table[name]
        if given.startswith(("env:", "file:")):
            try:
                resolve(given)
            except SecretError:
                unresolved[key] = given
                # A valid stand-in while the rest is checked as strictly as replay does;
                # taken out again below, so the field starts empty, to be typed.
                table[name] = _STAND_IN
    loaded = _unset(answers_file.parse(data, text, path), unresolved)
    auth = loaded.answers.auth
    kept = set()
    if isinstance(data.get("auth"), dict):
        if auth.policy != "ldap" and isinstance(data["auth"].get("ldap"), dict):
            other = _as_policy(data, "ldap", unresolved)
            if other is not None and other.answers.auth.ldap is not None:
                auth.ldap = other.answers.auth.ldap
                kept.add("auth.ldap")
        if auth.policy != "local" and data["auth"].get("users"):
            other = _as_policy(data, "local", unresolved)
            if other is not None:
                auth.users = other.answers.auth.users
                kept.add("auth.users")
    loaded.warnings = [p for p in loaded.warnings if p.field not in kept]
    loaded.warnings += [Problem(key, f"{ref} cannot be read here, so the field starts empty",
                                "type the password on the "
                                + ("Bridge" if key.startswith("bridge") else "Authentication")
                                + " step", warning=True)
                        for key, ref in unresolved.items()]
    return loaded, unresolved


def read_answers_text(path: str) -> str:
    """The file's text, once load_file has read it (so it exists and is UTF-8)."""
    with open(path, encoding="utf-8") as fh:
        return fh.read()


@dataclass
class WizardForm:
    facts: HostFacts
    root: Root  # where typed secrets go
    answers: Answers  # what the screens edit, in place
    source: str = ""  # the answers file opened with --edit, if any
    warnings: list[Problem] = field(default_factory=list)
    # Password references of the --edit file that cannot be read here (key -> reference):
    # their fields start empty, and the screens say so.
    unresolved: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.answers.auth.ldap is None:  # kept while another policy is chosen
            self.answers.auth.ldap = LdapAnswers()
        if self.answers.bridge is None:  # kept while the other role is chosen
            self.answers.bridge = BridgeAnswers()

    @classmethod
    def for_host(cls, facts: HostFacts, root: Root, bridge_of: str | None = None
                 ) -> WizardForm:
        """Start from the host's current state (a rerun changes only what the admin changes).
        A host with the videobridge but not Jitsi Meet starts as an extra videobridge, of
        `bridge_of` (the main host its configuration names) when known."""
        from jitsiwizard.host.prefill import answers_from_facts

        answers = answers_from_facts(facts)
        _keep_saved_ldap(answers, root)
        if facts.default_role == "videobridge":
            answers.role = "videobridge"
            answers.bridge = BridgeAnswers(main=bridge_of or "")
        return cls(facts, root, answers)

    @classmethod
    def from_file(cls, facts: HostFacts, root: Root, path: str) -> WizardForm:
        """Start from an answers file (`--edit`). Raises UserError / ProblemList."""
        loaded, unresolved = load_for_edit(path)
        users = loaded.answers.auth.users
        named = {}  # users by name: the list is edited, its indexes move
        for key, ref in unresolved.items():
            match = _USER_KEY.match(key)
            if match and int(match.group(1)) < len(users):
                key = f"user:{users[int(match.group(1))].name}"
            named[key] = ref
        return cls(facts, root, loaded.answers, source=path, warnings=list(loaded.warnings),
                   unresolved=named)

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
        unused = unused_fields(work)
        auth, cert = work.auth, work.cert
        if "bridge" in unused:
            work.bridge = None
        if "host.hostname" in unused:
            work.host.hostname = ""
        if "host.email" in unused:
            work.host.email = ""
            cert.acme_server, cert.agree_tos = CertAnswers().acme_server, False
        if "cert.cert_file" in unused:
            cert.cert_file = cert.key_file = ""
        if "auth.users" in unused:
            auth.users = []
        if "auth.ldap" in unused:
            auth.ldap = None
        if "auth.guests" in unused:
            auth.guests = False
        pending: dict[str, Secret] = {}
        for slot in secret_slots(work):
            secret = slot.get(work)
            if secret is not None and secret.ref == "literal":
                pending[slot.name] = Secret(self.secret_ref(slot.name), secret.value)
                slot.put(work, Secret(_PENDING, secret.value))
        data, _ = to_data(work)
        return data, pending

    def build(self) -> answers_file.LoadedAnswers:
        """Validated answers, exactly as replaying the saved file would give them.
        Raises ProblemList (every problem, each with the key path and a fix)."""
        data, pending = self.data()
        loaded = answers_file.parse(data)
        for slot in secret_slots(loaded.answers):
            if slot.name in pending and slot.get(loaded.answers) is not None:
                slot.put(loaded.answers, pending[slot.name])
        return loaded

    def problems(self) -> list[Problem]:
        """Validation errors (not warnings); which step shows each is the screens' to say
        (screens/steps.py)."""
        try:
            self.build()
        except ProblemList as exc:
            return [p for p in exc.problems if not p.warning]
        return []

    # -- the local users editor -----------------------------------------------------------

    def user(self, name: str) -> LocalUser | None:
        for user in self.answers.auth.users:
            if user.name == name:
                return user
        return None


def _keep_saved_ldap(answers, root: Root) -> None:
    """What the host's files cannot say of its LDAP settings (the bind password's reference,
    the CA file, the test user), from the answers the last run saved, when the host still
    runs the directory those answers name."""
    ldap = answers.auth.ldap
    path = root.path(SAVED_ANSWERS)
    if ldap is None or not path.is_file():
        return
    try:
        saved = load_for_edit(str(path))[0].answers.auth.ldap
    except (ProblemList, UserError, OSError, ValueError):
        return  # a damaged or foreign file: the host's own settings are shown as they are
    if saved is None or [u.rstrip("/") for u in saved.urls] != ldap.urls:
        return
    ldap.bind_password = saved.bind_password
    ldap.ca_file = saved.ca_file
    ldap.test_user = saved.test_user
    ldap.allow_plaintext = ldap.allow_plaintext or saved.allow_plaintext
