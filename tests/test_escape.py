"""Hostile strings through every template and escaping function, read back by the real
parser of each language where this machine has one: Lua (the Prosody files), pyhocon (jicofo
and videobridge HOCON), node (config.js), systemd-analyze (the drop-in), Java (properties),
debconf-set-selections (the preseed) and nginx -t. Each value is either refused (EscapeError)
or read back as exactly itself, with nothing else added to the file."""

from __future__ import annotations

import json
import shutil
import subprocess
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jitsiwizard.formats import escape
from jitsiwizard.plan.render import render

from .test_formats_lua import lua_options

HOSTILE = ["\nExecStartPre=/bin/sh -c id\n", 'a"b', "a'b", "a\\b", "]]--", "%i%n",
           "${HOME}", "$host", "\u2028x\u2029", "\x00", "\x1b[31m", "é😀", " lead", "trail ",
           "{}[];#", "a\rb", "\t", "\ufeff", "\\u0041", "'''", '"""', "</script>"]
ANY = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
SLOW = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                  HealthCheck.function_scoped_fixture])


def unsafe(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") or c == "\x85"
               for c in value)


def test_every_template_value_goes_through_a_filter():
    import re
    from importlib.resources import files

    for template in files("jitsiwizard").joinpath("templates").iterdir():
        text = template.read_text()
        for expr in re.findall(r"{{(.*?)}}", text):
            assert "|" in expr or expr.strip().startswith('"'), (template.name, expr)


# --- Lua: the Prosody LDAP file, read by Lua itself ---------------------------------------

@settings(max_examples=30, **SLOW)
@given(value=ANY)
def test_prosody_ldap_file_reads_back_every_value(tmp_path, value):
    text = render("prosody-ldap.cfg.lua.j2", hostname="meet.example.org", server=value,
                  bind_dn=value or "x", bind_password=value or "x", base=value, filter=value,
                  scope=value, starttls=True)
    options = lua_options(tmp_path, text)
    assert options[(None, "ldap_server")] == value
    assert options[(None, "ldap_password")] == (value or "x")
    assert options[(None, "ldap_filter")] == value
    assert set(k for _, k in options) == {
        "consider_bosh_secure", "consider_websocket_secure", "ldap_server", "ldap_rootdn",
        "ldap_password", "ldap_base", "ldap_filter", "ldap_scope", "ldap_tls", "ldap_mode"}


@pytest.mark.parametrize("value", HOSTILE)
def test_lua_comment_refuses_line_breaks(value):
    try:
        shown = render("prosody-ldap.cfg.lua.j2", hostname=value, server="s", bind_dn="",
                       bind_password="", base="b", filter="f", scope="subtree", starttls=True)
    except escape.EscapeError:
        assert unsafe(value)
        return
    assert not unsafe(value)
    assert shown.count("\n") == render(
        "prosody-ldap.cfg.lua.j2", hostname="h", server="s", bind_dn="", bind_password="",
        base="b", filter="f", scope="subtree", starttls=True).count("\n")


# --- HOCON: jicofo.conf and jvb.conf blocks, read by pyhocon -----------------------------

@settings(max_examples=60, deadline=None)
@given(value=ANY)
def test_hocon_blocks_read_back_every_value(value):
    from pyhocon import ConfigFactory

    try:
        text = render("jicofo-auth.hocon.j2", hostname=value)
    except escape.EscapeError:
        assert unsafe(value)
        return
    assert not unsafe(value)
    conf = ConfigFactory.parse_string(text)
    assert conf.get_string("jicofo.authentication.login-url") == value
    assert conf.get_bool("jicofo.authentication.enabled") is True
    nat = ConfigFactory.parse_string(render("jvb-nat.hocon.j2", local_address=value,
                                            public_address=value + "x"))
    (mapping,) = nat.get_list("ice4j.harvest.mapping.static-mappings")
    assert mapping["local-address"] == value and mapping["public-address"] == value + "x"


# --- JavaScript: config.js's literal, read by node ----------------------------------------

@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@settings(max_examples=3, **SLOW)
@given(values=st.lists(ANY, min_size=50, max_size=100))
def test_js_strings_read_back_in_node(tmp_path, values):
    values = HOSTILE + values
    source = "console.log(JSON.stringify([\n" + ",\n".join(
        escape.js_string(v) for v in values) + "\n]));\n"
    (tmp_path / "v.js").write_text(source, encoding="utf-8")
    run = subprocess.run(["node", str(tmp_path / "v.js")], capture_output=True, text=True,
                         timeout=30)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == values


# --- systemd: the LDAP CA drop-in, checked by systemd-analyze ----------------------------

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def _verify_dropin(tmp_path, ca_file: str) -> tuple[int, str, str]:
    unit = tmp_path / "units"
    (unit / "prosody.service.d").mkdir(parents=True, exist_ok=True)
    (unit / "prosody.service").write_text("[Unit]\nDescription=x\n[Service]\n"
                                          "ExecStart=/bin/true\n")
    text = render("prosody-ldap-ca.conf.j2", ca_file=ca_file)
    (unit / "prosody.service.d" / "ca.conf").write_text(text)
    run = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit / "prosody.service")],
                         capture_output=True, text=True, timeout=30)
    return run.returncode, run.stderr, text


def _systemd_unquote(word: str) -> str:
    assert word.startswith('"') and word.endswith('"')
    out, i, body = [], 0, word[1:-1]
    while i < len(body):
        if body[i] == "\\":
            out.append(body[i + 1])
            i += 2
        elif body[i] == "%":
            assert body[i + 1] == "%"
            out.append("%")
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("value", ["/etc/ssl/ca.pem", *HOSTILE])
def test_systemd_dropin_is_refused_or_verifies_clean(tmp_path, value):
    try:
        code, errors, text = _verify_dropin(tmp_path, value)
    except escape.EscapeError:
        assert unsafe(value)
        return
    assert not unsafe(value)
    assert code == 0 and errors == "", errors
    (line,) = [x for x in text.splitlines() if x and not x.startswith("#")][1:]
    assert _systemd_unquote(line.split("=", 1)[1]) == "LDAPTLS_CACERT=" + value


def test_a_ca_file_with_a_newline_never_reaches_the_dropin():
    with pytest.raises(escape.EscapeError):
        render("prosody-ldap-ca.conf.j2", ca_file="/a\nExecStartPre=/bin/sh -c id")


# --- debconf: the preseed, checked by debconf-set-selections ------------------------------

@pytest.mark.skipif(shutil.which("debconf-set-selections") is None, reason="no debconf")
@pytest.mark.parametrize("value", ["meet.example.org", *HOSTILE])
def test_preseed_is_refused_or_one_line_per_selection(tmp_path, value):
    try:
        text = render("debconf-preseed.txt.j2", hostname=value, cert_choice="x",
                      cert_file="", key_file="", email="")
    except escape.EscapeError:
        assert unsafe(value) or value != value.strip()
        return
    assert len(text.splitlines()) == 4
    (tmp_path / "p").write_text(text)
    run = subprocess.run(["debconf-set-selections", "--checkonly", str(tmp_path / "p")],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert text.splitlines()[0].split(" ", 3)[3] == value


# --- properties: read by java.util.Properties ---------------------------------------------

PROPS_READER = """
import java.io.*; import java.util.*;
public class R { public static void main(String[] a) throws Exception {
  Properties p = new Properties();
  try (InputStream in = new FileInputStream(a[0])) { p.load(in); }
  for (int i = 0; i < p.size(); i++) {
    String v = p.getProperty("k" + i); StringBuilder b = new StringBuilder();
    for (char c : v.toCharArray()) b.append(String.format("%04x", (int) c));
    System.out.println(b);
  } } }
"""


@pytest.mark.skipif(shutil.which("java") is None, reason="java is not installed")
def test_properties_values_read_back_in_java(tmp_path):
    values = HOSTILE + ["", "=", ":x", "#c", "!c", "  two", "x\\", "\U0001f600", "\f\v"]
    (tmp_path / "R.java").write_text(PROPS_READER)
    (tmp_path / "p.properties").write_bytes("".join(
        f"{escape.properties_value(f'k{i}', is_key=True)}={escape.properties_value(v)}\n"
        for i, v in enumerate(values)).encode("latin-1"))
    run = subprocess.run(["java", str(tmp_path / "R.java"), str(tmp_path / "p.properties")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    read = [bytes.fromhex(line).decode("utf-16-be", "surrogatepass") if line else ""
            for line in run.stdout.splitlines()]
    assert read == values


# --- nginx: the certificate paths, checked by nginx -t ------------------------------------

@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_arguments_are_refused_or_pass_nginx_t(tmp_path):
    values = ["/etc/ssl/plain.pem", *HOSTILE, "/a b;c{d}#e"]
    lines = []
    for i, value in enumerate(values):
        try:
            word = escape.nginx_string(value)
        except escape.EscapeError:
            assert unsafe(value) or "$" in value
            continue
        lines.append(f"        location = /{i} {{ return 200 {word}; }}")
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
                    "http {\n    access_log off;\n    server {\n        listen 127.0.0.1:1;\n"
                    + "\n".join(lines) + "\n    }\n}\n")
    run = subprocess.run(["nginx", "-t", "-q", "-p", str(tmp_path), "-c", str(conf)],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr


# --- shell and apt -----------------------------------------------------------------------

@given(value=ANY)
def test_shell_and_apt_words_are_plain_or_refused(value):
    for function in (escape.shell_word, escape.apt_word):
        try:
            word = function(value)
        except escape.EscapeError:
            continue
        assert word == value and value.isprintable() and " " not in value
        assert not set(value) & set("\"'`$\\*?[]") or function is escape.apt_word
