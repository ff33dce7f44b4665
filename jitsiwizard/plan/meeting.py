"""build(answers, facts, files) -> Plan: pure. Every change the run would make, in order.

`files` is a read-only view of the host's files (a Root, or MemoryFiles in tests): the plan
reads the current text of what it edits through it, and through nothing else.

Each file's target text is computed from its current text by reversible edits (jitsiwizard/
formats/) or rendered whole for the files the wizard owns, so applying policy A then B leaves
the same files as applying B directly, and a host already in shape gets an empty plan.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from typing import TYPE_CHECKING

from jitsiwizard.answers.model import Answers
from jitsiwizard.errors import UserError
from jitsiwizard.formats import configjs, hocon, lua, properties
from jitsiwizard.host import prosody_auth
from jitsiwizard.host.facts import (
    LEGACY_AUTH_KEY,
    HostFacts,
    ScramRecord,
    prosody_data_dir,
    version_tuple,
)
from jitsiwizard.paths import (
    DEBCONF_PRESEED,
    JICOFO_CONF,
    JICOFO_PROPS,
    JVB_CONF,
    JVB_PROPS,
    LDAP_CA_DROPIN,
    OWNED_GUESTS,
    OWNED_LDAP,
    PROSODY_ENABLED,
)
from jitsiwizard.plan.builder import (
    PROSODY_KEY_URL,
    PROSODY_KEYRING,
    PROSODY_LIST,
    Builder,
    apt_repository,
    install_with_preseed,
    prepare_apt,
    require_debian,
)
from jitsiwizard.plan.nat import (
    NAT_SUMMARY,
    NO_NAT_SUMMARY,
    jvb_conf_nat,
    nat_addresses,
    with_nat_keys,
    without_nat_keys,
)
from jitsiwizard.plan.render import render
from jitsiwizard.plan.steps import Plan
from jitsiwizard.rootfs import FileView

if TYPE_CHECKING:
    from jitsiwizard.plan.videobridge import MainCertificate

PROSODY_MIN = (0, 12)
LDAP_SECRET_KEYS = ("ldap_password",)



def password_matches(record: ScramRecord, password: str) -> bool:
    """Whether `password` is the one Prosody stored (SCRAM-SHA-1, as internal_hashed keeps it)."""
    prepared = unicodedata.normalize("NFKC", password).encode("utf-8")
    salted = hashlib.pbkdf2_hmac("sha1", prepared, record.salt.encode("latin-1"),
                                 record.iteration_count)
    client_key = hmac.new(salted, b"Client Key", "sha1").digest()
    return hmac.compare_digest(hashlib.sha1(client_key).hexdigest(), record.stored_key.lower())


def build(answers: Answers, facts: HostFacts, files: FileView, *, force: bool = False,
          ssh_port_in_use: int | None = None,
          main_certificate: MainCertificate | None = None) -> Plan:
    """The plan that takes this host to these answers. Pure: reads the facts and, through
    `files`, the host's files; touches nothing. A videobridge host's plan also needs the main
    host's certificate, fetched and checked before planning (plan/videobridge.py)."""
    if answers.is_bridge:
        from jitsiwizard.plan.videobridge import build_bridge

        return build_bridge(answers, facts, files, force=force, ssh_port_in_use=ssh_port_in_use,
                            main_certificate=main_certificate)
    b = Builder(facts, files, force)
    for warning in facts.warnings:
        b.note(warning)
    if not facts.jitsi_installed:
        _install_steps(b, answers)
        b.note("Jitsi is not installed yet: the run installs the packages first, then plans "
               "and applies the configuration against the files the packages create "
               "(shown as it happens, in the same run and the same rollback). Packages stay "
               "installed if the run is rolled back.")
        return b.plan
    if facts.hostname != answers.host.hostname:
        raise UserError(
            f"this host serves Jitsi as {facts.hostname}, the answers say "
            f"{answers.host.hostname}", "renaming an installed Jitsi host is not supported: set "
            f'hostname = "{facts.hostname}" under [host], or reinstall Jitsi for the new name',
            field="host.hostname")

    _prosody_upgrade_steps(b, answers)
    _auth_steps(b, answers)
    _nat_steps(b, answers)
    _cert_steps(b, answers)
    _firewall_steps(b, answers, ssh_port_in_use)
    _user_steps(b, answers)
    b.refuse_hand_edits()
    _service_steps(b)
    return b.plan


# --- authentication -------------------------------------------------------------------------

def _auth_steps(b: Builder, answers: Answers) -> None:
    """Authentication as the policy says: the main host's module, the guest host, the LDAP
    settings, where the web app sends guests, and jicofo."""
    facts, host = b.facts, answers.host.hostname
    guests = answers.auth.guests and answers.auth.policy != "open"
    _main_host_auth(b, answers)

    # Guests: a VirtualHost of the wizard's own.
    guest_text = render("prosody-guests.cfg.lua.j2", guest_host=f"guest.{host}",
                        anonymous_module=facts.anonymous_module,
                        modules=facts.turn_modules) if guests else None
    _owned_prosody_file(b, OWNED_GUESTS, guest_text,
                        "guest host: anonymous users may join started meetings"
                        if guests else "no guest host")
    _ldap_steps(b, answers)

    # config.js tells the web app where guests log in.
    b.file(facts.config_js, b.edit(facts.config_js, configjs.configjs_set_anonymousdomain,
                                   f"guest.{host}" if guests else None),
        "anonymousdomain for guests" if guests else "no anonymousdomain")
    _jicofo_steps(b, answers)


def _main_host_auth(b: Builder, answers: Answers) -> None:
    """The main host's authentication module, and a hand-made ldap2 file replaced by ours."""
    facts, host, policy = b.facts, answers.host.hostname, answers.auth.policy
    module = prosody_auth.module_for(policy, facts.anonymous_module)
    prosody = ("prosody",)
    if policy == "local" and facts.plain_passwords:
        b.note(f"{host} moves from internal_plain to internal_hashed: existing users are "
               "kept (Prosody hashes each password on first use) and passwords are no "
               "longer stored in clear")
    if policy == "ldap" and facts.ldap and facts.ldap.backend == "ldap2":
        b.note("the unsafe ldap2 setup is converted to Prosody's own ldap module")

    # The main host's module, on the line the packages mark "do not delete me".
    text = b.edit(facts.prosody_host_file, lua.prosody_set, host, "authentication",
                  f'"{module}"')
    if facts.guest_host and facts.guest_host_file == facts.prosody_host_file:
        # a hand-made guest host: the wizard's own file replaces it
        text = lua.prosody_remove_section(text, facts.guest_host)
    b.file(facts.prosody_host_file, text,
           f"authentication for {host}: {module}", services=prosody)

    # A hand-made ldap2 file (the 2020 guides' ldap.cfg.lua) is replaced by ours.
    if facts.ldap and facts.ldap.backend == "ldap2" and facts.ldap.file not in (
            None, facts.prosody_host_file):
        name = facts.ldap.file.rsplit("/", 1)[1]
        b.link(f"{PROSODY_ENABLED}/{name}", None,
               "stop including the hand-made ldap2 settings", services=prosody)
        b.file(facts.ldap.file, None, "remove the hand-made ldap2 settings (unsafe: user "
               "names are not escaped)", services=prosody, secret_keys=("bind_password",))


def _ldap_steps(b: Builder, answers: Answers) -> None:
    """Prosody's mod_auth_ldap settings, in a file holding the service password, and the CA
    libldap trusts for the directory (none without the ldap policy)."""
    host = answers.host.hostname
    ldap = answers.auth.ldap if answers.auth.policy == "ldap" else None
    ldap_text = None
    if ldap is not None:
        ldap_text = render(
            "prosody-ldap.cfg.lua.j2", hostname=host, server=prosody_auth.server_option(ldap),
            bind_dn=ldap.bind_dn,
            bind_password=ldap.bind_password.value if ldap.bind_password else "",
            base=ldap.user_base, filter=prosody_auth.filter_option(ldap), scope=ldap.scope,
            starttls=ldap.starttls and not ldap.ldaps)
        b.install(["lua-ldap"], "install lua-ldap (Prosody's LDAP library)")
    _owned_prosody_file(b, OWNED_LDAP, ldap_text,
                        "LDAP settings (mod_auth_ldap)" if ldap else "no LDAP settings",
                        mode=0o640, group="prosody", secret_keys=LDAP_SECRET_KEYS)
    dropin = (render("prosody-ldap-ca.conf.j2", ca_file=ldap.ca_file)
              if ldap is not None and ldap.ca_file else None)
    if b.file(LDAP_CA_DROPIN, dropin, "the CA libldap trusts for the directory"
              if dropin else "no LDAP CA override", services=("prosody",)):
        b.command(["systemctl", "daemon-reload"], "make systemd read the prosody drop-in")
    if ldap is not None and ldap.ca_file and not b.files.exists(ldap.ca_file):
        raise UserError(f"CA file {ldap.ca_file} does not exist on this host",
                        "copy the directory's CA certificate there, or fix the path",
                        field="auth.ldap.ca_file")


def _jicofo_steps(b: Builder, answers: Answers) -> None:
    """Jicofo: authentication on for every policy but open. The legacy key wins over
    jicofo.conf, so it is only kept where jicofo.conf does not exist."""
    facts, host = b.facts, answers.host.hostname
    secured = answers.auth.policy != "open"
    jicofo = ("jicofo",)
    if facts.jicofo_conf:
        body = _jicofo_block(b, host, secured)
        b.file(JICOFO_CONF, b.edit(JICOFO_CONF, _jicofo_text, body),
               "jicofo requires login to start a meeting" if secured
               else "jicofo lets anyone start a meeting", services=jicofo)
    props = b.files.read_text(JICOFO_PROPS)
    if props is not None:
        if secured and not facts.jicofo_conf:
            new = properties.properties_set(props, LEGACY_AUTH_KEY, f"XMPP:{host}")
        else:
            new = properties.properties_remove(props, LEGACY_AUTH_KEY)
        summary = (f"jicofo's legacy {LEGACY_AUTH_KEY} requires login" if properties.properties_get(
            new, LEGACY_AUTH_KEY) else f"remove jicofo's legacy {LEGACY_AUTH_KEY}"
            + (" (it would override jicofo.conf)" if facts.jicofo_conf else ""))
        b.file(JICOFO_PROPS, new, summary, services=jicofo)
    elif secured and not facts.jicofo_conf:
        raise UserError("neither jicofo.conf nor jicofo's sip-communicator.properties exists",
                        "reinstall the jicofo package", field="auth.policy")


def _jicofo_block(b: Builder, host: str, secured: bool) -> str | None:
    """The wizard's block in jicofo.conf, so that jicofo's effective authentication is what
    the policy needs wherever else the file sets it. The secure-domain guide puts
    `authentication { ... }` inside the admin's own `jicofo { }` section: when that already
    says what the policy needs, no block is added (no duplicate); when it contradicts the
    policy, the block (at the end, where HOCON's later setting wins) overrides it. The block
    is a dotted path, `jicofo.authentication { }`, so the packages' `hocon set` never writes
    into it (templates/jicofo-auth.hocon.j2)."""
    without_ours = b.edit(JICOFO_CONF, hocon.hocon_managed_block, None)
    found = hocon.hocon_jicofo_auth(without_ours) or {}
    enabled = bool(found.get("enabled"))
    if not secured:
        return render("jicofo-auth-off.hocon.j2") if enabled else None
    already = (enabled and (found.get("type") or "").strip().upper() == "XMPP"
               and (found.get("login_url") or "").strip().lower() == host.lower())
    return None if already else render("jicofo-auth.hocon.j2", hostname=host)


def _jicofo_text(text: str, body: str | None) -> str:
    """jicofo.conf with the wizard's block holding `body`; whatever else an old block held (a
    package upgrade's login, see hocon_rescue_managed) stays in the file, above it."""
    return hocon.hocon_managed_block(
        hocon.hocon_rescue_managed(text, ("jicofo", "authentication")), body)


def _owned_prosody_file(b: Builder, path: str, text: str | None, summary: str,
                        **kw) -> None:
    name = path.rsplit("/", 1)[1]
    b.file(path, text, summary, services=("prosody",), **kw)
    b.link(f"{PROSODY_ENABLED}/{name}", path if text is not None else None,
           f"Prosody includes {name}" if text is not None else f"Prosody drops {name}",
           services=("prosody",))


# --- users ----------------------------------------------------------------------------------

def _user_steps(b: Builder, answers: Answers) -> None:
    if answers.auth.policy != "local":
        return
    host = answers.host.hostname
    data_dir = f"/var/lib/prosody/{prosody_data_dir(host)}"
    snapshot = (data_dir,)
    for user in answers.auth.users:
        jid = f"{user.name}@{host}"
        exists = user.name in b.facts.users
        if user.remove:
            if exists:
                b.command(prosody_auth.unregister_argv(user.name, host), f"delete user {jid}",
                          snapshot=snapshot, timeout=60)
            continue
        if not exists:
            if user.password is None:
                raise UserError(f"user {user.name} does not exist yet and has no password",
                                "add password = \"env:NAME\" (or file:PATH) to that user",
                                field="auth.users")
            b.command(prosody_auth.register_argv(user.name, host), f"create user {jid}",
                      stdin=prosody_auth.password_stdin(user.password), snapshot=snapshot,
                      timeout=60)
        elif user.password is not None:
            record = b.facts.users.get(user.name)
            if record is None or not password_matches(record, user.password.value):
                b.command(prosody_auth.register_argv(user.name, host),
                          f"set the password of {jid}",
                          stdin=prosody_auth.password_stdin(user.password), snapshot=snapshot,
                          timeout=60)


# --- videobridge behind NAT -----------------------------------------------------------------

def _nat_steps(b: Builder, answers: Answers) -> None:
    if b.files.read_text(JVB_CONF) is None:
        _legacy_nat_steps(b, answers)
        return
    jvb_conf_nat(b, answers.host, "jitsi-videobridge2")


def _legacy_nat_steps(b: Builder, answers: Answers) -> None:
    """A 2020-era bridge has no jvb.conf and reads its NAT mapping from its
    sip-communicator.properties. Without a public address, the keys are removed only from a
    file the wizard wrote before (so a mapping the admin made by hand stays)."""
    text = b.files.read_text(JVB_PROPS)
    if text is None:
        if answers.host.public_address:
            raise UserError(f"the videobridge has neither {JVB_CONF} nor {JVB_PROPS}",
                            "reinstall the jitsi-videobridge2 package",
                            field="host.public_address")
        return
    mapping = nat_addresses(answers.host)
    if mapping:
        new = with_nat_keys(text, *mapping)
        summary = NAT_SUMMARY
    elif JVB_PROPS in b.facts.managed:
        new = without_nat_keys(text)
        summary = NO_NAT_SUMMARY
    else:
        return
    b.file(JVB_PROPS, new, summary, services=("jitsi-videobridge2",))


# --- certificates and firewall (their own modules) -----------------------------------------

def _cert_steps(b: Builder, answers: Answers) -> None:
    from jitsiwizard.plan.certs import cert_steps

    cert_steps(b, answers)


def _firewall_steps(b: Builder, answers: Answers, ssh_port_in_use: int | None) -> None:
    from jitsiwizard.plan.firewall import firewall_steps

    firewall_steps(b, answers, ssh_port_in_use)


# --- packages -------------------------------------------------------------------------------

def _prosody_upgrade_steps(b: Builder, answers: Answers) -> None:
    """mod_auth_ldap needs Prosody 0.12; older releases get it from Prosody's repository."""
    version = b.facts.packages.get("prosody", "")
    if answers.auth.policy != "ldap" or not version or version_tuple(version) >= PROSODY_MIN:
        return
    b.note(f"Prosody {version} predates 0.12, which the ldap module needs: the run adds "
           "Prosody's repository and upgrades Prosody")
    apt_repository(b, "prosody", PROSODY_KEY_URL, PROSODY_KEYRING, PROSODY_LIST,
                    "http://packages.prosody.im/debian", f"{b.facts.os_codename} main")
    b.apt(["update"], "read the new package lists", timeout=600)
    # prosody is installed (to be upgraded): named here always, unlike in b.install
    b.installing.update(("prosody", "lua-ldap"))
    b.apt(["install", "-y", "prosody", "lua-ldap"], "upgrade Prosody to 0.12 or newer",
          timeout=1200)


def _install_steps(b: Builder, answers: Answers) -> None:
    facts = b.facts
    host = answers.host.hostname
    require_debian(facts, "Jitsi", field="host")
    if answers.cert.mode == "keep":
        raise UserError("there is no certificate to keep: Jitsi Meet is not installed yet",
                        'choose how to get one: cert.mode = "letsencrypt", "certbot", "own" '
                        'or "self-signed"', field="cert.mode")
    # The certificate helper refuses to install without crontab.
    prepare_apt(b, ("cron",) if answers.cert.mode == "letsencrypt" else ())
    prosody_version = facts.packages.get("prosody", "")
    if (facts.os_id, facts.os_version) in (("debian", "11"), ("ubuntu", "20.04"),
                                            ("ubuntu", "22.04")) or (
            prosody_version and version_tuple(prosody_version) < PROSODY_MIN):
        apt_repository(b, "prosody", PROSODY_KEY_URL, PROSODY_KEYRING, PROSODY_LIST,
                        "http://packages.prosody.im/debian", f"{facts.os_codename} main",
                        phase="install")
        b.note(f"{facts.release} ships a Prosody older than 0.12: Prosody's own repository "
               "is added")
    cert_choice = ("I want to use my own certificate" if answers.cert.mode == "own"
                   else "Generate a new self-signed certificate")
    preseed = render("debconf-preseed.txt.j2", hostname=host, cert_choice=cert_choice,
                     cert_file=answers.cert.cert_file, key_file=answers.cert.key_file,
                     email=answers.host.email)
    install_with_preseed(b, DEBCONF_PRESEED, preseed, "answers for the package questions",
                         "give debconf the answers, so the install asks nothing",
                         "jitsi-meet", "install Jitsi Meet")


# --- services -------------------------------------------------------------------------------

def _service_steps(b: Builder) -> None:
    restart = b.restart
    changed = set(restart)  # services whose own files changed
    if "prosody" in restart:
        # The bridge and jicofo hold XMPP sessions to Prosody: they reconnect cleanly only
        # when restarted after it.
        restart |= {"jicofo", "jitsi-videobridge2"}
    why = {"prosody": "load the new Prosody configuration",
           "jicofo": ("load the new jicofo configuration" if "jicofo" in changed
                      else "reconnect jicofo to Prosody"),
           "jitsi-videobridge2": "reconnect the videobridge to Prosody"}
    for name in ("prosody", "jicofo", "jitsi-videobridge2"):
        if name in restart:
            b.service(name, "restart", why[name])
