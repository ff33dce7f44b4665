"""Answers that describe the host as it is now: a rerun of the wizard starts from them, so
switching the auth policy is a few keystrokes."""

from __future__ import annotations

from jitsiwizard.answers.model import Answers, LdapAnswers, LocalUser
from jitsiwizard.host import prosody_auth
from jitsiwizard.host.facts import HostFacts


def cert_mode_from_facts(facts: HostFacts) -> str:
    path = facts.cert_file or ""
    if path.startswith("/etc/letsencrypt/"):
        return "certbot"
    if facts.hostname and path == f"/etc/jitsi/meet/{facts.hostname}.crt":
        return "self-signed"  # what the package made; the Let's Encrypt helper writes here too
    return "own" if path else "letsencrypt"


def answers_from_facts(facts: HostFacts) -> Answers:
    answers = Answers()
    answers.host.hostname = facts.hostname or ""
    answers.cert.mode = cert_mode_from_facts(facts)
    if answers.cert.mode == "own":
        answers.cert.cert_file = facts.cert_file or ""
        answers.cert.key_file = facts.key_file or ""
    policy = facts.policy if facts.policy in ("open", "local", "ldap") else "open"
    answers.auth.policy = policy
    answers.auth.guests = facts.guests and policy != "open"
    answers.auth.users = [LocalUser(name) for name in sorted(facts.users)]
    if facts.ldap and facts.ldap.backend == "ldap":
        ldap = LdapAnswers(bind_dn=facts.ldap.bind_dn, user_base=facts.ldap.base)
        servers = facts.ldap.server.split()
        ldap.urls = [s if "://" in s else f"ldap://{s}" for s in servers]
        ldap.starttls = bool(facts.ldap.tls)
        # Plain ldap:// without StartTLS is what the host runs: clear text was allowed.
        ldap.allow_plaintext = not ldap.starttls and bool(ldap.urls) and all(
            url.lower().startswith("ldap://") for url in ldap.urls)
        ldap.user_filter, ldap.username_attribute = prosody_auth.split_filter(facts.ldap.filter)
        answers.auth.ldap = ldap
    return answers
