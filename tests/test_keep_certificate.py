"""A rerun keeps a working certificate (the admin's-walk issue): on a host whose nginx serves
a Let's Encrypt certificate valid for the host, the wizard starts with "keep", and switching
the authentication plans no certificate step; a certificate about to expire, or for another
name, is not kept by default; "keep" where there is nothing to keep is refused."""

from __future__ import annotations

import re

import pytest

from jitsiwizard import fixtures
from jitsiwizard.answers.load import loads
from jitsiwizard.cli.main import main
from jitsiwizard.rootfs import Root
from jitsiwizard.workflow.session import Session
from tests.lab.ca import CA

from .conftest import HOST, answers_toml, snapshot

LIVE = f"/etc/letsencrypt/live/{HOST}"


def letsencrypt_host(tmp_path, *, days: int = 80, name: str = HOST, expired: bool = False):
    """A 2020 host whose nginx site serves certbot's live files, holding a real certificate."""
    root = fixtures.build(tmp_path / "root", generation="legacy")
    issued = CA(tmp_path / "ca").issue(name, [name], days=days, expired=expired)
    live = root / LIVE.lstrip("/")
    live.mkdir(parents=True)
    (live / "fullchain.pem").write_bytes(issued.chain.read_bytes())
    (live / "privkey.pem").write_bytes(issued.key.read_bytes())
    site = root / f"etc/nginx/sites-available/{HOST}.conf"
    text = site.read_text()
    text = re.sub(r"ssl_certificate [^;]+;", f"ssl_certificate {LIVE}/fullchain.pem;", text)
    text = re.sub(r"ssl_certificate_key [^;]+;", f"ssl_certificate_key {LIVE}/privkey.pem;",
                  text)
    site.write_text(text)
    return root


def test_a_working_certificate_is_kept_by_default_and_an_auth_change_leaves_it(tmp_path):
    root = letsencrypt_host(tmp_path)
    session = Session(Root(str(root)), simulate=True)
    form = session.form_for_host()
    assert form.answers.cert.mode == "keep"
    planned = session.plan(loads(answers_toml("local", cert="keep")))
    argv = " ".join(" ".join(str(a) for a in getattr(s, "argv", [])) for s in planned.plan.steps)
    assert "certbot" not in argv and "openssl" not in argv and "apt-get" not in argv
    assert not any(getattr(s, "path", "").startswith(("/etc/nginx", "/etc/letsencrypt"))
                   for s in planned.plan.steps)
    assert any("is kept" in note for note in planned.plan.notes)


@pytest.mark.parametrize("change", [{"days": 20}, {"expired": True},
                                    {"name": "other.example.org"}],
                         ids=["expiring", "expired", "other-name"])
def test_a_certificate_not_worth_keeping_is_not_chosen(tmp_path, change):
    root = letsencrypt_host(tmp_path, **change)
    form = Session(Root(str(root)), simulate=True).form_for_host()
    assert form.answers.cert.mode == "certbot"  # what the host runs: renewing is offered


def test_keep_on_a_host_without_jitsi_is_refused(tmp_path, capsys):
    root = fixtures.build_empty(tmp_path / "root")
    before = snapshot(root, include_state=True)
    path = tmp_path / "keep.toml"
    path.write_text(answers_toml("open", cert="keep"))
    path.chmod(0o600)
    assert main(["--answers", str(path), "--root", str(root), "--simulate",
                 "--skip-checks"]) == 2
    err = capsys.readouterr().err
    assert "cert.mode" in err and "no certificate to keep" in err
    assert snapshot(root, include_state=True) == before
