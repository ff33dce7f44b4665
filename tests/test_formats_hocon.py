"""HOCON: the managed block of jicofo.conf and jvb.conf, and what the reader finds there."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jitsiwizard.errors import UserError
from jitsiwizard.formats import hocon
from jitsiwizard.formats.escape import hocon_string
from tests.formats_support import HOST

JICOFO_CONF = """\
# Jicofo HOCON configuration. See reference.conf in /usr/share/jicofo/jicofo.jar for
#available options, syntax, and default values.
jicofo {
  xmpp: {
    client: {
      client-proxy: "focus.meet.example.org"
      xmpp-domain: "meet.example.org"
      domain: "auth.meet.example.org"
      username: "focus"
      password: "Jq2vX8pLk3"
    }
    trusted-domains: [ "recorder.meet.example.org" ]
  }
  bridge: {
    brewery-jid: "JvbBrewery@internal.auth.meet.example.org"
  }
}
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
        domain = "meet.example.org:443"
        tls = true
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

AUTH_BODY = ('jicofo {\n  authentication {\n    enabled = true\n    type = XMPP\n'
             f'    login-url = {hocon_string(HOST)}\n  }}\n}}')


def test_managed_block_add_replace_remove():
    added = hocon.hocon_managed_block(JICOFO_CONF, AUTH_BODY)
    assert added == (JICOFO_CONF + "\n" + hocon.HOCON_BEGIN + "\n" + AUTH_BODY + "\n"
                     + hocon.HOCON_END + "\n")
    assert hocon.hocon_get_managed_block(added) == AUTH_BODY
    assert hocon.hocon_get_managed_block(JICOFO_CONF) is None
    replaced = hocon.hocon_managed_block(added, "jicofo.authentication.enabled = false\n")
    assert replaced == (JICOFO_CONF + "\n" + hocon.HOCON_BEGIN
                        + "\njicofo.authentication.enabled = false\n" + hocon.HOCON_END + "\n")
    assert hocon.hocon_managed_block(added, AUTH_BODY) == added
    assert hocon.hocon_managed_block(replaced, None) == JICOFO_CONF
    assert hocon.hocon_managed_block(JICOFO_CONF, None) == JICOFO_CONF
    with pytest.raises(UserError):
        hocon.hocon_managed_block(JICOFO_CONF + hocon.HOCON_BEGIN + "\nx = 1\n", None)


@settings(max_examples=150, deadline=None)
@given(st.text(), st.text(st.characters(blacklist_characters="\x00"), max_size=40),
       st.text(max_size=40))
def test_managed_block_round_trip(text, body, other_body):
    if hocon.HOCON_BEGIN in text or "jitsi-wizard" in body + other_body:
        return
    added = hocon.hocon_managed_block(text, body)
    assert added.startswith(text)
    assert hocon.hocon_managed_block(added, None) == text
    replaced = hocon.hocon_managed_block(added, other_body)
    assert hocon.hocon_managed_block(replaced, None) == text
    assert hocon.hocon_managed_block(replaced, body) == added


@pytest.mark.parametrize("conf, expected", [
    (JICOFO_CONF, None),
    (JICOFO_CONF + 'jicofo { authentication { enabled = true, type = XMPP, '
     'login-url = "meet.example.org" } }\n',
     {"enabled": True, "type": "XMPP", "login_url": HOST}),
    ("jicofo.authentication.enabled = true\njicofo.authentication.type: \"JWT\"\n",
     {"enabled": True, "type": "JWT", "login_url": None}),
    ('jicofo: {\n  // comment\n  authentication: {\n    enabled: true # on\n'
     '    type: "XMPP"\n    login-url: meet.example.org\n  }\n}\n',
     {"enabled": True, "type": "XMPP", "login_url": HOST}),
    # later settings merge into earlier ones and win
    ('jicofo { authentication { enabled = true, type = XMPP, login-url = "meet.example.org" } }\n'
     'jicofo.authentication { enabled = false }\n',
     {"enabled": False, "type": "XMPP", "login_url": HOST}),
    ('jicofo { authentication { enabled = true, login-url = null } }\n'
     'jicofo { authentication.enabled = false }\njicofo.authentication.enabled = "true"',
     {"enabled": True, "type": None, "login_url": None}),
    # a replaced (non-object) authentication is no configuration
    ("jicofo.authentication = {}\n", {"enabled": False, "type": None, "login_url": None}),
    ('{ jicofo { "authentication" { "enabled" = true } } }',
     {"enabled": True, "type": None, "login_url": None}),
])
def test_jicofo_auth(conf, expected):
    assert hocon.hocon_jicofo_auth(conf) == expected


def test_jicofo_auth_reads_the_managed_block():
    assert hocon.hocon_jicofo_auth(hocon.hocon_managed_block(JICOFO_CONF, AUTH_BODY)) == {
        "enabled": True, "type": "XMPP", "login_url": HOST}
    # broken input does not raise
    assert hocon.hocon_jicofo_auth("jicofo { authentication { enabled = ") == {
        "enabled": False, "type": None, "login_url": None}
    assert hocon.hocon_jicofo_auth('}}]] = : "x\n{') is None


def test_get_reads_one_setting_by_its_path():
    body = ('videobridge.apis.xmpp-client.configs.shard {\n'
            '  DOMAIN = "auth.meet.example.org"\n  PASSWORD = "a \\"quoted\\" \\\\ one"\n}')
    conf = hocon.hocon_managed_block(JVB_CONF, body)
    shard = ("videobridge", "apis", "xmpp-client", "configs", "shard")
    assert hocon.hocon_get(conf, *shard, "DOMAIN") == "auth.meet.example.org"
    assert hocon.hocon_get(conf, *shard, "PASSWORD") == 'a "quoted" \\ one'
    assert hocon.hocon_get(conf, *shard, "USERNAME") is None
    assert hocon.hocon_get(conf, "videobridge", "nothing", "here") is None
    assert hocon.hocon_get('}}]] = : "x\n{', "a") is None


def test_static_mappings():
    assert hocon.hocon_static_mappings(JVB_CONF) == []
    body = ('ice4j.harvest.mapping.static-mappings = [\n'
            '  { local-address = "10.0.0.5", public-address = "203.0.113.7" }\n'
            '  { name = "v6", local-address: "fd00::5"\n    public-address: "2001:db8::7" }\n]')
    conf = hocon.hocon_managed_block(JVB_CONF, body)
    assert hocon.hocon_static_mappings(conf) == [
        {"local-address": "10.0.0.5", "public-address": "203.0.113.7"},
        {"name": "v6", "local-address": "fd00::5", "public-address": "2001:db8::7"},
    ]
    # stun settings in the same `mapping` object survive the merge
    nested = JVB_CONF.replace(
        "      stun {",
        '      static-mappings = [{ local-address = "10.1.1.1", public-address = "198.51.100.1" }]'
        "\n      stun {")
    assert hocon.hocon_static_mappings(nested) == [
        {"local-address": "10.1.1.1", "public-address": "198.51.100.1"}]
