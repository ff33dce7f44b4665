"""Certificate files, read and checked with `openssl` (argv, timeout), never a Python crypto
dependency: what a certificate says, and everything wrong with an admin's own pair before
anything uses it."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from jitsiwizard.answers.model import Answers
from jitsiwizard.errors import Problem, UserError
from jitsiwizard.host.facts import HostFacts
from jitsiwizard.plan.certs import cert_hostname
from jitsiwizard.rootfs import Root

EXPIRY_WARNING = timedelta(days=14)
OPENSSL_TIMEOUT = 20.0

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


def read_first_cert(text: str) -> CertInfo | None:
    """The first PEM certificate in `text` (a chain file, say); None when there is none or
    openssl cannot read it."""
    blocks = _PEM_CERT.findall(text)
    return read_cert(blocks[0] + "\n") if blocks else None


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


def format_utc(moment: datetime) -> str:
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


CF, KF = "cert.cert_file", "cert.key_file"  # the answers keys the problems name


def validate_own(cert_file: str, key_file: str, hostname: str, *,
                 now: datetime | None = None) -> list[Problem]:
    """Everything wrong with a certificate/key pair for `hostname`, before anything uses it.

    Errors: unreadable or not PEM, key does not match, hostname not covered, expired or not
    yet valid, self-signed, chain incomplete or out of order. Warnings (warning=True): expiry
    within 14 days, a chain this machine's CA store does not know.
    """
    now = now or datetime.now(timezone.utc)
    problems: list[Problem] = []
    cert_text = _read_file(cert_file, CF, "certificate", problems)
    key_text = _read_file(key_file, KF, "private key", problems)
    certs = _read_certs(cert_file, cert_text, problems) if cert_text is not None else []
    key_public = _read_key(key_file, key_text, problems) if key_text is not None else None
    if any(not p.warning for p in problems):
        return problems

    matching = [i for i, c in enumerate(certs) if c.public_key == key_public]
    if not matching:
        problems.append(Problem(KF, f"{key_file} does not belong to the certificate in "
                                f"{cert_file} (their public keys differ)",
                                "give the key that was made with this certificate's request"))
        return problems
    leaf_index = matching[0]
    leaf = certs[leaf_index]
    if leaf_index:
        problems.append(Problem(CF, f"the server certificate ({leaf.subject}) is number "
                                f"{leaf_index + 1} in {cert_file}: it must come first",
                                "order the file: server certificate, then each issuer "
                                "(intermediates), in the order they signed"))
    _leaf_problems(leaf, cert_file, hostname, now, problems)
    if not leaf_index:  # the chain is judged only once the server certificate comes first
        _chain_problems(certs, cert_file, now, problems)
    return problems


def _read_certs(cert_file: str, cert_text: str, problems: list[Problem]) -> list[CertInfo]:
    """Every PEM certificate in the file, in order; [] with a problem when there is none or
    one is damaged."""
    blocks = _PEM_CERT.findall(cert_text)
    if not blocks:
        hint = ("this is a private key: swap cert_file and key_file"
                if "PRIVATE KEY-----" in cert_text else
                "give the certificate in PEM form (-----BEGIN CERTIFICATE-----); from DER: "
                f"openssl x509 -inform der -in {cert_file} -out {cert_file}.pem")
        problems.append(Problem(CF, f"{cert_file} holds no PEM certificate", hint))
    certs: list[CertInfo] = []
    for number, block in enumerate(blocks, 1):
        info = read_cert(block + "\n")
        if info is None:
            problems.append(Problem(CF, f"certificate {number} in {cert_file} is damaged "
                                    "(openssl cannot read it)",
                                    "download the certificate again from its issuer"))
            return []
        certs.append(info)
    return certs


def _read_key(key_file: str, key_text: str, problems: list[Problem]) -> str | None:
    """The private key's public half; None with a problem when the key cannot serve nginx
    (a passphrase, not PEM, damaged). A key every user may read is a warning."""
    if "ENCRYPTED" in key_text and "PRIVATE KEY" in key_text:
        problems.append(Problem(KF, f"{key_file} is protected by a passphrase: nginx "
                                "would stop at every start to ask for it",
                                f"openssl pkey -in {key_file} -out PLAIN.key (then "
                                "chmod 600) and use PLAIN.key"))
        return None
    if "PRIVATE KEY-----" not in key_text:
        hint = ("this is a certificate: swap cert_file and key_file"
                if "BEGIN CERTIFICATE" in key_text else
                "give the private key in PEM form (-----BEGIN PRIVATE KEY-----)")
        problems.append(Problem(KF, f"{key_file} holds no PEM private key", hint))
        return None
    key_public = _key_public(key_text)
    if key_public is None:
        problems.append(Problem(KF, f"{key_file} is a damaged private key (openssl "
                                "cannot read it)", "export the key again"))
    elif os.stat(key_file).st_mode & 0o004:
        problems.append(Problem(KF, f"{key_file} is readable by every user on this "
                                "machine", f"chmod 600 {key_file}", warning=True))
    return key_public


def _leaf_problems(leaf: CertInfo, cert_file: str, hostname: str, now: datetime,
                   problems: list[Problem]) -> None:
    """The server certificate: the host name it covers, and its dates."""
    if not leaf.dns_names:
        problems.append(Problem(CF, f"{cert_file} names no host in subjectAltName (browsers "
                                "ignore the subject's CN)",
                                f"get a certificate with DNS:{hostname} in subjectAltName"))
    elif not leaf.covers(hostname):
        problems.append(Problem(CF, f"{cert_file} is for {', '.join(leaf.dns_names)}, not "
                                f"{hostname}", f"get a certificate that names {hostname}"))

    if leaf.not_after <= now:
        problems.append(Problem(CF, f"{cert_file} expired on {format_utc(leaf.not_after)}",
                                "renew it with its issuer, or use cert.mode = 'letsencrypt'"))
    elif leaf.not_before > now:
        problems.append(Problem(CF, f"{cert_file} is not valid before "
                                f"{format_utc(leaf.not_before)}", "check this machine's clock, or "
                                "wait until then"))
    elif leaf.not_after - now < EXPIRY_WARNING:
        days = (leaf.not_after - now).days
        problems.append(Problem(CF, f"{cert_file} expires in {days} day(s), on "
                                f"{format_utc(leaf.not_after)}", "renew it soon: nothing renews "
                                "an own certificate automatically", warning=True))


def _chain_problems(certs: list[CertInfo], cert_file: str, now: datetime,
                    problems: list[Problem]) -> None:
    """The issuers after the server certificate: present (a lone certificate is self-signed
    or misses its intermediates), in order, in date, and known to this machine's CA store."""
    leaf = certs[0]
    if len(certs) == 1:
        if leaf.self_signed:
            problems.append(Problem(CF, f"{cert_file} is self-signed ({leaf.subject}), not "
                                    "issued by a certificate authority: browsers warn and "
                                    "the Jitsi mobile apps refuse to connect",
                                    "use a certificate from a CA, with its chain, or choose "
                                    "cert.mode = 'letsencrypt' (or 'self-signed' knowingly)"))
        elif not _trusted_by_system(cert_file):
            problems.append(Problem(CF, f"{cert_file} holds only the server certificate: the "
                                    f"intermediate certificate(s) of {leaf.issuer} are missing "
                                    "(mobile apps refuse an incomplete chain)",
                                    "append the intermediates after the server certificate "
                                    "(the CA's 'full chain' file)"))
        return
    for number, (child, parent) in enumerate(zip(certs, certs[1:]), 1):
        if child.issuer != parent.subject:
            problems.append(Problem(CF, f"the chain in {cert_file} is out of order or "
                                    f"incomplete: certificate {number + 1} ({parent.subject}) "
                                    f"did not issue certificate {number}, which names "
                                    f"{child.issuer} as its issuer",
                                    "order the file: server certificate, then each issuer "
                                    "in turn"))
            return
    for parent in certs[1:]:
        if parent.not_after <= now:
            problems.append(Problem(CF, f"the intermediate {parent.subject} in {cert_file} "
                                    f"expired on {format_utc(parent.not_after)}",
                                    "download the CA's current chain"))
    if not problems and not _trusted_by_system(cert_file):
        problems.append(Problem(CF, f"the chain in {cert_file} ends at {certs[-1].issuer}, "
                                "which this machine's CA store does not hold: browsers and "
                                "mobile apps refuse it unless their devices trust that CA",
                                "fine for a private CA your devices trust; otherwise use a "
                                "public CA", warning=True))


def own_cert_problems(answers: Answers, facts: HostFacts, root: Root,
                      now: datetime | None = None) -> list[Problem]:
    """validate_own for the answers' files, read under `root` (openssl needs real paths, so a
    Root and not any FileView)."""
    cert, key = answers.cert.cert_file, answers.cert.key_file
    relative = [Problem(field, f"{path} is not an absolute path",
                        f"give the full path, starting with / (e.g. /etc/ssl/{what})")
                for field, path, what in (("cert.cert_file", cert, "meet.crt"),
                                          ("cert.key_file", key, "meet.key"))
                if path and not path.startswith("/")]
    if relative:
        return relative
    # root.real: links followed inside the root, never out to this machine's files.
    real_cert, real_key = str(root.real(cert)), str(root.real(key))
    problems = validate_own(real_cert, real_key, cert_hostname(answers, facts), now=now)
    if root.is_real:
        return problems
    # Under --root (the demo, a lab) say the paths as the host names them, not where the
    # tree happens to be on this machine.
    base = str(root.base).rstrip("/")

    def said(text: str) -> str:
        return text.replace(real_cert, cert).replace(real_key, key).replace(base + "/", "/")

    return [Problem(p.field, said(p.message), said(p.hint), p.line, p.warning)
            for p in problems]


# --- the host name a certificate is for --------------------------------------------------------


def still_good(pem: str | None, hostname: str, days: int = 30) -> bool:
    """Whether a certificate covers `hostname` and stays valid for more than `days` days:
    worth keeping rather than replacing."""
    info = read_cert(pem) if pem else None
    if info is None:
        return False
    now = datetime.now(timezone.utc)
    return (info.covers(hostname) and info.not_before <= now
            and (info.not_after - now).days > days)
