"""File trees shaped like real Jitsi installs, for `--demo` and the tests.

The shapes follow what the Debian packages generate (jitsi-meet-prosody, jitsi-meet-web-config,
jicofo, jitsi-videobridge2): "current" is a 2024+ install on Debian 12 (jicofo.conf, the
`jitsi-anonymous` module, Prosody 0.12); "legacy" is a 2020 install on Ubuntu 20.04 (jicofo's
sip-communicator.properties, `anonymous`, `internal_plain` service accounts, Prosody 0.11).
`handmade="ldap2"` adds what the 2020 article did by hand on top of a legacy install.

Most of its length is the text of those files, kept whole so that each tree reads like the
host it stands for; the code that lays them out is short.
"""

from __future__ import annotations

import os
from pathlib import Path

CURRENT_HOST_CFG = """\
plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }

-- domain mapper options, must at least have domain base set to use the mapper
muc_mapper_domain_base = "HOST";

external_service_secret = "fixture-turn-secret";
external_services = {
     { type = "stun", host = "HOST", port = 3478 },
     { type = "turn", host = "HOST", port = 3478, transport = "udp", secret = true, ttl = 86400, algorithm = "turn" },
     { type = "turns", host = "HOST", port = 5349, transport = "tcp", secret = true, ttl = 86400, algorithm = "turn" }
};

cross_domain_bosh = false;
consider_bosh_secure = true;
-- https_ports = { }; -- Remove this line to prevent listening on port 5284

-- https://ssl-config.mozilla.org/#server=haproxy&version=2.1&config=intermediate&openssl=1.1.0g&guideline=5.4
ssl = {
    protocol = "tlsv1_2+";
    ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
}

unlimited_jids = {
    "focus@auth.HOST",
    "jvb@auth.HOST"
}

VirtualHost "HOST"
    authentication = "jitsi-anonymous" -- do not delete me
    -- Properties below are modified by jitsi-meet-tokens package config
    -- and authentication above is switched to "token"
    --app_id="example_app_id"
    --app_secret="example_app_secret"
    -- Assign this host a certificate for TLS, otherwise it would use the one
    -- set in the global section (if any).
    -- Note that old-style SSL on port 5223 only supports one certificate, and will always
    -- use the global one.
    ssl = {
        key = "/etc/prosody/certs/HOST.key";
        certificate = "/etc/prosody/certs/HOST.crt";
    }
    av_moderation_component = "avmoderation.HOST"
    speakerstats_component = "speakerstats.HOST"
    end_conference_component = "endconference.HOST"
    -- we need bosh
    modules_enabled = {
        "bosh";
        "websocket";
        "smacks"; -- XEP-0198: Stream Management
        "pubsub";
        "ping"; -- Enable mod_ping
        "speakerstats";
        "external_services";
        "conference_duration";
        "end_conference";
        "muc_lobby_rooms";
        "muc_breakout_rooms";
        "av_moderation";
        "room_metadata";
    }
    c2s_require_encryption = false
    lobby_muc = "lobby.HOST"
    breakout_rooms_muc = "breakout.HOST"
    room_metadata_component = "metadata.HOST"
    main_muc = "conference.HOST"
    -- muc_lobby_whitelist = { "recorder.HOST" } -- Here we can whitelist jibri to enter lobby enabled rooms

Component "conference.HOST" "muc"
    restrict_room_creation = true
    storage = "memory"
    modules_enabled = {
        "muc_hide_all";
        "muc_meeting_id";
        "muc_domain_mapper";
        "polls";
        --"token_verification";
        "muc_rate_limit";
        "muc_password_whitelist";
    }
    admins = { "focus@auth.HOST" }
    muc_password_whitelist = {
        "focus@auth.HOST"
    }
    muc_room_locking = false
    muc_room_default_public_jids = true

Component "breakout.HOST" "muc"
    restrict_room_creation = true
    storage = "memory"
    modules_enabled = {
        "muc_hide_all";
        "muc_meeting_id";
        "muc_domain_mapper";
        "muc_rate_limit";
        "polls";
    }
    admins = { "focus@auth.HOST" }
    muc_room_locking = false
    muc_room_default_public_jids = true

-- internal muc component
Component "internal.auth.HOST" "muc"
    storage = "memory"
    modules_enabled = {
        "muc_hide_all";
        "ping";
    }
    admins = { "focus@auth.HOST", "jvb@auth.HOST" }
    muc_room_locking = false
    muc_room_default_public_jids = true

VirtualHost "auth.HOST"
    modules_enabled = {
        "limits_exception";
        "smacks";
    }
    authentication = "internal_hashed"
    smacks_hibernation_time = 15;

-- Proxy to jicofo's user JID, so that it doesn't have to register as a component.
Component "focus.HOST" "client_proxy"
    target_address = "focus@auth.HOST"

Component "speakerstats.HOST" "speakerstats_component"
    muc_component = "conference.HOST"

Component "endconference.HOST" "end_conference"
    muc_component = "conference.HOST"

Component "avmoderation.HOST" "av_moderation_component"
    muc_component = "conference.HOST"

Component "lobby.HOST" "muc"
    storage = "memory"
    restrict_room_creation = true
    muc_room_locking = false
    muc_room_default_public_jids = true
    modules_enabled = {
        "muc_hide_all";
        "muc_rate_limit";
        "polls";
    }

Component "metadata.HOST" "room_metadata_component"
    muc_component = "conference.HOST"
    breakout_rooms_component = "breakout.HOST"
"""

LEGACY_HOST_CFG = """\
plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }

-- domain mapper options, must at least have domain base set to use the mapper
muc_mapper_domain_base = "HOST";

turncredentials_secret = "fixture-turn-secret";

turncredentials = {
  { type = "stun", host = "HOST", port = "3478" },
  { type = "turn", host = "HOST", port = "3478", transport = "udp" },
  { type = "turns", host = "HOST", port = "5349", transport = "tcp" }
};

cross_domain_bosh = false;
consider_bosh_secure = true;

VirtualHost "HOST"
        -- enabled = false -- Remove this line to enable this host
        authentication = "anonymous"
        -- Properties below are modified by jitsi-meet-tokens package config
        -- and authentication above is switched to "token"
        --app_id="example_app_id"
        --app_secret="example_app_secret"
        -- Assign this host a certificate for TLS, otherwise it would use the one
        -- set in the global section (if any).
        -- Note that old-style SSL on port 5223 only supports one certificate, and will always
        -- use the global one.
        ssl = {
                key = "/etc/prosody/certs/HOST.key";
                certificate = "/etc/prosody/certs/HOST.crt";
        }
        speakerstats_component = "speakerstats.HOST"
        conference_duration_component = "conferenceduration.HOST"
        -- we need bosh
        modules_enabled = {
            "bosh";
            "pubsub";
            "ping"; -- Enable mod_ping
            "speakerstats";
            "turncredentials";
            "conference_duration";
        }
        c2s_require_encryption = false

Component "conference.HOST" "muc"
    storage = "memory"
    modules_enabled = {
        "muc_meeting_id";
        "muc_domain_mapper";
        -- "token_verification";
    }
    admins = { "focus@auth.HOST" }
    muc_room_locking = false
    muc_room_default_public_jids = true

-- internal muc component
Component "internal.auth.HOST" "muc"
    storage = "memory"
    modules_enabled = {
      "ping";
    }
    admins = { "focus@auth.HOST", "jvb@auth.HOST" }
    muc_room_locking = false
    muc_room_default_public_jids = true

VirtualHost "auth.HOST"
    ssl = {
        key = "/etc/prosody/certs/auth.HOST.key";
        certificate = "/etc/prosody/certs/auth.HOST.crt";
    }
    authentication = "internal_plain"

Component "focus.HOST"
    component_secret = "fixture-focus-secret"

Component "speakerstats.HOST" "speakerstats_component"
    muc_component = "conference.HOST"

Component "conferenceduration.HOST" "conference_duration_component"
    muc_component = "conference.HOST"
"""

PROSODY_MAIN_CFG = """\
-- Prosody Configuration File (trimmed to what matters here; the Debian package's own file)
admins = { }
plugin_paths = { }
modules_enabled = {
\t\t"roster";
\t\t"saslauth";
\t\t"tls";
\t\t"dialback";
\t\t"disco";
\t\t"posix";
\t\t"private";
\t\t"vcard4";
\t\t"vcard_legacy";
\t\t"version";
\t\t"uptime";
\t\t"time";
\t\t"ping";
\t\t"register";
\t\t"admin_adhoc";
}
modules_disabled = { }
allow_registration = false
daemonize = false;
pidfile = "/run/prosody/prosody.pid";
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = false
authentication = "internal_hashed"
log = {
\tinfo = "/var/log/prosody/prosody.log";
\terror = "/var/log/prosody/prosody.err";
\t"*syslog";
}
certificates = "certs"

VirtualHost "localhost"

------ Additional config files ------
Include "conf.d/*.cfg.lua"
"""

CONFIG_JS = """\
var subdir = '<!--# echo var="subdir" default="" -->';
var subdomain = '<!--# echo var="subdomain" default="" -->';
if (subdomain) {
    subdomain = subdomain.substr(0,subdomain.length-1).split('.').join('_').toLowerCase() + '.';
}
var config = {
    // Connection
    //

    hosts: {
        // XMPP domain.
        domain: 'HOST',

        // When using authentication, domain for guest users.
        // anonymousdomain: 'guest.example.com',

        // Domain for authenticated users. Defaults to <domain>.
        // authdomain: 'HOST',

        // Focus component domain. Defaults to focus.<domain>.
        // focus: 'focus.HOST',

        // XMPP MUC domain. FIXME: use XEP-0030 to discover it.
        muc: 'conference.' + subdomain + 'HOST',
    },

    // BOSH URL. FIXME: use XEP-0156 to discover it.
    bosh: 'https://HOST/' + subdir + 'http-bind',

    // Websocket URL (XMPP)
    // websocket: 'wss://HOST/' + subdir + 'xmpp-websocket',

    // The real JID of focus participant - can be overridden here
    // Do not change username - FIXME: Make focus username configurable
    // https://github.com/jitsi/jitsi-meet/issues/7376
    // focusUserJid: 'focus@auth.HOST',

    // Testing / experimental features.
    //

    testing: {
        // Enables experimental simulcast support on Firefox.
        enableFirefoxSimulcast: false,
    },

    // Disables ICE/UDP by filtering out local and remote UDP candidates in
    // signalling.
    // webrtcIceUdpDisable: false,

    p2p: {
        enabled: true,
        stunServers: [
            { urls: 'stun:HOST:3478' },
        ],
    },
};
"""

JICOFO_CONF = """\
# Jicofo HOCON configuration. See reference.conf in /usr/share/jicofo/jicofo.jar for
#available options, syntax, and default values.
jicofo {
  xmpp: {
    client: {
      client-proxy: "focus.HOST"
      xmpp-domain: "HOST"
      domain: "auth.HOST"
      username: "focus"
      password: "fixtureFocusPw"
    }
    trusted-domains: [ "recorder.HOST" ]
  }
  bridge: {
    brewery-jid: "JvbBrewery@internal.auth.HOST"
  }
}
"""

LEGACY_JICOFO_PROPS = """\
org.jitsi.jicofo.BRIDGE_MUC=JvbBrewery@internal.auth.HOST
"""

JVB_CONF = """\
videobridge {
    http-servers {
        public {
            port = 9090
        }
    }
    websockets {
        enabled = true
        domain = "HOST:443"
        tls = true
    }
}
"""

JVB_PROPS = """\
org.ice4j.ice.harvest.DISABLE_AWS_HARVESTER=true
org.ice4j.ice.harvest.STUN_MAPPING_HARVESTER_ADDRESSES=meet-jit-si-turnrelay.jitsi.net:443
org.jitsi.videobridge.ENABLE_STATISTICS=true
org.jitsi.videobridge.STATISTICS_TRANSPORT=muc
org.jitsi.videobridge.xmpp.user.shard.HOSTNAME=localhost
org.jitsi.videobridge.xmpp.user.shard.DOMAIN=auth.HOST
org.jitsi.videobridge.xmpp.user.shard.USERNAME=jvb
org.jitsi.videobridge.xmpp.user.shard.PASSWORD=fixtureJvbPw
org.jitsi.videobridge.xmpp.user.shard.MUC_JIDS=JvbBrewery@internal.auth.HOST
org.jitsi.videobridge.xmpp.user.shard.MUC_NICKNAME=fixture-nick
"""

NGINX_SITE = """\
server_names_hash_bucket_size 64;

types {
# nginx's default mime.types doesn't include a mapping for wasm or wav.
    application/wasm     wasm;
    audio/wav            wav;
}
upstream prosody {
    zone upstreams 64K;
    server 127.0.0.1:5280;
    keepalive 2;
}
upstream jvb1 {
    zone upstreams 64K;
    server 127.0.0.1:9090;
    keepalive 2;
}
server {
    listen 80;
    listen [::]:80;
    server_name HOST;

    location ^~ /.well-known/acme-challenge/ {
        default_type text/plain;
        root /usr/share/jitsi-meet;
    }
    location = /.well-known/acme-challenge/ {
        return 404;
    }
    location / {
        return 301 https://$host$request_uri;
    }
}
server {
    listen 443 ssl;
    listen [::]:443 ssl;
    server_name HOST;

    # Mozilla Guideline v5.4, nginx 1.17.7, OpenSSL 1.1.1d, intermediate configuration
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384;
    ssl_prefer_server_ciphers off;

    ssl_session_timeout 1d;
    ssl_session_cache shared:SSL:10m;  # about 40000 sessions
    ssl_session_tickets off;

    add_header Strict-Transport-Security "max-age=63072000" always;
    set $prefix "";
    set $custom_index "";
    set $config_js_location /etc/jitsi/meet/HOST-config.js;

    ssl_certificate /etc/jitsi/meet/HOST.crt;
    ssl_certificate_key /etc/jitsi/meet/HOST.key;

    root /usr/share/jitsi-meet;

    # ssi on with javascript for multidomain variables in config.js
    ssi on;
    ssi_types application/x-javascript application/javascript;

    index index.html index.htm;
    error_page 404 /static/404.html;

    location = /config.js {
        alias $config_js_location;
    }

    location = /external_api.js {
        alias /usr/share/jitsi-meet/libs/external_api.min.js;
    }

    # BOSH
    location = /http-bind {
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header Host $http_host;
        proxy_pass http://prosody/http-bind?prefix=$prefix&$args;
    }

    # xmpp websockets
    location = /xmpp-websocket {
        proxy_pass http://prosody/xmpp-websocket?prefix=$prefix&$args;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $http_host;
        tcp_nodelay on;
    }
}
"""

# What the 2020 article configured by hand (its mistakes fixed: the filter is given, which
# ldap2 requires). Prosody-modules' mod_auth_ldap2 does not escape user names.
HANDMADE_LDAP2_CFG = """\
-- https://modules.prosody.im/mod_lib_ldap.html
-- https://modules.prosody.im/mod_auth_ldap2.html
authentication = 'ldap2'

ldap = {
  hostname = 'ldap.example.org',
  bind_dn = 'cn=admin,dc=example,dc=org',
  bind_password = 'fixture-ldap2-password',
  use_tls = true,
  user = {
    usernamefield = 'uid',
    basedn = 'ou=people,dc=example,dc=org',
    filter = '(objectClass=inetOrgPerson)',
    namefield = 'cn',
  },
}
"""

HANDMADE_GUEST_BLOCK = """
VirtualHost "guest.HOST"
  authentication = "anonymous"
  c2s_require_encryption = false
"""

PEM_PLACEHOLDER = "-----BEGIN CERTIFICATE-----\nZml4dHVyZSBzZWxmLXNpZ25lZA==\n-----END CERTIFICATE-----\n"
KEY_PLACEHOLDER = "-----BEGIN PRIVATE KEY-----\nZml4dHVyZSBrZXk=\n-----END PRIVATE KEY-----\n"

GENERATIONS = {
    "current": {
        "os": ("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)"),
        "packages": {
            "jitsi-meet": "2.0.10008-1", "jitsi-meet-web": "1.0.8542-1",
            "jitsi-meet-web-config": "1.0.8542-1", "jitsi-meet-prosody": "1.0.8542-1",
            "jitsi-videobridge2": "2.3-209-g5e8d4a8c-1", "jicofo": "1.0-1125-1",
            "prosody": "0.12.3-1", "nginx-full": "1.22.1-9", "nginx": "1.22.1-9",
            "openjdk-17-jre-headless": "17.0.12+7-2~deb12u1", "ruby-hocon": "1.3.1-2",
            "jq": "1.6-2.1", "lua5.4": "5.4.4-3",
        },
    },
    "legacy": {
        "os": ("ubuntu", "20.04", "focal", "Ubuntu 20.04.6 LTS"),
        "packages": {
            "jitsi-meet": "2.0.4857-1", "jitsi-meet-web": "1.0.4289-1",
            "jitsi-meet-web-config": "1.0.4289-1", "jitsi-meet-prosody": "1.0.4289-1",
            "jitsi-videobridge2": "2.1-202-g5f9377b9-1", "jicofo": "1.0-589-1",
            "prosody": "0.11.4-1", "nginx-full": "1.18.0-0ubuntu1", "nginx": "1.18.0-0ubuntu1",
            "openjdk-8-jre-headless": "8u252-b09-1ubuntu1",
        },
    },
}


def _dpkg_status(packages: dict[str, str]) -> str:
    blocks = []
    for name, version in sorted(packages.items()):
        blocks.append(f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
                      f"Architecture: amd64\nVersion: {version}\nDescription: {name}\n")
    return "\n".join(blocks)


def build(root: str | os.PathLike, *, hostname: str = "meet.example.org",
          generation: str = "current", handmade: str | None = None,
          os_release: tuple[str, str, str, str] | None = None,
          extra_packages: dict[str, str] | None = None) -> Path:
    """Write a tree under `root` shaped like a fresh package install. Returns the root."""
    base = Path(root)
    gen = GENERATIONS[generation]
    os_id, version, codename, pretty = os_release or gen["os"]
    packages = dict(gen["packages"])
    packages.update(extra_packages or {})
    files: dict[str, str] = {
        "/etc/os-release": f'PRETTY_NAME="{pretty}"\nNAME="{pretty.split(" ")[0]}"\n'
                           f'VERSION_ID="{version}"\nVERSION_CODENAME={codename}\nID={os_id}\n',
        "/etc/hostname": hostname.split(".")[0] + "\n",
        "/etc/prosody/prosody.cfg.lua": PROSODY_MAIN_CFG,
        f"/etc/prosody/conf.avail/{hostname}.cfg.lua":
            CURRENT_HOST_CFG if generation == "current" else LEGACY_HOST_CFG,
        f"/etc/jitsi/meet/{hostname}-config.js": CONFIG_JS,
        f"/etc/jitsi/meet/{hostname}.crt": PEM_PLACEHOLDER,
        f"/etc/jitsi/meet/{hostname}.key": KEY_PLACEHOLDER,
        "/etc/jitsi/videobridge/sip-communicator.properties": JVB_PROPS,
        f"/etc/nginx/sites-available/{hostname}.conf": NGINX_SITE,
        "/usr/share/jitsi-meet/index.html": "<!DOCTYPE html><title>Jitsi Meet</title>\n",
        "/usr/share/jitsi-meet/scripts/install-letsencrypt-cert.sh":
            "#!/bin/bash\n# fixture stand-in for the package's helper script\nexit 0\n",
        "/etc/jitsi/jicofo/config": f"JICOFO_HOST=localhost\nJICOFO_HOSTNAME={hostname}\n",
    }
    if generation == "current":
        files["/etc/jitsi/jicofo/jicofo.conf"] = JICOFO_CONF
        files["/etc/jitsi/videobridge/jvb.conf"] = JVB_CONF
        files["/usr/share/jitsi-meet/prosody-plugins/mod_auth_jitsi-anonymous.lua"] = (
            "-- fixture stand-in for the jitsi-anonymous authentication module\n")
    else:
        files["/etc/jitsi/jicofo/sip-communicator.properties"] = LEGACY_JICOFO_PROPS
    files["/usr/share/jitsi-meet/prosody-plugins/mod_muc_meeting_id.lua"] = (
        "-- fixture stand-in\n")

    if handmade == "ldap2":
        packages.update({"prosody-modules": "0.0~hg20200128.09e7e880e056+dfsg-1",
                         "lua-ldap": "1.2.5-1"})
        files["/etc/prosody/conf.avail/ldap.cfg.lua"] = HANDMADE_LDAP2_CFG
        host_file = f"/etc/prosody/conf.avail/{hostname}.cfg.lua"
        text = files[host_file].replace('authentication = "anonymous"',
                                        'authentication = "ldap2"', 1)
        files[host_file] = text + HANDMADE_GUEST_BLOCK.replace("HOST", hostname)
        files[f"/etc/jitsi/meet/{hostname}-config.js"] = CONFIG_JS.replace(
            "        // anonymousdomain: 'guest.example.com',\n",
            "        anonymousdomain: 'guest.HOST',\n", 1)
        files["/etc/jitsi/jicofo/sip-communicator.properties"] = (
            LEGACY_JICOFO_PROPS + "org.jitsi.jicofo.auth.URL=XMPP:HOST\n")
    elif handmade is not None:
        raise ValueError(f"unknown handmade variant {handmade!r}")

    files["/var/lib/dpkg/status"] = _dpkg_status(packages)
    for target, text in files.items():
        path = base / target.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("HOST", hostname))
    for key in (f"/etc/jitsi/meet/{hostname}.key", "/etc/prosody/conf.avail/ldap.cfg.lua"):
        if (base / key.lstrip("/")).exists():
            (base / key.lstrip("/")).chmod(0o640)

    # The packages link with absolute targets; so do we (Root never follows them outside).
    links = {
        f"/etc/prosody/conf.d/{hostname}.cfg.lua": f"/etc/prosody/conf.avail/{hostname}.cfg.lua",
        f"/etc/nginx/sites-enabled/{hostname}.conf":
            f"/etc/nginx/sites-available/{hostname}.conf",
    }
    if handmade == "ldap2":
        links["/etc/prosody/conf.d/ldap.cfg.lua"] = "/etc/prosody/conf.avail/ldap.cfg.lua"
    for link, target in links.items():
        path = base / link.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
    for directory in ("/var/lib/prosody", "/var/log/prosody", "/var/log/jitsi"):
        (base / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
    return base


def build_empty(root: str | os.PathLike, *, os_release: tuple[str, str, str, str] = (
        "debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)")) -> Path:
    """A host with no Jitsi yet: only the OS release and an empty package list."""
    base = Path(root)
    os_id, version, codename, pretty = os_release
    (base / "etc").mkdir(parents=True, exist_ok=True)
    (base / "etc/os-release").write_text(
        f'PRETTY_NAME="{pretty}"\nVERSION_ID="{version}"\nVERSION_CODENAME={codename}\n'
        f"ID={os_id}\n")
    (base / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
    (base / "var/lib/dpkg/status").write_text(_dpkg_status({"python3": "3.11.2-1"}))
    return base


# A host that runs only the videobridge (a scaled setup's extra bridge), as the package
# leaves it: "current" keeps the shard in jvb.conf, the 2020 ("legacy") package in
# sip-communicator.properties. The package points the shard at the local Prosody it expects.
BRIDGE_JVB_CONF = """\
videobridge {
    http-servers {
        public {
            port = 9090
        }
    }
    apis {
        xmpp-client {
            configs {
                shard {
                    HOSTNAME = "localhost"
                    DOMAIN = "auth.MAIN"
                    USERNAME = "jvb"
                    PASSWORD = "fixtureJvbPw"
                    MUC_JIDS = "JvbBrewery@internal.auth.MAIN"
                    MUC_NICKNAME = "fixture-nick"
                    DISABLE_CERTIFICATE_VERIFICATION = true
                }
            }
        }
    }
}
ice4j {
    harvest {
        mapping {
            stun {
                addresses = [ "meet-jit-si-turnrelay.jitsi.net:443" ]
            }
        }
    }
}
"""


def build_bridge(root: str | os.PathLike, *, main: str = "meet.example.org",
                 generation: str = "current") -> Path:
    """A tree shaped like a host with only jitsi-videobridge2 installed."""
    base = build_empty(root, os_release=GENERATIONS[generation]["os"])
    gen = GENERATIONS[generation]["packages"]
    packages = {"python3": "3.11.2-1", "jitsi-videobridge2": gen["jitsi-videobridge2"]}
    packages.update({k: v for k, v in gen.items() if k.startswith("openjdk")})
    files = {"/var/lib/dpkg/status": _dpkg_status(packages),
             "/etc/jitsi/videobridge/config": "JVB_OPTS=\"--apis=,\"\n"
                                              "JAVA_SYS_PROPS=\"-Dconfig.file=/etc/jitsi/"
                                              "videobridge/jvb.conf\"\n"}
    if generation == "current":
        files["/etc/jitsi/videobridge/jvb.conf"] = BRIDGE_JVB_CONF.replace("MAIN", main)
    else:
        files["/etc/jitsi/videobridge/sip-communicator.properties"] = JVB_PROPS.replace(
            "HOST", main)
    for target, text in files.items():
        path = base / target.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (base / "var/log/jitsi").mkdir(parents=True, exist_ok=True)
    return base
