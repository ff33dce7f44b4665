"""Prosody's Lua config: realistic host files, properties over generated ones, and real Lua
reading the edited files.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jitsiwizard.formats import lua
from jitsiwizard.formats.escape import lua_string
from tests.formats_support import GUEST, HOST, changed_lines

# The host file as current jitsi-meet-prosody packages write it (abridged: fewer helper components).
CURRENT_HOST_CFG = """\
plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }

-- domain mapper options, must at least have domain base set to use the mapper
muc_mapper_domain_base = "meet.example.org";

external_service_secret = "Tq7nW2xLr8";
external_services = {
     { type = "stun", host = "meet.example.org", port = 3478 },
     { type = "turn", host = "meet.example.org", port = 3478, transport = "udp", secret = true,
       ttl = 86400, algorithm = "turn" },
     { type = "turns", host = "meet.example.org", port = 5349, transport = "tcp", secret = true,
       ttl = 86400, algorithm = "turn" }
};

cross_domain_bosh = false;
consider_bosh_secure = true;
-- https_ports = { }; -- Remove this line to prevent listening on port 5284

--http_cors_override = {
--    bosh = {
--        enabled = false;
--    };
--}

unlimited_jids = {
    "focus@auth.meet.example.org",
    "jvb@auth.meet.example.org"
}

VirtualHost "meet.example.org"
    authentication = "jitsi-anonymous" -- do not delete me
    -- Properties below are modified by jitsi-meet-tokens package config
    -- and authentication above is switched to "token"
    --app_id="example_app_id"
    --app_secret="example_app_secret"
    ssl = {
        key = "/etc/prosody/certs/meet.example.org.key";
        certificate = "/etc/prosody/certs/meet.example.org.crt";
    }
    speakerstats_component = "speakerstats.meet.example.org"
    -- we need bosh
    modules_enabled = {
        "bosh";
        "websocket";
        "ping"; -- Enable mod_ping
        "speakerstats";
        "external_services";
        "muc_lobby_rooms";
        "muc_breakout_rooms";
    }
    c2s_require_encryption = false
    lobby_muc = "lobby.meet.example.org"
    breakout_rooms_muc = "breakout.meet.example.org"
    main_muc = "conference.meet.example.org"
    -- muc_lobby_whitelist = { "recorder.meet.example.org" } -- Here we can whitelist jibri

Component "conference.meet.example.org" "muc"
    restrict_room_creation = true
    storage = "memory"
    modules_enabled = {
        "muc_meeting_id";
        "muc_domain_mapper";
        --"token_verification";
    }
    admins = { "focus@auth.meet.example.org" }
    muc_room_locking = false

Component "breakout.meet.example.org" "muc"
    restrict_room_creation = true
    storage = "memory"
    admins = { "focus@auth.meet.example.org" }

-- internal muc component
Component "internal.auth.meet.example.org" "muc"
    storage = "memory"
    modules_enabled = {
        "ping";
    }
    admins = { "focus@auth.meet.example.org", "jvb@auth.meet.example.org" }

VirtualHost "auth.meet.example.org"
    modules_enabled = {
        "limits_exception";
    }
    authentication = "internal_hashed"

-- Proxy to jicofo's user JID, so that it doesn't have to register as a component.
Component "focus.meet.example.org" "client_proxy"
    target_address = "focus@auth.meet.example.org"

Component "speakerstats.meet.example.org" "speakerstats_component"
    muc_component = "conference.meet.example.org"

Component "lobby.meet.example.org" "muc"
    storage = "memory"
    restrict_room_creation = true
    muc_room_locking = false
"""

# An old (2019) host file: tab indentation, internal_plain, components with secrets.
LEGACY_HOST_CFG = """\
-- Plugins path gets uncommented during jitsi-meet-tokens package install
--plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }

VirtualHost "meet.example.org"
\t-- enabled = false -- Remove this line to enable this host
\tauthentication = "anonymous"
\t-- Assign this host a certificate for TLS, otherwise it would use the one
\t-- set in the global section (if any).
\tssl = {
\t\tkey = "/etc/prosody/certs/meet.example.org.key";
\t\tcertificate = "/etc/prosody/certs/meet.example.org.crt";
\t}
\t-- we need bosh
\tmodules_enabled = {
\t    "bosh";
\t    "pubsub";
\t    "ping"; -- Enable mod_ping
\t}

\tc2s_require_encryption = false

Component "conference.meet.example.org" "muc"
    storage = "none"
    --modules_enabled = { "token_verification" }
admins = { "focus@auth.meet.example.org" }

Component "jitsi-videobridge.meet.example.org"
    component_secret = "Kd9pLw2q"

VirtualHost "auth.meet.example.org"
    ssl = {
        key = "/etc/prosody/certs/auth.meet.example.org.key";
        certificate = "/etc/prosody/certs/auth.meet.example.org.crt";
    }
    authentication = "internal_plain"

Component "focus.meet.example.org"
    component_secret = "Zr4mQ8vN"
"""

GUEST_BLOCK = """\
VirtualHost "guest.meet.example.org"
    authentication = "jitsi-anonymous"
    c2s_require_encryption = false
"""


def deleted_lines_only(before: str, after: str) -> bool:
    """`after` is `before` with some lines deleted (line contents compared)."""
    remaining = iter(before.splitlines())
    return all(any(line == old for old in remaining) for line in after.splitlines())


# --------------------------------------------------------------------------------------------
# Prosody: realistic files


def test_sections_of_current_host_file():
    sections = lua.prosody_sections(CURRENT_HOST_CFG)
    assert sections[0] == lua.Section("global", None, 0, sections[1].start)
    assert [(s.kind, s.name) for s in sections[1:]] == [
        ("VirtualHost", HOST),
        ("Component", "conference.meet.example.org"),
        ("Component", "breakout.meet.example.org"),
        ("Component", "internal.auth.meet.example.org"),
        ("VirtualHost", "auth.meet.example.org"),
        ("Component", "focus.meet.example.org"),
        ("Component", "speakerstats.meet.example.org"),
        ("Component", "lobby.meet.example.org"),
    ]
    lines = CURRENT_HOST_CFG.splitlines()
    for previous, section in zip(sections, sections[1:]):
        assert previous.end == section.start
        assert lines[section.start].lstrip().startswith(section.kind)
    assert sections[-1].end == len(lines)


def test_headers_in_comments_and_strings_are_not_headers():
    text = textwrap.dedent('''\
        -- VirtualHost "commented.example.org"
        --[[
        VirtualHost "block.example.org"
        ]]
        --[==[ Component "leveled.example.org" ]] still a comment
        ]==]
        motd = [[
        VirtualHost "in-long-string.example.org"
        ]]
        banner = "VirtualHost \\"in-string\\""
          VirtualHost "indented.example.org"
            a = 1
        Component("called.example.org")
        ---[[ a line comment, so the next line is code
        Component "real.example.org" "muc"
        ''')
    sections = lua.prosody_sections(text)
    assert [s.name for s in sections] == [
        None, "indented.example.org", "called.example.org", "real.example.org"]
    assert lua.prosody_get(text, None, "motd") == (
        '[[\nVirtualHost "in-long-string.example.org"\n]]')


def test_get_reads_values_as_raw_lua():
    text = CURRENT_HOST_CFG
    assert lua.prosody_get(text, HOST, "authentication") == '"jitsi-anonymous"'
    assert lua.prosody_get(text, None, "muc_mapper_domain_base") == '"meet.example.org"'
    assert lua.prosody_get(text, HOST, "modules_enabled") == (
        '{\n        "bosh";\n        "websocket";\n        "ping"; -- Enable mod_ping\n'
        '        "speakerstats";\n        "external_services";\n        "muc_lobby_rooms";\n'
        '        "muc_breakout_rooms";\n    }')
    assert lua.prosody_get(text, "auth.meet.example.org", "authentication") == '"internal_hashed"'
    assert lua.prosody_get(text, "conference.meet.example.org", "storage") == '"memory"'
    assert lua.prosody_get(text, HOST, "app_id") is None  # commented out
    assert lua.prosody_get(text, HOST, "key") is None  # inside the ssl table
    assert lua.prosody_get(text, None, "authentication") is None
    assert lua.prosody_get(text, "guest.meet.example.org", "authentication") is None
    assert lua.prosody_get(LEGACY_HOST_CFG, HOST, "authentication") == '"anonymous"'
    # an unindented line still belongs to the section above it
    assert lua.prosody_get(LEGACY_HOST_CFG, "conference.meet.example.org", "admins") == (
        '{ "focus@auth.meet.example.org" }')


def test_get_is_not_fooled_by_comment_markers_in_strings():
    text = textwrap.dedent('''\
        VirtualHost "meet.example.org"
            ldap_password = "a--b" -- the service password
            ldap_filter = '(uid=$user)--[[' ; other = "x"
            ldap_base = [==[ou=a]]--,dc=b]==]
            authentication = "ldap"
            authentication = "ldap" .. "2" -- the last one wins
        ''')
    assert lua.prosody_get(text, HOST, "ldap_password") == '"a--b"'
    assert lua.lua_unquote(lua.prosody_get(text, HOST, "ldap_password")) == "a--b"
    assert lua.prosody_get(text, HOST, "ldap_filter") == "'(uid=$user)--[['"
    assert lua.prosody_get(text, HOST, "other") == '"x"'
    assert lua.prosody_get(text, HOST, "ldap_base") == "[==[ou=a]]--,dc=b]==]"
    assert lua.prosody_get(text, HOST, "authentication") == '"ldap" .. "2"'


def test_set_replaces_only_the_value_and_keeps_the_marker_comment():
    after = lua.prosody_set(CURRENT_HOST_CFG, HOST, "authentication", '"internal_hashed"')
    assert changed_lines(CURRENT_HOST_CFG, after) == (
        ['    authentication = "jitsi-anonymous" -- do not delete me\n'],
        ['    authentication = "internal_hashed" -- do not delete me\n'])
    # the auth host's own authentication line is another section's and stays
    assert lua.prosody_get(after, "auth.meet.example.org", "authentication") == (
        '"internal_hashed"')
    assert lua.prosody_set(after, HOST, "authentication", '"internal_hashed"') == after


def test_set_replaces_a_multiline_value_whole():
    after = lua.prosody_set(CURRENT_HOST_CFG, "internal.auth.meet.example.org",
                              "modules_enabled", '{ "ping"; "muc_hide_all" }')
    assert changed_lines(CURRENT_HOST_CFG, after) == (
        ['    modules_enabled = {\n', '        "ping";\n', '    }\n'],
        ['    modules_enabled = { "ping"; "muc_hide_all" }\n'])


def test_set_inserts_a_missing_key_after_the_header_with_the_sections_indent():
    after = lua.prosody_set(CURRENT_HOST_CFG, "auth.meet.example.org",
                              "c2s_require_encryption", "true")
    assert changed_lines(CURRENT_HOST_CFG, after) == (
        [], ["    c2s_require_encryption = true\n"])
    lines = after.splitlines()
    header = lines.index('VirtualHost "auth.meet.example.org"')
    assert lines[header + 1] == "    c2s_require_encryption = true"
    # tab-indented legacy section: the new line is tab-indented too
    legacy = lua.prosody_set(LEGACY_HOST_CFG, HOST, "consider_websocket_secure", "true")
    assert '"meet.example.org"\n\tconsider_websocket_secure = true\n\t-- enabled' in legacy
    # a section with no body gets four spaces
    bare = 'VirtualHost "x.example.org"'
    assert lua.prosody_set(bare, "x.example.org", "a", "1") == (
        'VirtualHost "x.example.org"\n    a = 1')


def test_set_global_goes_before_the_first_header_and_its_comments():
    after = lua.prosody_set(CURRENT_HOST_CFG, None, "consider_websocket_secure", "true")
    assert ('    "jvb@auth.meet.example.org"\n}\nconsider_websocket_secure = true\n\n'
            'VirtualHost') in after
    legacy = lua.prosody_set(LEGACY_HOST_CFG, None, "consider_bosh_secure", "true")
    assert legacy.startswith(
        "-- Plugins path gets uncommented during jitsi-meet-tokens package install\n"
        '--plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }\n'
        "consider_bosh_secure = true\n\nVirtualHost")
    # the comment introducing the first section stays attached to it
    text = 'a = 1\n-- the main host\nVirtualHost "x"\n'
    assert lua.prosody_set(text, None, "b", "2") == (
        'a = 1\nb = 2\n\n-- the main host\nVirtualHost "x"\n')
    assert lua.prosody_set("", None, "b", "2") == "b = 2\n"
    assert lua.prosody_set("a = 1", None, "b", "2") == "a = 1\nb = 2"
    assert lua.prosody_set('VirtualHost "x"\n', None, "b", "2") == 'b = 2\n\nVirtualHost "x"\n'


def test_set_on_a_missing_section_raises_keyerror():
    with pytest.raises(KeyError):
        lua.prosody_set(CURRENT_HOST_CFG, "guest.meet.example.org", "authentication", '"x"')


def test_remove_takes_whole_lines_including_multiline_values():
    after = lua.prosody_remove(CURRENT_HOST_CFG, HOST, "modules_enabled")
    removed, added = changed_lines(CURRENT_HOST_CFG, after)
    assert added == [] and removed[0] == "    modules_enabled = {\n" and removed[-1] == "    }\n"
    assert len(removed) == 9
    assert lua.prosody_get(after, "conference.meet.example.org", "modules_enabled") is not None
    assert lua.prosody_remove(CURRENT_HOST_CFG, HOST, "no_such_key") == CURRENT_HOST_CFG
    assert lua.prosody_remove(CURRENT_HOST_CFG, "nowhere.example.org", "a") == CURRENT_HOST_CFG
    # every assignment goes, and a statement sharing its line is cut out of it
    text = 'VirtualHost "x"\n    a = 1\n    b = 2; a = 3\n    a = "-- not a comment"; -- c\n'
    assert lua.prosody_remove(text, "x", "a") == 'VirtualHost "x"\n    b = 2; \n'
    # the last line of a file without a final newline
    assert lua.prosody_remove('VirtualHost "x"\n    a = 1\n    b = 2', "x", "b") == (
        'VirtualHost "x"\n    a = 1')


def test_guest_host_append_and_remove_restore_the_file():
    after = lua.prosody_append_section(CURRENT_HOST_CFG, GUEST_BLOCK)
    assert after == CURRENT_HOST_CFG + "\n" + GUEST_BLOCK
    assert lua.prosody_get(after, GUEST, "authentication") == '"jitsi-anonymous"'
    assert lua.prosody_remove_section(after, GUEST) == CURRENT_HOST_CFG
    for original in ("", "a = 1", "a = 1\n\n\n", "a = 1\n  \t", "\n",
                     CURRENT_HOST_CFG.rstrip("\n")):
        appended = lua.prosody_append_section(original, GUEST_BLOCK + "\n\n")
        core = original.rstrip()
        assert appended.startswith(core + ("\n\n" if core else "") + 'VirtualHost "guest.')
        assert lua.prosody_remove_section(appended, "guest.meet.example.org") == original
    crlf = CURRENT_HOST_CFG.replace("\n", "\r\n")
    appended = lua.prosody_append_section(crlf, GUEST_BLOCK)
    assert appended.startswith(crlf + "\r\nVirtualHost")
    assert lua.prosody_remove_section(appended, "guest.meet.example.org") == crlf


def test_remove_section_in_the_middle_keeps_the_next_headers_comment():
    after = lua.prosody_remove_section(CURRENT_HOST_CFG, "breakout.meet.example.org")
    assert ('    muc_room_locking = false\n\n-- internal muc component\n'
            'Component "internal.auth.meet.example.org" "muc"\n') in after
    assert "breakout.meet.example.org\" \"muc\"" not in after
    assert lua.prosody_remove_section(CURRENT_HOST_CFG, "nope.example.org") == CURRENT_HOST_CFG


def test_lua_unquote():
    assert lua.lua_unquote('"jitsi-anonymous"') == "jitsi-anonymous"
    assert lua.lua_unquote("'it\\'s'") == "it's"
    assert lua.lua_unquote('"a\\\\b\\"c\\n\\t\\065\\x42\\u{e9}\\z   d"') == 'a\\b"c\n\tABéd'
    assert lua.lua_unquote('"\\195\\169"') == "é"
    assert lua.lua_unquote("[[\nline]]") == "line"
    assert lua.lua_unquote("[==[a]]b]=]c]==]") == "a]]b]=]c"
    assert lua.lua_unquote('  "padded"  ') == "padded"
    for not_a_string in ('"a" .. "b"', "[[a]] .. [[b]]", "true", "{ }", '"open', '"a"b"',
                         '"\\q"', '"\\300"', ""):
        assert lua.lua_unquote(not_a_string) is None, not_a_string


# --------------------------------------------------------------------------------------------
# Prosody: generated files

KEYS = ("authentication", "ldap_password", "modules_enabled", "c2s_require_encryption", "admins")
NAMES = ("meet.example.org", "auth.meet.example.org", "conference.meet.example.org")
# No surrogates: escape.lua_string encodes text as UTF-8.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@st.composite
def lua_values(draw):
    kind = draw(st.sampled_from(["string", "long", "number", "bool", "table", "concat"]))
    if kind == "string":
        return lua_string(draw(TEXT))
    if kind == "long":
        body = draw(st.text(st.sampled_from('ab-"[]=\n VirtualHost'), max_size=12))
        level = "=" * draw(st.integers(0, 2))
        while "]" + level + "]" in body + "]":
            level += "="
        return f"[{level}[{body}]{level}]"
    if kind == "number":
        return str(draw(st.integers(0, 99999)))
    if kind == "bool":
        return draw(st.sampled_from(["true", "false"]))
    if kind == "table":
        items = draw(st.lists(TEXT.map(lua_string), max_size=3))
        return "{\n" + "".join(f"        {item};\n" for item in items) + "    }"
    return lua_string(draw(TEXT)) + " ..\n        " + lua_string(draw(TEXT))


@st.composite
def option_lines(draw):
    indent = draw(st.sampled_from(["", "    ", "\t"]))
    trailer = draw(st.sampled_from(["", ";", " -- do not delete me", "; -- a -- comment"]))
    return f"{indent}{draw(st.sampled_from(KEYS))} = {draw(lua_values())}{trailer}"


FILLER = st.one_of(
    st.just(""), st.just("   "), st.just("-- a comment"),
    st.just('-- VirtualHost "commented.example.org"'),
    st.just('--[[\nComponent "in-block-comment.example.org"\n]]'),
    st.just('    --modules_enabled = { "x" }'))


@st.composite
def prosody_files(draw):
    def body():
        return draw(st.lists(st.one_of(option_lines(), FILLER), max_size=5))

    lines = body()
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=3)):
        header = draw(st.sampled_from(['VirtualHost "{}"', 'Component "{}" "muc"',
                                       '  Component "{}"']))
        lines.append(header.format(name))
        lines += body()
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines)
    if lines and draw(st.booleans()):
        text += newline
    return text


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(prosody_files(), st.sampled_from(["guest", "other"]), st.booleans())
def test_append_then_remove_section_is_identity(text, label, trailing):
    block = f'VirtualHost "{label}.example.net"\n    authentication = "jitsi-anonymous"'
    appended = lua.prosody_append_section(text, block + ("\n" if trailing else ""))
    names = [s.name for s in lua.prosody_sections(appended)]
    assert names[-1] == f"{label}.example.net"
    assert lua.prosody_get(appended, names[-1], "authentication") == '"jitsi-anonymous"'
    assert lua.prosody_remove_section(appended, names[-1]) == text


@FAST
@given(prosody_files(), st.sampled_from([None, *NAMES]), st.sampled_from(KEYS), lua_values())
def test_set_changes_only_the_assignment(text, section, key, value):
    if section is not None and section not in [s.name for s in lua.prosody_sections(text)]:
        with pytest.raises(KeyError):
            lua.prosody_set(text, section, key, value)
        return
    had = lua.prosody_get(text, section, key)
    after = lua.prosody_set(text, section, key, value)
    assert lua.prosody_get(after, section, key) == value
    assert [(s.kind, s.name) for s in lua.prosody_sections(after)] == [
        (s.kind, s.name) for s in lua.prosody_sections(text)]
    if had is None:  # new lines only, which removing the key takes away again
        assert deleted_lines_only(after, text)
        restored = lua.prosody_remove(after, section, key)
        if section is None:  # the blank line put before the first header may stay
            assert deleted_lines_only(restored, text)
            assert restored.count("\n") - text.count("\n") <= 1
        else:
            assert restored == text
    else:  # without the key's assignments both texts are the same
        assert (lua.prosody_remove(after, section, key)
                == lua.prosody_remove(text, section, key))
    # other sections' text is untouched
    for old, new in zip(lua.prosody_sections(text)[1:], lua.prosody_sections(after)[1:]):
        if old.name != section:
            old_text = "".join(text.splitlines(True)[old.start:old.end])
            new_text = "".join(after.splitlines(True)[new.start:new.end])
            assert old_text.rstrip("\r\n") == new_text.rstrip("\r\n")


@FAST
@given(prosody_files(), st.sampled_from([None, *NAMES]), st.sampled_from(KEYS))
def test_remove_removes_every_assignment_and_nothing_else(text, section, key):
    after = lua.prosody_remove(text, section, key)
    assert lua.prosody_get(after, section, key) is None
    for other in KEYS:
        if other != key:
            assert (lua.prosody_get(after, section, other)
                    == lua.prosody_get(text, section, other))
    assert deleted_lines_only(text, after)
    assert (after == text) == (lua.prosody_get(text, section, key) is None)


# Real Lua reads the file with VirtualHost/Component as functions that switch the current
# section, and prints each section's string options as hex, to compare with our parser.
LUA_DUMP = r"""
local options, current = {}, "\0global"
local env = setmetatable({}, {
  __index = function(_, name)
    if name == "VirtualHost" or name == "Component" then
      return function(host) current = host; return function() end end
    end
  end,
  __newindex = function(_, key, value)
    options[#options + 1] = { current, key, value }
  end,
})
assert(loadfile(arg[1], "t", env))()
for _, o in ipairs(options) do
  local value = o[3]
  if type(value) == "string" then
    value = "s" .. value:gsub(".", function(c) return string.format("%02x", c:byte()) end)
  else
    value = type(value)
  end
  print(o[1], o[2], value)
end
"""

LUA = shutil.which("lua5.4") or shutil.which("lua")


def lua_options(tmp_path, text: str) -> dict:
    """{(section or None, key): str value or type name}, the last assignment winning."""
    (tmp_path / "dump.lua").write_text(LUA_DUMP)
    (tmp_path / "host.cfg.lua").write_bytes(text.encode("utf-8"))
    run = subprocess.run([LUA, str(tmp_path / "dump.lua"), str(tmp_path / "host.cfg.lua")],
                         capture_output=True, text=True, timeout=10)
    assert run.returncode == 0, run.stderr
    found = {}
    for line in run.stdout.splitlines():
        section, key, value = line.split("\t")
        if value.startswith("s"):
            value = bytes.fromhex(value[1:]).decode("utf-8", "surrogateescape")
        found[(None if section == "\0global" else section, key)] = value
    return found


def our_options(text: str) -> dict:
    """{(section or None, key): raw value} for every option our parser finds."""
    found = {}
    for section in lua.prosody_sections(text):
        for key in {a.key for a in lua._LuaDoc(text).assignments(section)}:
            found[(section.name, key)] = lua.prosody_get(text, section.name, key)
    return found


def assert_same_options(by_lua: dict, ours: dict) -> None:
    """Both see the same options, and every string literal we read has Lua's value."""
    assert set(by_lua) == set(ours)
    for where, value in by_lua.items():
        unquoted = lua.lua_unquote(ours[where])
        if unquoted is not None:
            assert unquoted == value, where


def needs_lua(test):
    """lua5.4 comes with prosody, which scripts/test installs."""
    assert LUA is not None, "lua5.4 is missing: run scripts/test to install prosody"
    return test


@pytest.mark.lab
@needs_lua
@pytest.mark.parametrize("text", [CURRENT_HOST_CFG, LEGACY_HOST_CFG], ids=["current", "legacy"])
def test_lua_itself_reads_the_edited_files_as_intended(tmp_path, text):
    after = lua.prosody_set(text, HOST, "authentication", lua_string("internal_hashed"))
    after = lua.prosody_set(after, None, "ldap_password", lua_string('p"w--]]\n\\x'))
    after = lua.prosody_remove(after, HOST, "modules_enabled")
    after = lua.prosody_append_section(after, GUEST_BLOCK)
    by_lua = lua_options(tmp_path, after)
    assert by_lua[(HOST, "authentication")] == "internal_hashed"
    assert by_lua[(None, "ldap_password")] == 'p"w--]]\n\\x'
    assert (HOST, "modules_enabled") not in by_lua
    assert by_lua[("guest.meet.example.org", "authentication")] == "jitsi-anonymous"
    assert_same_options(by_lua, our_options(after))


@pytest.mark.lab
@needs_lua
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(prosody_files())
def test_parser_agrees_with_lua(tmp_path, text):
    assert_same_options(lua_options(tmp_path, text), our_options(text))
