"""The plans of `bridge add` and `bridge remove` on the main host. Pure like the other
planners: the session (workflow/bridges.py) checks the input, reads the registry and this
host's certificate, and makes the passwords.

`bridge add`: the bridge's own account of auth.HOST, 5222/tcp opened to its address (when the
wizard manages the firewall), the first time an account that may look into the brewery (for
`bridge list`), and the new host's answers and password, kept 0600 under BRIDGES_DIR until
the admin copies them; the registry records the bridge. `bridge remove` takes that away
again, and with the last bridge what `bridge add` set up for all of them."""

from __future__ import annotations

import json
import posixpath
from typing import TYPE_CHECKING

from jitsiwizard.answers.spec import CHECKER_ACCOUNT
from jitsiwizard.host.prosody_auth import password_stdin, register_argv, unregister_argv
from jitsiwizard.paths import BRIDGES_DIR, BRIDGES_FILE, PROSODY_DATA
from jitsiwizard.plan.videobridge import XMPP_PORT

if TYPE_CHECKING:
    from jitsiwizard.plan.builder import Builder

CHECKER = CHECKER_ACCOUNT  # the main host's account that looks into the brewery
CHECKER_SECRET = f"{BRIDGES_DIR}/{CHECKER}.secret"
ON_BRIDGE = "/root"  # where the admin copies the bridge's files on the new host


def registry_text(entries: list[dict]) -> str:
    """bridges.json holding `entries`, as the wizard writes it (host/bridges.py reads it)."""
    return json.dumps({"bridges": entries}, indent=2, sort_keys=True) + "\n"


def bridge_paths(name: str) -> tuple[str, str]:
    """(answers file, secret file) kept for the new host, both 0600."""
    return (f"{BRIDGES_DIR}/{name}/bridge-{name}.toml",
            f"{BRIDGES_DIR}/{name}/bridge-{name}.secret")


def account_dir(main: str) -> str:
    """Where Prosody keeps the accounts of auth.MAIN."""
    from jitsiwizard.host.facts import prosody_data_dir

    return f"{PROSODY_DATA}/{prosody_data_dir(f'auth.{main}')}"


def ufw_rule(address: str) -> list[str]:
    """The ufw rule words for `address` as check_address wrote it; ufw takes no %zone, so a
    link-local address's zone becomes the interface the rule holds for."""
    base, _, zone = address.partition("%")
    on = ["in", "on", zone] if zone else []
    return [*on, "from", base, "to", "any", "port", str(XMPP_PORT), "proto", "tcp"]


def bridge_answers_text(host: str, name: str, fingerprint: str) -> str:
    """The answers file for the new bridge host: this host as its main, its account, its
    password by reference (the file beside it, copied to ON_BRIDGE), the certificate pinned."""
    from jitsiwizard.answers.model import Answers, BridgeAnswers
    from jitsiwizard.answers.save import dumps
    from jitsiwizard.answers.secrets import Secret

    password = Secret(f"file:{ON_BRIDGE}/bridge-{name}.secret", "")  # saved as its reference
    text, _ = dumps(Answers(role="videobridge", bridge=BridgeAnswers(
        main=host, username=name, password=password, main_certificate_sha256=fingerprint)))
    return text


def add_steps(b: Builder, host: str, name: str, address: str, *, password: str,
              checker: str | None, fingerprint: str, entries: list[dict],
              firewall: bool) -> None:
    """`bridge add NAME --address ADDRESS`: `password` is the bridge's, `checker` the
    brewery account's when it has none yet, `fingerprint` this host's certificate for
    auth.HOST, `entries` the registry, `firewall` whether the wizard manages ufw here."""
    from jitsiwizard.answers.secrets import Secret

    accounts = account_dir(host)
    jid = f"{name}@auth.{host}"
    b.command(register_argv(name, f"auth.{host}"), f"create {jid}, the bridge's own account",
              stdin=password_stdin(Secret("generated", password)), snapshot=(accounts,),
              timeout=60)
    if firewall:
        rule = ufw_rule(address)
        b.command(["ufw", "allow", *rule], f"let {address} reach Prosody ({XMPP_PORT}/tcp)",
                  timeout=30, undo=["ufw", "delete", "allow", *rule])
    else:
        b.note(f"the wizard does not manage this host's firewall: let {address} reach "
               f"{XMPP_PORT}/tcp (and only that address)")
    if checker is not None:
        b.command(register_argv(CHECKER, f"auth.{host}"), "an account that only looks who is "
                  "in the brewery (for `bridge list`)",
                  stdin=password_stdin(Secret("generated", checker)), snapshot=(accounts,),
                  timeout=60)
        b.file(CHECKER_SECRET, checker + "\n", "its password", mode=0o600, secret=True)
    answers_path, secret_path = bridge_paths(name)
    b.file(secret_path, password + "\n", f"the password of {jid}, to copy to the bridge host",
           mode=0o600, secret=True)
    b.file(answers_path, bridge_answers_text(host, name, fingerprint),
           f"the answers for the bridge host {name}", mode=0o600)
    b.file(BRIDGES_FILE, registry_text(entries + [
        {"name": name, "address": address, "firewall": firewall}]),
        f"record bridge {name}", mode=0o600)
    b.refuse_hand_edits()


def remove_steps(b: Builder, host: str, name: str, address: str, rule: list[str] | None,
                 entries: list[dict]) -> None:
    """`bridge remove NAME`: `address` as the registry recorded it, `rule` the ufw rule
    `bridge add` made for it (None: it made none), `entries` the registry."""
    b.command(unregister_argv(name, f"auth.{host}"), f"delete {name}@auth.{host}: the bridge "
              "can no longer log in", snapshot=(account_dir(host),), timeout=60)
    if rule is not None:
        b.command(["ufw", "delete", "allow", *rule], f"close {XMPP_PORT}/tcp to {address}",
                  timeout=30, undo=["ufw", "allow", *rule])
    answers_path, secret_path = bridge_paths(name)
    for path in (answers_path, secret_path):
        b.file(path, None, f"the bridge {name}'s file is no longer needed",
               secret=path == secret_path)
    b.file(posixpath.dirname(answers_path), None, f"the bridge {name}'s folder, now empty")
    rest = [e for e in entries if e.get("name") != name]
    if rest:
        b.file(BRIDGES_FILE, registry_text(rest), f"forget bridge {name}", mode=0o600)
    else:
        _remove_the_last(b, host, name)
    b.refuse_hand_edits()


def _remove_the_last(b: Builder, host: str, name: str) -> None:
    """With the last bridge, what `bridge add` set up for all of them goes too."""
    b.file(BRIDGES_FILE, None, f"forget bridge {name}, the last one")
    if b.files.exists(CHECKER_SECRET):
        b.command(unregister_argv(CHECKER, f"auth.{host}"), f"delete {CHECKER}@auth.{host}: "
                  "with no bridge left, `bridge list` has nothing to look for",
                  snapshot=(account_dir(host),), timeout=60)
        b.file(CHECKER_SECRET, None, "its password", secret=True)
    b.file(BRIDGES_DIR, None, "the bridges' folder, now empty")
