"""Certificates without servers: route per release, the plan steps of each route, own-certificate
validation with real files made by openssl, the verifiers, and the renewal hook run by sh."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from jitsiwizard import fixtures
from jitsiwizard.answers.model import ACME_SERVERS, Answers
from jitsiwizard.answers.secrets import Redactor
from jitsiwizard.apply import apply
from jitsiwizard.apply.runner import Runner
from jitsiwizard.apply.verifiers import certificate_issued, own_certificate
from jitsiwizard.checks.certs import name_matches, own_cert_problems, read_cert, validate_own
from jitsiwizard.errors import UserError
from jitsiwizard.formats.nginx import nginx_get
from jitsiwizard.host.facts import HostFacts
from jitsiwizard.paths import (
    ACMESH_HOME,
    LETSENCRYPT_SCRIPT,
    jitsi_cert_paths,
    letsencrypt_paths,
)
from jitsiwizard.plan.builder import Builder
from jitsiwizard.plan.certs import DEPLOY_HOOK, _hook_text, cert_steps, choose_route
from jitsiwizard.plan.steps import Command, FileChange, Plan, Service, TargetPath, Verify
from jitsiwizard.rootfs import Root
from tests.apply_support import fake_systemctl
from tests.lab.ca import CA, self_signed

from .conftest import snapshot

HOST = "meet.example.org"
SITE = f"/etc/nginx/sites-available/{HOST}.conf"
JITSI_CRT, JITSI_KEY = jitsi_cert_paths(HOST)
LIVE_CRT, LIVE_KEY = letsencrypt_paths(HOST)
STAGING = ACME_SERVERS["staging"]


# --- small host trees ----------------------------------------------------------------------

def site_text(cert: str = JITSI_CRT, key: str = JITSI_KEY) -> str:
    """The site jitsi-meet-web-config writes, pointing at `cert` and `key`."""
    text = fixtures.NGINX_SITE.replace("HOST", HOST)
    return text.replace(f"ssl_certificate {JITSI_CRT};", f"ssl_certificate {cert};").replace(
        f"ssl_certificate_key {JITSI_KEY};", f"ssl_certificate_key {key};")


def write(root: Root, target: str, text: str, mode: int = 0o644) -> None:
    path = root.path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def host_root(tmp_path: Path, cert: str = JITSI_CRT, key: str = JITSI_KEY) -> Root:
    root = Root(tmp_path / "root")
    root.path("/var/lib").mkdir(parents=True)  # where apply keeps its journal
    write(root, SITE, site_text(cert, key))
    write(root, JITSI_CRT, fixtures.PEM_PLACEHOLDER)
    write(root, JITSI_KEY, fixtures.KEY_PLACEHOLDER, 0o640)
    write(root, LETSENCRYPT_SCRIPT, "#!/bin/sh\nexit 0\n", 0o755)
    write(root, "/usr/share/jitsi-meet/index.html", "<title>Jitsi Meet</title>\n")
    return root


def planned(answers: Answers, facts: HostFacts, root: Root) -> tuple[list, list[str]]:
    """The certificate's steps and notes, as a plan's Builder gets them."""
    b = Builder(facts, root, force=False)
    cert_steps(b, answers)
    return b.plan.steps, b.plan.notes


def make_facts(root: Root, *, os_id: str = "debian", os_version: str = "12",
               script: bool = True, packages: dict | None = None,
               site: bool = True) -> HostFacts:
    text = root.read_text(SITE) if site else None
    cert_files = nginx_get(text, "ssl_certificate") if text else []
    key_files = nginx_get(text, "ssl_certificate_key") if text else []
    return HostFacts(
        os_id=os_id, os_version=os_version, hostname=HOST, generation="current",
        packages=packages if packages is not None else
        {"certbot": "2.1.0-2", "cron": "3.0pl1-162", "nginx": "1.22.1-9"},
        nginx_site=SITE if site else None,
        cert_file=cert_files[0] if cert_files else None,
        key_file=key_files[0] if key_files else None,
        letsencrypt_script=LETSENCRYPT_SCRIPT if script else None)


def make_answers(mode: str = "letsencrypt", *, acme_server: str = "production",
                 agree_tos: bool = True, email: str = "admin@example.org", cert_file: str = "",
                 key_file: str = "") -> Answers:
    answers = Answers()
    answers.host.hostname = HOST
    answers.host.email = email
    answers.cert.mode = mode
    answers.cert.acme_server = acme_server
    answers.cert.agree_tos = agree_tos
    answers.cert.cert_file = cert_file
    answers.cert.key_file = key_file
    return answers


def certbot_lineage(root: Root, server: str) -> None:
    """What a finished certbot route leaves: renewal config, live files, the hook."""
    write(root, f"/etc/letsencrypt/renewal/{HOST}.conf",
          f"version = 2.1.0\narchive_dir = /etc/letsencrypt/archive/{HOST}\n\n"
          f"[renewalparams]\nauthenticator = webroot\nserver = {server}\n")
    write(root, LIVE_CRT, fixtures.PEM_PLACEHOLDER)
    write(root, LIVE_KEY, fixtures.KEY_PLACEHOLDER, 0o600)
    write(root, DEPLOY_HOOK, _hook_text(HOST), 0o755)


def acmesh_lineage(root: Root) -> str:
    folder = f"{ACMESH_HOME}/{HOST}_ecc"
    write(root, f"{folder}/{HOST}.conf",
          f"Le_Domain='{HOST}'\nLe_API='{ACME_SERVERS['production']}'\n"
          "Le_NextRenewTime='1790000000'\n")
    return folder


def argv_of(step: Command) -> list[str]:
    return [str(a) for a in step.argv]


# --- route per release -----------------------------------------------------------------------

RELEASES = [
    ("ubuntu", "18.04", "certbot"),
    ("ubuntu", "20.04", "certbot"),
    ("ubuntu", "22.04", "helper"),
    ("ubuntu", "24.04", "helper"),
    ("debian", "11", "helper"),
    ("debian", "12", "helper"),
    ("debian", "13", "helper"),
]


@pytest.mark.parametrize(("os_id", "version", "expected"), RELEASES)
def test_letsencrypt_route_follows_the_release(tmp_path, os_id, version, expected):
    root = host_root(tmp_path)
    facts = make_facts(root, os_id=os_id, os_version=version)
    route, reason = choose_route(facts, make_answers(), root)
    assert route == expected
    if expected == "certbot":
        # The admin is told why the package's own way is not taken on this release.
        assert f"Ubuntu {version}" in reason and "helper script" in reason
    else:
        assert "helper script" in reason and "switches to certbot" in reason


@pytest.mark.parametrize(("os_id", "version", "_"), RELEASES)
def test_without_the_helper_script_every_release_uses_certbot(tmp_path, os_id, version, _):
    root = host_root(tmp_path)
    facts = make_facts(root, os_id=os_id, os_version=version, script=False)
    route, reason = choose_route(facts, make_answers(), root)
    assert route == "certbot"
    assert "not installed" in reason


@pytest.mark.parametrize(("os_id", "version", "_"), RELEASES)
def test_certbot_mode_is_certbot_everywhere(tmp_path, os_id, version, _):
    root = host_root(tmp_path)
    facts = make_facts(root, os_id=os_id, os_version=version)
    assert choose_route(facts, make_answers("certbot"), root)[0] == "certbot"


def test_a_trial_acme_server_needs_certbot(tmp_path):
    # The helper script always asks Let's Encrypt production.
    root = host_root(tmp_path)
    facts = make_facts(root)
    for server in ("staging", "https://127.0.0.1:14000/dir"):
        route, reason = choose_route(facts, make_answers(acme_server=server), root)
        assert route == "certbot"
        assert "production" in reason and server in reason


def test_helper_is_skipped_when_nginx_serves_other_files(tmp_path):
    # An "own certificate" install: the helper would only replace files nginx does not use.
    root = host_root(tmp_path, "/etc/ssl/mine.crt", "/etc/ssl/mine.key")
    facts = make_facts(root)
    route, reason = choose_route(facts, make_answers(), root)
    assert route == "certbot"
    assert "/etc/ssl/mine.crt" in reason


def test_the_older_certbot_based_helper_is_replaced_by_the_certbot_route(tmp_path):
    root = host_root(tmp_path)
    write(root, LETSENCRYPT_SCRIPT, "#!/bin/bash\nread EMAIL\nCERTBOT=$(command -v certbot)\n"
          "$CERTBOT certonly --webroot --webroot-path /usr/share/jitsi-meet\n", 0o755)
    route, reason = choose_route(make_facts(root), make_answers(), root)
    assert route == "certbot" and "older certbot-based" in reason
    write(root, LETSENCRYPT_SCRIPT, "#!/bin/bash\nexport HOME=/opt/acmesh\n"
          "/opt/acmesh/.acme.sh/acme.sh --issue -d x  # certbot is not used\n", 0o755)
    assert choose_route(make_facts(root), make_answers(), root)[0] == "helper"


def test_no_site_yet_means_certbot_standalone(tmp_path):
    root = host_root(tmp_path)
    facts = make_facts(root, site=False)
    route, reason = choose_route(facts, make_answers(), root)
    assert route == "certbot" and "standalone" in reason
    steps, notes = planned(make_answers(), facts, root)
    issue = next(s for s in steps if isinstance(s, Command) and "certonly" in argv_of(s))
    assert "--standalone" in argv_of(issue) and "--webroot" not in argv_of(issue)
    assert not [s for s in steps if isinstance(s, (FileChange, Service))
                and getattr(s, "path", "") == SITE]
    assert any("port 80" in n for n in notes)


# --- "keep": a rerun changes nothing ---------------------------------------------------------

def test_own_files_already_served_are_kept(tmp_path):
    root = host_root(tmp_path, "/etc/ssl/mine.crt", "/etc/ssl/mine.key")
    facts = make_facts(root)
    answers = make_answers("own", cert_file="/etc/ssl/mine.crt", key_file="/etc/ssl/mine.key")
    assert choose_route(facts, answers, root)[0] == "keep"
    assert planned(answers, facts, root)[0] == []


def test_self_signed_already_served_is_kept(tmp_path):
    root = host_root(tmp_path)
    facts = make_facts(root)
    assert choose_route(facts, make_answers("self-signed"), root)[0] == "keep"


@pytest.mark.parametrize("mode", ["letsencrypt", "certbot"])
def test_certbot_lineage_already_served_is_kept(tmp_path, mode):
    root = host_root(tmp_path, LIVE_CRT, LIVE_KEY)
    certbot_lineage(root, ACME_SERVERS["production"])
    facts = make_facts(root)
    route, reason = choose_route(facts, make_answers(mode), root)
    assert route == "keep" and "certbot already renews" in reason
    assert planned(make_answers(mode), facts, root)[0] == []


def test_staging_lineage_is_replaced_for_production(tmp_path):
    # A trial with staging, then the real thing: the trial certificate must not be kept.
    root = host_root(tmp_path, LIVE_CRT, LIVE_KEY)
    certbot_lineage(root, STAGING)
    facts = make_facts(root)
    steps, _ = planned(make_answers("certbot"), facts, root)
    issue = next(s for s in steps if isinstance(s, Command) and "certonly" in argv_of(s))
    assert "--force-renewal" in argv_of(issue)
    # nginx already points there, but must reload to serve the new certificate.
    assert [type(s) for s in steps[1:]] == [Command, Service]


def test_same_server_rerun_does_not_reissue(tmp_path):
    root = host_root(tmp_path)  # nginx still on the self-signed pair
    certbot_lineage(root, ACME_SERVERS["production"])
    steps, _ = planned(make_answers("certbot"), make_facts(root), root)
    issue = next(s for s in steps if isinstance(s, Command) and "certonly" in argv_of(s))
    assert "--keep-until-expiring" in argv_of(issue)


def test_helper_lineage_is_kept(tmp_path):
    root = host_root(tmp_path)
    acmesh_lineage(root)
    route, reason = choose_route(make_facts(root), make_answers(), root)
    assert route == "keep" and "acme.sh" in reason


# --- the steps of each route ------------------------------------------------------------------

def test_certbot_route_steps(tmp_path):
    root = host_root(tmp_path)
    facts = make_facts(root)
    answers = make_answers("certbot", acme_server="https://127.0.0.1:14000/dir")
    steps, notes = planned(answers, facts, root)
    issue, hook, site, check, reload = steps
    argv = issue.argv
    assert argv[:3] == ["certbot", "certonly", "--non-interactive"]
    assert argv[argv.index("--server") + 1] == "https://127.0.0.1:14000/dir"
    assert argv[argv.index("-m") + 1] == "admin@example.org"
    assert argv[argv.index("-d") + 1] == HOST and "--agree-tos" in argv
    # Every path argument is a TargetPath, so --root maps it.
    for flag, path in (("--config-dir", "/etc/letsencrypt"), ("--work-dir", "/var/lib/letsencrypt"),
                       ("--logs-dir", "/var/log/letsencrypt"), ("-w", "/usr/share/jitsi-meet")):
        assert argv[argv.index(flag) + 1] == TargetPath(path)
    assert "--webroot" in argv
    assert set(issue.snapshot) >= {"/etc/letsencrypt", "/var/lib/letsencrypt"}
    # certbot's log is kept on rollback: its error message sends the admin there.
    assert "/var/log/letsencrypt" not in issue.snapshot

    assert isinstance(hook, FileChange) and hook.path == DEPLOY_HOOK
    assert hook.mode == 0o755 and hook.before is None and HOST in hook.content

    assert isinstance(site, FileChange) and site.path == SITE and site.services == ("nginx",)
    assert site.before == root.read_text(SITE)
    assert f"ssl_certificate {LIVE_CRT};" in site.content
    assert f"ssl_certificate_key {LIVE_KEY};" in site.content
    # Only the two directives change: every other line stays as it was.
    changed = [(a, b) for a, b in zip(site.before.split("\n"), site.content.split("\n"))
               if a != b]
    assert len(changed) == 2 and len(site.before) != len(site.content)

    assert argv_of(check)[:3] == ["nginx", "-t", "-q"]
    assert check.argv[-1] == TargetPath("/etc/nginx/nginx.conf")
    assert isinstance(reload, Service) and (reload.name, reload.action) == ("nginx", "reload")
    assert notes and "certbot" in notes[0]


def test_certbot_is_installed_from_the_distribution_when_missing(tmp_path):
    root = host_root(tmp_path)
    facts = make_facts(root, packages={"nginx": "1.22.1-9"})
    steps, _ = planned(make_answers("certbot"), facts, root)
    install = steps[0]
    assert argv_of(install)[:5] == ["apt-get", "-o", "APT::Status-Fd=1", "install", "-y"]
    assert "certbot" in install.argv
    assert install.env["DEBIAN_FRONTEND"] == "noninteractive"
    assert install.undo == ["apt-get", "purge", "-y", "certbot"]


@pytest.mark.parametrize("mode", ["letsencrypt", "certbot"])
def test_terms_are_agreed_only_when_the_answers_say_so(tmp_path, mode):
    root = host_root(tmp_path)
    facts = make_facts(root)
    with pytest.raises(UserError) as caught:
        planned(make_answers(mode, agree_tos=False), facts, root)
    assert caught.value.field == "cert.agree_tos"
    with pytest.raises(UserError) as caught:
        planned(make_answers(mode, email=""), facts, root)
    assert caught.value.field == "host.email"


def test_helper_route_feeds_the_email_and_falls_back_to_certbot(tmp_path):
    root = host_root(tmp_path)
    facts = make_facts(root, os_id="ubuntu", os_version="22.04")
    steps, _ = planned(make_answers(), facts, root)
    run, check = steps
    assert run.argv == [TargetPath(LETSENCRYPT_SCRIPT)]
    assert run.stdin == "admin@example.org\n"
    assert JITSI_CRT in run.snapshot and JITSI_KEY in run.snapshot
    assert isinstance(check, Verify) and check.name == "certificate-issued"
    assert check.args == {"cert": JITSI_CRT, "hostname": HOST}
    assert check.why_otherwise == "the helper script left a self-signed certificate"
    fallback, _ = planned(make_answers("certbot"), facts, root)
    assert [s.describe() for s in check.otherwise] == [s.describe() for s in fallback]


def test_helper_route_installs_cron_first_when_missing(tmp_path):
    root = host_root(tmp_path)
    facts = make_facts(root, packages={"certbot": "2.1.0-2"})
    steps, _ = planned(make_answers(), facts, root)
    assert argv_of(steps[0]) == ["apt-get", "-o", "APT::Status-Fd=1", "install", "-y", "cron"]


def test_switching_from_acmesh_to_certbot_stops_its_renewals(tmp_path):
    root = host_root(tmp_path)
    folder = acmesh_lineage(root)
    steps, notes = planned(make_answers("certbot"), make_facts(root), root)
    stop = steps[-1]
    assert "--remove" in stop.argv and "--ecc" in stop.argv and stop.snapshot == (folder,)
    assert any("acme.sh" in n for n in notes)


def test_self_signed_route_warns_and_points_nginx_back(tmp_path):
    root = host_root(tmp_path, LIVE_CRT, LIVE_KEY)
    steps, notes = planned(make_answers("self-signed"), make_facts(root), root)
    make, site, check, reload = steps
    assert argv_of(make)[:3] == ["openssl", "req", "-x509"]
    assert f"subjectAltName=DNS:{HOST}" in make.argv
    assert set(make.snapshot) == {JITSI_CRT, JITSI_KEY}
    assert f"ssl_certificate {JITSI_CRT};" in site.content
    assert isinstance(reload, Service)
    assert any("browsers" in n and "mobile apps will not connect" in n for n in notes)


def test_a_site_edited_by_hand_is_refused_like_every_file(tmp_path):
    """The certificate's steps go through the Builder's hand-edit check too."""
    root = host_root(tmp_path)
    facts = make_facts(root)
    facts.managed = {SITE: "0" * 64}  # the wizard wrote something else there
    b = Builder(facts, root, force=False)
    cert_steps(b, make_answers("certbot"))
    assert b.hand_edited == [SITE]
    with pytest.raises(UserError) as caught:
        b.refuse_hand_edits()
    assert caught.value.field == "--force"
    assert f"ssl_certificate {LIVE_CRT};" in caught.value.message  # what the run would do


def test_a_site_without_certificate_lines_is_refused_before_planning(tmp_path):
    root = host_root(tmp_path)
    write(root, SITE, site_text().replace(f"ssl_certificate_key {JITSI_KEY};",
                                          f"# ssl_certificate_key {JITSI_KEY};"))
    with pytest.raises(UserError) as caught:
        planned(make_answers("certbot"), make_facts(root), root)
    assert "ssl_certificate_key" in caught.value.message


def test_own_route_validates_before_pointing_nginx(tmp_path):
    root = host_root(tmp_path)
    facts = make_facts(root)
    answers = make_answers("own", cert_file="/etc/ssl/mine.crt", key_file="/etc/ssl/mine.key")
    first, site, check, reload = planned(answers, facts, root)[0]
    assert isinstance(first, Verify) and first.name == "own-certificate" and not first.otherwise
    assert site.content.count("/etc/ssl/mine.") == 2


def test_building_steps_runs_nothing(tmp_path, monkeypatch):
    """cert_steps is pure: it reads files under the root and starts no process."""
    root = host_root(tmp_path, "/etc/ssl/mine.crt", "/etc/ssl/mine.key")
    before = snapshot(root.base)

    def refuse(*args, **kwargs):
        raise AssertionError(f"cert_steps started a process: {args}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    for mode in ("letsencrypt", "certbot", "self-signed", "own"):
        for os_id, version, _ in RELEASES:
            answers = make_answers(mode, cert_file="/etc/ssl/x.crt", key_file="/etc/ssl/x.key")
            planned(answers, make_facts(root, os_id=os_id, os_version=version), root)
    assert snapshot(root.base) == before


# --- own certificates, validated with real files ------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Real files made by openssl: a CA, certificates for the host, and broken variants."""
    base = tmp_path_factory.mktemp("pki")
    ca = CA(base / "ca")
    good = ca.issue(HOST)
    other = ca.issue("other.example.org")
    expired = ca.issue("expired", sans=[HOST], expired=True)
    self_key, self_crt = base / "self.key", base / "self.crt"
    self_signed(self_crt, self_key, HOST)
    garbage = base / "garbage.pem"
    garbage.write_bytes(os.urandom(700))
    reversed_chain = base / "reversed.pem"
    reversed_chain.write_text(ca.cert.read_text() + good.cert.read_text())
    encrypted = base / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(good.key), "-aes256", "-passout",
                    "pass:secret", "-out", str(encrypted)], check=True, capture_output=True,
                   timeout=30)
    der = base / "cert.der"
    subprocess.run(["openssl", "x509", "-in", str(good.cert), "-outform", "der", "-out",
                    str(der)], check=True, capture_output=True, timeout=30)
    return {"ca": ca, "good": good, "other": other, "expired": expired, "self_key": self_key,
            "self_crt": self_crt, "garbage": garbage, "reversed": reversed_chain,
            "encrypted": encrypted, "der": der, "base": base}


def errors(problems):
    return [p for p in problems if not p.warning]


def test_a_good_chain_passes_with_a_note_about_its_private_ca(pki, tmp_path):
    key = tmp_path / "private.key"
    key.write_text(pki["good"].key.read_text())
    key.chmod(0o600)
    problems = validate_own(str(pki["good"].chain), str(key), HOST)
    assert errors(problems) == []
    # The test CA is in no device's trust store: said, as a warning.
    (warning,) = problems
    assert warning.warning and "trust" in warning.message and warning.field == "cert.cert_file"
    key.chmod(0o644)
    problems = validate_own(str(pki["good"].chain), str(key), HOST)
    assert [p.hint for p in problems if p.field == "cert.key_file"] == [f"chmod 600 {key}"]


def _own_case(pki, case):
    """(cert file, key file, field, words the message must hold) for each broken input."""
    good = pki["good"]
    return {
        "mismatched key": (good.chain, pki["other"].key, "cert.key_file",
                           ["does not belong", "public keys differ"]),
        "expired": (pki["expired"].chain, pki["expired"].key, "cert.cert_file", ["expired on"]),
        "wrong name": (pki["other"].chain, pki["other"].key, "cert.cert_file",
                       ["other.example.org", f"not {HOST}"]),
        "self-signed": (pki["self_crt"], pki["self_key"], "cert.cert_file",
                        ["self-signed", "mobile apps"]),
        "garbage": (pki["garbage"], good.key, "cert.cert_file", ["no PEM certificate"]),
        "missing": (pki["base"] / "nowhere.crt", good.key, "cert.cert_file",
                    ["does not exist"]),
    }[case]


OWN_CASES = ["mismatched key", "expired", "wrong name", "self-signed", "garbage", "missing"]


@pytest.mark.parametrize("case", OWN_CASES)
def test_broken_own_certificates_are_explained(pki, case):
    cert, key, field, words = _own_case(pki, case)
    problems = errors(validate_own(str(cert), str(key), HOST))
    assert problems, f"{case} was accepted"
    first = problems[0]
    assert first.field == field
    for word in words:
        assert word in first.message, first.render()
    assert first.hint  # always a way to fix it


@pytest.mark.parametrize("case", OWN_CASES)
def test_broken_own_certificates_change_nothing(tmp_path, pki, case):
    """The own route through the real transaction: refused at its first step, tree intact."""
    cert, key, _, words = _own_case(pki, case)
    root = host_root(tmp_path)
    for source, target in ((cert, "/etc/ssl/mine.crt"), (key, "/etc/ssl/mine.key")):
        if Path(source).exists():
            write(root, target, Path(source).read_bytes().decode("latin-1"), 0o600)
    answers = make_answers("own", cert_file="/etc/ssl/mine.crt", key_file="/etc/ssl/mine.key")
    steps, notes = planned(answers, make_facts(root), root)
    before = snapshot(root.base)
    runner = Runner(root)
    fake_systemctl(runner, tmp_path / "systemctl.json", {"nginx": {"enabled": True,
                                                                    "active": True}})
    outcome = apply(Plan(steps, notes), root, runner, redact=Redactor())
    assert outcome.status == "rolled-back" and outcome.failed_step == 1
    assert words[0] in outcome.error
    assert snapshot(root.base) == before


def test_more_own_certificate_mistakes(pki):
    good, ca = pki["good"], pki["ca"]
    cases = [
        # leaf only, from a CA this machine does not know: the intermediate is missing
        (good.cert, good.key, "cert.cert_file", "intermediate"),
        (pki["reversed"], good.key, "cert.cert_file", "must come first"),
        (pki["encrypted"], good.key, "cert.cert_file", "no PEM certificate"),
        (good.chain, pki["encrypted"], "cert.key_file", "passphrase"),
        (good.key, good.chain, "cert.cert_file", "no PEM certificate"),
        (pki["der"], good.key, "cert.cert_file", "no PEM certificate"),
        (ca.dir, good.key, "cert.cert_file", "is a directory"),
    ]
    for cert, key, field, words in cases:
        found = errors(validate_own(str(cert), str(key), HOST))
        assert found and found[0].field == field and words in found[0].message, (cert, found)
    swapped = errors(validate_own(str(good.key), str(good.chain), HOST))
    assert "swap" in swapped[0].hint
    der = errors(validate_own(str(pki["der"]), str(good.key), HOST))
    assert "-inform der" in der[0].hint


def test_expiry_soon_is_a_warning_and_wildcards_cover_one_label(pki):
    info = read_cert(pki["good"].cert.read_text())
    soon = info.not_after - timedelta(days=5)
    problems = validate_own(str(pki["good"].chain), str(pki["good"].key), HOST, now=soon)
    assert errors(problems) == []
    assert any(p.warning and "expires in 5 day" in p.message for p in problems)
    assert name_matches("*.example.org", HOST)
    assert not name_matches("*.example.org", "a.meet.example.org")
    assert not name_matches("*.org", "example.org")


def test_own_cert_problems_read_under_the_root(tmp_path, pki):
    root = host_root(tmp_path)
    write(root, "/etc/ssl/mine.crt", pki["good"].chain.read_text())
    write(root, "/etc/ssl/mine.key", pki["good"].key.read_text(), 0o600)
    answers = make_answers("own", cert_file="/etc/ssl/mine.crt", key_file="/etc/ssl/mine.key")
    assert errors(own_cert_problems(answers, make_facts(root), root)) == []


# --- the verifiers --------------------------------------------------------------------------

def test_certificate_issued_tells_self_signed_from_issued(tmp_path, pki):
    root = Root(tmp_path)
    check = certificate_issued
    args = {"cert": JITSI_CRT, "hostname": HOST}
    write(root, JITSI_CRT, pki["self_crt"].read_text())
    ok, message = check(root, None, args)
    assert not ok and "self-signed" in message
    write(root, JITSI_CRT, pki["good"].chain.read_text())
    ok, message = check(root, None, args)
    assert ok and "issued by" in message
    write(root, JITSI_CRT, pki["other"].chain.read_text())
    ok, message = check(root, None, args)
    assert not ok and "other.example.org" in message
    write(root, JITSI_CRT, pki["expired"].chain.read_text())
    ok, message = check(root, None, args)
    assert not ok and "expired" in message
    write(root, JITSI_CRT, fixtures.PEM_PLACEHOLDER)
    assert not check(root, None, args)[0]


def test_own_certificate_verifier(tmp_path, pki):
    root = Root(tmp_path)
    write(root, "/etc/ssl/a.crt", pki["good"].chain.read_text())
    write(root, "/etc/ssl/a.key", pki["good"].key.read_text())
    write(root, "/etc/ssl/b.key", pki["other"].key.read_text())
    args = {"cert": "/etc/ssl/a.crt", "key": "/etc/ssl/a.key", "hostname": HOST}
    assert own_certificate(root, None, args)[0]
    ok, message = own_certificate(root, None, {**args, "key": "/etc/ssl/b.key"})
    assert not ok and "does not belong" in message


def test_the_self_signed_command_makes_what_it_promises(tmp_path):
    """Run the route's openssl command for real (under a root) and inspect the result."""
    root = host_root(tmp_path, LIVE_CRT, LIVE_KEY)
    steps, _ = planned(make_answers("self-signed"), make_facts(root), root)
    result = Runner(root).run(steps[0].argv, timeout=steps[0].timeout)
    assert result.ok, result.stderr
    info = read_cert(root.read_text(JITSI_CRT))
    assert info.covers(HOST) and info.self_signed and not info.is_ca
    found = errors(validate_own(str(root.path(JITSI_CRT)), str(root.path(JITSI_KEY)),
                                      HOST))
    assert [p.message.split(" (")[0] for p in found] == [f"{root.path(JITSI_CRT)} is self-signed"]
    assert not certificate_issued(root, None, {"cert": JITSI_CRT, "hostname": HOST})[0]
    # Exactly the extensions intended, on this release's OpenSSL (1.1.1's openssl.cnf would
    # add a second basicConstraints), and GnuTLS reads it (it refuses a duplicate).
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                           str(root.path(JITSI_CRT))], capture_output=True, text=True,
                          timeout=30, check=True).stdout
    assert text.count("X509v3 Basic Constraints") == 1 and "CA:FALSE" in text
    assert text.count("X509v3 Subject Alternative Name") == 1
    gnutls = subprocess.run(["certtool", "-i", "--infile", str(root.path(JITSI_CRT))],
                            capture_output=True, text=True, timeout=30)
    assert gnutls.returncode == 0, gnutls.stderr
    assert gnutls.stdout.count("Basic Constraints (critical)") == 1, gnutls.stdout


# --- the renewal hook, run by sh ---------------------------------------------------------------

def test_deploy_hook_reloads_nginx_and_restarts_coturn_for_this_host_only(tmp_path):
    hook = tmp_path / "hook.sh"
    hook.write_text(_hook_text(HOST))
    hook.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    # Stand-ins that log their arguments; coturn's activity is switched by a file.
    (bin_dir / "systemctl").write_text(
        f'#!/bin/sh\necho "systemctl $*" >> {calls}\n'
        f'if [ "$1 $3" = "is-active coturn" ] && [ ! -e {tmp_path}/coturn-on ]; then exit 3; fi\n'
        "exit 0\n")
    (bin_dir / "nginx").write_text(f'#!/bin/sh\necho "nginx $*" >> {calls}\nexit 0\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}

    def run(domains: str) -> list[str]:
        calls.unlink(missing_ok=True)
        done = subprocess.run([str(hook)], env={**env, "RENEWED_DOMAINS": domains},
                              capture_output=True, text=True, timeout=10)
        assert done.returncode == 0, done.stderr
        return calls.read_text().splitlines() if calls.exists() else []

    assert run("other.example.org") == []
    assert run(f"other.example.org {HOST}") == [
        "systemctl is-active --quiet nginx", "nginx -t -q", "systemctl reload nginx",
        "systemctl is-active --quiet coturn"]
    (tmp_path / "coturn-on").touch()
    assert run(HOST)[-1] == "systemctl restart coturn"
