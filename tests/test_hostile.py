"""Hostile answers files: a corpus generated from categories (injections into every string
key, garbage per key, numbers, structure, unreadable files), each replayed through the CLI in
process. Every one must exit 2 naming its key, print no traceback, finish within a bound and
leave the tree byte-identical. A few cases that could hang (a FIFO) run as real processes
with a timeout."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jitsiwizard import fixtures
from jitsiwizard.cli.main import main

from .conftest import CANARY, snapshot

HOST = "meet.example.org"
PER_CASE = 3.0  # seconds: a refusal is immediate; this only catches a read that hangs

LDAP = {
    "host.hostname": HOST,
    "host.email": "admin@example.org",
    "cert.mode": "self-signed",
    "auth.policy": "ldap",
    "auth.guests": True,
    "auth.ldap.url": "ldaps://ldap.example.org:636",
    "auth.ldap.bind_dn": "cn=jitsi,ou=services,dc=example,dc=org",
    "auth.ldap.bind_password": "env:JW_TEST_LDAP_PW",
    "auth.ldap.user_base": "ou=people,dc=example,dc=org",
    "auth.ldap.user_filter": "(objectClass=inetOrgPerson)",
    "auth.ldap.username_attribute": "uid",
    "auth.ldap.name_attribute": "cn",
    "auth.ldap.scope": "subtree",
    "auth.ldap.test_user": "alice",
    "auth.ldap.test_password": "env:JW_TEST_LDAP_PW",
    "firewall.ssh_port": 22,
}
LOCAL = {
    "host.hostname": HOST,
    "cert.mode": "self-signed",
    "auth.policy": "local",
    "auth.users[0].name": "alice",
    "auth.users[0].password": "env:JW_TEST_LDAP_PW",
}
OWN = {"host.hostname": HOST, "cert.mode": "own", "cert.cert_file": "/etc/ssl/meet.crt",
       "cert.key_file": "/etc/ssl/meet.key", "auth.policy": "open"}


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        out = []
        for ch in value:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 0x20 or ord(ch) == 0x7F:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    raise TypeError(value)


def to_toml(flat: dict) -> str:
    """Flat key paths ("auth.ldap.url", "auth.users[0].name") to TOML text; a value that
    is a `Raw` is written as it is."""
    tables: dict[str, list[str]] = {}
    for path, value in flat.items():
        table, key = path.rsplit(".", 1)
        text = value.text if isinstance(value, Raw) else toml_value(value)
        tables.setdefault(table, []).append(f"{key} = {text}")
    out = []
    for table, lines in tables.items():
        header = f"[[{table[:-3]}]]" if table.endswith("[0]") else f"[{table}]"
        out.append(header + "\n" + "\n".join(lines) + "\n")
    return "\n".join(out)


class Raw:
    def __init__(self, text: str):
        self.text = text


# Strings that break out of a line, a quote or a terminal, put into the middle of a value.
INJECTIONS = [
    "\nExecStartPre=/bin/sh -c id\n",
    "\n",
    "\r",
    "\x00",
    "\x0b",  # VT
    "\x0c",  # FF
    "\x1b[2J",  # ESC
    "\x7f",
    "\u2028",
    "\u2029",
    "\u200b",  # zero width space (a format character)
    "\u202e",  # right-to-left override
    "\t",
]
STRING_KEYS = [
    (LDAP, "host.hostname"), (LDAP, "host.email"), (LDAP, "auth.ldap.url"),
    (LDAP, "auth.ldap.bind_dn"), (LDAP, "auth.ldap.bind_password"),
    (LDAP, "auth.ldap.user_base"), (LDAP, "auth.ldap.user_filter"),
    (LDAP, "auth.ldap.username_attribute"), (LDAP, "auth.ldap.name_attribute"),
    (LDAP, "auth.ldap.scope"), (LDAP, "auth.ldap.test_user"),
    (LDAP, "auth.ldap.test_password"), (LDAP, "auth.ldap.ca_file"),
    (LOCAL, "auth.users[0].name"), (LOCAL, "auth.users[0].password"),
    (OWN, "cert.cert_file"), (OWN, "cert.key_file"), (LDAP, "cert.acme_server"),
    (LDAP, "host.public_address"), (LDAP, "host.local_address"), (LDAP, "auth.policy"),
    (LDAP, "cert.mode"),
]
PLAIN = {"auth.ldap.bind_password": "bind-secret-1", "auth.ldap.test_password": "test-pw-1",
         "auth.users[0].password": "alice-pw-1", "auth.ldap.ca_file": "/etc/ssl/ldap-ca.pem",
         "cert.acme_server": "https://acme.example.org/directory",
         "host.public_address": "203.0.113.5", "host.local_address": "10.0.0.5"}


def _injected() -> list[tuple[str, dict, str]]:
    cases = []
    for base, key in STRING_KEYS:
        value = PLAIN.get(key, base.get(key))
        for i, bad in enumerate(INJECTIONS):
            middle = len(value) // 2
            answers = dict(base, **{key: value[:middle] + bad + value[middle:]})
            if key == "host.public_address":
                answers["host.local_address"] = "10.0.0.5"
            cases.append((f"inject-{key}-{i}", answers, key))
    return cases


# Values each key must refuse, beyond control characters.
GARBAGE = {
    "host.hostname": ["meet", "meet..example.org", "-meet.example.org", "meet-.example.org",
                      "meet.example.123", "203.0.113.5", "*.example.org", "meet example.org",
                      "meet.example.org;id", "a" * 64 + ".example.org", "a." * 130 + "org",
                      "meet_x.example.org", "meet.example.org/x", "xn--.example.org",
                      "meet.exa\u00admple.org", "m\u00e9et\u0301\u0000.org", "", "   ",
                      "meet.example.org:443", "[::1]", "meet.example.org\\"],
    "host.email": ["admin", "admin@", "@example.org", "admin@example", "a b@example.org",
                   "admin@@example.org", "admin@example.org,evil@x.org", "<admin@x.org>"],
    "auth.ldap.url": [
        "ldaps://ldap.example.org/?cn", "ldaps://ldap.example.org/dc=x?uid?sub",
        "ldaps://ldap.example.org#frag", "ldaps://ldap.example.org/#x", "ldaps://*",
        "ldaps://ldap(.example.org", 'ldaps://ldap".example.org', "ldaps://ldap;id",
        "ldaps://a,b", "ldaps://" + "a" * 5000, "ldaps://user@ldap.example.org",
        "ldaps://user:pw@ldap.example.org", "ldaps://ldap.example.org:0",
        "ldaps://ldap.example.org:65536", "ldaps://ldap.example.org:99999999",
        "ldaps://ldap.example.org:", "ldaps://ldap.example.org:-1", "http://ldap.example.org",
        "ldapi://%2fvar%2frun%2fslapd.sock", "ldaps://", "ldaps://[::1", "ldaps://[zz::1]",
        "ldaps://ldap .example.org", "ldaps:/ldap.example.org", "ldap.example.org",
        "ldaps://ldap.example.org:636/extra", "ldaps://ldap%2eexample.org",
        "ldaps://-ldap.example.org", "ldaps://ldap.example.org:６３６", "ldaps://ldap..org"],
    "auth.ldap.bind_password": ["", " leading", "trailing ", "x" * 1025, "env:",
                                "env:JW_UNSET_VARIABLE_X", "env:BAD-NAME", "env:JW_EMPTY",
                                "env:JW_NEWLINE", "file:relative/path", "file:/dev/null",
                                "file:/dev/zero", "file:/dev/urandom", "file:/",
                                "file:/nonexistent/secret", "file:/proc/self/fd/0"],
    "auth.ldap.bind_dn": ["cn", "=x", "cn=", "cn=a,,dc=x", "c n=a", "cn=a," + "x" * 2000],
    "auth.ldap.user_base": ["", "people", "ou=", "ou=a,=b"],
    "auth.ldap.user_filter": ["uid=x", "(uid=x", "(uid=x))", "()", "(uid=x)(cn=y)",
                              "((uid=x)", "(=x)"],
    "auth.ldap.username_attribute": ["", "u id", "1uid", "uid;x", "uid)(cn=*"],
    "auth.ldap.name_attribute": ["", "c n", "-cn"],
    "auth.ldap.scope": ["", "sub", "SUBTREE", "one"],
    "auth.ldap.ca_file": ["relative/ca.pem", "/etc/../../etc/shadow", "/../../etc/shadow",
                          "/etc/ssl/", "/etc/ssl", "/dev/zero", "/dev/urandom",
                          "/proc/self/environ",
                          "/etc/ssl/./ca.pem", "/etc//ssl/ca.pem", "/nonexistent/ca.pem",
                          "/etc/passwd", "/" + "a" * 2000],
    "auth.users[0].name": ["Alice", "a b", "alice@example.org", "-alice", ".alice", "",
                           "a" * 65, "al/ice", "al:ice", "ælice"],
    "auth.users[0].password": ["", "env:JW_EMPTY", "file:/dev/null", "x" * 2000, " x",
                               "file:/dev/zero"],
    "cert.cert_file": ["relative.pem", "/etc/ssl/../../../outside.pem", "/dev/zero",
                       "/etc/ssl/", "/nonexistent.pem", "/etc/passwd"],
    "cert.key_file": ["relative.key", "/etc/../../outside.key", "/dev/urandom", "/"],
    "cert.acme_server": ["http://acme.example.org/dir", "https://", "ftp://x",
                         "https://acme.example.org/a b", "staging2", "https://a\"b"],
    "cert.mode": ["", "own-cert", "letsencrypt2"],
    "auth.policy": ["", "none", "LDAP"],
    "host.public_address": ["10.0.0.1", "256.1.1.1", "example.org", "fe80::1%eth0",
                            "203.0.113.5/24"],
    "host.local_address": ["example.org", "10.0.0.256", "fe80::1%eth0;id"],
}
BASE_OF = {key: base for base, key in STRING_KEYS}


def _garbage() -> list[tuple[str, dict, str]]:
    cases = []
    for key, values in GARBAGE.items():
        base = BASE_OF[key]
        for i, value in enumerate(values):
            answers = dict(base, **{key: value})
            if key == "host.public_address":
                answers["host.local_address"] = "10.0.0.5"
            cases.append((f"garbage-{key}-{i}", answers, key))
    return cases


def _numbers() -> list[tuple[str, dict, str]]:
    values = ["0", "-1", "65536", "99999999999", "9" * 5000, "9" * 4000, "1e999", "inf",
              "nan", "22.5", '"22"', "true", "[22]", "{a = 1}", "0x10000", "-0x1"]
    return [(f"number-{i}", dict(LDAP, **{"firewall.ssh_port": Raw(v)}), "firewall.ssh_port")
            for i, v in enumerate(values)]


def _types() -> list[tuple[str, dict, str]]:
    cases = []
    for key in ("host.hostname", "auth.ldap.url", "auth.ldap.bind_password", "auth.guests",
                "auth.ldap.starttls", "cert.agree_tos", "auth.ldap.ca_file",
                "auth.ldap.user_base"):
        for i, raw in enumerate(["1", "[1, 2]", "{x = 1}", "2024-01-01", '["a", 1]']):
            if key == "auth.ldap.url" and raw == "[1, 2]":
                continue
            cases.append((f"type-{key}-{i}", dict(LDAP, **{key: Raw(raw)}), key))
    return cases


def _structure() -> list[tuple[str, str, str]]:
    """(name, raw TOML text, key named)."""
    good = to_toml(LDAP)
    deep = "x = " + "[" * 5000 + "]" * 5000
    mid = "x = " + "[" * 40 + "]" * 40
    return [
        ("deep-array", f"[host]\nhostname = \"{HOST}\"\n{deep}\n", "(file)"),
        ("deep-inline", "a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n", "(file)"),
        ("mid-depth", f"[host]\nhostname = \"{HOST}\"\n{mid}\n", "(file)"),
        ("deep-tables", "[" + ".".join(["a"] * 40) + "]\nx = 1\n", "(file)"),
        ("unknown-section", good + "\n[hoast]\nx = 1\n", "hoast"),
        ("unknown-key", good.replace("[host]\n", "[host]\nhostnam = \"x\"\n"), "host.hostnam"),
        ("control-key", good.replace("[host]\n", '[host]\n"a\\nb" = 1\n'), "host."),
        ("host-not-table", 'host = "meet.example.org"\n', "host"),
        ("host-array-of-tables", "[[host]]\nhostname = \"x\"\n", "host"),
        ("users-not-list", good.replace('policy = "ldap"', 'policy = "local"\nusers = 1'),
         "auth.users"),
        ("ldap-not-table", 'auth = {policy = "ldap", ldap = 1}\n[host]\nhostname = '
         f'"{HOST}"\n', "auth.ldap"),
        ("bad-toml", "[host\nhostname = 1\n", "(file)"),
        ("bad-toml-string", '[host]\nhostname = "meet\n', "host.hostname"),
        ("empty", "", "host.hostname"),
        ("bind-dn-no-password", good.replace(
            'bind_password = "env:JW_TEST_LDAP_PW"\n', ""), "auth.ldap.bind_password"),
        ("password-no-bind-dn", good.replace(
            'bind_dn = "cn=jitsi,ou=services,dc=example,dc=org"\n', ""), "auth.ldap.bind_dn"),
        ("plaintext-ldap", good.replace("ldaps://ldap.example.org:636",
                                        "ldap://ldap.example.org").replace(
            "[auth.ldap]\n", "[auth.ldap]\nstarttls = false\n"), "auth.ldap.starttls"),
        ("mixed-schemes", good.replace('url = "ldaps://ldap.example.org:636"',
                                       'url = ["ldaps://a.example.org", "ldap://b.example.org"]'),
         "auth.ldap.url"),
        ("many-urls", good.replace('url = "ldaps://ldap.example.org:636"',
                                   "url = [" + ", ".join(['"ldaps://a.example.org"'] * 40)
                                   + "]"), "auth.ldap.url"),
        ("open-guests", to_toml(dict(LDAP, **{"auth.policy": "open"})), "auth.guests"),
        ("users-twice", to_toml(LOCAL) + '\n[[auth.users]]\nname = "alice"\n'
         'password = "env:JW_TEST_LDAP_PW"\n', "auth.users[1].name"),
        ("letsencrypt-no-tos", to_toml(dict(LDAP, **{"cert.mode": "letsencrypt"})),
         "cert.agree_tos"),
        ("own-no-files", to_toml({"host.hostname": HOST, "cert.mode": "own"}), "cert.cert_file"),
        ("nat-half", to_toml(dict(LDAP, **{"host.public_address": "203.0.113.5"})),
         "host.local_address"),
    ]


def _bytes_cases() -> list[tuple[str, bytes, str]]:
    return [
        ("not-utf8", b"[host]\nhostname = \"\xff\xfe\"\n", "--answers"),
        ("huge", b"# " + b"x" * (2 << 20) + b"\n", "--answers"),
        ("nul-bytes", b"[host]\x00\nhostname = 1\n", "host"),
        ("binary", bytes(range(256)) * 4, "--answers"),
    ]


def corpus() -> list[tuple[str, bytes, str]]:
    """Every hostile file: (name, the file's bytes, the key its error must name)."""
    out = []
    for name, answers, key in _injected() + _garbage() + _numbers() + _types():
        out.append((name, to_toml(answers).encode("utf-8", "surrogatepass"), key))
    for name, text, key in _structure():
        out.append((name, text.encode("utf-8"), key))
    out.extend(_bytes_cases())
    return out


def unreadable_answers_paths(tmp: Path) -> list[tuple[str, str]]:
    """Answers "files" that are not regular files (each read must not block or fill memory)."""
    directory = tmp / "a-directory"
    directory.mkdir(exist_ok=True)
    return [("dev-zero", "/dev/zero"), ("dev-urandom", "/dev/urandom"),
            ("directory", str(directory)), ("missing", str(tmp / "missing.toml")),
            ("dev-null", "/dev/null")]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    root = fixtures.build(base / "root")
    ssl = root / "etc/ssl"
    ssl.mkdir(parents=True, exist_ok=True)
    (ssl / "not-pem.pem").write_text("hello\n")
    return base, root


def _replay(path: str, root: Path, capsys) -> tuple[int, str, float]:
    start = time.monotonic()
    code = main(["--answers", path, "--root", str(root), "--simulate", "--skip-checks"])
    elapsed = time.monotonic() - start
    captured = capsys.readouterr()
    return code, captured.out + captured.err, elapsed


def test_the_corpus_is_large_and_its_bases_are_accepted(tree, capsys, monkeypatch):
    """The generated corpus holds 400+ files; the valid answers each category mutates do
    replay (so every refusal below is the mutation's)."""
    assert len(corpus()) >= 400
    base, root = tree
    for name, flat in (("ldap", LDAP), ("local", LOCAL)):
        path = base / f"valid-{name}.toml"
        path.write_text(to_toml(flat))
        path.chmod(0o600)
        fresh = fixtures.build(base / f"fresh-{name}")
        code, output, _ = _replay(str(path), fresh, capsys)
        assert code == 0, output


def test_every_hostile_answers_file_is_refused(tree, capsys, monkeypatch):
    base, root = tree
    monkeypatch.setenv("JW_EMPTY", "")
    monkeypatch.setenv("JW_NEWLINE", "first\nsecond")
    before = snapshot(root, include_state=True)
    failures, slowest, total = [], 0.0, 0
    started = time.monotonic()
    for index, (name, data, key) in enumerate(corpus()):
        path = base / f"case-{index}.toml"
        path.write_bytes(data)
        path.chmod(0o600)
        code, output, elapsed = _replay(str(path), root, capsys)
        slowest = max(slowest, elapsed)
        total += 1
        problems = []
        if code != 2:
            problems.append(f"exit {code}")
        if key not in output:
            problems.append(f"{key} not named")
        if "Traceback" in output or "report this" in output:
            problems.append("traceback")
        if elapsed > PER_CASE:
            problems.append(f"took {elapsed:.1f} s")
        if CANARY in output:
            problems.append("printed the password")
        if problems:
            failures.append(f"{name}: {', '.join(problems)}: {output[-300:]!r}")
    assert snapshot(root, include_state=True) == before
    assert not failures, f"{len(failures)} of {total}:\n" + "\n".join(failures[:40])
    print(f"\nhostile corpus: {total} files, all exit 2; slowest {slowest:.2f} s; "
          f"all {time.monotonic() - started:.1f} s")


def test_unreadable_answers_files_are_refused_without_reading_them(tree, capsys):
    base, root = tree
    before = snapshot(root, include_state=True)
    for name, path in unreadable_answers_paths(base):
        code, output, elapsed = _replay(path, root, capsys)
        assert code == 2, (name, output)
        assert "--answers" in output and "Traceback" not in output
        assert elapsed < PER_CASE
    assert snapshot(root, include_state=True) == before


def _run_cli(args: list[str], env: dict | None = None, timeout: float = 30):
    return subprocess.run([sys.executable, "-m", "jitsiwizard", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=Path(__file__).parent.parent,
                          env=dict(os.environ, **(env or {})))


def test_a_fifo_is_refused_without_waiting_for_a_writer(tree, tmp_path):
    """As the answers file, a file: secret and a CA file: a FIFO nobody writes to. A real
    process, with a timeout: a blocking open would hang it."""
    base, root = tree
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    inside = root / "etc/ssl/ca-fifo.pem"
    before = snapshot(root, include_state=True)  # (snapshot reads files: not a FIFO)
    os.mkfifo(inside)
    try:
        as_answers = _run_cli(["--answers", str(fifo), "--root", str(root), "--simulate",
                               "--skip-checks"])
        assert as_answers.returncode == 2 and "FIFO" in as_answers.stderr, as_answers.stderr
        secret = tmp_path / "secret.toml"
        secret.write_text(to_toml(dict(LDAP, **{"auth.ldap.bind_password": f"file:{fifo}"})))
        as_secret = _run_cli(["--answers", str(secret), "--root", str(root), "--simulate",
                              "--skip-checks"])
        assert as_secret.returncode == 2 and "auth.ldap.bind_password" in as_secret.stderr
        ca = tmp_path / "ca.toml"
        ca.write_text(to_toml(dict(LDAP, **{"auth.ldap.ca_file": "/etc/ssl/ca-fifo.pem"})))
        as_ca = _run_cli(["--answers", str(ca), "--root", str(root), "--simulate",
                          "--skip-checks"])
        assert as_ca.returncode == 2 and "auth.ldap.ca_file" in as_ca.stderr, as_ca.stderr
        assert "FIFO" in as_ca.stderr
        assert "Traceback" not in as_answers.stderr + as_secret.stderr + as_ca.stderr
        assert stat.S_ISFIFO(os.lstat(inside).st_mode)
    finally:
        inside.unlink()
    assert snapshot(root, include_state=True) == before


def test_check_timeout_must_be_finite(tmp_path):
    answers = tmp_path / "a.toml"
    answers.write_text(to_toml(LDAP))
    for value in ("inf", "nan", "1e308", "-1", "0"):
        code = main(["check", "--answers", str(answers), "--timeout", value])
        assert code == 2, value


def test_huge_secret_file_is_refused_unread(tree, tmp_path, capsys):
    base, root = tree
    big = tmp_path / "big.secret"
    with open(big, "wb") as fh:
        fh.truncate(100 << 20)  # 100 MB, sparse
    path = tmp_path / "a.toml"
    path.write_text(to_toml(dict(LDAP, **{"auth.ldap.bind_password": f"file:{big}"})))
    code, output, elapsed = _replay(str(path), root, capsys)
    assert code == 2 and "auth.ldap.bind_password" in output and elapsed < PER_CASE
    assert re.search(r"at most \d+ are read", output)
