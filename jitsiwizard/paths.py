"""Where things are on a Jitsi host, and where the wizard keeps its own state: one source for
every path, always as seen from inside the root (a `Root` maps them under `--root DIR`)."""

from __future__ import annotations

# The wizard's own state.
STATE_DIR = "/var/lib/jitsi-wizard"
LOCK_FILE = f"{STATE_DIR}/lock"
MANAGED_FILE = f"{STATE_DIR}/managed.json"  # target path -> what the wizard wrote (apply/runs.py)
RUNS_DIR = f"{STATE_DIR}/runs"
SECRETS_DIR = f"{STATE_DIR}/secrets"  # passwords typed in the wizard, one 0600 file each
SAVED_ANSWERS = f"{STATE_DIR}/answers.toml"  # the answers of the last run, for replay
LAST_VERIFICATION = f"{STATE_DIR}/verification.json"  # the last verification's report
DEBCONF_PRESEED = f"{STATE_DIR}/debconf-preseed.txt"
BRIDGE_DEBCONF_PRESEED = f"{STATE_DIR}/bridge-debconf-preseed.txt"
BRIDGES_FILE = f"{STATE_DIR}/bridges.json"  # main host: the bridges `bridge add` made
BRIDGES_DIR = f"{STATE_DIR}/bridges"  # main host: each bridge's answers and secret (0600)

# The system.
OS_RELEASE = "/etc/os-release"
DPKG_STATUS = "/var/lib/dpkg/status"
PASSWD = "/etc/passwd"
GROUP = "/etc/group"
SSHD_CONFIG = "/etc/ssh/sshd_config"
SSHD_CONFIG_DIR = "/etc/ssh"
UFW_CONF = "/etc/ufw/ufw.conf"
UFW_DEFAULTS = "/etc/default/ufw"
UFW_RULES = "/etc/ufw/user.rules"
UFW_RULES6 = "/etc/ufw/user6.rules"
APT_KEYRINGS = "/usr/share/keyrings"
APT_SOURCES = "/etc/apt/sources.list.d"
ROOT_CRONTAB = "/var/spool/cron/crontabs/root"

# Prosody.
PROSODY_CFG = "/etc/prosody/prosody.cfg.lua"
PROSODY_AVAIL = "/etc/prosody/conf.avail"
PROSODY_ENABLED = "/etc/prosody/conf.d"
PROSODY_DATA = "/var/lib/prosody"
OWNED_LDAP = f"{PROSODY_AVAIL}/jitsi-wizard-ldap.cfg.lua"
OWNED_GUESTS = f"{PROSODY_AVAIL}/jitsi-wizard-guests.cfg.lua"
LDAP_CA_DROPIN = "/etc/systemd/system/prosody.service.d/jitsi-wizard-ldap-ca.conf"

# Jitsi.
JITSI_SHARE = "/usr/share/jitsi-meet"  # also the webroot for HTTP-01 challenges
PLUGINS_DIR = f"{JITSI_SHARE}/prosody-plugins"
LETSENCRYPT_SCRIPT = f"{JITSI_SHARE}/scripts/install-letsencrypt-cert.sh"
JITSI_MEET_ETC = "/etc/jitsi/meet"
JICOFO_CONF = "/etc/jitsi/jicofo/jicofo.conf"
JICOFO_PROPS = "/etc/jitsi/jicofo/sip-communicator.properties"
JVB_CONF = "/etc/jitsi/videobridge/jvb.conf"
JVB_PROPS = "/etc/jitsi/videobridge/sip-communicator.properties"
# A videobridge host: the main host's pinned certificate and the trust store made from it.
BRIDGE_TRUST_PEM = "/etc/jitsi/videobridge/jitsi-wizard-main.pem"
BRIDGE_TRUST_STORE = "/etc/jitsi/videobridge/jitsi-wizard-truststore.p12"
BRIDGE_TRUST_DROPIN = "/etc/systemd/system/jitsi-videobridge2.service.d/jitsi-wizard-trust.conf"
TURNSERVER_CONF = "/etc/turnserver.conf"
COTURN_CERT_DIR = "/etc/coturn/certs"  # coturn's copies of certbot's files (it runs as
# the turnserver user, which cannot read /etc/letsencrypt/live)

# nginx and certificates.
NGINX_CONF = "/etc/nginx/nginx.conf"
NGINX_SITES = "/etc/nginx/sites-available"
NGINX_STREAM_CONF = "/etc/nginx/modules-enabled/60-jitsi-meet.conf"  # 2020: 443 multiplexed
LE_CONFIG = "/etc/letsencrypt"
LE_WORK = "/var/lib/letsencrypt"
LE_LOGS = "/var/log/letsencrypt"
ACMESH_DIR = "/opt/acmesh"
ACMESH_HOME = f"{ACMESH_DIR}/.acme.sh"  # where the helper installs acme.sh (HOME=/opt/acmesh)


def config_js(host: str) -> str:
    return f"{JITSI_MEET_ETC}/{host}-config.js"


def nginx_site(host: str) -> str:
    return f"{NGINX_SITES}/{host}.conf"


def prosody_host_file(host: str) -> str:
    return f"{PROSODY_AVAIL}/{host}.cfg.lua"


def jitsi_cert_paths(host: str) -> tuple[str, str]:
    """The self-signed pair the package makes (the Let's Encrypt helper writes over it)."""
    return f"{JITSI_MEET_ETC}/{host}.crt", f"{JITSI_MEET_ETC}/{host}.key"


def coturn_cert_paths(host: str) -> tuple[str, str]:
    """Where coturn reads certbot's certificate, copied by the deploy hook (as upstream's
    coturn-certbot-deploy.sh does)."""
    return f"{COTURN_CERT_DIR}/{host}.fullchain.pem", f"{COTURN_CERT_DIR}/{host}.privkey.pem"


def letsencrypt_paths(host: str) -> tuple[str, str]:
    return f"{LE_CONFIG}/live/{host}/fullchain.pem", f"{LE_CONFIG}/live/{host}/privkey.pem"
