"""The Jitsi packages' upgrade steps, replayed on a fixture tree: what each package's current
postinst writes when dpkg runs it as `configure OLD-VERSION` on a host of an older
generation (or of this one). These are documented facts, written here in our own words and
code; nothing below is upstream text.

Which postinst each step models (read in the upstream repositories; jitsi-meet's as a
current mirror of it carries them, 2025):
- jitsi-videobridge2: jitsi/jitsi-videobridge debian/postinst (546803a). It writes jvb.conf
  only when it is missing (a 2020 host has none): the xmpp-client shard from
  /etc/jitsi/videobridge/config's host name and secret, and the STUN mapping harvester. It
  sets `videobridge.apis.rest.enabled` only when the old `--apis=rest` option is in that
  config, which the trees here do not have.
- jicofo: jitsi/jicofo debian/postinst (a2b1f83). It creates jicofo.conf as an empty
  `jicofo { }` when missing, then runs ruby-hocon's `hocon set` for
  jicofo.xmpp.client.client-proxy (always), for xmpp-domain, domain, username and password
  of jicofo.xmpp.client (each only when `hocon get` finds none), for
  jicofo.bridge.brewery-jid (only when sip-communicator.properties has no BRIDGE_MUC and
  jicofo.conf none) and for jicofo.xmpp.trusted-domains (when it is not an array).
- jitsi-meet-prosody: jitsi/jitsi-meet debian/jitsi-meet-prosody.postinst (2025). On the
  host file: appends the internal MUC when no `internal.auth.HOST` is mentioned; turns the
  old `Component "focus.HOST"` into a `client_proxy` with `target_address` (sed); appends
  `Component "polls.HOST" "polls_component"` when missing and, unless `--"polls";` is
  already there, comments out every `"polls";` (sed); uncomments a commented-out
  plugin_paths; adds `restrict_room_creation = true` under the conference MUC's header when
  the two lines after it do not have it; when `unlimited_jids` is nowhere, puts it on line 1
  and adds `modules_enabled = { "limits_exception"; }` under `VirtualHost "auth.HOST"`; puts
  `component_admins_as_room_owners = true` on line 1 when missing (Prosody 13). Copies
  conf.avail/jaas.cfg.lua (not linked) when missing, and re-adds the conf.d Include to
  prosody.cfg.lua when that is gone. The auth.HOST ssl block is added only when the auth
  host's certificate is missing from /var/lib/prosody, never on a configured host.
- jitsi-meet-web-config: jitsi/jitsi-meet debian/jitsi-meet-web-config.postinst (2025).
  On an upgrade it writes nothing: config.js and the nginx site are made only on the first
  install or when the host name is reconfigured.
- jitsi-meet-turnserver: jitsi/jitsi-meet debian/jitsi-meet-turnserver.postinst (b6170ed).
  When turnserver.conf has the "jitsi-meet coturn config" marker but not the "relay disable
  config" one, it appends the relay-disable block (no-multicast-peers, no-loopback-peers,
  no-tcp-relay, denied private ranges).

ruby-hocon's `hocon set PATH VALUE` (ConfigDocument#set_value, ported from Typesafe
Config), as observed with the real ruby-hocon and modelled in hocon_set: a PATH that is set
somewhere gets its value replaced in the last object that holds it; a PATH set nowhere is
added inside the LAST object whose key is a prefix of PATH (descending as deep as such
objects go), as `key : value` lines before that object's closing brace, with objects made
for the rest of the path. A block written as a dotted path, `jicofo.authentication { ... }`,
has the key `jicofo.authentication`, which is no prefix of `jicofo.xmpp...`: the keys go to
the packages' own `jicofo { }`. An earlier `jicofo { authentication { ... } }` block at the
end of the file took them all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyhocon

from jitsiwizard.fixtures import current
from jitsiwizard.host.facts import parse_dpkg_status

# The focus password jicofo's postinst writes when it finds none: on a real host it is the
# one of /etc/jitsi/jicofo/config or debconf; the fixture trees carry neither.
FOCUS_PASSWORD = "upgradeFocusPw7"
RELAY_MARKER = "# jitsi-meet coturn relay disable config. Do not modify this line"
# The block the turnserver postinst appends, as the current fixture shows it.
RELAY_BLOCK = current.TURNSERVER_CONF[current.TURNSERVER_CONF.index(RELAY_MARKER):]


# --- ruby-hocon's `hocon set`, as far as these files need --------------------------------

_TOKEN = re.compile(r"""
    (?P<nl>\n) | (?P<ws>[ \t\r]+) | (?P<comment>(?:\#|//)[^\n]*)
  | (?P<quoted>"(?:[^"\\\n]|\\.)*") | (?P<punct>[{}\[\],:=])
  | (?P<word>[^\s"{}\[\],:=\#]+)
""", re.X)


@dataclass
class _Obj:
    close: int  # offset of its "}" (the text's length for the root)
    braced: bool
    fields: list = field(default_factory=list)


@dataclass
class _Field:
    path: tuple
    key_start: int
    value_start: int
    value_end: int
    obj: _Obj | None


def _parse(text: str) -> _Obj:
    tokens = [(m.lastgroup, m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]
    pos = [0]

    def skip(kinds=("ws", "nl", "comment")):
        while pos[0] < len(tokens) and (tokens[pos[0]][0] in kinds
                                        or tokens[pos[0]][1] == ","):
            pos[0] += 1

    def obj(braced: bool) -> _Obj:
        found = _Obj(len(text), braced)
        while True:
            skip()
            if pos[0] >= len(tokens):
                return found
            kind, value, start, end = tokens[pos[0]]
            if value == "}":
                pos[0] += 1
                found.close = start
                return found
            path: list = []
            while pos[0] < len(tokens) and tokens[pos[0]][0] in ("word", "quoted"):
                kind, value, _, _ = tokens[pos[0]]
                path += [json.loads(value)] if kind == "quoted" else value.split(".")
                pos[0] += 1
            skip(("ws",))
            if pos[0] < len(tokens) and tokens[pos[0]][1] in ":=":
                pos[0] += 1
                skip(("ws",))
            vkind, vvalue, vstart, _ = tokens[pos[0]]
            if vvalue == "{":
                pos[0] += 1
                inner = obj(True)
                found.fields.append(_Field(tuple(path), start, vstart, inner.close + 1, inner))
                continue
            depth, vend = 0, vstart
            while pos[0] < len(tokens):
                kind, value, _, end = tokens[pos[0]]
                if depth == 0 and (kind in ("nl", "comment") or value in ",}"):
                    break
                depth += (value == "[") - (value == "]")
                if kind != "ws":
                    vend = end
                pos[0] += 1
            found.fields.append(_Field(tuple(path), start, vstart, vend, None))

    return obj(False)


def _change(obj: _Obj, path: tuple):
    """(start, end) of the value to replace: the last field setting `path`. (ruby-hocon then
    removes the same path from earlier objects; the files here never set one twice.)"""
    for f in reversed(obj.fields):
        if f.path == path:
            return f.value_start, f.value_end
        if f.obj is not None and len(f.path) < len(path) and path[:len(f.path)] == f.path:
            found = _change(f.obj, path[len(f.path):])
            if found:
                return found
    return None


def _render(path: tuple, value: str, indent: str) -> str:
    if len(path) == 1:
        return f"{path[0]} : {value}"
    inner = indent + "  "
    return f"{path[0]} : {{\n{inner}{_render(path[1:], value, inner)}\n{indent}}}"


def _add(text: str, obj: _Obj, path: tuple, value: str) -> str:
    for f in reversed(obj.fields):
        if f.obj is not None and len(f.path) < len(path) and path[:len(f.path)] == f.path:
            return _add(text, f.obj, path[len(f.path):], value)
    if not obj.braced:
        text = text if text.endswith("\n") or not text else text + "\n"
        return text + _render(path, value, "") + "\n"
    line_start = text.rindex("\n", 0, obj.close) + 1
    if text[line_start:obj.close].strip():
        raise ValueError("the replay only adds to objects whose `}` is on a line of its own")
    if obj.fields:
        first = obj.fields[0].key_start
        indent = text[text.rindex("\n", 0, first) + 1:first]
    else:
        indent = text[line_start:obj.close] + "  "
    return text[:line_start] + indent + _render(path, value, indent) + "\n" + text[line_start:]


def hocon_set(text: str, dotted: str, value: str) -> str:
    """`hocon -f FILE set DOTTED VALUE`, VALUE as the postinst quotes it (HOCON text)."""
    path = tuple(dotted.split("."))
    tree = _parse(text)
    found = _change(tree, path)
    if found:
        return text[:found[0]] + value + text[found[1]:]
    return _add(text, tree, path, value)


def hocon_get(text: str, dotted: str):
    """`hocon -f FILE get DOTTED`: the value, or None when it is not set."""
    try:
        return pyhocon.ConfigFactory.parse_string(text).get(dotted, None)
    except pyhocon.ConfigException:
        return None


# --- each package's configure step --------------------------------------------------------

def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line and not line.lstrip().startswith("#"))


def jitsi_videobridge2(root: Path, host: str) -> None:
    conf = root / "etc/jitsi/videobridge/jvb.conf"
    if conf.exists():
        return
    legacy = root / "etc/jitsi/videobridge/sip-communicator.properties"
    props = _props(legacy.read_text()) if legacy.exists() else {}
    secret = props.get("org.jitsi.videobridge.xmpp.user.shard.PASSWORD", "upgradeJvbPw7")
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        "videobridge {\n    apis.xmpp-client.configs {\n        shard {\n"
        "            HOSTNAME=localhost\n"
        f'            DOMAIN="auth.{host}"\n            USERNAME=jvb\n'
        f'            PASSWORD="{secret}"\n'
        f'            MUC_JIDS="jvbbrewery@internal.auth.{host}"\n'
        "            MUC_NICKNAME=2f1c4e0a-upgrade\n        }\n    }\n}\n"
        "ice4j {\n    harvest {\n        mapping {\n            aws {\n"
        "                enabled = false\n            }\n            stun {\n"
        '                addresses = ["meet-jit-si-turnrelay.jitsi.net:443"]\n'
        "            }\n        }\n    }\n}\n")


def jicofo(root: Path, host: str) -> None:
    conf = root / "etc/jitsi/jicofo/jicofo.conf"
    if not conf.exists():
        conf.write_text("# jicofo's HOCON settings (created empty by the jicofo package)\n"
                        "jicofo {\n}\n")
    text = conf.read_text()
    text = hocon_set(text, "jicofo.xmpp.client.client-proxy", f'"focus.{host}"')
    for key, value in (("xmpp-domain", host), ("domain", f"auth.{host}"),
                       ("username", "focus"), ("password", FOCUS_PASSWORD)):
        if hocon_get(text, f"jicofo.xmpp.client.{key}") is None:
            text = hocon_set(text, f"jicofo.xmpp.client.{key}", json.dumps(value))
    legacy = root / "etc/jitsi/jicofo/sip-communicator.properties"
    if ("org.jitsi.jicofo.BRIDGE_MUC" not in (legacy.read_text() if legacy.exists() else "")
            and hocon_get(text, "jicofo.bridge.brewery-jid") is None):
        text = hocon_set(text, "jicofo.bridge.brewery-jid",
                         f'"JvbBrewery@internal.auth.{host}"')
    if not isinstance(hocon_get(text, "jicofo.xmpp.trusted-domains"), list):
        text = hocon_set(text, "jicofo.xmpp.trusted-domains", f'[ "recorder.{host}" ]')
    conf.write_text(text)


def jitsi_meet_prosody(root: Path, host: str) -> None:
    path = root / f"etc/prosody/conf.avail/{host}.cfg.lua"
    text = path.read_text()
    auth, focus = f"auth.{host}", "focus"
    if f"internal.{auth}" not in text:
        text += (f'\nComponent "internal.{auth}" "muc"\n    storage = "memory"\n'
                 '    modules_enabled = { "ping"; }\n'
                 f'    admins = {{ "{focus}@{auth}", "jvb@{auth}" }}\n'
                 "    muc_room_locking = false\n    muc_room_default_public_jids = true\n")
    header = f'Component "focus.{host}"'
    if header in text and f'{header} "client_proxy"' not in text:
        text = text.replace(header, f'{header} "client_proxy"\n'
                                    f'    target_address = "{focus}@{auth}"')
    if f'Component "polls.{host}"' not in text:
        text += f'\nComponent "polls.{host}" "polls_component"\n'
    if '--"polls";' not in text:
        text = text.replace('"polls";', '--"polls";')
    plugins = 'plugin_paths = { "/usr/share/jitsi-meet/prosody-plugins/" }'
    text = text.replace("--" + plugins, plugins)
    main_muc = f'Component "conference.{host}" "muc"'
    lines = text.split("\n")
    at = next((i for i, line in enumerate(lines) if main_muc in line), None)
    if at is not None and not any("restrict_room_creation" in line
                                  for line in lines[at:at + 3]):
        text = text.replace(main_muc, main_muc + "\n    restrict_room_creation = true")
    if "unlimited_jids" not in text:
        text = f'unlimited_jids = {{ "{focus}@{auth}", "jvb@{auth}" }}\n' + text
        text = text.replace(f'VirtualHost "{auth}"', f'VirtualHost "{auth}"\n'
                                                    '    modules_enabled = { "limits_exception"; }')
    if "component_admins_as_room_owners = " not in text:
        text = "component_admins_as_room_owners = true\n" + text
    path.write_text(text)
    jaas = root / "etc/prosody/conf.avail/jaas.cfg.lua"
    if not jaas.exists() and 'VirtualHost "jigasi.meet.jitsi"' not in text:
        jaas.write_text(current.JAAS_CFG)
    main_cfg = root / "etc/prosody/prosody.cfg.lua"
    cfg = main_cfg.read_text()
    if f'VirtualHost "{host}"' not in cfg and 'Include "conf.d/*.cfg.lua"' not in cfg:
        main_cfg.write_text(cfg + '\nInclude "conf.d/*.cfg.lua"\n')


def jitsi_meet_web_config(root: Path, host: str) -> None:
    """Nothing on an upgrade (see the module's docstring)."""


def jitsi_meet_turnserver(root: Path, host: str) -> None:
    path = root / "etc/turnserver.conf"
    if not path.exists():
        return
    text = path.read_text()
    if "jitsi-meet coturn config" in text and RELAY_MARKER not in text:
        path.write_text(text + RELAY_BLOCK)


STEPS = (jitsi_videobridge2, jicofo, jitsi_meet_web_config, jitsi_meet_prosody,
         jitsi_meet_turnserver)


def _record_versions(root: Path) -> None:
    """dpkg's status file after the upgrade: the current generation's versions, and jicofo's
    new dependencies."""
    status = root / "var/lib/dpkg/status"
    packages = parse_dpkg_status(status.read_text())
    for name, version in current.PACKAGES.items():
        if name in packages and name.startswith(("jitsi", "jicofo")):
            packages[name] = version
    packages.setdefault("ruby-hocon", current.PACKAGES["ruby-hocon"])
    packages.setdefault("jq", current.PACKAGES["jq"])
    status.write_text("\n".join(
        f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
        f"Architecture: amd64\nVersion: {version}\nDescription: {name}\n"
        for name, version in sorted(packages.items())))


def upgrade(root: Path, host: str = "meet.example.org") -> None:
    """`apt-get upgrade` to the current packages: every package's configure step, in the
    order dpkg configures them (dependencies first), then dpkg's new versions."""
    for step in STEPS:
        step(root, host)
    _record_versions(root)
