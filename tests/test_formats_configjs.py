"""Jitsi Meet's config.js: the hosts entries read, and anonymousdomain set and removed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jitsiwizard.errors import UserError
from jitsiwizard.formats import configjs
from jitsiwizard.formats.escape import js_string
from tests.formats_support import GUEST, HOST, changed_lines

CONFIG_JS = """\
/* eslint-disable comma-dangle, no-unused-vars, no-var, prefer-template */

var subdir = '<!--# echo var="subdir" default="" -->';
var subdomain = '<!--# echo var="subdomain" default="" -->';

if (subdomain) {
    subdomain = subdomain.substring(0, subdomain.length - 1).split('.')
        .join('_')
        .toLowerCase() + '.';
}

// In case of no ssi provided by the webserver, use empty strings
if (subdir.startsWith('<!--')) {
    subdir = '';
}

var config = {
    // Connection
    //

    hosts: {
        // XMPP domain.
        domain: 'meet.example.org',

        // When using authentication, domain for guest users.
        // anonymousdomain: 'guest.example.com',

        // Domain for authenticated users. Defaults to <domain>.
        // authdomain: 'meet.example.org',

        // Focus component domain. Defaults to focus.<domain>.
        // focus: 'focus.meet.example.org',

        // XMPP MUC domain. FIXME: use XEP-0030 to discover it.
        muc: 'conference.' + subdir + 'meet.example.org',
    },

    // BOSH URL. FIXME: use XEP-0156 to discover it.
    bosh: 'https://meet.example.org/' + subdir + 'http-bind',

    // anonymousdomain: 'not-in-hosts.example.com',
    testing: {
        anonymousdomain: 'not-in-hosts.example.com',
    },
};
"""

def test_configjs_get():
    assert configjs.configjs_get(CONFIG_JS, "domain") == HOST
    assert configjs.configjs_get(CONFIG_JS, "anonymousdomain") is None
    assert configjs.configjs_get(CONFIG_JS, "muc") is None  # an expression, not a string
    assert configjs.configjs_get(CONFIG_JS, "bosh") is None  # not in hosts
    assert configjs.configjs_get("var config = {};", "domain") is None
    assert configjs.configjs_get("var config = { 'hosts': { \"domain\": 'a\\'b\\u0041' } }",
                              "domain") == "a'bA"


def test_configjs_set_anonymousdomain_below_the_shipped_comment():
    after = configjs.configjs_set_anonymousdomain(CONFIG_JS, GUEST)
    assert changed_lines(CONFIG_JS, after) == ([], [f"        anonymousdomain: '{GUEST}',\n"])
    assert ("        // anonymousdomain: 'guest.example.com',\n"
            f"        anonymousdomain: '{GUEST}',\n") in after
    assert configjs.configjs_get(after, "anonymousdomain") == GUEST
    assert configjs.configjs_set_anonymousdomain(after, GUEST) == after
    other = configjs.configjs_set_anonymousdomain(after, "guests.example.net")
    assert changed_lines(after, other) == (
        [f"        anonymousdomain: '{GUEST}',\n"],
        ["        anonymousdomain: 'guests.example.net',\n"])
    assert configjs.configjs_set_anonymousdomain(other, None) == CONFIG_JS
    assert configjs.configjs_set_anonymousdomain(CONFIG_JS, None) == CONFIG_JS


def test_configjs_set_anonymousdomain_without_the_comment():
    text = "var config = {\n\thosts: {\n\t\tdomain: 'meet.example.org', // main\n" \
           "\t\tmuc: 'conference.meet.example.org'\n\t},\n};\n"
    after = configjs.configjs_set_anonymousdomain(text, GUEST)
    assert after == text.replace("// main\n", f"// main\n\t\tanonymousdomain: '{GUEST}',\n")
    assert configjs.configjs_set_anonymousdomain(after, None) == text
    # `domain` last and without a comma: the entry goes before it
    last = "var config = {\r\n  hosts: {\r\n    domain: 'x.example.org'\r\n  }\r\n};"
    after = configjs.configjs_set_anonymousdomain(last, "g'x")
    assert "  hosts: {\r\n    anonymousdomain: 'g\\'x',\r\n    domain" in after
    assert configjs.configjs_get(after, "anonymousdomain") == "g'x"
    assert configjs.configjs_set_anonymousdomain(after, None) == last
    inline = "var config = { hosts: { domain: 'x.example.org' } };"
    after = configjs.configjs_set_anonymousdomain(inline, GUEST)
    assert after == ("var config = { hosts: { "
                     f"anonymousdomain: '{GUEST}', domain: 'x.example.org' }} }};")
    assert configjs.configjs_set_anonymousdomain(after, None) == inline
    with pytest.raises(UserError):
        configjs.configjs_set_anonymousdomain("var config = {};", GUEST)


def test_configjs_removes_every_active_entry_in_hosts_only():
    text = CONFIG_JS.replace(
        "        muc:", "        anonymousdomain: 'a.example.org',\n"
        "        anonymousdomain: 'b.example.org', // again\n        muc:")
    assert configjs.configjs_get(text, "anonymousdomain") == "b.example.org"
    assert configjs.configjs_set_anonymousdomain(text, None) == CONFIG_JS
    both = configjs.configjs_set_anonymousdomain(text, GUEST)
    assert both.count(f"anonymousdomain: '{GUEST}',") == 2


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=20), st.booleans(), st.booleans(), st.sampled_from(["\n", "\r\n"]))
def test_configjs_round_trip(domain, with_comment, comma, newline):
    text = CONFIG_JS
    if not with_comment:
        text = text.replace("        // anonymousdomain: 'guest.example.com',\n", "")
    if not comma:
        text = text.replace("'conference.' + subdir + 'meet.example.org',",
                            "'conference.' + subdir + 'meet.example.org'")
    text = text.replace("\n", newline)
    after = configjs.configjs_set_anonymousdomain(text, domain)
    assert configjs.configjs_get(after, "anonymousdomain") == domain
    assert configjs.configjs_get(after, "domain") == HOST
    assert configjs.configjs_set_anonymousdomain(after, domain) == after
    removed, added = changed_lines(text, after)
    assert removed == [] and len(added) == 1 and js_string(domain) in added[0]
    assert configjs.configjs_set_anonymousdomain(after, None) == text
