"""A real OpenLDAP slapd on loopback with its own config and mdb database, for tests.

The directory holds `dc=example,dc=org` with `ou=people` (alice, bob, carol: inetOrgPerson with
cn, uid, userPassword) and `ou=services` (a read-only service account `cn=jitsi`). Anonymous
clients may only bind; the service account may read everything except passwords.

TLS and names: clients check the server certificate against the name they connected to, and two
of them get in the way of the obvious choices. ldap3 on Python 3.12+ ignores IP addresses in
certificates, and libldap (used by lua-ldap inside Prosody) checks "localhost" against the
machine's canonical name instead. So `hostname` is the machine's own name (socket.gethostname())
when it resolves to a loopback address here, which Debian's /etc/hosts provides (127.0.0.1 or
127.0.1.1), and slapd also listens on that address. If it does not, "localhost" is used and the
certificate also names what libldap substitutes for it. The certificate carries every one of
these names plus IP 127.0.0.1, so any of them verifies.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import subprocess
from pathlib import Path

from tests.lab.ca import CA
from tests.lab.proc import Proc, free_port

SCHEMA_DIR = Path("/etc/ldap/schema")
# Active Directory's login name attribute and its `user` class, with AD's own OIDs, so
# that filters written for AD (sAMAccountName) run against the lab directory. The class is
# auxiliary here (in AD it is structural) so that it rides on inetOrgPerson entries.
AD_SCHEMA = """\
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
objectclass ( 1.2.840.113556.1.5.9 NAME 'user' SUP top AUXILIARY MAY sAMAccountName )
"""
SLAPD = "/usr/sbin/slapd"


def loopback_name() -> tuple[str, str]:
    """(name, IPv4 address) of a name that resolves to loopback here without editing /etc/hosts."""
    own = socket.gethostname()
    for name in (own, socket.getfqdn(own)):
        if name and name != "localhost":
            try:
                address = socket.gethostbyname(name)
            except OSError:
                continue
            if address.startswith("127."):
                return name, address
    return "localhost", "127.0.0.1"


def _certificate_names(hostname: str) -> list[str]:
    """Every name a client may check the certificate against when it connects to `hostname`."""
    own = socket.gethostname()
    names = [hostname, "localhost", own, socket.getfqdn(own)]
    with contextlib.suppress(OSError):
        names.append(socket.gethostbyname_ex(own)[0])  # libldap's stand-in for "localhost"
    unique = []
    for name in names:
        if name and name not in unique:
            unique.append(name)
    return [*unique, "127.0.0.1"]


def ssha(password: str) -> str:
    """A {SSHA} userPassword value, as slappasswd makes it, of the UTF-8 bytes of `password`."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode("utf-8") + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


class Slapd:
    base = "dc=example,dc=org"
    people_base = "ou=people,dc=example,dc=org"
    services_base = "ou=services,dc=example,dc=org"

    def __init__(self, tmp_path: Path, *, ca: CA | None = None, ldaps: bool = False,
                 hostname: str | None = None):
        if ldaps and ca is None:
            raise ValueError("LDAPS needs a CA to issue the server certificate")
        self.dir = Path(tmp_path) / "slapd"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        if hostname is None:
            hostname, self.address = loopback_name()
        else:
            self.address = socket.gethostbyname(hostname)
        self.hostname = hostname
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        # The same listener by name: the URL to use for StartTLS with a verified certificate.
        self.name_url = f"ldap://{hostname}:{self.port}"
        self.ldaps_port = free_port() if ldaps else None
        self.ldaps_url = f"ldaps://{hostname}:{self.ldaps_port}" if ldaps else None
        self.admin_dn = f"cn=admin,{self.base}"
        self.admin_password = "admin-secret"
        self.service_dn = f"cn=jitsi,{self.services_base}"
        self.service_password = "service-secret"
        self.users: dict[str, str] = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw"}
        self.proc: Proc | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Slapd:
        self._write_config()
        listeners = [self.url + "/"]
        if self.address != "127.0.0.1":
            listeners.append(f"ldap://{self.address}:{self.port}/")
        if self.ldaps_port:
            listeners.append(f"ldaps://{self.address}:{self.ldaps_port}/")
        self.proc = Proc([SLAPD, "-d", "0", "-h", " ".join(listeners),
                          "-f", str(self.dir / "slapd.conf")],
                         log=self.dir / "slapd.log")
        self.proc.wait_port("127.0.0.1", self.port)
        if self.ldaps_port:
            self.proc.wait_port(self.address, self.ldaps_port)
        self._load_entries()
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def __enter__(self) -> Slapd:
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self) -> str:
        return self.proc.log_text() if self.proc else ""

    # -- directory content ----------------------------------------------------------------
    def add_user(self, uid: str, password: str, cn: str | None = None, *,
                 sam_account_name: str | None = None, **attributes: str) -> None:
        """A person under ou=people; `sam_account_name` makes it an Active Directory style
        `user` too (the lab schema's stand-in); other attributes (employeeNumber, ...) as
        given."""
        classes = ["inetOrgPerson"] + (["user"] if sam_account_name else [])
        extra = dict(attributes)
        if sam_account_name:
            extra["sAMAccountName"] = sam_account_name
        self._add(f"uid={uid},{self.people_base}", {
            "objectClass": classes, "uid": uid, "cn": cn or uid.capitalize(),
            "sn": uid, "userPassword": ssha(password), **extra})
        self.users[uid] = password

    def set_service_password(self, password: str) -> None:
        self._modify_password(self.service_dn, password)
        self.service_password = password

    def set_user_password(self, uid: str, password: str) -> None:
        self._modify_password(f"uid={uid},{self.people_base}", password)
        self.users[uid] = password

    # -- internals ------------------------------------------------------------------------
    def _write_config(self) -> None:
        db = self.dir / "db"
        db.mkdir(exist_ok=True)
        tls = ""
        if self.ca is not None:
            issued = self.ca.issue(self.hostname, _certificate_names(self.hostname))
            tls = (f"TLSCACertificateFile {self.ca.cert}\n"
                   f"TLSCertificateFile {issued.cert}\n"
                   f"TLSCertificateKeyFile {issued.key}\n")
        schemas = "".join(f"include {SCHEMA_DIR / name}.schema\n"
                          for name in ("core", "cosine", "inetorgperson"))
        (self.dir / "ad.schema").write_text(AD_SCHEMA)
        schemas += f"include {self.dir / 'ad.schema'}\n"
        (self.dir / "slapd.conf").write_text(
            f"{schemas}"
            "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
            f"pidfile {self.dir / 'slapd.pid'}\nargsfile {self.dir / 'slapd.args'}\n"
            f"{tls}"
            "database mdb\nmaxsize 16777216\n"
            f'suffix "{self.base}"\nrootdn "{self.admin_dn}"\n'
            f"rootpw {ssha(self.admin_password)}\n"
            f"directory {db}\n"
            "index objectClass,uid eq\n"
            "access to attrs=userPassword by anonymous auth by self write by * none\n"
            f'access to * by dn.exact="{self.service_dn}" read by self read by * none\n')

    def _connection(self):
        import ldap3

        server = ldap3.Server(self.url, connect_timeout=5)
        return ldap3.Connection(server, self.admin_dn, self.admin_password, auto_bind=True,
                                receive_timeout=5, raise_exceptions=True)

    def _add(self, dn: str, attributes: dict, conn=None) -> None:
        own = conn is None
        conn = conn or self._connection()
        try:
            object_class = attributes.pop("objectClass")
            conn.add(dn, object_class, attributes)
        finally:
            if own:
                conn.unbind()

    def _modify_password(self, dn: str, password: str) -> None:
        import ldap3

        conn = self._connection()
        try:
            conn.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, [ssha(password)])]})
        finally:
            conn.unbind()

    def _load_entries(self) -> None:
        conn = self._connection()
        try:
            self._add(self.base, {"objectClass": ["dcObject", "organization"], "dc": "example",
                                  "o": "Example"}, conn)
            for base in (self.people_base, self.services_base):
                self._add(base, {"objectClass": ["organizationalUnit"],
                                 "ou": base.split(",")[0][3:]}, conn)
            self._add(self.service_dn, {
                "objectClass": ["organizationalRole", "simpleSecurityObject"], "cn": "jitsi",
                "userPassword": ssha(self.service_password)}, conn)
            for uid, password in self.users.items():
                self._add(f"uid={uid},{self.people_base}", {
                    "objectClass": ["inetOrgPerson"], "uid": uid, "cn": uid.capitalize(),
                    "sn": uid, "userPassword": ssha(password)}, conn)
        finally:
            conn.unbind()


def ldapwhoami(url: str, dn: str, password: str, *, starttls: bool = False,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """Bind with the command-line client (libldap, like lua-ldap): a check independent of ldap3."""
    argv = ["ldapwhoami", "-x", "-H", url, "-D", dn, "-y", "/dev/stdin"]
    if starttls:
        argv.append("-ZZ")
    return subprocess.run(argv, input=password.encode("utf-8"), capture_output=True, timeout=10,
                          env={**os.environ, **(env or {})})
