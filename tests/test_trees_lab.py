"""Issue 13 acceptance: on every fixture tree (the packages of each generation, and the hosts
configured by hand), every policy's result passes the real parsers: Prosody's own loader
(`prosodyctl check config` and a start with no module load errors), a HOCON parser
(pyhocon) on jicofo.conf and jvb.conf, and `nginx -t` on the site. Switching between
policies leaves what a direct run leaves (tests/test_policies.py), so the direct results
cover every switch; rollback is byte-exact there too.

Each result is also held against the upstream secure-domain guide, point by point."""

from __future__ import annotations

import re

import pyhocon
import pytest

from jitsiwizard.cli.main import main
from jitsiwizard.formats import configjs, lua
from tests.lab.ca import CA
from tests.lab.nginx import Nginx
from tests.lab.prosody import Prosody

from .conftest import HOST, POLICIES, answers_toml
from .test_policies import TREES

pytestmark = pytest.mark.lab

USERS = '[[auth.users]]\nname = "alice"\npassword = "env:JW_TEST_LDAP_PW"\n'


def configure(root, tmp_path, policy, guests) -> None:
    answers = tmp_path / "answers.toml"
    answers.write_text(answers_toml(policy, guests, users=USERS))
    answers.chmod(0o600)
    assert main(["--answers", str(answers), "--root", str(root), "--simulate",
                 "--skip-checks"]) == 0


def nginx_check(root, workdir) -> tuple[bool, str]:
    """`nginx -t` on the tree's site, its absolute paths mapped under the root and its
    certificate replaced by one the lab's CA issued (nginx loads it to check)."""
    site = (root / f"etc/nginx/sites-available/{HOST}.conf").read_text()
    issued = CA(workdir / "ca").issue(HOST, [HOST])
    site = re.sub(r"^(\s*ssl_certificate)\s+\S+;", rf"\1 {issued.chain};", site, flags=re.M)
    site = re.sub(r"^(\s*ssl_certificate_key)\s+\S+;", rf"\1 {issued.key};", site, flags=re.M)
    site = re.sub(r"(?<=[\s])(/(?:etc|usr)/\S*?)(?=[;\s])", lambda m: f"{root}{m.group(1)}",
                  site)
    copy = workdir / "site.conf"
    copy.write_text(site)
    server = Nginx(workdir / "nginx")
    server.write(f"    include {copy};")
    result = server.test()
    return result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("tree", list(TREES))
@pytest.mark.parametrize("policy, guests", POLICIES)
def test_every_policy_on_every_tree_passes_the_real_parsers(make_root, tmp_path, tree,
                                                            policy, guests):
    root = make_root(**TREES[tree])
    configure(root, tmp_path, policy, guests)

    prosody = Prosody(root, HOST, tmp_path / "prosody")
    prosody.write_config()
    ok, output = prosody.check_config()
    assert ok, output
    with prosody.start():
        assert prosody.load_errors() == []

    for name in ("etc/jitsi/jicofo/jicofo.conf", "etc/jitsi/videobridge/jvb.conf"):
        if (root / name).exists():
            pyhocon.ConfigFactory.parse_string((root / name).read_text())

    ok, output = nginx_check(root, tmp_path)
    assert ok, output

    # The secure-domain guide, point by point.
    host_cfg = (root / f"etc/prosody/conf.avail/{HOST}.cfg.lua").read_text()
    module = lua.lua_unquote(lua.prosody_get(host_cfg, HOST, "authentication"))
    guide_module = {"local": "internal_hashed", "ldap": "ldap"}.get(policy)
    if guide_module:  # 1. the main host authenticates
        assert module == guide_module
    else:
        assert module in ("jitsi-anonymous", "anonymous")
    guest_file = root / "etc/prosody/conf.avail/jitsi-wizard-guests.cfg.lua"
    if guests:  # 2. a guest host, anonymous, without c2s encryption
        guest = guest_file.read_text()
        assert lua.lua_unquote(lua.prosody_get(guest, f"guest.{HOST}", "authentication")) \
            in ("jitsi-anonymous", "anonymous")
        assert lua.prosody_get(guest, f"guest.{HOST}", "c2s_require_encryption") == "false"
    else:
        assert not guest_file.exists()
    config_js = (root / f"etc/jitsi/meet/{HOST}-config.js").read_text()
    # 3. config.js names the guest host
    assert configjs.configjs_get(config_js, "anonymousdomain") == (
        f"guest.{HOST}" if guests else None)
    jicofo = root / "etc/jitsi/jicofo/jicofo.conf"
    if jicofo.exists():  # 4. jicofo authentication, inside `jicofo`
        auth = pyhocon.ConfigFactory.parse_string(jicofo.read_text()).get(
            "jicofo.authentication", {})
        if policy == "open":
            assert not auth.get("enabled", False)
        else:
            assert (auth.get("enabled"), auth.get("type"), auth.get("login-url")) == (
                True, "XMPP", HOST)
    else:
        props = (root / "etc/jitsi/jicofo/sip-communicator.properties").read_text()
        assert ("org.jitsi.jicofo.auth.URL=XMPP:" + HOST in props) == (policy != "open")
