"""The authentication lab: Jitsi-shaped Prosody trees run by a real Prosody, real logins.

The trees here are written by hand after the current jitsi-meet-prosody template; the wizard's
own fixture builder will replace `write_jitsi_tree`.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import ldap3
import pytest

from jitsiwizard.formats.escape import lua_string
from tests.lab.ca import CA
from tests.lab.proc import free_port
from tests.lab.prosody import Prosody
from tests.lab.slapd import Slapd, ldapwhoami
from tests.lab.versions import package_version
from tests.lab.xmpp import login, offered_mechanisms

pytestmark = pytest.mark.lab

HOST = "meet.example.org"
LUA_LDAP = package_version("lua-ldap")

JITSI_HOST_FILE = """\
plugin_paths = {{ "/usr/share/jitsi-meet/prosody-plugins/" }}
muc_mapper_domain_base = "{host}";
external_service_secret = "turn-secret";
external_services = {{
     {{ type = "stun", host = "{host}", port = 3478 }},
     {{ type = "turn", host = "{host}", port = 3478, transport = "udp", secret = true,
       ttl = 86400, algorithm = "turn" }}
}};
cross_domain_bosh = false;
consider_bosh_secure = true;
ssl = {{
    protocol = "tlsv1_2+";
}}
unlimited_jids = {{
    "focus@auth.{host}",
    "jvb@auth.{host}"
}}

VirtualHost "{host}"
    authentication = "{auth}" -- do not delete me
    ssl = {{
        key = "/etc/prosody/certs/{host}.key";
        certificate = "/etc/prosody/certs/{host}.crt";
    }}
    av_moderation_component = "avmoderation.{host}"
    speakerstats_component = "speakerstats.{host}"
    conference_duration_component = "conferenceduration.{host}"
    end_conference_component = "endconference.{host}"
    modules_enabled = {{
        "bosh";
        "pubsub";
        "ping";
        "speakerstats";
        "external_services";
        "conference_duration";
        "end_conference";
        "muc_lobby_rooms";
        "muc_breakout_rooms";
        "av_moderation";
        "room_metadata";
    }}
    c2s_require_encryption = false
    lobby_muc = "lobby.{host}"
    breakout_rooms_muc = "breakout.{host}"
    room_metadata_component = "metadata.{host}"
    main_muc = "conference.{host}"

Component "conference.{host}" "muc"
    restrict_room_creation = true
    storage = "memory"
    modules_enabled = {{
        "muc_meeting_id";
        "muc_domain_mapper";
        "polls";
        "muc_rate_limit";
    }}
    admins = {{ "focus@auth.{host}" }}
    muc_room_locking = false
    muc_room_default_public_jids = true

Component "breakout.{host}" "muc"
    restrict_room_creation = true
    storage = "memory"
    modules_enabled = {{
        "muc_meeting_id";
        "muc_domain_mapper";
        "muc_rate_limit";
        "polls";
    }}
    admins = {{ "focus@auth.{host}" }}
    muc_room_locking = false
    muc_room_default_public_jids = true

Component "internal.auth.{host}" "muc"
    storage = "memory"
    modules_enabled = {{
        "ping";
    }}
    admins = {{ "focus@auth.{host}", "jvb@auth.{host}" }}
    muc_room_locking = false
    muc_room_default_public_jids = true

VirtualHost "auth.{host}"
    ssl = {{
        key = "/etc/prosody/certs/auth.{host}.key";
        certificate = "/etc/prosody/certs/auth.{host}.crt";
    }}
    modules_enabled = {{
        "limits_exception";
    }}
    authentication = "internal_hashed"

Component "focus.{host}" "client_proxy"
    target_address = "focus@auth.{host}"

Component "speakerstats.{host}" "speakerstats_component"
    muc_component = "conference.{host}"

Component "conferenceduration.{host}" "conference_duration_component"
    muc_component = "conference.{host}"

Component "endconference.{host}" "end_conference"
    muc_component = "conference.{host}"

Component "avmoderation.{host}" "av_moderation_component"
    muc_component = "conference.{host}"

Component "lobby.{host}" "muc"
    storage = "memory"
    restrict_room_creation = true
    muc_room_locking = false
    muc_room_default_public_jids = true
    modules_enabled = {{
        "muc_rate_limit";
        "polls";
    }}

Component "metadata.{host}" "room_metadata_component"
    muc_component = "conference.{host}"
    breakout_rooms_component = "breakout.{host}"
"""


def write_jitsi_tree(root: Path, host: str = HOST, auth: str = "jitsi-anonymous") -> Path:
    """A current-generation Jitsi Prosody tree under `root`, linked the way the package does."""
    etc = root / "etc/prosody"
    for sub in ("conf.avail", "conf.d", "certs"):
        (etc / sub).mkdir(parents=True, exist_ok=True)
    (etc / "prosody.cfg.lua").write_text('Include "conf.d/*.cfg.lua"\n')
    (etc / "conf.avail" / f"{host}.cfg.lua").write_text(
        JITSI_HOST_FILE.format(host=host, auth=auth))
    (etc / "conf.d" / f"{host}.cfg.lua").symlink_to(f"/etc/prosody/conf.avail/{host}.cfg.lua")
    return root


def write_conf_d(root: Path, name: str, text: str) -> None:
    (root / "etc/prosody/conf.d" / name).write_text(text, encoding="utf-8")


def ldap_settings(slapd: Slapd, *, server: str | None = None, tls: bool = False,
                  password: str | None = None) -> str:
    """The global LDAP options file, shaped like the one the wizard writes."""
    return (
        f"ldap_server = {lua_string(server or slapd.url.split('://', 1)[1])}\n"
        f"ldap_rootdn = {lua_string(slapd.service_dn)}\n"
        f"ldap_password = {lua_string(password or slapd.service_password)}\n"
        f"ldap_base = {lua_string(slapd.people_base)}\n"
        'ldap_filter = "(uid=$user)"\n'
        f"ldap_tls = {'true' if tls else 'false'}\n"
        "consider_bosh_secure = true\n"
        "consider_websocket_secure = true\n")


def guest_host(auth: str = "jitsi-anonymous") -> str:
    return (f'VirtualHost "guest.{HOST}"\n'
            f'    authentication = "{auth}"\n'
            "    c2s_require_encryption = false\n")


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> CA:
    return CA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def slapd(tmp_path_factory, ca):
    server = Slapd(tmp_path_factory.mktemp("ldap"), ca=ca, ldaps=True).start()
    yield server
    server.stop()


@pytest.fixture
def make_prosody(tmp_path, ca):
    """Start a Prosody on the tree under tmp_path/root after `prepare(root)` wrote it."""
    started: list[Prosody] = []

    def make(env: dict | None = None) -> Prosody:
        prosody = Prosody(tmp_path / "root", HOST, tmp_path / f"prosody{len(started)}", ca=ca,
                          env=env)
        ok, output = prosody.check_config()
        assert ok, output
        started.append(prosody)
        prosody.start()
        assert prosody.load_errors() == [], "a module is missing: add a stand-in?"
        return prosody

    yield make
    for prosody in started:
        prosody.stop()


def attempt(prosody: Prosody, ca: CA, domain: str = HOST, **kwargs):
    return login(prosody.port, domain, ca=str(ca.cert), **kwargs)


def test_open_host_allows_anonymous_logins(tmp_path, make_prosody, ca):
    write_jitsi_tree(tmp_path / "root")
    prosody = make_prosody()
    result = attempt(prosody, ca)
    assert result.outcome == "success", prosody.log_text()[-3000:]
    assert result.tls and result.mechanisms == ["ANONYMOUS"]
    assert result.jid.split("/")[0].endswith("@" + HOST)


def test_a_module_nobody_provides_is_reported(tmp_path, ca):
    root = write_jitsi_tree(tmp_path / "root")
    tree_file = root / f"etc/prosody/conf.avail/{HOST}.cfg.lua"
    tree_file.write_text(tree_file.read_text().replace('"polls";', '"no_such_module";', 1))
    with Prosody(root, HOST, tmp_path / "prosody", ca=ca) as prosody:
        errors = prosody.load_errors()
    assert len(errors) == 1 and "no_such_module" in errors[0]


def test_local_users_log_in_and_nothing_else_does(tmp_path, make_prosody, ca):
    write_jitsi_tree(tmp_path / "root", auth="internal_hashed")
    prosody = make_prosody()
    password = "s3cret with spaces \"'\\ é"
    prosody.register("alice", HOST, password)
    assert "SCRAM-SHA-1" in attempt(prosody, ca, username="alice", password="x").mechanisms
    for mechanism in ("SCRAM-SHA-1", "PLAIN"):
        ok = attempt(prosody, ca, username="alice", password=password, mechanism=mechanism)
        assert ok.outcome == "success", (mechanism, prosody.log_text()[-3000:])
        assert ok.jid.startswith(f"alice@{HOST}/")
        wrong = attempt(prosody, ca, username="alice", password=password + "x",
                        mechanism=mechanism)
        assert wrong.outcome == "not-authorized"
    assert attempt(prosody, ca).outcome == "mechanism-unavailable"


def test_register_replaces_a_password_and_keeps_it_off_argv(tmp_path, make_prosody, ca):
    write_jitsi_tree(tmp_path / "root", auth="internal_hashed")
    prosody = make_prosody()
    prosody.register("bob", HOST, "first")
    prosody.register("bob", HOST, "second")
    assert attempt(prosody, ca, username="bob", password="first",
                   mechanism="SCRAM-SHA-1").outcome == "not-authorized"
    assert attempt(prosody, ca, username="bob", password="second",
                   mechanism="SCRAM-SHA-1").outcome == "success"
    # A mismatched retype makes prosodyctl fail rather than store either password.
    mismatch = prosody.prosodyctl("register", "carol", HOST, stdin="one\ntwo\n")
    assert mismatch.returncode != 0
    assert attempt(prosody, ca, username="carol", password="one",
                   mechanism="SCRAM-SHA-1").outcome == "not-authorized"


def test_ldap_users_log_in_and_filter_injection_is_refused(tmp_path, make_prosody, ca, slapd):
    root = write_jitsi_tree(tmp_path / "root", auth="ldap")
    write_conf_d(root, "jitsi-wizard-ldap.cfg.lua", ldap_settings(slapd))
    prosody = make_prosody()
    ok = attempt(prosody, ca, username="alice", password=slapd.users["alice"])
    assert ok.outcome == "success", prosody.log_text()[-3000:]
    assert ok.mechanisms == ["PLAIN"]
    assert attempt(prosody, ca, username="alice", password="wrong").outcome == "not-authorized"
    for username in ("*", "a*", "*)(uid=alice"):
        result = attempt(prosody, ca, username=username, password=slapd.users["alice"])
        assert result.outcome == "not-authorized", username
    assert attempt(prosody, ca).outcome == "mechanism-unavailable"


@pytest.mark.parametrize("guest_auth", ["jitsi-anonymous", "anonymous"])
def test_guests_log_in_anonymously_on_the_guest_host_only(tmp_path, make_prosody, ca,
                                                          guest_auth):
    root = write_jitsi_tree(tmp_path / "root", auth="internal_hashed")
    write_conf_d(root, f"guest.{HOST}.cfg.lua", guest_host(guest_auth))
    prosody = make_prosody()
    guest = attempt(prosody, ca, domain=f"guest.{HOST}")
    assert guest.outcome == "success", prosody.log_text()[-3000:]
    assert guest.jid.split("/")[0].endswith(f"@guest.{HOST}")
    assert attempt(prosody, ca).outcome == "mechanism-unavailable"
    # Guests may also connect without TLS (c2s_require_encryption = false).
    assert attempt(prosody, ca, domain=f"guest.{HOST}", starttls=False).outcome == "success"


def test_ldap_starttls_trusts_the_ca_from_the_environment(tmp_path, make_prosody, ca, slapd):
    root = write_jitsi_tree(tmp_path / "root", auth="ldap")
    server = f"{slapd.hostname}:{slapd.port}"
    write_conf_d(root, "jitsi-wizard-ldap.cfg.lua", ldap_settings(slapd, server=server, tls=True))
    trusted = make_prosody(env={"LDAPTLS_CACERT": str(ca.cert)})
    result = attempt(trusted, ca, username="bob", password=slapd.users["bob"])
    assert result.outcome == "success", trusted.log_text()[-3000:]
    # Without the CA, libldap does not trust slapd's certificate and the login fails.
    untrusted = make_prosody(env={"LDAPTLS_CACERT": "/dev/null"})
    result = attempt(untrusted, ca, username="bob", password=slapd.users["bob"])
    assert result.outcome == "not-authorized"


def test_escaped_service_password_works_end_to_end(tmp_path, make_prosody, ca, slapd):
    awkward = "q\"u'o\\te \\n ]] -- ]=] ärger Ωmega"
    original = slapd.service_password
    slapd.set_service_password(awkward)
    try:
        root = write_jitsi_tree(tmp_path / "root", auth="ldap")
        settings = ldap_settings(slapd, password=awkward)
        assert awkward not in settings  # the value is escaped, not pasted
        write_conf_d(root, "jitsi-wizard-ldap.cfg.lua", settings)
        prosody = make_prosody()
        result = attempt(prosody, ca, username="carol", password=slapd.users["carol"])
        assert result.outcome == "success", prosody.log_text()[-3000:]
        # The control: the password as naive escaping would turn it ("\n" becomes a newline).
        write_conf_d(root, "jitsi-wizard-ldap.cfg.lua",
                     ldap_settings(slapd, password=awkward.replace("\\n", "\n")))
        naive = prosody.restart()
        result = attempt(naive, ca, username="carol", password=slapd.users["carol"])
        assert result.outcome == "not-authorized"
    finally:
        slapd.set_service_password(original)


@pytest.mark.parametrize(("server", "tls", "outcome"), [
    ("ldaps://{name}:{ldaps_port}", False, "success"),
    ("ldaps://{name}:{ldaps_port}", True, "not-authorized"),  # StartTLS inside TLS fails
    ("{name}:{ldaps_port}", False, "not-authorized"),  # a bare host:port speaks plain LDAP
    # Space-separated fallbacks: as whole URIs (what the wizard writes) on every release; as
    # bare host:port entries only from lua-ldap 1.3 on (Debian 11's 1.2 fails to connect).
    ("ldap://{name}:{dead_port} ldap://{name}:{port}", False, "success"),
    ("ldap://{name}:{dead_port} ldap://{name}:{port}", True, "success"),
    ("{name}:{dead_port} {name}:{port}", False,
     "success" if LUA_LDAP >= (1, 3) else "not-authorized"),
])
def test_how_ldap_server_takes_ldaps(tmp_path, make_prosody, ca, slapd, server, tls, outcome):
    root = write_jitsi_tree(tmp_path / "root", auth="ldap")
    server = server.format(name=slapd.hostname, port=slapd.port, ldaps_port=slapd.ldaps_port,
                           dead_port=free_port())
    write_conf_d(root, "jitsi-wizard-ldap.cfg.lua", ldap_settings(slapd, server=server, tls=tls))
    prosody = make_prosody(env={"LDAPTLS_CACERT": str(ca.cert)})
    result = attempt(prosody, ca, username="alice", password=slapd.users["alice"])
    assert result.outcome == outcome, prosody.log_text()[-3000:]


def test_offered_mechanisms_without_tls_hide_plain(tmp_path, make_prosody, ca, slapd):
    root = write_jitsi_tree(tmp_path / "root", auth="ldap")
    write_conf_d(root, "jitsi-wizard-ldap.cfg.lua", ldap_settings(slapd))
    prosody = make_prosody()
    assert offered_mechanisms(prosody.port, HOST, starttls=False) == []
    assert offered_mechanisms(prosody.port, HOST, ca=str(ca.cert)) == ["PLAIN"]


def test_slapd_certificate_name_verifies_for_ldap3_and_libldap(slapd, ca):
    alice_dn = f"uid=alice,{slapd.people_base}"
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca.cert))
    ldaps = ldap3.Connection(ldap3.Server(slapd.ldaps_url, use_ssl=True, tls=tls,
                                          connect_timeout=5),
                             alice_dn, slapd.users["alice"], receive_timeout=5)
    assert ldaps.bind(), ldaps.result
    starttls = ldap3.Connection(ldap3.Server(slapd.name_url, tls=tls, connect_timeout=5),
                                slapd.service_dn, slapd.service_password, receive_timeout=5)
    starttls.open()
    assert starttls.start_tls() and starttls.bind(), starttls.result
    env = {"LDAPTLS_CACERT": str(ca.cert)}
    assert ldapwhoami(slapd.ldaps_url, alice_dn, slapd.users["alice"], env=env).returncode == 0
    assert ldapwhoami(slapd.name_url, alice_dn, slapd.users["alice"], starttls=True,
                      env=env).returncode == 0
    # The control: libldap refuses the certificate without the test CA.
    assert ldapwhoami(slapd.ldaps_url, alice_dn, slapd.users["alice"],
                      env={"LDAPTLS_CACERT": "/dev/null"}).returncode != 0


def test_client_times_out_on_a_silent_server():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel accepts; nobody ever answers
        with pytest.raises(TimeoutError):
            login(silent.getsockname()[1], HOST, timeout=0.2)
