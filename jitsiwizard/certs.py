"""TLS certificates: which route gets the certificate on this host, the plan steps for it, and
the checks of certificate files (own certificates, and what an issuing tool really left).

Routes:
- "helper": the package's install-letsencrypt-cert.sh (acme.sh since 2022). It exits 0 even
  when issuance fails and leaves the self-signed certificate, so a Verify step reads the
  result and falls back to the certbot route.
- "certbot": the distribution's certbot over HTTP-01 (the site's webroot, or standalone when
  no Jitsi site exists yet), nginx pointed at /etc/letsencrypt/live/HOST/, a deploy hook.
- "own": the admin's files, validated before anything changes.
- "self-signed": a fresh key and certificate with the hostname in subjectAltName.
- "keep": the host already serves what the answers ask for.

Building steps is pure (files under the root are read, nothing is run). Inspecting
certificate files runs `openssl` (argv, timeout), never a Python crypto dependency.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from jitsiwizard import verify
from jitsiwizard.errors import Problem, UserError
from jitsiwizard.formats import nginx
from jitsiwizard.host import HostFacts
from jitsiwizard.model import ACME_SERVERS, Answers
from jitsiwizard.paths import (
    ACMESH_HOME,
    JITSI_SHARE,
    LE_CONFIG,
    LE_LOGS,
    LE_WORK,
    LETSENCRYPT_SCRIPT,
    NGINX_CONF,
    ROOT_CRONTAB,
    jitsi_cert_paths,
    letsencrypt_paths,
)
from jitsiwizard.render import render
from jitsiwizard.rootfs import Root
from jitsiwizard.steps import Command, FileChange, Service, Step, TargetPath, Verify

JITSI_WEBROOT = JITSI_SHARE
DEPLOY_HOOK = f"{LE_CONFIG}/renewal-hooks/deploy/jitsi-wizard-reload.sh"
EXPIRY_WARNING = timedelta(days=14)
OPENSSL_TIMEOUT = 20.0
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}

# Releases where the package's helper script is known not to work (jitsi-facts.md).
HELPER_BROKEN = {
    ("ubuntu", "18.04"): "on Ubuntu 18.04 the package's helper script depends on the retired "
                         "certbot PPA",
    ("ubuntu", "20.04"): "on Ubuntu 20.04 the package's helper script breaks on certbot's "
                         "dependencies",
}

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.DOTALL)
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


# --- reading certificates with openssl ---------------------------------------------------------

@dataclass
class CertInfo:
    """What matters about one certificate, read by `openssl x509`."""

    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    dns_names: list[str]
    is_ca: bool
    public_key: str

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer

    def covers(self, hostname: str) -> bool:
        return any(name_matches(pattern, hostname) for pattern in self.dns_names)


def name_matches(pattern: str, hostname: str) -> bool:
    """RFC 6125 matching: exact, or a wildcard standing for exactly one left-most label."""
    pattern, hostname = pattern.lower().rstrip("."), hostname.lower().rstrip(".")
    if pattern == hostname:
        return True
    if pattern.startswith("*.") and "." in hostname:
        return hostname.split(".", 1)[1] == pattern[2:] and pattern.count(".") >= 2
    return False


def _openssl(args: list[str], data: str | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["openssl", *args], input=data, capture_output=True, text=True,
                              timeout=OPENSSL_TIMEOUT,
                              stdin=None if data is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise UserError("the openssl command is missing", "apt-get install openssl") from None
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(["openssl", *args], 124, "", "openssl timed out")


def _openssl_date(text: str) -> datetime:
    """'Nov 27 06:39:05 2026 GMT' (openssl's fixed English format) -> aware datetime."""
    month, day, clock, year = text.split()[:4]
    hour, minute, second = (int(x) for x in clock.split(":"))
    return datetime(int(year), _MONTHS[month], int(day), hour, minute, second,
                    tzinfo=timezone.utc)


def read_cert(pem: str) -> CertInfo | None:
    """Parse the first certificate in `pem`; None when openssl cannot read it."""
    done = _openssl(["x509", "-noout", "-nameopt", "RFC2253", "-subject", "-issuer",
                     "-startdate", "-enddate", "-pubkey", "-ext",
                     "subjectAltName,basicConstraints"], pem)
    if done.returncode != 0:
        return None
    out = done.stdout
    fields = dict(re.findall(r"^(subject|issuer|notBefore|notAfter)=(.*)$", out, re.MULTILINE))
    key = re.search(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", out, re.DOTALL)
    san = re.search(r"Subject Alternative Name:.*?\n\s+(.*)", out)
    try:
        return CertInfo(
            subject=fields["subject"].strip(), issuer=fields["issuer"].strip(),
            not_before=_openssl_date(fields["notBefore"]),
            not_after=_openssl_date(fields["notAfter"]),
            dns_names=[p.strip()[4:] for p in san.group(1).split(",")
                       if p.strip().startswith("DNS:")] if san else [],
            is_ca=bool(re.search(r"^\s*CA:TRUE", out, re.MULTILINE)),
            public_key=key.group(0) if key else "")
    except (KeyError, ValueError):
        return None


def _key_public(key_text: str) -> str | None:
    # An empty passphrase: an encrypted key fails at once instead of prompting.
    done = _openssl(["pkey", "-pubout", "-passin", "pass:"], key_text)
    if done.returncode != 0:
        return None
    match = re.search(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", done.stdout,
                      re.DOTALL)
    return match.group(0) if match else None


def _trusted_by_system(cert_file: str) -> bool:
    """Whether this machine's CA store accepts the chain in `cert_file` (dates aside)."""
    done = _openssl(["verify", "-no_check_time", "-untrusted", cert_file, cert_file])
    return done.returncode == 0


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# --- own certificates --------------------------------------------------------------------------

def _read_file(path: str, field: str, what: str, problems: list[Problem]) -> str | None:
    if not path:
        problems.append(Problem(field, f"no {what} file given",
                                f"set {field.split('.')[-1]} under [cert]"))
        return None
    if not os.path.lexists(path):
        problems.append(Problem(field, f"{path} does not exist",
                                f"copy the {what} there or fix the path"))
        return None
    if os.path.isdir(path):
        problems.append(Problem(field, f"{path} is a directory, not a {what} file",
                                f"give the path of the {what} file itself"))
        return None
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        problems.append(Problem(field, f"{path} cannot be read ({exc.strerror})",
                                "make it readable by root (the wizard runs as root)"))
        return None
    return raw.decode("utf-8", errors="replace")


def validate_own(cert_file: str, key_file: str, hostname: str, *,
                 now: datetime | None = None) -> list[Problem]:
    """Everything wrong with a certificate/key pair for `hostname`, before anything uses it.

    Errors: unreadable or not PEM, key does not match, hostname not covered, expired or not
    yet valid, self-signed, chain incomplete or out of order. Warnings (warning=True): expiry
    within 14 days, a chain this machine's CA store does not know.
    """
    now = now or datetime.now(timezone.utc)
    problems: list[Problem] = []
    cf, kf = "cert.cert_file", "cert.key_file"
    cert_text = _read_file(cert_file, cf, "certificate", problems)
    key_text = _read_file(key_file, kf, "private key", problems)

    certs: list[CertInfo] = []
    if cert_text is not None:
        blocks = _PEM_CERT.findall(cert_text)
        if not blocks:
            hint = ("this is a private key: swap cert_file and key_file"
                    if "PRIVATE KEY-----" in cert_text else
                    "give the certificate in PEM form (-----BEGIN CERTIFICATE-----); from DER: "
                    f"openssl x509 -inform der -in {cert_file} -out {cert_file}.pem")
            problems.append(Problem(cf, f"{cert_file} holds no PEM certificate", hint))
        for number, block in enumerate(blocks, 1):
            info = read_cert(block + "\n")
            if info is None:
                problems.append(Problem(cf, f"certificate {number} in {cert_file} is damaged "
                                        "(openssl cannot read it)",
                                        "download the certificate again from its issuer"))
                certs = []
                break
            certs.append(info)

    key_public = None
    if key_text is not None:
        if "ENCRYPTED" in key_text and "PRIVATE KEY" in key_text:
            problems.append(Problem(kf, f"{key_file} is protected by a passphrase: nginx "
                                    "would stop at every start to ask for it",
                                    f"openssl pkey -in {key_file} -out PLAIN.key (then "
                                    "chmod 600) and use PLAIN.key"))
        elif "PRIVATE KEY-----" not in key_text:
            hint = ("this is a certificate: swap cert_file and key_file"
                    if "BEGIN CERTIFICATE" in key_text else
                    "give the private key in PEM form (-----BEGIN PRIVATE KEY-----)")
            problems.append(Problem(kf, f"{key_file} holds no PEM private key", hint))
        else:
            key_public = _key_public(key_text)
            if key_public is None:
                problems.append(Problem(kf, f"{key_file} is a damaged private key (openssl "
                                        "cannot read it)", "export the key again"))
            elif os.stat(key_file).st_mode & 0o004:
                problems.append(Problem(kf, f"{key_file} is readable by every user on this "
                                        "machine", f"chmod 600 {key_file}", warning=True))
    if any(not p.warning for p in problems):
        return problems

    matching = [i for i, c in enumerate(certs) if c.public_key == key_public]
    if not matching:
        problems.append(Problem(kf, f"{key_file} does not belong to the certificate in "
                                f"{cert_file} (their public keys differ)",
                                "give the key that was made with this certificate's request"))
        return problems
    leaf_index = matching[0]
    leaf = certs[leaf_index]
    if leaf_index:
        problems.append(Problem(cf, f"the server certificate ({leaf.subject}) is number "
                                f"{leaf_index + 1} in {cert_file}: it must come first",
                                "order the file: server certificate, then each issuer "
                                "(intermediates), in the order they signed"))

    if not leaf.dns_names:
        problems.append(Problem(cf, f"{cert_file} names no host in subjectAltName (browsers "
                                "ignore the subject's CN)",
                                f"get a certificate with DNS:{hostname} in subjectAltName"))
    elif not leaf.covers(hostname):
        problems.append(Problem(cf, f"{cert_file} is for {', '.join(leaf.dns_names)}, not "
                                f"{hostname}", f"get a certificate that names {hostname}"))

    if leaf.not_after <= now:
        problems.append(Problem(cf, f"{cert_file} expired on {_when(leaf.not_after)}",
                                "renew it with its issuer, or use cert.mode = 'letsencrypt'"))
    elif leaf.not_before > now:
        problems.append(Problem(cf, f"{cert_file} is not valid before "
                                f"{_when(leaf.not_before)}", "check this machine's clock, or "
                                "wait until then"))
    elif leaf.not_after - now < EXPIRY_WARNING:
        days = (leaf.not_after - now).days
        problems.append(Problem(cf, f"{cert_file} expires in {days} day(s), on "
                                f"{_when(leaf.not_after)}", "renew it soon: nothing renews "
                                "an own certificate automatically", warning=True))

    if leaf_index:
        return problems
    if len(certs) == 1:
        if leaf.self_signed:
            problems.append(Problem(cf, f"{cert_file} is self-signed ({leaf.subject}), not "
                                    "issued by a certificate authority: browsers warn and "
                                    "the Jitsi mobile apps refuse to connect",
                                    "use a certificate from a CA, with its chain, or choose "
                                    "cert.mode = 'letsencrypt' (or 'self-signed' knowingly)"))
        elif not _trusted_by_system(cert_file):
            problems.append(Problem(cf, f"{cert_file} holds only the server certificate: the "
                                    f"intermediate certificate(s) of {leaf.issuer} are missing "
                                    "(mobile apps refuse an incomplete chain)",
                                    "append the intermediates after the server certificate "
                                    "(the CA's 'full chain' file)"))
        return problems
    for number, (child, parent) in enumerate(zip(certs, certs[1:]), 1):
        if child.issuer != parent.subject:
            problems.append(Problem(cf, f"the chain in {cert_file} is out of order or "
                                    f"incomplete: certificate {number + 1} ({parent.subject}) "
                                    f"did not issue certificate {number}, which names "
                                    f"{child.issuer} as its issuer",
                                    "order the file: server certificate, then each issuer "
                                    "in turn"))
            return problems
    for parent in certs[1:]:
        if parent.not_after <= now:
            problems.append(Problem(cf, f"the intermediate {parent.subject} in {cert_file} "
                                    f"expired on {_when(parent.not_after)}",
                                    "download the CA's current chain"))
    if not problems and not _trusted_by_system(cert_file):
        problems.append(Problem(cf, f"the chain in {cert_file} ends at {certs[-1].issuer}, "
                                "which this machine's CA store does not hold: browsers and "
                                "mobile apps refuse it unless their devices trust that CA",
                                "fine for a private CA your devices trust; otherwise use a "
                                "public CA", warning=True))
    return problems


def own_cert_problems(answers: Answers, facts: HostFacts,
                      now: datetime | None = None) -> list[Problem]:
    """validate_own for the answers' files, read under the host's root."""
    cert, key = answers.cert.cert_file, answers.cert.key_file
    return validate_own(str(facts.root.path(cert)) if cert.startswith("/") else cert,
                        str(facts.root.path(key)) if key.startswith("/") else key,
                        _hostname(answers, facts), now=now)


# --- verifiers (run by apply for Verify steps) -------------------------------------------------

def _as_root(root) -> Root:
    return root if isinstance(root, Root) else Root(root)


@verify.register("certificate-issued")
def certificate_issued(root, runner, args: dict) -> tuple[bool, str]:
    """The certificate at args["cert"] comes from a CA, is in date and covers args["hostname"]."""
    path, host = args["cert"], args["hostname"]
    text = _as_root(root).read_text(path)
    blocks = _PEM_CERT.findall(text or "")
    info = read_cert(blocks[0] + "\n") if blocks else None
    if info is None:
        return False, f"{path} holds no readable certificate"
    now = datetime.now(timezone.utc)
    if info.self_signed:
        return False, f"{path} is still self-signed ({info.subject}): no certificate was issued"
    if info.not_after <= now:
        return False, f"{path} expired on {_when(info.not_after)}"
    if not info.covers(host):
        return False, f"{path} is for {', '.join(info.dns_names) or info.subject}, not {host}"
    return True, f"{path}: {host}, issued by {info.issuer}, valid until {_when(info.not_after)}"


@verify.register("own-certificate")
def own_certificate(root, runner, args: dict) -> tuple[bool, str]:
    """validate_own at apply time, so nginx is never pointed at files that changed since."""
    base = _as_root(root)
    problems = validate_own(str(base.path(args["cert"])), str(base.path(args["key"])),
                            args["hostname"])
    errors = [p for p in problems if not p.warning]
    if errors:
        return False, "; ".join(p.message for p in errors)
    return True, f"{args['cert']} and {args['key']} are a valid pair for {args['hostname']}"


# --- what the host has now ---------------------------------------------------------------------

def _hostname(answers: Answers, facts: HostFacts) -> str:
    host = answers.host.hostname or facts.hostname or ""
    if not _HOSTNAME.match(host):
        raise UserError(f"{host!r} is not a host name a certificate can be issued for",
                        'set hostname = "meet.example.org" (a DNS name) under [host]',
                        field="host.hostname")
    return host


def _site_paths(facts: HostFacts) -> tuple[str | None, str | None]:
    """The certificate and key nginx serves now (from the facts, else from the site)."""
    if facts.cert_file or facts.key_file:
        return facts.cert_file, facts.key_file
    text = facts.root.read_text(facts.nginx_site) if facts.nginx_site else None
    if text is None:
        return None, None
    cert_values = nginx.nginx_get(text, "ssl_certificate")
    key_values = nginx.nginx_get(text, "ssl_certificate_key")
    return (cert_values[0] if cert_values else None), (key_values[0] if key_values else None)


def _serves(facts: HostFacts, cert: str, key: str) -> bool:
    return _site_paths(facts) == (cert, key)


def _renewal_server(facts: HostFacts, host: str) -> str | None:
    """The ACME server certbot renews HOST from, or None when certbot has no such lineage."""
    text = facts.root.read_text(f"{LE_CONFIG}/renewal/{host}.conf")
    if text is None:
        return None
    match = re.search(r"^\s*server\s*=\s*(\S+)", text, re.MULTILINE)
    return match.group(1) if match else ACME_SERVERS["production"]


def _acmesh_domain_dir(facts: HostFacts, host: str) -> str | None:
    """acme.sh's directory for HOST when it holds an issued certificate (the helper's route)."""
    for folder in (f"{ACMESH_HOME}/{host}_ecc", f"{ACMESH_HOME}/{host}"):
        text = facts.root.read_text(f"{folder}/{host}.conf")
        if text and "Le_NextRenewTime=" in text:
            return folder
    return None


def _helper_uses_certbot(facts: HostFacts) -> bool:
    """The 2020-2022 helper ran certbot and edited nginx itself; the current one runs acme.sh
    and only replaces /etc/jitsi/meet/HOST.crt|key."""
    text = facts.root.read_text(facts.letsencrypt_script or LETSENCRYPT_SCRIPT) or ""
    return "acme.sh" not in text and re.search(r"\bcertbot\b", text) is not None


def _release_name(facts: HostFacts) -> str:
    names = {"debian": "Debian", "ubuntu": "Ubuntu"}
    if not facts.os_id:
        return "this release"
    return f"{names.get(facts.os_id, facts.os_id)} {facts.os_version}".strip()


def _hook_text(host: str) -> str:
    return render("certbot-deploy-hook.sh.j2", hostname=host)


# --- choosing the route ------------------------------------------------------------------------

def choose_route(facts: HostFacts, answers: Answers) -> tuple[str, str]:
    """(route, reason): route is "helper" | "certbot" | "own" | "self-signed" | "keep"."""
    host = _hostname(answers, facts)
    cert = answers.cert
    mode = cert.mode
    if mode == "own":
        if _serves(facts, cert.cert_file, cert.key_file):
            return "keep", f"nginx already serves {cert.cert_file} and {cert.key_file}"
        return "own", f"nginx will serve {cert.cert_file} and {cert.key_file}"
    if mode == "self-signed":
        crt, key = jitsi_cert_paths(host)
        if (_serves(facts, crt, key) and facts.root.exists(crt) and facts.root.exists(key)
                and not _acmesh_domain_dir(facts, host)):
            return "keep", f"nginx already serves the self-signed {crt}"
        return "self-signed", f"a new self-signed certificate for {host} in {crt}"
    if mode not in ("letsencrypt", "certbot"):
        raise UserError(f"{mode!r} is not a certificate mode",
                        "use letsencrypt, certbot, own or self-signed", field="cert.mode")

    url = cert.acme_url
    live = letsencrypt_paths(host)
    if (_renewal_server(facts, host) == url and _serves(facts, *live)
            and facts.root.read_text(DEPLOY_HOOK) == _hook_text(host)):
        return "keep", f"certbot already renews {host} from {url} and nginx serves it"
    if mode == "certbot":
        return "certbot", "cert.mode = 'certbot': the distribution's certbot"

    jitsi_pair = jitsi_cert_paths(host)
    if (url == ACME_SERVERS["production"] and _acmesh_domain_dir(facts, host)
            and _serves(facts, *jitsi_pair)):
        return "keep", (f"the helper's acme.sh already renews {host} into {jitsi_pair[0]}, "
                        "which nginx serves")
    if not facts.letsencrypt_script:
        return "certbot", ("the package's helper script is not installed: using the "
                           "distribution's certbot")
    broken = HELPER_BROKEN.get((facts.os_id, facts.os_version))
    if broken:
        return "certbot", f"{broken}: using the distribution's certbot instead"
    if _helper_uses_certbot(facts):
        return "certbot", ("the installed helper script is the older certbot-based one: the "
                           "wizard runs certbot itself (same result, checked and reversible)")
    if not facts.nginx_site:
        return "certbot", ("no Jitsi nginx site to answer the challenge: certbot answers it "
                           "itself (standalone)")
    if url != ACME_SERVERS["production"]:
        return "certbot", (f"the helper script only asks Let's Encrypt production; "
                           f"cert.acme_server = {cert.acme_server!r} needs certbot")
    current = _site_paths(facts)
    if current != jitsi_pair:
        return "certbot", (f"nginx serves {current[0]}, and the helper script only replaces "
                           f"{jitsi_pair[0]}: using certbot, which points nginx at its result")
    return "helper", (f"{_release_name(facts)}: the package's helper script "
                      f"({facts.letsencrypt_script}); if it leaves a self-signed certificate, "
                      "the run switches to certbot")


# --- plan steps --------------------------------------------------------------------------------

def cert_steps(answers: Answers, facts: HostFacts) -> tuple[list[Step], list[str]]:
    """The plan steps for the chosen route, and notes for the admin. Pure."""
    route, reason = choose_route(facts, answers)
    host = _hostname(answers, facts)
    notes = [f"certificate ({answers.cert.mode}): {reason}"]
    if route == "keep":
        return [], notes
    acme_dir = _acmesh_domain_dir(facts, host)
    if route in ("own", "self-signed", "helper") and _renewal_server(facts, host):
        notes.append(f"certbot still renews {host} ({LE_CONFIG}/renewal/{host}.conf), which "
                     f"nginx no longer serves: `certbot delete --cert-name {host}` removes it "
                     "once you are sure")
    if route == "own":
        cert, key = answers.cert.cert_file, answers.cert.key_file
        steps: list[Step] = [Verify(
            "own-certificate", f"{cert} and {key} are readable, match, cover {host} and are "
            "in date", args={"cert": cert, "key": key, "hostname": host})]
        steps += _point_nginx(facts, cert, key, "the admin's certificate")
        return steps, notes
    if route == "self-signed":
        notes.append("a self-signed certificate makes browsers warn, and the Jitsi mobile "
                     "apps will not connect at all: use it for trials only")
        steps = _self_signed_steps(facts, host)
        if acme_dir:  # its renewals would overwrite the new certificate
            steps.insert(0, _stop_acmesh(host, acme_dir))
            notes.append(f"acme.sh (the helper's tool) renews {host} into the same files: "
                         "the run stops that")
        return steps, notes
    email = _email(answers)
    _require_tos(answers)
    if route == "helper":
        return _helper_steps(answers, facts, host, email), notes
    steps = _certbot_steps(answers, facts, host, email)
    if acme_dir:
        steps.append(_stop_acmesh(host, acme_dir))
        notes.append(f"acme.sh (the helper's tool) also renews {host}: the run stops that, "
                     "so only certbot renews it")
    if not facts.nginx_site:
        notes.append("no Jitsi nginx site was found: certbot answers the challenge on port 80 "
                     "itself, so nothing may listen there during the run")
    return steps, notes


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


def _point_nginx(facts: HostFacts, cert: str, key: str, what: str, *,
                 reload_anyway: bool = False) -> list[Step]:
    """Point the Jitsi site at cert/key, check nginx's configuration, reload it."""
    if not facts.nginx_site:
        return []
    before = facts.root.read_text(facts.nginx_site)
    if before is None:
        raise UserError(f"the nginx site {facts.nginx_site} cannot be read",
                        "check that the file exists under the root", field="cert.mode")
    for directive in ("ssl_certificate", "ssl_certificate_key"):
        if not nginx.nginx_get(before, directive):
            raise UserError(f"{facts.nginx_site} has no active {directive} line to point at "
                            "the new files", "restore the site the jitsi-meet-web-config "
                            "package made (dpkg-reconfigure jitsi-meet-web-config)",
                            field="cert.mode")
    after = nginx.nginx_set(nginx.nginx_set(before, "ssl_certificate", cert),
                            "ssl_certificate_key", key)
    steps: list[Step] = []
    if after != before:
        steps.append(FileChange(facts.nginx_site, after, f"serve {what}: {cert}",
                                before=before, services=("nginx",)))
    elif not reload_anyway:
        return []
    steps.append(Command(["nginx", "-t", "-q", "-c", TargetPath(NGINX_CONF)],
                         "check nginx's configuration before reloading it", timeout=30))
    steps.append(Service("nginx", "reload", f"serve {what}"))
    return steps


def _certbot_steps(answers: Answers, facts: HostFacts, host: str, email: str) -> list[Step]:
    url = answers.cert.acme_url
    steps: list[Step] = []
    if not facts.has_package("certbot"):
        steps.append(Command(
            ["apt-get", "-o", "APT::Status-Fd=1", "install", "-y", "--no-install-recommends",
             "certbot"],
            "install certbot from the distribution", timeout=900, env=dict(APT_ENV),
            snapshot=(LE_CONFIG, "/etc/cron.d/certbot"),
            undo=["apt-get", "purge", "-y", "certbot"]))
    argv: list = ["certbot", "certonly", "--non-interactive", "--cert-name", host, "-d", host,
                  "-m", email, "--agree-tos", "--server", url,
                  "--config-dir", TargetPath(LE_CONFIG), "--work-dir", TargetPath(LE_WORK),
                  "--logs-dir", TargetPath(LE_LOGS)]
    # Not LE_LOGS: a failed issuance says "see the logfile ...", which must survive rollback.
    snapshot = [LE_CONFIG, LE_WORK]
    if facts.nginx_site:
        argv += ["--webroot", "-w", TargetPath(JITSI_WEBROOT)]
        snapshot.append(f"{JITSI_WEBROOT}/.well-known")  # certbot's challenge files
        how = f"HTTP-01 through the Jitsi site's webroot {JITSI_WEBROOT}"
    else:
        argv += ["--standalone"]
        how = "HTTP-01, certbot answering on port 80 itself"
    existing = _renewal_server(facts, host)
    if existing == url:
        argv.append("--keep-until-expiring")  # rerun: no new certificate while this one is good
    elif existing is not None:
        argv.append("--force-renewal")  # e.g. staging -> production: replace the trial one
    steps.append(Command(argv, f"obtain a certificate for {host} from {url} ({how})",
                         timeout=300, snapshot=tuple(snapshot)))
    hook = _hook_text(host)
    current = facts.root.read_text(DEPLOY_HOOK)
    if current != hook:
        steps.append(FileChange(DEPLOY_HOOK, hook, "reload nginx (and coturn) after certbot "
                                f"renews {host}", before=current, mode=0o755))
    steps += _point_nginx(facts, *letsencrypt_paths(host), "the Let's Encrypt certificate",
                          reload_anyway=existing is not None)
    return steps


def _helper_steps(answers: Answers, facts: HostFacts, host: str, email: str) -> list[Step]:
    crt, key = jitsi_cert_paths(host)
    steps: list[Step] = []
    if facts.packages and not facts.has_package("cron"):
        steps.append(Command(["apt-get", "-o", "APT::Status-Fd=1", "install", "-y", "cron"],
                             "install cron: acme.sh refuses to install without crontab",
                             timeout=600, env=dict(APT_ENV)))
    steps.append(Command(
        [TargetPath(facts.letsencrypt_script or LETSENCRYPT_SCRIPT)],
        "run the package's Let's Encrypt helper (it installs acme.sh and renews from cron); "
        "the e-mail goes to its prompt", timeout=600, stdin=email + "\n",
        # What it writes, and what a future version might touch (the site) to stay reversible.
        snapshot=(crt, key, "/opt/acmesh", ROOT_CRONTAB, "/etc/coturn", "/etc/turnserver.conf",
                  *([facts.nginx_site] if facts.nginx_site else []))))
    steps.append(Verify(
        "certificate-issued", f"{crt} now holds a certificate from a CA for {host}",
        args={"cert": crt, "hostname": host},
        otherwise=_certbot_steps(answers, facts, host, email),
        why_otherwise="the helper script left a self-signed certificate"))
    return steps


def _self_signed_steps(facts: HostFacts, host: str) -> list[Step]:
    crt, key = jitsi_cert_paths(host)
    make = Command(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "730",
         "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}",
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "extendedKeyUsage=serverAuth",
         "-keyout", TargetPath(key), "-out", TargetPath(crt)],
        f"make a self-signed certificate for {host}", timeout=60, snapshot=(crt, key))
    return [make, *_point_nginx(facts, crt, key, "the self-signed certificate",
                                reload_anyway=True)]


def _stop_acmesh(host: str, folder: str) -> Command:
    argv: list = [TargetPath(f"{ACMESH_HOME}/acme.sh"), "--remove", "-d", host,
                  "--home", TargetPath(ACMESH_HOME)]
    if folder.endswith("_ecc"):
        argv.append("--ecc")
    return Command(argv, f"stop acme.sh renewing {host} (the helper's renewals)", timeout=60,
                   snapshot=(folder,))
