"""The certbot route against real servers on loopback: Debian's pebble (ACME), dnsmasq (the
test name resolves to 127.0.0.1, A record only), nginx serving the root's challenge webroot.

How `nginx -t` meets the test: the plan checks `nginx -t -c TargetPath(/etc/nginx/nginx.conf)`,
so under a test root it checks ROOT/etc/nginx/nginx.conf. Each test writes the config of ITS
nginx there: the challenge server on pebble's httpPort, plus an included TLS server (outside
the root) that the test points at whatever the site's ssl_certificate names after the run.
The plan's `systemctl reload nginx` goes to the apply tests' systemctl stand-in; the test
reloads its nginx itself.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from types import SimpleNamespace

import pytest

from jitsiwizard.answers.secrets import Redactor
from jitsiwizard.apply import apply, rollback
from jitsiwizard.apply.runner import Runner
from jitsiwizard.formats.nginx import nginx_get
from jitsiwizard.paths import LETSENCRYPT_SCRIPT
from jitsiwizard.plan.certs import DEPLOY_HOOK, JITSI_WEBROOT, choose_route
from jitsiwizard.plan.steps import Plan
from jitsiwizard.rootfs import Root
from tests.apply_support import fake_systemctl
from tests.lab.ca import self_signed
from tests.lab.dns import Dnsmasq
from tests.lab.nginx import Nginx
from tests.lab.pebble import Pebble
from tests.lab.proc import free_port

from .conftest import snapshot
from .test_certs import (
    HOST,
    JITSI_CRT,
    JITSI_KEY,
    SITE,
    host_root,
    make_answers,
    make_facts,
    planned,
)

pytestmark = pytest.mark.lab

ZONE = HOST.split(".", 1)[1]


def tree(root: Root) -> dict:
    """The root's files, except certbot's log, which rollback keeps on purpose."""
    return {k: v for k, v in snapshot(root.base).items() if not k.startswith("var/log")}


@pytest.fixture(scope="module")
def acme(tmp_path_factory):
    base = tmp_path_factory.mktemp("acme")
    dns = Dnsmasq(base, ZONE, {HOST: ("127.0.0.1", None)}).start()
    pebble = Pebble(base, dns=dns.resolver, http_port=free_port())
    try:
        pebble.start()
        issuing_root = base / "pebble-root.pem"
        issuing_root.write_text(pebble.issuing_root())
        yield SimpleNamespace(pebble=pebble, issuing_root=str(issuing_root))
    finally:
        pebble.stop()
        dns.stop()


class Lab:
    """One test's host: a root with the Jitsi site, its nginx, a runner for the real apply."""

    def __init__(self, tmp_path: Path, acme, monkeypatch):
        self.root = host_root(tmp_path)
        # A real self-signed pair where the package puts it, so nginx can start with it.
        self_signed(Path(self.root.path(JITSI_CRT)), Path(self.root.path(JITSI_KEY)), HOST)
        self.acme = acme
        self.http_port = acme.pebble.http_port
        self.tls_port = free_port()
        self.nginx = Nginx(tmp_path / "nginx", conf=self.root.path("/etc/nginx/nginx.conf"))
        self.tls_conf = tmp_path / "nginx" / "tls.conf"
        self.serve(JITSI_CRT, JITSI_KEY)
        webroot = self.root.path(JITSI_WEBROOT)
        self.nginx.write(f"""
    server {{
        listen 127.0.0.1:{self.http_port};
        server_name {HOST};
        location ^~ /.well-known/acme-challenge/ {{
            default_type text/plain;
            root {webroot};
        }}
        location / {{
            return 301 https://$host$request_uri;
        }}
    }}
    include {self.tls_conf};
""")
        # certbot must trust pebble's API (this machine points the variable at the system CAs).
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", acme.pebble.api_ca_file)
        self.runner = Runner(self.root)
        fake_systemctl(self.runner, tmp_path / "systemctl.json",
                       {"nginx": {"enabled": True, "active": True}})

    def serve(self, cert: str, key: str) -> None:
        """Point the test nginx's TLS server at target paths (mapped under the root)."""
        self.tls_conf.write_text(
            f"server {{\n    listen 127.0.0.1:{self.tls_port} ssl;\n    server_name {HOST};\n"
            f"    ssl_certificate {self.root.path(cert)};\n"
            f"    ssl_certificate_key {self.root.path(key)};\n"
            "    location / { return 200 'jitsi'; }\n}\n")

    def serve_what_the_site_says(self) -> None:
        site = self.root.read_text(SITE)
        self.serve(nginx_get(site, "ssl_certificate")[0], nginx_get(site, "ssl_certificate_key")[0])
        self.nginx.reload()

    def handshake(self) -> dict:
        """A TLS handshake trusting only pebble's root and checking the host name."""
        context = ssl.create_default_context(cafile=self.acme.issuing_root)
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname=HOST) as tls:
            return tls.getpeercert()

    def plan(self, answers, **facts) -> Plan:
        steps, notes = planned(answers, make_facts(self.root, **facts), self.root)
        return Plan(steps, notes)

    def apply(self, plan: Plan):
        return apply(plan, self.root, self.runner, redact=Redactor())


@pytest.fixture
def lab(tmp_path, acme, monkeypatch):
    lab = Lab(tmp_path, acme, monkeypatch)
    yield lab
    lab.nginx.stop()


def certbot_answers(acme):
    return make_answers("certbot", acme_server=acme.pebble.directory_url)


def test_certbot_route_issues_nginx_serves_it_and_rollback_undoes_it(lab, acme):
    lab.nginx.start(lab.http_port, lab.tls_port)
    with pytest.raises(ssl.SSLCertVerificationError):
        lab.handshake()  # the self-signed start: the check below can fail
    site_before = lab.root.path(SITE).read_bytes()
    tree_before = tree(lab.root)

    outcome = lab.apply(lab.plan(certbot_answers(acme)))
    assert outcome.status == "applied", outcome.error

    site = lab.root.read_text(SITE)
    assert nginx_get(site, "ssl_certificate") == [f"/etc/letsencrypt/live/{HOST}/fullchain.pem"]
    assert nginx_get(site, "ssl_certificate_key") == [f"/etc/letsencrypt/live/{HOST}/privkey.pem"]
    hook = lab.root.path(DEPLOY_HOOK)
    assert hook.stat().st_mode & 0o777 == 0o755
    renewal = lab.root.read_text(f"/etc/letsencrypt/renewal/{HOST}.conf")
    assert f"server = {acme.pebble.directory_url}" in renewal

    lab.serve_what_the_site_says()
    peer = lab.handshake()  # verified against pebble's root, for this host name
    assert ("DNS", HOST) in peer["subjectAltName"]

    undone = rollback(lab.root, lab.runner, redact=Redactor())
    assert undone.status == "rolled-back" and undone.rollback_errors == []
    assert lab.root.path(SITE).read_bytes() == site_before
    assert not lab.root.exists("/etc/letsencrypt") and not hook.exists()
    assert tree(lab.root) == tree_before


def test_a_failed_issuance_changes_nothing(lab, acme):
    # nginx is not started: pebble cannot fetch the challenge, the order fails.
    tree_before = tree(lab.root)
    outcome = lab.apply(lab.plan(certbot_answers(acme)))
    assert outcome.status == "rolled-back" and outcome.failed_step == 1
    assert "certbot certonly" in outcome.error
    assert outcome.rollback_errors == []
    assert tree(lab.root) == tree_before  # the new ACME account is gone too
    # What certbot's message points at is still there to read.
    assert "Some challenges have failed" in outcome.error
    assert lab.root.exists("/var/log/letsencrypt/letsencrypt.log")


def test_a_failing_nginx_check_rolls_the_site_edit_back(lab, acme):
    lab.nginx.start(lab.http_port, lab.tls_port)
    conf = lab.root.path("/etc/nginx/nginx.conf")
    # The running nginx keeps serving the challenge; the configuration on disk is now broken.
    conf.write_text(conf.read_text() + "\nthis_is_not_a_directive on;\n")
    tree_before = tree(lab.root)
    plan = lab.plan(certbot_answers(acme))
    outcome = lab.apply(plan)
    assert outcome.status == "rolled-back", outcome.error
    check = plan.steps[outcome.failed_step - 1]
    assert check.argv[:2] == ["nginx", "-t"]
    assert "this_is_not_a_directive" in outcome.error
    assert tree(lab.root) == tree_before


def test_helper_that_leaves_a_self_signed_certificate_falls_back_to_certbot(lab, acme, tmp_path):
    # Like the real script when issuance fails: asks for the e-mail, prints a hint, exits 0.
    got = tmp_path / "helper-got-email"
    script = lab.root.path(LETSENCRYPT_SCRIPT)
    script.write_text("#!/bin/sh\nread EMAIL\n"
                      f'printf "%s" "$EMAIL" > {got}\n'
                      "echo \"Issuing the certificate from Let's Encrypt failed, continuing ...\"\n"
                      "exit 0\n")
    lab.nginx.start(lab.http_port, lab.tls_port)
    answers = make_answers("letsencrypt", acme_server="production")
    plan = lab.plan(answers, os_id="debian", os_version="12")
    assert choose_route(make_facts(lab.root), answers, lab.root)[0] == "helper"
    # The fallback must reach pebble, not Let's Encrypt: point its certbot command there.
    fallback = plan.steps[-1].otherwise
    issue = next(s for s in fallback if "certonly" in [str(a) for a in s.argv[:2]])
    issue.argv[issue.argv.index("--server") + 1] = acme.pebble.directory_url

    outcome = lab.apply(plan)
    assert outcome.status == "applied", outcome.error
    assert got.read_text() == "admin@example.org"
    assert outcome.fallbacks and "left a self-signed certificate" in outcome.fallbacks[0]
    assert "self-signed" in outcome.fallbacks[0]
    lab.serve_what_the_site_says()
    assert ("DNS", HOST) in lab.handshake()["subjectAltName"]
