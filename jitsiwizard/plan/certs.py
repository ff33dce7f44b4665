"""Which route gets this host its TLS certificate, and the plan steps for it.

Routes:
- "helper": the package's install-letsencrypt-cert.sh (acme.sh since 2022). It exits 0 even
  when issuance fails and leaves the self-signed certificate, so a Verify step reads the
  result and falls back to the certbot route.
- "certbot": the distribution's certbot over HTTP-01 (the site's webroot, or standalone when
  no Jitsi site exists yet), nginx pointed at /etc/letsencrypt/live/HOST/, a deploy hook.
- "own": the admin's files, validated before anything changes.
- "self-signed": a fresh key and certificate with the hostname in subjectAltName.
- "keep": the host already serves what the answers ask for.

Building steps is pure: the host's files are read through a FileView, nothing is run.
"""

from __future__ import annotations

import re
from pathlib import Path

from jitsiwizard.answers.model import ACME_SERVERS, Answers
from jitsiwizard.errors import UserError
from jitsiwizard.formats import nginx, turnserver
from jitsiwizard.host.facts import HostFacts
from jitsiwizard.paths import (
    ACMESH_HOME,
    COTURN_CERT_DIR,
    JITSI_SHARE,
    LE_CONFIG,
    LE_LOGS,
    LE_WORK,
    LETSENCRYPT_SCRIPT,
    NGINX_CONF,
    ROOT_CRONTAB,
    TURNSERVER_CONF,
    coturn_cert_paths,
    jitsi_cert_paths,
    letsencrypt_paths,
)
from jitsiwizard.plan.builder import Builder
from jitsiwizard.plan.render import render
from jitsiwizard.plan.steps import TargetPath
from jitsiwizard.rootfs import FileView

# Matched whole (fullmatch): `$` would also match before a final newline.
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")


def cert_hostname(answers: Answers, facts: HostFacts) -> str:
    """The answers' host name (else the host's), refused unless a CA could issue for it."""
    host = answers.host.hostname or facts.hostname or ""
    if not _HOSTNAME.fullmatch(host):
        raise UserError(f"{host!r} is not a host name a certificate can be issued for",
                        'set hostname = "meet.example.org" (a DNS name) under [host]',
                        field="host.hostname")
    return host


JITSI_WEBROOT = JITSI_SHARE
DEPLOY_HOOK = f"{LE_CONFIG}/renewal-hooks/deploy/jitsi-wizard-reload.sh"

# Releases where the package's helper script is known not to work (jitsi-facts.md).
HELPER_BROKEN = {
    ("ubuntu", "18.04"): "on Ubuntu 18.04 the package's helper script depends on the retired "
                         "certbot PPA",
    ("ubuntu", "20.04"): "on Ubuntu 20.04 the package's helper script breaks on certbot's "
                         "dependencies",
}


# --- what the host has now ---------------------------------------------------------------------

def _site_paths(facts: HostFacts, files: FileView) -> tuple[str | None, str | None]:
    """The certificate and key nginx serves now (from the facts, else from the site)."""
    if facts.cert_file or facts.key_file:
        return facts.cert_file, facts.key_file
    text = files.read_text(facts.nginx_site) if facts.nginx_site else None
    if text is None:
        return None, None
    cert_values = nginx.nginx_get(text, "ssl_certificate")
    key_values = nginx.nginx_get(text, "ssl_certificate_key")
    return (cert_values[0] if cert_values else None), (key_values[0] if key_values else None)


def _serves(facts: HostFacts, files: FileView, cert: str, key: str) -> bool:
    return _site_paths(facts, files) == (cert, key)


def _renewal_server(files: FileView, host: str) -> str | None:
    """The ACME server certbot renews HOST from, or None when certbot has no such lineage."""
    text = files.read_text(f"{LE_CONFIG}/renewal/{host}.conf")
    if text is None:
        return None
    match = re.search(r"^\s*server\s*=\s*(\S+)", text, re.MULTILINE)
    return match.group(1) if match else ACME_SERVERS["production"]


def _acmesh_domain_dir(files: FileView, host: str) -> str | None:
    """acme.sh's directory for HOST when it holds an issued certificate (the helper's route)."""
    for folder in (f"{ACMESH_HOME}/{host}_ecc", f"{ACMESH_HOME}/{host}"):
        text = files.read_text(f"{folder}/{host}.conf")
        if text and "Le_NextRenewTime=" in text:
            return folder
    return None


def _helper_uses_certbot(facts: HostFacts, files: FileView) -> bool:
    """The 2020-2022 helper ran certbot and edited nginx itself; the current one runs acme.sh
    and only replaces /etc/jitsi/meet/HOST.crt|key."""
    text = files.read_text(facts.letsencrypt_script or LETSENCRYPT_SCRIPT) or ""
    return "acme.sh" not in text and re.search(r"\bcertbot\b", text) is not None


def _release_name(facts: HostFacts) -> str:
    names = {"debian": "Debian", "ubuntu": "Ubuntu"}
    if not facts.os_id:
        return "this release"
    return f"{names.get(facts.os_id, facts.os_id)} {facts.os_version}".strip()


def _hook_text(host: str) -> str:
    turn_cert, turn_key = coturn_cert_paths(host)
    return render("certbot-deploy-hook.sh.j2", hostname=host, turn_conf=TURNSERVER_CONF,
                  turn_cert=turn_cert, turn_key=turn_key)


# --- choosing the route ------------------------------------------------------------------------

def choose_route(facts: HostFacts, answers: Answers, files: FileView) -> tuple[str, str]:
    """(route, reason): route is "helper" | "certbot" | "own" | "self-signed" | "keep"."""
    host = cert_hostname(answers, facts)
    cert = answers.cert
    mode = cert.mode
    if mode == "keep":
        if not facts.cert_file:
            raise UserError("there is no certificate to keep: nginx serves none for "
                            f"{host} yet", 'choose how to get one: cert.mode = "letsencrypt", '
                            '"certbot", "own" or "self-signed"', field="cert.mode")
        return "keep", f"the certificate nginx serves now is kept ({facts.cert_file})"
    if mode == "own":
        if _serves(facts, files, cert.cert_file, cert.key_file):
            return "keep", f"nginx already serves {cert.cert_file} and {cert.key_file}"
        return "own", f"nginx will serve {cert.cert_file} and {cert.key_file}"
    if mode == "self-signed":
        crt, key = jitsi_cert_paths(host)
        if (_serves(facts, files, crt, key) and files.exists(crt) and files.exists(key)
                and not _acmesh_domain_dir(files, host)):
            return "keep", f"nginx already serves the self-signed {crt}"
        return "self-signed", f"a new self-signed certificate for {host} in {crt}"
    if mode not in ("letsencrypt", "certbot"):
        raise UserError(f"{mode!r} is not a certificate mode",
                        "use keep, letsencrypt, certbot, own or self-signed",
                        field="cert.mode")
    return _acme_route(facts, answers, files, host)


def _acme_route(facts: HostFacts, answers: Answers, files: FileView,
                host: str) -> tuple[str, str]:
    """The route for a certificate from an ACME server: what already renews it is kept,
    else the package's helper where it can do the job, else certbot."""
    cert = answers.cert
    mode = cert.mode
    url = cert.acme_url
    live = letsencrypt_paths(host)
    if (_renewal_server(files, host) == url and _serves(facts, files, *live)
            and files.read_text(DEPLOY_HOOK) == _hook_text(host)):
        return "keep", f"certbot already renews {host} from {url} and nginx serves it"
    if mode == "certbot":
        return "certbot", "cert.mode = 'certbot': the distribution's certbot"

    jitsi_pair = jitsi_cert_paths(host)
    if (url == ACME_SERVERS["production"] and _acmesh_domain_dir(files, host)
            and _serves(facts, files, *jitsi_pair)):
        return "keep", (f"the helper's acme.sh already renews {host} into {jitsi_pair[0]}, "
                        "which nginx serves")
    if not facts.letsencrypt_script:
        return "certbot", ("the package's helper script is not installed: using the "
                           "distribution's certbot")
    broken = HELPER_BROKEN.get((facts.os_id, facts.os_version))
    if broken:
        return "certbot", f"{broken}: using the distribution's certbot instead"
    if _helper_uses_certbot(facts, files):
        return "certbot", ("the installed helper script is the older certbot-based one: the "
                           "wizard runs certbot itself (same result, checked and reversible)")
    if not facts.nginx_site:
        return "certbot", ("no Jitsi nginx site to answer the challenge: certbot answers it "
                           "itself (standalone)")
    if url != ACME_SERVERS["production"]:
        return "certbot", (f"the helper script only asks Let's Encrypt production; "
                           f"cert.acme_server = {cert.acme_server!r} needs certbot")
    current = _site_paths(facts, files)
    if current != jitsi_pair:
        return "certbot", (f"nginx serves {current[0]}, and the helper script only replaces "
                           f"{jitsi_pair[0]}: using certbot, which points nginx at its result")
    return "helper", (f"{_release_name(facts)}: the package's helper script "
                      f"({facts.letsencrypt_script}); if it leaves a self-signed certificate, "
                      "the run switches to certbot")


# --- plan steps --------------------------------------------------------------------------------

def cert_steps(b: Builder, answers: Answers) -> None:
    """The plan steps for the chosen route, then coturn's (TURN over TLS serves the same
    certificate as nginx), and notes for the admin. Pure."""
    route, reason = choose_route(b.facts, answers, b.files)
    host = cert_hostname(answers, b.facts)
    _route_steps(b, route, reason, answers, host)
    _turn_steps(b, route, answers, host)


def _served_pair(route: str, answers: Answers, facts: HostFacts, files: FileView,
                 host: str) -> tuple[str | None, str | None]:
    """The certificate and key nginx serves once the route's steps have run."""
    if route == "own":
        return answers.cert.cert_file, answers.cert.key_file
    if route in ("self-signed", "helper"):
        return jitsi_cert_paths(host)
    if route == "certbot":
        return letsencrypt_paths(host)
    return _site_paths(facts, files)


def _turn_steps(b: Builder, route: str, answers: Answers, host: str) -> None:
    """Point coturn (jitsi-meet-turnserver's /etc/turnserver.conf, `cert=` and `pkey=`) at
    what nginx serves, and restart it when its certificate changes. certbot's files are not
    readable by coturn's user: it gets copies, which the deploy hook refreshes on renewal."""
    files = b.files
    before = files.read_text(TURNSERVER_CONF)
    if before is None:
        return
    cert, key = _served_pair(route, answers, b.facts, files, host)
    if not cert or not key:
        return
    start = len(b.plan.steps)
    live = letsencrypt_paths(host)
    if (cert, key) == live:
        cert, key = coturn_cert_paths(host)
        if route == "certbot" or not (files.exists(cert) and files.exists(key)):
            for source, target in ((live[0], cert), (live[1], key)):
                b.command(["install", "-D", "-m", "0400", "-o", "turnserver", "-g", "turnserver",
                           TargetPath(source), TargetPath(target)],
                          f"give coturn its own copy of {source}", timeout=30,
                          snapshot=(COTURN_CERT_DIR,))
    try:
        after = turnserver.turn_set(turnserver.turn_set(before, "cert", cert), "pkey", key)
    except UserError as exc:
        raise UserError(f"{TURNSERVER_CONF}: {exc.message}", exc.hint,
                        field="cert.cert_file") from None
    b.file(TURNSERVER_CONF, after, f"TURN over TLS serves {cert}", services=("coturn",))
    # A route that makes or replaces the certificate changes what coturn holds in memory.
    if len(b.plan.steps) > start or route in ("self-signed", "helper", "certbot"):
        b.service("coturn", "restart", "serve the new certificate for TURN over TLS")


def _route_steps(b: Builder, route: str, reason: str, answers: Answers, host: str) -> None:
    b.note(f"certificate ({answers.cert.mode}): {reason}")
    if route == "keep":
        return
    acme_dir = _acmesh_domain_dir(b.files, host)
    if route in ("own", "self-signed", "helper") and _renewal_server(b.files, host):
        b.note(f"certbot still renews {host} ({LE_CONFIG}/renewal/{host}.conf), which "
               f"nginx no longer serves: `certbot delete --cert-name {host}` removes it "
               "once you are sure")
    if route == "own":
        cert, key = answers.cert.cert_file, answers.cert.key_file
        b.verify("own-certificate", f"{cert} and {key} are readable, match, cover {host} and "
                 "are in date", {"cert": cert, "key": key, "hostname": host})
        _point_nginx(b, cert, key, "the admin's certificate")
        return
    if route == "self-signed":
        b.note("a self-signed certificate makes browsers warn, and the Jitsi mobile "
               "apps will not connect at all: use it for trials only")
        if acme_dir:  # its renewals would overwrite the new certificate
            _stop_acmesh(b, host, acme_dir)
            b.note(f"acme.sh (the helper's tool) renews {host} into the same files: "
                   "the run stops that")
        _self_signed_steps(b, host)
        return
    email = _email(answers)
    _require_tos(answers)
    if route == "helper":
        _helper_steps(b, answers, host, email)
        return
    _certbot_steps(b, answers, host, email)
    if acme_dir:
        _stop_acmesh(b, host, acme_dir)
        b.note(f"acme.sh (the helper's tool) also renews {host}: the run stops that, "
               "so only certbot renews it")
    if not b.facts.nginx_site:
        b.note("no Jitsi nginx site was found: certbot answers the challenge on port 80 "
               "itself, so nothing may listen there during the run")


def _email(answers: Answers) -> str:
    email = answers.host.email.strip()
    if not email or "@" not in email:
        raise UserError(f"cert.mode = {answers.cert.mode!r} needs the admin's e-mail address "
                        "(the ACME account's contact for expiry warnings)",
                        'set email = "admin@example.org" under [host]', field="host.email")
    return email


def _require_tos(answers: Answers) -> None:
    if not answers.cert.agree_tos:
        raise UserError(f"cert.mode = {answers.cert.mode!r} needs the ACME server's terms of "
                        "service agreed, and the wizard agrees only when the answers say so",
                        "read the terms of your ACME server (Let's Encrypt: "
                        "https://letsencrypt.org/repository/), then set agree_tos = true "
                        "under [cert]", field="cert.agree_tos")


def _point_nginx(b: Builder, cert: str, key: str, what: str, *,
                 reload_anyway: bool = False) -> None:
    """Point the Jitsi site at cert/key, check nginx's configuration, reload it."""
    site = b.facts.nginx_site
    if not site:
        return
    before = b.files.read_text(site)
    if before is None:
        raise UserError(f"the nginx site {site} cannot be read",
                        "check that the file exists under the root", field="cert.mode")
    for directive in ("ssl_certificate", "ssl_certificate_key"):
        if not nginx.nginx_get(before, directive):
            raise UserError(f"{site} has no active {directive} line to point at "
                            "the new files", "restore the site the jitsi-meet-web-config "
                            "package made (dpkg-reconfigure jitsi-meet-web-config)",
                            field="cert.mode")
    after = nginx.nginx_set(nginx.nginx_set(before, "ssl_certificate", cert),
                            "ssl_certificate_key", key)
    if not b.file(site, after, f"serve {what}: {cert}", services=("nginx",)) \
            and not reload_anyway:
        return
    b.command(["nginx", "-t", "-q", "-c", TargetPath(NGINX_CONF)],
              "check nginx's configuration before reloading it", timeout=30)
    b.service("nginx", "reload", f"serve {what}")


def _certbot_steps(b: Builder, answers: Answers, host: str, email: str) -> None:
    url = answers.cert.acme_url
    b.install(["certbot"], "install certbot from the distribution", timeout=900,
              options=("--no-install-recommends",),
              snapshot=(LE_CONFIG, "/etc/cron.d/certbot"),
              undo=["apt-get", "purge", "-y", "certbot"])
    argv: list = ["certbot", "certonly", "--non-interactive", "--cert-name", host, "-d", host,
                  "-m", email, "--agree-tos", "--server", url,
                  "--config-dir", TargetPath(LE_CONFIG), "--work-dir", TargetPath(LE_WORK),
                  "--logs-dir", TargetPath(LE_LOGS)]
    # Not LE_LOGS: a failed issuance says "see the logfile ...", which must survive rollback.
    snapshot = [LE_CONFIG, LE_WORK]
    if b.facts.nginx_site:
        argv += ["--webroot", "-w", TargetPath(JITSI_WEBROOT)]
        snapshot.append(f"{JITSI_WEBROOT}/.well-known")  # certbot's challenge files
        how = f"HTTP-01 through the Jitsi site's webroot {JITSI_WEBROOT}"
    else:
        argv += ["--standalone"]
        how = "HTTP-01, certbot answering on port 80 itself"
    existing = _renewal_server(b.files, host)
    if existing == url:
        argv.append("--keep-until-expiring")  # rerun: no new certificate while this one is good
    elif existing is not None:
        argv.append("--force-renewal")  # e.g. staging -> production: replace the trial one
    b.command(argv, f"obtain a certificate for {host} from {url} ({how})", timeout=300,
              snapshot=tuple(snapshot))
    b.file(DEPLOY_HOOK, _hook_text(host), "reload nginx (and coturn) after certbot renews "
           f"{host}", mode=0o755)
    _point_nginx(b, *letsencrypt_paths(host), "the Let's Encrypt certificate",
                 reload_anyway=existing is not None)


def _helper_steps(b: Builder, answers: Answers, host: str, email: str) -> None:
    facts = b.facts
    crt, key = jitsi_cert_paths(host)
    if facts.packages:  # the packages are known (a fresh host's are not yet)
        b.install(["cron"], "install cron: acme.sh refuses to install without crontab")
    b.command(
        [TargetPath(facts.letsencrypt_script or LETSENCRYPT_SCRIPT)],
        "run the package's Let's Encrypt helper (it installs acme.sh and renews from cron); "
        "the e-mail goes to its prompt", timeout=600, stdin=email + "\n",
        # What it writes, and what a future version might touch (the site) to stay reversible.
        snapshot=(crt, key, "/opt/acmesh", ROOT_CRONTAB, "/etc/coturn", "/etc/turnserver.conf",
                  *([facts.nginx_site] if facts.nginx_site else [])))
    b.verify("certificate-issued", f"{crt} now holds a certificate from a CA for {host}",
             {"cert": crt, "hostname": host},
             otherwise=b.aside(_certbot_steps, answers, host, email),
             why_otherwise="the helper script left a self-signed certificate")


# Read by `openssl req` instead of the system's openssl.cnf: a path of the installed wizard on
# the machine that runs the commands, so the printed command works when pasted.
SELF_SIGNED_CONFIG = str(Path(__file__).resolve().parent.parent / "data"
                         / "openssl-self-signed.cnf")


def _self_signed_steps(b: Builder, host: str) -> None:
    crt, key = jitsi_cert_paths(host)
    b.command(
        ["openssl", "req", "-x509", "-config", SELF_SIGNED_CONFIG, "-newkey", "rsa:2048",
         "-nodes", "-sha256", "-days", "730", "-subj", f"/CN={host}",
         "-addext", f"subjectAltName=DNS:{host}",
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "extendedKeyUsage=serverAuth",
         "-keyout", TargetPath(key), "-out", TargetPath(crt)],
        f"make a self-signed certificate for {host}", timeout=60, snapshot=(crt, key))
    _point_nginx(b, crt, key, "the self-signed certificate", reload_anyway=True)


def _stop_acmesh(b: Builder, host: str, folder: str) -> None:
    argv: list = [TargetPath(f"{ACMESH_HOME}/acme.sh"), "--remove", "-d", host,
                  "--home", TargetPath(ACMESH_HOME)]
    if folder.endswith("_ecc"):
        argv.append("--ecc")
    b.command(argv, f"stop acme.sh renewing {host} (the helper's renewals)", timeout=60,
              snapshot=(folder,))
