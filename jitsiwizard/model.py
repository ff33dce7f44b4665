"""The admin's choices, as validated data. `answers.py` loads and saves them."""

from __future__ import annotations

from dataclasses import dataclass, field

from jitsiwizard.secrets import Secret

CERT_MODES = ("letsencrypt", "certbot", "own", "self-signed")
POLICIES = ("open", "local", "ldap")
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
class Answers:
    host: HostAnswers = field(default_factory=HostAnswers)
    cert: CertAnswers = field(default_factory=CertAnswers)
    auth: AuthAnswers = field(default_factory=AuthAnswers)
    firewall: FirewallAnswers = field(default_factory=FirewallAnswers)

    def secrets(self) -> list[Secret]:
        found = [u.password for u in self.auth.users if u.password]
        if self.auth.ldap:
            found += [s for s in (self.auth.ldap.bind_password, self.auth.ldap.test_password) if s]
        return found
