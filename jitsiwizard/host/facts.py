"""What the machine has: read-only facts gathered under a root."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Callable

from jitsiwizard.answers.secrets import find_secrets
from jitsiwizard.host import prosody_auth
from jitsiwizard.paths import (
    DPKG_STATUS,
    JICOFO_CONF,
    JICOFO_PROPS,
    JVB_CONF,
    JVB_PROPS,
    LETSENCRYPT_SCRIPT,
    MANAGED_FILE,
    OS_RELEASE,
    PLUGINS_DIR,
    PROSODY_AVAIL,
    PROSODY_ENABLED,
    TURNSERVER_CONF,
)
from jitsiwizard.rootfs import Root

# path -> what the file held before the wizard first changed it (None: not known)
FirstBackup = Callable[[str], "str | None"]


@dataclass
class ScramRecord:
    """A Prosody internal_hashed account: enough to tell whether a password matches."""

    salt: str
    iteration_count: int
    stored_key: str
    server_key: str


@dataclass
class LdapFacts:
    """LDAP settings as the files say (Prosody's mod_auth_ldap, or a hand-made ldap2 setup)."""

    backend: str  # "ldap" | "ldap2" | "cyrus"
    file: str | None = None  # the file holding the settings
    server: str = ""
    base: str = ""
    bind_dn: str = ""
    tls: bool | None = None
    filter: str = ""


@dataclass
class HostFacts:
    """Facts only: the files they were read from stay with the caller (a Root, a FileView)."""

    os_id: str = ""  # "debian" | "ubuntu" | ""
    os_version: str = ""  # "12", "20.04"
    os_codename: str = ""
    os_name: str = ""  # PRETTY_NAME, as the system names itself: "Debian GNU/Linux 12 (bookworm)"
    packages: dict[str, str] = field(default_factory=dict)  # installed package -> version

    # Jitsi as configured
    hostname: str | None = None
    generation: str | None = None  # "current" (jicofo.conf era) | "legacy" | None (no Jitsi)
    anonymous_module: str = "jitsi-anonymous"  # what "open" means on this install
    prosody_host_file: str | None = None  # /etc/prosody/conf.avail/HOST.cfg.lua
    main_auth: str | None = None  # the authentication value on VirtualHost "HOST"
    policy: str | None = None  # open | local | ldap | unknown
    plain_passwords: bool = False  # internal_plain in use (passwords stored in clear)
    guests: bool = False
    guest_host_file: str | None = None  # where the guest VirtualHost is defined
    guest_host: str | None = None  # its name: guest.HOST, or what config.js names
    turn_modules: list[str] = field(default_factory=list)  # TURN credential modules of HOST
    anonymousdomain: str | None = None  # from HOST-config.js
    config_js: str | None = None
    jicofo_conf: str | None = None
    jicofo_sip_properties: str | None = None
    jicofo_auth: bool = False  # authentication enabled in jicofo.conf
    legacy_auth_key: str | None = None  # org.jitsi.jicofo.auth.URL value, which wins when set
    ldap: LdapFacts | None = None
    users: dict[str, ScramRecord | None] = field(default_factory=dict)  # None: plain/unknown

    # nginx and certificates
    nginx_site: str | None = None  # /etc/nginx/sites-available/HOST.conf
    cert_file: str | None = None  # ssl_certificate in the site
    key_file: str | None = None
    letsencrypt_script: str | None = None  # the package's helper, when present

    # the wizard's own records
    managed: dict[str, str] = field(default_factory=dict)  # path -> sha256 the wizard wrote
    # path -> the wizard's own lines in a package's file it edits (formats/regions.py);
    # a path not here is the wizard's whole
    managed_own: dict[str, list] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # security problems and oddities found
    # Secret values assigned in the files read (for redaction only; never shown)
    secrets: set[str] = field(default_factory=set, repr=False)

    @property
    def jitsi_installed(self) -> bool:
        return self.generation is not None

    @property
    def release(self) -> str:
        return f"{self.os_id} {self.os_version}".strip()

    @property
    def default_role(self) -> str:
        """What a rerun starts as: a host with the videobridge alone is an extra bridge."""
        return ("videobridge" if self.bridge_installed and not self.jitsi_installed
                else "meeting-server")

    @property
    def bridge_installed(self) -> bool:
        """The videobridge package is here (with Jitsi Meet, or alone on a bridge host)."""
        return self.has_package("jitsi-videobridge2")

    def has_package(self, name: str) -> bool:
        return name in self.packages

    @property
    def jicofo_requires_login(self) -> bool:
        """Jicofo's effective authentication: the legacy key, which jicofo reads first, or
        jicofo.conf as a whole (an admin's block, the wizard's, later settings winning)."""
        return bool(self.legacy_auth_key) or self.jicofo_auth


# --- detection ------------------------------------------------------------------------------

LEGACY_AUTH_KEY = "org.jitsi.jicofo.auth.URL"
LEGACY_RELEASES = {("ubuntu", "18.04"), ("ubuntu", "20.04"), ("debian", "10")}


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def parse_dpkg_status(text: str) -> dict[str, str]:
    """Installed packages and versions from /var/lib/dpkg/status."""
    packages = {}
    for block in text.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            packages[fields["Package"]] = fields.get("Version", "")
    return packages


def prosody_data_dir(host: str) -> str:
    """Prosody's on-disk name for a host: every non-alphanumeric byte as %xx."""
    return "".join(c if c.isalnum() and c.isascii() else f"%{ord(c):02x}" for c in host)


def parse_prosody_account(text: str) -> tuple[ScramRecord | None, bool]:
    """(SCRAM record, has_plain_password) from an accounts/USER.dat Lua table."""
    import re

    def field_value(name: str) -> str | None:
        m = re.search(r'\["' + name + r'"\]\s*=\s*(?:"([^"]*)"|(\d+))', text)
        return (m.group(1) if m.group(1) is not None else m.group(2)) if m else None

    salt, stored, server = (field_value(k) for k in ("salt", "stored_key", "server_key"))
    count = field_value("iteration_count")
    if salt is not None and stored and server and count:
        return ScramRecord(salt, int(count), stored, server), False
    return None, field_value("password") is not None


def _enabled_prosody_files(root: Root) -> list[str]:
    """conf.avail files linked into conf.d (what Prosody includes), plus plain conf.d files."""
    files = []
    for entry in root.glob(PROSODY_ENABLED, "*.cfg.lua"):
        target = root.readlink(entry)
        if target is None:
            files.append(entry)
        else:
            if not target.startswith("/"):
                target = PROSODY_ENABLED + "/" + target
            files.append(posixpath.normpath(target))
    return files


def _find_hostname(root: Root) -> str | None:
    candidates = [p.rsplit("/", 1)[1][: -len("-config.js")]
                  for p in root.glob("/etc/jitsi/meet", "*-config.js")]
    with_prosody = [c for c in candidates if root.exists(f"{PROSODY_AVAIL}/{c}.cfg.lua")]
    chosen = with_prosody or candidates
    return chosen[0] if chosen else None


def read_facts(root: Root, first_backup: FirstBackup | None = None) -> HostFacts:
    """Read the host's state under `root`. Never writes; never runs anything.

    `first_backup(path)` gives what a file held before the wizard first changed it (the
    recorded runs keep that: jitsiwizard.apply.runs.first_backup); without it, the host is
    read as if no run had been recorded."""
    facts = HostFacts()
    _read_system(facts, root)
    host = _find_hostname(root)
    if host is None:
        return facts
    facts.hostname = host
    facts.letsencrypt_script = LETSENCRYPT_SCRIPT if root.exists(LETSENCRYPT_SCRIPT) else None
    facts.anonymous_module = ("jitsi-anonymous"
                              if root.exists(f"{PLUGINS_DIR}/mod_auth_jitsi-anonymous.lua")
                              else _first_anonymous_module(host, first_backup) or "anonymous")

    host_file = f"{PROSODY_AVAIL}/{host}.cfg.lua"
    host_text = root.read_text(host_file)
    if host_text is None:
        facts.warnings.append(f"found /etc/jitsi/meet/{host}-config.js but no {host_file}: "
                              "the jitsi-meet-prosody package is missing or broken")
        return facts
    facts.prosody_host_file = host_file
    facts.generation = "current" if root.exists(JICOFO_CONF) else "legacy"
    prosody_files = _read_prosody(facts, root, host, host_text)
    jicofo_text, props = _read_jicofo(facts, root)
    _read_policy(facts, prosody_files)
    _read_users(facts, root)
    # Passwords and secrets in the files a plan may show, for redaction by value.
    for text in (*prosody_files.values(), jicofo_text, props,
                 *(root.read_text(p) for p in (JVB_CONF, JVB_PROPS, TURNSERVER_CONF))):
        facts.secrets |= find_secrets(text)
    _read_nginx(facts, root, host)
    return facts


def _read_system(facts: HostFacts, root: Root) -> None:
    """The release, the installed packages, and what the wizard wrote before."""
    release = parse_os_release(root.read_text(OS_RELEASE) or "")
    facts.os_id = release.get("ID", "")
    facts.os_version = release.get("VERSION_ID", "")
    facts.os_codename = release.get("VERSION_CODENAME", "")
    # Shown on screen: printable characters only, one line.
    facts.os_name = "".join(c for c in release.get("PRETTY_NAME", "") if c.isprintable())[:80]
    facts.packages = parse_dpkg_status(root.read_text(DPKG_STATUS) or "")
    if (facts.os_id, facts.os_version) in LEGACY_RELEASES:
        facts.warnings.append(
            f"{facts.release} is a legacy release for Jitsi: it works, but new Jitsi packages "
            "target Debian 11+ and Ubuntu 22.04+; plan an upgrade")
    facts.managed, facts.managed_own = _managed(root)


def _read_prosody(facts: HostFacts, root: Root, host: str, host_text: str) -> dict[str, str]:
    """The main host's authentication and modules, and where a guest host is defined;
    returns the Prosody files read (path -> text), the main host's file first."""
    from jitsiwizard.formats import configjs, lua

    host_file = f"{PROSODY_AVAIL}/{host}.cfg.lua"
    prosody_files = {host_file: host_text}
    for path in _enabled_prosody_files(root):
        if path not in prosody_files:
            text = root.read_text(path)
            if text is not None:
                prosody_files[path] = text
    raw = lua.prosody_get(host_text, host, "authentication")
    auth = lua.lua_unquote(raw) if raw else None
    if auth is None:  # falls back to a global `authentication` in an included file
        for path, text in prosody_files.items():
            raw = lua.prosody_get(text, None, "authentication")
            if raw and path != host_file:
                auth = lua.lua_unquote(raw)
    facts.main_auth = auth
    _check_room_owners(facts, prosody_files)
    facts.turn_modules = [m for m in _modules_enabled(host_text, host) if m in TURN_MODULES]
    facts.config_js = f"/etc/jitsi/meet/{host}-config.js"
    facts.anonymousdomain = configjs.configjs_get(root.read_text(facts.config_js) or "",
                                                  "anonymousdomain")
    # The wizard names the guest host guest.HOST; the current secure-domain guide names it
    # guest.meet.jitsi: whatever config.js names is the guest host when Prosody defines it.
    names = [n for n in (facts.anonymousdomain, f"guest.{host}") if n and n != host]
    for name in names:
        for path, text in prosody_files.items():
            if facts.guest_host_file is None and any(
                    s.kind == "VirtualHost" and s.name == name
                    for s in lua.prosody_sections(text)):
                facts.guest_host_file, facts.guest_host = path, name
    facts.guests = facts.guest_host_file is not None
    return prosody_files


def _read_jicofo(facts: HostFacts, root: Root) -> tuple[str | None, str | None]:
    """Whether jicofo asks for a login (jicofo.conf, and the legacy key that wins over it);
    returns the texts of jicofo.conf and sip-communicator.properties (None: absent)."""
    from jitsiwizard.formats import hocon, properties

    jicofo_text = root.read_text(JICOFO_CONF)
    if jicofo_text is not None:
        facts.jicofo_conf = JICOFO_CONF
        found = hocon.hocon_jicofo_auth(jicofo_text)
        facts.jicofo_auth = bool(found and found.get("enabled"))
    props = root.read_text(JICOFO_PROPS)
    if props is not None:
        facts.jicofo_sip_properties = JICOFO_PROPS
        facts.legacy_auth_key = properties.properties_get(props, LEGACY_AUTH_KEY)
    return jicofo_text, props


def _read_nginx(facts: HostFacts, root: Root, host: str) -> None:
    """The site's certificate and key, as nginx serves them."""
    from jitsiwizard.formats import nginx

    site = f"/etc/nginx/sites-available/{host}.conf"
    site_text = root.read_text(site)
    if site_text is not None:
        facts.nginx_site = site
        certs = nginx.nginx_get(site_text, "ssl_certificate")
        keys = nginx.nginx_get(site_text, "ssl_certificate_key")
        facts.cert_file = certs[0] if certs else None
        facts.key_file = keys[0] if keys else None


def _first_anonymous_module(host: str, first_backup: FirstBackup | None) -> str | None:
    """The anonymous module the packages wrote on the main host's line, as the first run
    that changed the host file kept it in its backup: a host switched away from open (and
    whose plugin directory is not where the check above looks) goes back to that one."""
    from jitsiwizard.formats import lua

    text = first_backup(f"{PROSODY_AVAIL}/{host}.cfg.lua") if first_backup else None
    raw = lua.prosody_get(text, host, "authentication") if text else None
    module = lua.lua_unquote(raw) if raw else None
    return module if module in prosody_auth.ANONYMOUS_MODULES else None


def version_tuple(version: str) -> tuple[int, ...]:
    """'0.12.3-1' -> (0, 12, 3); an epoch ('1:0.12') is dropped."""
    head = version.split(":", 1)[-1].split("-", 1)[0].split("+", 1)[0].split("~", 1)[0]
    parts = []
    for piece in head.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _check_room_owners(facts: HostFacts, prosody_files: dict[str, str]) -> None:
    """Prosody 13 no longer makes component admins (jicofo) owners of the rooms they join
    unless `component_admins_as_room_owners = true`; jitsi-meet-prosody's upgrade writes it
    at the top of the host file. Without it no meeting starts."""
    from jitsiwizard.formats import lua

    version = facts.packages.get("prosody", "")
    if not version or version_tuple(version) < (13,):
        return
    for text in prosody_files.values():
        raw = lua.prosody_get(text, None, "component_admins_as_room_owners")
        if raw is not None and raw.strip() == "true":
            return
    facts.warnings.append(
        f"Prosody {version} makes jicofo a room owner only with "
        "component_admins_as_room_owners = true, which this host's Prosody files do not "
        "set: meetings cannot start. Upgrading jitsi-meet-prosody adds it (apt-get install "
        f"--only-upgrade jitsi-meet-prosody), or add that line at the top of "
        f"{facts.prosody_host_file}")


def _read_policy(facts: HostFacts, prosody_files: dict[str, str]) -> None:
    from jitsiwizard.formats import lua

    auth = facts.main_auth
    policy = prosody_auth.policy_of(auth)
    if policy == "open":
        facts.policy = "open"
    elif policy == "local":
        facts.policy = "local"
        facts.plain_passwords = auth == "internal_plain"
        if facts.plain_passwords:
            facts.warnings.append(
                f"{facts.hostname} stores user passwords in clear (internal_plain); choosing "
                "the local policy switches to internal_hashed and keeps every user")
    elif policy == "ldap":
        facts.policy = "ldap"
        facts.ldap = LdapFacts(backend=auth)
        for path, text in prosody_files.items():
            if auth == "ldap":
                server = lua.prosody_get(text, None, "ldap_server")
                if server:
                    facts.ldap.file = path
                    facts.ldap.server = lua.lua_unquote(server) or server
                    facts.ldap.base = _lua_str(lua.prosody_get(text, None, "ldap_base"))
                    facts.ldap.bind_dn = _lua_str(lua.prosody_get(text, None, "ldap_rootdn"))
                    facts.ldap.filter = _lua_str(lua.prosody_get(text, None, "ldap_filter"))
                    tls = lua.prosody_get(text, None, "ldap_tls")
                    facts.ldap.tls = tls.strip() == "true" if tls else None
            elif auth == "ldap2" and lua.prosody_get(text, None, "ldap"):
                facts.ldap.file = path
        if auth == "ldap2":
            facts.warnings.append(
                "SECURITY: Prosody authenticates with the community module ldap2, which does "
                "not escape user names: names like * or *)(uid=... log in with another "
                "user's password, and a directory failure leaves clients hanging. Rerun the "
                "wizard with the ldap policy to convert it to Prosody's own ldap module.")
    elif auth is None:
        facts.policy = "unknown"
        facts.warnings.append(f"VirtualHost \"{facts.hostname}\" sets no authentication")
    else:
        facts.policy = "unknown"
        facts.warnings.append(
            f"{facts.hostname} uses authentication = {auth!r}, which this wizard does not "
            "manage (token authentication, for instance); choosing a policy replaces it")

    if facts.guests != bool(facts.anonymousdomain):
        facts.warnings.append(
            "guest access is half configured: "
            + ("a guest host exists but config.js has no anonymousdomain"
               if facts.guests else "config.js names an anonymousdomain but Prosody has no "
               "guest host"))
    _check_jicofo(facts)
    if facts.legacy_auth_key and facts.jicofo_conf:
        facts.warnings.append(
            f"jicofo's legacy key {LEGACY_AUTH_KEY} is set in {JICOFO_PROPS}; it wins over "
            "jicofo.conf, so the wizard moves the setting into jicofo.conf")


def _check_jicofo(facts: HostFacts) -> None:
    """Warn when jicofo's effective authentication contradicts Prosody's policy."""
    where = (f"{LEGACY_AUTH_KEY} in {JICOFO_PROPS}" if facts.legacy_auth_key
             else facts.jicofo_conf or "jicofo's settings")
    if facts.policy == "open" and facts.jicofo_requires_login:
        facts.warnings.append(
            f"the policy is open (Prosody lets anyone in) but jicofo still requires login "
            f"({where}): no one can start a meeting; rerun the wizard with the open policy, "
            "which turns jicofo's authentication off")
    elif facts.policy in ("local", "ldap") and not facts.jicofo_requires_login:
        facts.warnings.append(
            f"Prosody requires login ({facts.policy}) but jicofo's authentication is off"
            + (": guests can start meetings" if facts.guests
               else ", unlike the upstream secure-domain setup")
            + f"; rerun the wizard with the {facts.policy} policy, which turns it on")


# What hands guests TURN credentials: mod_turncredentials (2020 packages), mod_external_services
# (later ones). The guides of both generations enable it on the guest host too.
TURN_MODULES = ("turncredentials", "external_services")


def _modules_enabled(text: str, host: str) -> list[str]:
    """The module names in a VirtualHost's modules_enabled list (comments skipped)."""
    import re

    from jitsiwizard.formats import lua

    raw = lua.prosody_get(text, host, "modules_enabled") or ""
    code = re.sub(r"--[^\n]*", "", raw)
    return [a or b for a, b in re.findall(r'"([A-Za-z0-9_-]+)"|\'([A-Za-z0-9_-]+)\'', code)]


def _lua_str(raw: str | None) -> str:
    from jitsiwizard.formats import lua

    if raw is None:
        return ""
    value = lua.lua_unquote(raw)
    return value if value is not None else raw


def _read_users(facts: HostFacts, root: Root) -> None:
    directory = f"/var/lib/prosody/{prosody_data_dir(facts.hostname or '')}/accounts"
    for path in root.glob(directory, "*.dat"):
        name = path.rsplit("/", 1)[1][:-4]
        # user names are stored escaped like host names; ours are plain [a-z0-9._-]
        name = name.replace("%2e", ".").replace("%2d", "-").replace("%5f", "_")
        record, _ = parse_prosody_account(root.read_text(path) or "")
        facts.users[name] = record


def _managed(root: Root) -> tuple[dict[str, str], dict[str, list]]:
    """managed.json: path -> sha256 of what the wizard last wrote, and path -> its own lines
    in the files it shares with the packages (formats/regions.py)."""
    import json

    from jitsiwizard.formats.regions import record_checksum, record_chunks

    text = root.read_text(MANAGED_FILE)
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}, {}
    if not isinstance(data, dict):
        return {}, {}
    own = {str(path): record_chunks(r) for path, r in data.items()}
    return ({str(path): record_checksum(r) for path, r in data.items()},
            {path: chunks for path, chunks in own.items() if chunks is not None})
