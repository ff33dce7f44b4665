"""Plans built from files held in memory (MemoryFiles): the same plan as from the tree on disk
for every fixture host and answer set, and no disk read while planning."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

import jitsiwizard
from jitsiwizard import fixtures
from jitsiwizard.answers.load import loads
from jitsiwizard.cli.main import main
from jitsiwizard.errors import UserError
from jitsiwizard.host.facts import HostFacts, read_facts
from jitsiwizard.memfiles import MemoryFiles
from jitsiwizard.paths import JVB_CONF, SSHD_CONFIG
from jitsiwizard.plan.firewall import detect_ssh_port, sshd_ports
from jitsiwizard.plan.meeting import build
from jitsiwizard.plan.steps import FileChange
from jitsiwizard.rootfs import FileView, Root

from .conftest import HOST, answers_toml

USERS = '[[auth.users]]\nname = "alice"\npassword = "env:JW_MEM_ALICE_PW"\n'
LETSENCRYPT_FIREWALL = (
    f'[host]\nhostname = "{HOST}"\nemail = "admin@example.org"\n\n'
    '[cert]\nmode = "letsencrypt"\nagree_tos = true\n\n'
    '[auth]\npolicy = "local"\nguests = true\n\n'
    '[firewall]\nmanage = true\nssh_port = 2200\n')
ANSWER_SETS = {
    "open": answers_toml("open"),
    "local with a user": answers_toml("local", users=USERS),
    "ldap": answers_toml("ldap"),
    "local with guests": answers_toml("local", True, users=USERS),
    "ldap with guests": answers_toml("ldap", True),
    "letsencrypt and firewall": LETSENCRYPT_FIREWALL,
}
HOSTS = {"current": {}, "legacy": {"generation": "legacy"},
         "upgraded in 2021": {"generation": "upgraded"},
         "hand-made ldap2": {"generation": "legacy", "handmade": "ldap2"},
         "secure domain by hand": {"handmade": "secure-domain"}}


@pytest.fixture(autouse=True)
def _alice_password(monkeypatch):
    monkeypatch.setenv("JW_MEM_ALICE_PW", "alice-password")


def load(base: Path) -> MemoryFiles:
    """Every file, link and directory under `base`, as a view held in memory."""
    files: dict[str, str] = {}
    links: dict[str, str] = {}
    modes: dict[str, int] = {"/": stat.S_IMODE(os.stat(base).st_mode)}
    dirs: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            target = "/" + path.relative_to(base).as_posix()
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                links[target] = os.readlink(path)
                continue
            modes[target] = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                dirs.append(target)
            else:
                files[target] = path.read_text(encoding="utf-8", errors="surrogateescape")
    return MemoryFiles(files, links=links, modes=modes, dirs=dirs)


def host_tree(base: Path, **kw) -> Path:
    """A fixture install, plus an sshd config that the firewall planner follows."""
    fixtures.build(base, **kw)
    sshd = base / "etc/ssh"
    (sshd / "sshd_config.d").mkdir(parents=True)
    (sshd / "sshd_config").write_text("Include /etc/ssh/sshd_config.d/*.conf\n")
    (sshd / "sshd_config.d/port.conf").write_text("Port 2200\n")
    return base


def outcome(answers_text: str, facts: HostFacts, files: FileView):
    """What building gives: the plan's steps, notes and rendering, or the refusal."""
    answers = loads(answers_text).answers
    try:
        plan = build(answers, facts, files)
    except UserError as exc:
        return ("refused", exc.message, exc.hint, exc.field)
    stdin = [getattr(getattr(s, "stdin", None), "value", None) for s in plan.steps]
    return ("plan", plan.steps, plan.notes, plan.render(), stdin)


# --- the same plan from memory as from disk ----------------------------------------------------

@pytest.mark.parametrize("answers_name", list(ANSWER_SETS))
@pytest.mark.parametrize("host_name", list(HOSTS))
def test_memory_plans_equal_disk_plans(tmp_path, host_name, answers_name):
    base = host_tree(tmp_path / "root", **HOSTS[host_name])
    root = Root(base)
    facts = read_facts(root)
    from_disk = outcome(ANSWER_SETS[answers_name], facts, root)
    assert outcome(ANSWER_SETS[answers_name], facts, load(base)) == from_disk


@pytest.mark.parametrize("answers_name", list(ANSWER_SETS))
def test_memory_plans_equal_disk_plans_on_a_configured_host(tmp_path, answers_name):
    """After a run: files the wizard manages, links it made, modes it set, all compared."""
    base = host_tree(tmp_path / "root")
    first = tmp_path / "first.toml"
    first.write_text(ANSWER_SETS["ldap with guests"])
    assert main(["--answers", str(first), "--root", str(base), "--simulate",
                 "--skip-checks"]) == 0
    root = Root(base)
    facts = read_facts(root)
    assert facts.managed  # the rerun guard reads what the wizard wrote
    from_disk = outcome(ANSWER_SETS[answers_name], facts, root)
    assert outcome(ANSWER_SETS[answers_name], facts, load(base)) == from_disk


def test_a_file_in_memory_changes_the_plan():
    """The plan reads the view it is given: text changed in memory shows up in its steps."""
    facts = HostFacts(os_id="debian", os_version="12", hostname=HOST, generation="current",
                      prosody_host_file=f"/etc/prosody/conf.avail/{HOST}.cfg.lua",
                      config_js=f"/etc/jitsi/meet/{HOST}-config.js",
                      letsencrypt_script=None)
    host_file = fixtures.CURRENT_HOST_CFG.replace("HOST", HOST)
    files = {facts.prosody_host_file: host_file, facts.config_js: fixtures.CONFIG_JS,
             JVB_CONF: fixtures.JVB_CONF}
    answers = loads(answers_toml("open")).answers
    answers.host.public_address, answers.host.local_address = "198.51.100.7", "10.0.0.7"
    plan = build(answers, facts, MemoryFiles(files))
    (nat,) = [s for s in plan.steps if isinstance(s, FileChange) and s.path == JVB_CONF]
    assert nat.before == fixtures.JVB_CONF and "198.51.100.7" in nat.content


# --- the planner does not touch the disk --------------------------------------------------------

_seen: list[str] | None = None  # what the audit hook records while armed
_hooked = False
_TRUSTED = tuple(str(Path(p).resolve()) for p in (
    Path(jitsiwizard.__file__).parent, sys.prefix, sys.base_prefix, sys.exec_prefix))


def _audit(event: str, args: tuple) -> None:
    if _seen is not None and event in ("open", "os.listdir", "os.scandir"):
        path = args[0] if args else None
        if isinstance(path, (str, bytes, os.PathLike)):
            _seen.append(f"{event} {os.fsdecode(path)}")


def _disk_reads(call) -> list[str]:
    """What `call` opened or listed on disk, outside this package and Python itself."""
    global _seen, _hooked
    if not _hooked:  # an audit hook stays for the process; it records only while armed
        sys.addaudithook(_audit)
        _hooked = True
    _seen = []
    try:
        call()
    finally:
        seen, _seen = _seen, None
    return [s for s in seen
            if not os.path.realpath(s.split(" ", 1)[1]).startswith(_TRUSTED)]


def test_a_plan_from_memory_needs_no_directory_at_all(tmp_path):
    base = host_tree(tmp_path / "root")
    root = Root(base)
    facts = read_facts(root)
    answers = loads(LETSENCRYPT_FIREWALL).answers
    from_disk = build(answers, facts, root)
    files = load(base)
    # The detector works: planning from the tree reads it.
    assert any(str(root.base) in read
               for read in _disk_reads(lambda: build(answers, facts, root)))

    shutil.rmtree(base)
    plans = []
    assert _disk_reads(lambda: plans.append(build(answers, facts, files))) == []
    (from_memory,) = plans
    assert from_memory.steps == from_disk.steps and from_memory.notes == from_disk.notes
    assert from_memory.render() == from_disk.render()
    assert not base.exists()


# --- MemoryFiles behaves as a Root -----------------------------------------------------------

def small_tree(base: Path) -> Path:
    """Files, modes, relative links (to a file, a directory, nowhere) and an empty directory."""
    (base / "etc/app/conf.d").mkdir(parents=True)
    (base / "etc/app/main.conf").write_text("main\n")
    (base / "etc/app/secret.conf").write_text("secret\n")
    (base / "etc/app/secret.conf").chmod(0o600)
    (base / "etc/app/conf.d/a.conf").write_text("a\n")
    (base / "etc/app/conf.d/b.txt").write_text("b\n")
    (base / "etc/app/conf.d/main.conf").symlink_to("../main.conf")
    (base / "etc/app/conf.d/gone.conf").symlink_to("../nowhere.conf")
    (base / "etc/app/linked").symlink_to("conf.d")
    (base / "var/empty").mkdir(parents=True)
    return base


PROBES = ["/", "/etc", "/etc/app", "/etc/app/main.conf", "/etc/app/secret.conf",
          "/etc/app/conf.d", "/etc/app/conf.d/a.conf", "/etc/app/conf.d/main.conf",
          "/etc/app/conf.d/gone.conf", "/etc/app/linked", "/etc/app/linked/a.conf",
          "/etc/app/linked/main.conf", "/etc/app/linked/../main.conf", "/etc/app/missing",
          "/etc/app/main.conf/below", "/var/empty", "/var/empty/none"]
GLOBS = [("/etc/app/conf.d", "*.conf"), ("/etc/app/conf.d", "*"), ("/etc/app/linked", "?.*"),
         ("/etc/app", "*.conf"), ("/etc/app/main.conf", "*"), ("/nowhere", "*"),
         ("/var/empty", "*"), ("/", "e*")]


def test_memory_files_answer_as_the_root_does(tmp_path):
    root = Root(small_tree(tmp_path / "root"))
    memory = load(root.base)
    for path in PROBES:
        for method in ("read_text", "exists", "readlink", "mode"):
            assert getattr(memory, method)(path) == getattr(root, method)(path), (method, path)
    for directory, pattern in GLOBS:
        assert memory.glob(directory, pattern) == root.glob(directory, pattern), directory


def test_memory_files_defaults_absolute_links_and_loops():
    memory = MemoryFiles({"/etc/a.conf": "a", "/srv/b.conf": "b"},
                         links={"/etc/to-b": "/srv/b.conf", "/etc/loop": "/etc/loop",
                                "/etc/srv": "/srv"}, modes={"/srv/b.conf": 0o100600})
    assert memory.mode("/etc/a.conf") == 0o644 and memory.mode("/etc") == 0o755
    # Absolute targets resolve inside the view, as on the host itself.
    assert memory.read_text("/etc/to-b") == "b" and memory.mode("/etc/to-b") == 0o600
    assert memory.glob("/etc/srv", "*.conf") == ["/etc/srv/b.conf"]
    assert memory.read_text("/etc/loop") is None and memory.exists("/etc/loop")
    assert memory.readlink("/etc/loop") == "/etc/loop"
    with pytest.raises(ValueError):
        memory.read_text("etc/a.conf")
    with pytest.raises(ValueError):
        MemoryFiles({"/etc/a": "file"}, dirs=["/etc/a"])


def test_sshd_ports_read_from_memory():
    files = MemoryFiles({SSHD_CONFIG: "Include sshd_config.d/*.conf\nPort 22\n",
                         "/etc/ssh/sshd_config.d/10-port.conf": "Port 2200\n"})
    assert sshd_ports(files) == [2200, 22]
    assert detect_ssh_port(files, {}) == 2200
    assert detect_ssh_port(MemoryFiles({}), {}) is None
