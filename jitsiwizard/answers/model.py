"""The admin's choices, as validated data. `answers.py` loads and saves them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from jitsiwizard.answers.secrets import Secret

CERT_MODES = ("keep", "letsencrypt", "certbot", "own", "self-signed")
POLICIES = ("open", "local", "ldap")
ROLES = ("meeting-server", "videobridge")  # what this host is: the whole Jitsi, or a bridge
ACME_SERVERS = {
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}


@dataclass
class HostAnswers:
    hostname: str = ""
    email: str = ""
    public_address: str = ""  # the public IP when behind NAT; "" = none
    local_address: str = ""  # this host's private address behind that NAT


@dataclass
class CertAnswers:
    mode: str = "letsencrypt"
    acme_server: str = "production"  # production | staging | an ACME directory URL
    cert_file: str = ""
    key_file: str = ""
    agree_tos: bool = False  # Let's Encrypt / ACME terms, agreed only when the answers say so

    @property
    def acme_url(self) -> str:
        return ACME_SERVERS.get(self.acme_server, self.acme_server)


@dataclass
class LocalUser:
    name: str
    password: Secret | None = None  # None: keep the existing password
    remove: bool = False


@dataclass
class LdapAnswers:
    urls: list[str] = field(default_factory=list)
    starttls: bool = True
    allow_plaintext: bool = False
    ca_file: str = ""
    bind_dn: str = ""
    bind_password: Secret | None = None
    user_base: str = ""
    user_filter: str = "(objectClass=inetOrgPerson)"
    username_attribute: str = "uid"
    name_attribute: str = "cn"
    scope: str = "subtree"  # base | onelevel | subtree
    test_user: str = ""  # optional, for the live check only
    test_password: Secret | None = None

    @property
    def ldaps(self) -> bool:
        return bool(self.urls) and self.urls[0].lower().startswith("ldaps://")

    @property
    def encrypted(self) -> bool:
        return self.ldaps or self.starttls


@dataclass
class AuthAnswers:
    policy: str = "open"
    guests: bool = False
    users: list[LocalUser] = field(default_factory=list)
    ldap: LdapAnswers | None = None


@dataclass
class FirewallAnswers:
    manage: bool = False
    ssh_port: int = 22


@dataclass
class BridgeAnswers:
    """role = videobridge: the main host this bridge serves, and its account there."""

    main: str = ""  # the main host's name (its XMPP domain; auth.MAIN holds the account)
    username: str = ""
    password: Secret | None = None
    main_certificate_sha256: str = ""  # the main host's Prosody certificate, pinned (hex)
    main_address: str = ""  # optional: where to reach it when its name does not resolve

    @property
    def domain(self) -> str:
        return f"auth.{self.main}"

    @property
    def brewery(self) -> str:
        return f"JvbBrewery@internal.auth.{self.main}"


@dataclass
class Answers:
    host: HostAnswers = field(default_factory=HostAnswers)
    cert: CertAnswers = field(default_factory=CertAnswers)
    auth: AuthAnswers = field(default_factory=AuthAnswers)
    firewall: FirewallAnswers = field(default_factory=FirewallAnswers)
    role: str = "meeting-server"  # one of ROLES
    bridge: BridgeAnswers | None = None  # role = videobridge only

    @property
    def is_bridge(self) -> bool:
        return self.role == "videobridge"

    def secrets(self) -> list[Secret]:
        return [s for s in (slot.get(self) for slot in secret_slots(self)) if s is not None]


@dataclass
class SecretSlot:
    """One place in the answers that holds a secret: the one list of them, used to redact,
    to save answers (references only) and to store passwords typed in the wizard."""

    key: str  # the answers file's key path, e.g. "auth.users[0].password"
    name: str  # the file name under the secrets directory for a password typed in the wizard
    get: Callable[[Answers], Secret | None]
    put: Callable[[Answers, Secret | None], None]


def secret_slots(answers: Answers) -> list[SecretSlot]:
    found = []
    for index, user in enumerate(answers.auth.users):
        def get_user(a: Answers, i: int = index) -> Secret | None:
            return a.auth.users[i].password

        def put_user(a: Answers, value: Secret | None, i: int = index) -> None:
            a.auth.users[i].password = value

        found.append(SecretSlot(f"auth.users[{index}].password", f"user-{user.name}",
                                get_user, put_user))
    if answers.auth.ldap is not None:
        for attr, name in (("bind_password", "ldap-bind"), ("test_password", "ldap-test")):
            def get_ldap(a: Answers, attr: str = attr) -> Secret | None:
                return getattr(a.auth.ldap, attr) if a.auth.ldap is not None else None

            def put_ldap(a: Answers, value: Secret | None, attr: str = attr) -> None:
                setattr(a.auth.ldap, attr, value)

            found.append(SecretSlot(f"auth.ldap.{attr}", name, get_ldap, put_ldap))
    if answers.bridge is not None:
        def get_bridge(a: Answers) -> Secret | None:
            return a.bridge.password if a.bridge is not None else None

        def put_bridge(a: Answers, value: Secret | None) -> None:
            if a.bridge is not None:
                a.bridge.password = value

        found.append(SecretSlot("bridge.password", "bridge", get_bridge, put_bridge))
    return found
