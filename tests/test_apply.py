"""The transaction engine on tmp roots: apply, rollback, staleness, verifiers, services,
secrets, and the command runner."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jitsiwizard.answers.secrets import Redactor, Secret
from jitsiwizard.apply import (
    STATE_DIR,
    apply,
    list_runs,
    managed_checksums,
    rollback,
)
from jitsiwizard.apply.runner import Runner
from jitsiwizard.apply.verifiers import VERIFIERS
from jitsiwizard.errors import UserError
from jitsiwizard.plan.steps import (
    Command,
    FileChange,
    Plan,
    RemovePath,
    Service,
    Symlink,
    TargetPath,
    Verify,
)
from jitsiwizard.rootfs import Root
from tests.apply_support import (
    fake_systemctl,
    make_root,
    sample_host,
    sample_steps,
    systemctl_state,
    tree_state,
)
from tests.lab.proc import is_gone, wait_for


def _verify_ok(root, runner, args):
    return True, "all good"


def _verify_fails(root, runner, args):
    return False, f"nothing answers on port {args.get('port')}"


def _verify_file_says(root, runner, args):
    text = root.read_text(args["path"]) or ""
    return args["word"] in text, f"{args['path']} does not say {args['word']}"


@pytest.fixture(autouse=True, scope="module")
def _test_verifiers():
    """This module's verifiers, in the table apply looks names up in, for its tests only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(VERIFIERS, "apply-test-ok", _verify_ok)
        patch.setitem(VERIFIERS, "apply-test-fails", _verify_fails)
        patch.setitem(VERIFIERS, "apply-test-file-says", _verify_file_says)
        yield


@pytest.fixture
def host(tmp_path):
    return sample_host(tmp_path)


def _run_dir(root: Root, run_id: str) -> Path:
    return root.path(STATE_DIR) / "runs" / run_id


# -- apply and rollback -----------------------------------------------------------------------


def test_apply_every_step_kind_then_rollback_restores_tree(host):
    base, root, runner, state_file = host
    before = tree_state(base)
    outcome = apply(Plan(sample_steps(root, state_file)), root, runner, redact=Redactor())
    assert outcome.status == "applied", outcome.error
    # The conf.d link is kept and the file behind it edited in place.
    assert os.readlink(base / "etc/prosody/conf.d/meet.example.org.cfg.lua").startswith("../")
    host_file = base / "etc/prosody/conf.avail/meet.example.org.cfg.lua"
    assert "internal_hashed" in host_file.read_text()
    assert stat.S_IMODE(host_file.stat().st_mode) == 0o640 and host_file.stat().st_gid == 4322
    # A new file gets the step's mode, and owner and group from the root's passwd and group.
    extra = (base / "etc/jitsi/meet/new/dir/extra.js").stat()
    assert (stat.S_IMODE(extra.st_mode), extra.st_uid, extra.st_gid) == (0o640, 4321, 4400)
    assert os.readlink(base / "etc/ssl/current.pem") == "/etc/ssl/new.pem"
    assert not (base / "etc/old.conf").exists()
    accounts = base / "var/lib/prosody/meet%2eexample%2eorg/accounts"
    assert sorted(p.name for p in accounts.iterdir()) == ["bob.dat"]
    assert tree_state(base) != before

    undone = rollback(root, runner, redact=Redactor())
    assert (undone.run_id, undone.status, undone.rollback_errors) == \
        (outcome.run_id, "rolled-back", [])
    assert tree_state(base) == before
    calls = systemctl_state(state_file)["calls"]
    assert ["enable", "undo-marker"] in calls  # the command's undo ran
    restarts = [c for c in calls if c[0] == "restart"]
    assert "internal_hashed" in restarts[0][2]  # the run's restart saw the new file
    assert "jitsi-anonymous" in restarts[-1][2]  # rollback restarted it on the restored file
    assert [(r.run_id, r.status) for r in list_runs(root)] == [(outcome.run_id, "rolled-back")]


NAMES = ("a", "b.conf", "c.lua")
DIRS = ("etc", "etc/x", "etc/x/y", "srv")
LINK_TARGETS = ("a", "../a", "/etc/a", "/etc/x", "/nowhere", "x/b.conf")
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r"), max_size=40)
MODES = st.sampled_from([0o600, 0o640, 0o644, 0o755, 0o4755])

TREE = st.tuples(
    st.dictionaries(st.sampled_from(DIRS), st.sampled_from([0o755, 0o750, 0o700])),
    st.lists(st.tuples(
        st.sampled_from(DIRS), st.sampled_from(NAMES),
        st.one_of(st.tuples(st.just("file"), st.one_of(st.binary(max_size=40), TEXT), MODES,
                            st.sampled_from([0, 4321])),
                  st.tuples(st.just("link"), st.sampled_from(LINK_TARGETS)))),
        max_size=8),
)


def _build(base: Path, tree) -> None:
    dir_modes, entries = tree
    for directory in DIRS:
        if directory in dir_modes or directory.startswith("etc"):
            (base / directory).mkdir(parents=True, exist_ok=True)
            os.chmod(base / directory, dir_modes.get(directory, 0o755))
    for directory, name, spec in entries:
        path = base / directory / name
        if not (base / directory).is_dir() or os.path.lexists(path):
            continue
        if spec[0] == "file":
            data = spec[1] if isinstance(spec[1], bytes) else spec[1].encode()
            path.write_bytes(data)
            os.chown(path, spec[3], spec[3])
            os.chmod(path, spec[2])
        else:
            os.symlink(spec[1], path)


def _draw_steps(data, root: Root, base: Path) -> list:
    state = tree_state(base)
    files = sorted("/" + p for p, v in state.items()
                   if v[0] == "file" and p not in ("etc/passwd", "etc/group"))
    links = sorted("/" + p for p, v in state.items() if v[0] == "link")
    steps: list = []
    for index in range(data.draw(st.integers(1, 6), label="steps")):
        kinds = ["create", "link", "touch", "rmtree", "mkdirp"]
        kinds += ["edit", "chmod"] if files else []
        kinds += ["remove"] if files or links else []
        kind = data.draw(st.sampled_from(kinds), label="kind")
        directory = "/" + data.draw(st.sampled_from(DIRS), label="dir")
        if kind == "edit":
            path = data.draw(st.sampled_from(files))
            steps.append(FileChange(path, data.draw(TEXT), "edit", before=root.read_text(path),
                                    mode=data.draw(st.sampled_from([None, 0o600])),
                                    owner=data.draw(st.sampled_from([None, "jitsi"]))))
        elif kind == "create":
            path = data.draw(st.sampled_from([f"{directory}/new{index}",
                                              f"{directory}/d{index}/e/new"]))
            steps.append(FileChange(path, data.draw(TEXT), "create",
                                    mode=data.draw(st.sampled_from([None, 0o640])),
                                    group=data.draw(st.sampled_from([None, "ssl-cert"]))))
        elif kind == "remove":
            path = data.draw(st.sampled_from(files + links))
            steps.append(RemovePath(path, "remove", before=root.read_text(path)
                                    if path in files else None))
        elif kind == "link":
            path = data.draw(st.sampled_from(links + [f"{directory}/l{index}",
                                                      f"{directory}/n{index}/link"]))
            steps.append(Symlink(path, data.draw(st.sampled_from(LINK_TARGETS)), "link"))
        elif kind == "touch":
            steps.append(Command(["touch", TargetPath(f"{directory}/t{index}")], "touch",
                                 snapshot=(directory,), timeout=10))
        elif kind == "rmtree":
            steps.append(Command(["rm", "-rf", TargetPath(directory)], "rm", timeout=10,
                                 snapshot=(directory,)))
        elif kind == "chmod":
            path = data.draw(st.sampled_from(files))
            steps.append(Command(["chmod", "000", TargetPath(path)], "chmod",
                                 snapshot=(path,), timeout=10))
        else:
            made = f"/srv/m{index}/deep"
            steps.append(Command(["mkdir", "-p", TargetPath(made)], "mkdir", snapshot=(made,),
                                 timeout=10))
    if data.draw(st.booleans(), label="fail at the end"):
        steps.append(Command(["false"], "fails", timeout=10))
    return steps


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=TREE, data=st.data())
def test_property_apply_then_rollback_gives_original_tree(tree, data):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root = make_root(base)
        _build(base, tree)
        before = tree_state(base)
        steps = _draw_steps(data, root, base)
        runner = Runner(root)
        outcome = apply(Plan(steps), root, runner, redact=Redactor())
        event(outcome.status)
        if outcome.status == "applied":
            assert not isinstance(steps[-1], Command) or steps[-1].argv != ["false"]
            rollback(root, runner, redact=Redactor())
        else:
            assert outcome.status == "rolled-back" and outcome.error
        assert tree_state(base) == before
        assert list_runs(root)[-1].status == "rolled-back"


@pytest.mark.parametrize("command, ok_codes, message", [
    (["false"], (0,), "exited with code 1"),
    ([sys.executable, "-c", "import sys; sys.stderr.write('disk full\\n'); sys.exit(3)"], (0,),
     "exited with code 3: disk full"),
    ([sys.executable, "-c", "import time; time.sleep(30)"], (0,), "timed out after 0.3s"),
    (["/nonexistent/program"], (0,), "command not found"),
])
def test_failing_command_rolls_back_earlier_steps(host, command, ok_codes, message):
    base, root, runner, state_file = host
    before = tree_state(base)
    steps = sample_steps(root, state_file)
    steps.insert(4, Command(command, "fails", ok_codes=ok_codes, timeout=0.3))
    outcome = apply(Plan(steps), root, runner, redact=Redactor())
    assert (outcome.status, outcome.failed_step) == ("rolled-back", 5)
    assert message in outcome.error
    assert tree_state(base) == before
    log = Path(outcome.log_path).read_text()
    assert "failed at step 5" in log and "rolled back" in log


def test_exit_code_in_ok_codes_is_success(host):
    base, root, runner, _ = host
    step = Command([sys.executable, "-c", "import sys; sys.exit(3)"], "exits 3", ok_codes=(0, 3))
    assert apply(Plan([step]), root, runner, redact=Redactor()).status == "applied"


def test_verify_failure_without_fallback_rolls_back(host):
    base, root, runner, _ = host
    before = tree_state(base)
    steps = [FileChange("/etc/new.conf", "x = 1\n", "new"),
             Verify("apply-test-ok", "it works"),
             Verify("apply-test-fails", "the port answers", args={"port": 4443})]
    outcome = apply(Plan(steps), root, runner, redact=Redactor())
    assert (outcome.status, outcome.failed_step) == ("rolled-back", 3)
    assert "nothing answers on port 4443" in outcome.error
    assert tree_state(base) == before


def test_verify_failure_with_fallback_runs_it_in_place(host):
    base, root, runner, _ = host
    before = tree_state(base)
    fallback = [FileChange("/etc/cert-mode", "self-signed\n", "fall back to self-signed",
                           before="letsencrypt\n"),
                Verify("apply-test-file-says", "fallback written",
                       args={"path": "/etc/cert-mode", "word": "self-signed"})]
    steps = [FileChange("/etc/cert-mode", "letsencrypt\n", "try Let's Encrypt"),
             Verify("apply-test-fails", "certificate issued", args={"port": 80},
                    otherwise=fallback, why_otherwise="using a self-signed certificate"),
             FileChange("/etc/after", "done\n", "after")]
    events: list = []
    outcome = apply(Plan(steps), root, runner, redact=Redactor(),
                    on_event=lambda *event: events.append(event))
    assert outcome.status == "applied", outcome.error
    assert (base / "etc/cert-mode").read_text() == "self-signed\n"
    assert (base / "etc/after").exists()
    assert len(outcome.fallbacks) == 1
    assert "nothing answers on port 80" in outcome.fallbacks[0]
    assert "self-signed certificate" in outcome.fallbacks[0]
    assert ("fallback", 2) in [e[:2] for e in events]
    assert "fallback: certificate issued" in Path(outcome.log_path).read_text()
    rollback(root, runner, redact=Redactor())
    assert tree_state(base) == before


def test_failure_inside_fallback_rolls_back_everything(host):
    base, root, runner, _ = host
    before = tree_state(base)
    steps = [FileChange("/etc/one", "1\n", "one"),
             Verify("apply-test-fails", "check", otherwise=[
                 FileChange("/etc/two", "2\n", "two"), Command(["false"], "fallback fails")])]
    outcome = apply(Plan(steps), root, runner, redact=Redactor())
    assert (outcome.status, outcome.failed_step) == ("rolled-back", 2)
    assert tree_state(base) == before


@pytest.mark.parametrize("change", ["edited", "deleted", "created"])
def test_stale_plan_is_refused(host, change):
    base, root, runner, _ = host
    config = base / "etc/jitsi/meet/config.js"
    steps = [FileChange("/etc/first", "1\n", "first"),
             FileChange("/etc/jitsi/meet/config.js", "var config = {};\n", "rewrite",
                        before=config.read_text()),
             FileChange("/etc/jitsi/meet/brand-new.js", "x\n", "new")]
    if change == "edited":
        config.write_text("// edited by hand\n" + config.read_text())
    elif change == "deleted":
        config.unlink()
    else:
        (base / "etc/jitsi/meet/brand-new.js").write_text("made by hand\n")
    before = tree_state(base)
    outcome = apply(Plan(steps), root, runner, redact=Redactor())
    assert outcome.status == "rolled-back"
    assert "plan is out of date" in outcome.error
    assert ("config.js" if change != "created" else "brand-new.js") in outcome.error
    assert tree_state(base) == before


def test_replan_runs_install_steps_first(host):
    base, root, runner, _ = host
    before = tree_state(base)
    installed = "/etc/jicofo/jicofo.conf"
    install = Command([sys.executable, "-c",
                       "import os, sys; os.makedirs(os.path.dirname(sys.argv[1]));"
                       "open(sys.argv[1], 'w').write('jicofo {}\\n')", TargetPath(installed)],
                      "install jicofo", phase="install", snapshot=(installed,))
    stale = FileChange(installed, "never used\n", "planned before install", before=None)
    seen: list = []

    def replan() -> Plan:
        current = root.read_text(installed)
        seen.append(current)
        return Plan([FileChange(installed, current + "jicofo.auth {}\n", "configure",
                                before=current)])

    source = FileChange("/etc/apt/sources.list.d/jitsi.list", "deb https://x stable/\n",
                        "apt source the install needs")
    outcome = apply(Plan([source, install, stale]), root, runner, redact=Redactor(),
                    replan=replan)
    assert outcome.status == "applied", outcome.error
    assert seen == ["jicofo {}\n"]
    assert (base / "etc/apt/sources.list.d/jitsi.list").exists()
    assert (base / "etc/jicofo/jicofo.conf").read_text() == "jicofo {}\njicofo.auth {}\n"
    rollback(root, runner, redact=Redactor())
    assert tree_state(base) == before


def test_unusable_state_directory_is_a_user_error(tmp_path):
    root = make_root(tmp_path)
    (tmp_path / "var/lib/jitsi-wizard").write_text("not a directory\n")
    with pytest.raises(UserError, match="cannot use the state directory"):
        apply(Plan([FileChange("/etc/x", "x\n", "x")]), root, Runner(root), redact=Redactor())
    assert not (tmp_path / "etc/x").exists()


def test_nothing_to_do():
    root = Root(tempfile.gettempdir())
    outcome = apply(Plan([]), root, Runner(root), redact=Redactor())
    assert (outcome.status, outcome.run_id) == ("nothing-to-do", "")


# -- runs, ordering, managed checksums ------------------------------------------------------


def test_managed_checksums_and_rollback_order(host):
    base, root, runner, _ = host
    assert managed_checksums(root) == {}
    first = apply(Plan([FileChange("/etc/a.conf", "a1\n", "a"),
                        FileChange("/etc/b.conf", "b1\n", "b")]),
                  root, runner, redact=Redactor(), answers_text='[host]\nhostname = "x"\n')
    after_first = managed_checksums(root)
    assert set(after_first) == {"/etc/a.conf", "/etc/b.conf"}
    import hashlib

    assert after_first["/etc/a.conf"] == hashlib.sha256(b"a1\n").hexdigest()
    second = apply(Plan([RemovePath("/etc/a.conf", "drop a", before="a1\n"),
                         FileChange("/etc/b.conf", "b2\n", "b", before="b1\n")]),
                   root, runner, redact=Redactor())
    assert managed_checksums(root) == {"/etc/b.conf": hashlib.sha256(b"b2\n").hexdigest()}
    assert [r.run_id for r in list_runs(root)] == [first.run_id, second.run_id]

    with pytest.raises(UserError) as refused:
        rollback(root, runner, first.run_id, redact=Redactor())
    assert second.run_id in refused.value.message

    assert rollback(root, runner, redact=Redactor()).run_id == second.run_id
    assert managed_checksums(root) == after_first
    assert rollback(root, runner, first.run_id, redact=Redactor()).status == "rolled-back"
    assert managed_checksums(root) == {}
    assert not (base / "etc/a.conf").exists() and not (base / "etc/b.conf").exists()
    with pytest.raises(UserError, match="no run to roll back"):
        rollback(root, runner, redact=Redactor())
    with pytest.raises(UserError, match="already rolled back"):
        rollback(root, runner, first.run_id, redact=Redactor())

    run_dir = _run_dir(root, first.run_id)
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((run_dir / "answers.toml").stat().st_mode) == 0o600
    assert stat.S_IMODE((run_dir / "run.log").stat().st_mode) == 0o600
    assert (run_dir / "answers.toml").read_text() == '[host]\nhostname = "x"\n'


def test_rollback_keeps_a_later_hand_edit(host):
    base, root, runner, _ = host
    target = base / "etc/jitsi/meet/config.js"
    original = target.read_text()
    outcome = apply(Plan([FileChange("/etc/jitsi/meet/config.js", "var config = {a: 1};\n", "a",
                                     before=original)]), root, runner, redact=Redactor())
    target.write_text("var config = {a: 1, edited: true};\n")
    with pytest.raises(UserError, match="edited: true"):  # refused, showing the edit
        rollback(root, runner, redact=Redactor())
    assert target.read_text() == "var config = {a: 1, edited: true};\n"
    done = rollback(root, runner, redact=Redactor(), force=True)
    assert target.read_text() == original
    kept = list((_run_dir(root, outcome.run_id) / "backup").glob("edited-*"))
    assert [p.read_text() for p in kept] == ["var config = {a: 1, edited: true};\n"]
    assert done.kept == [("/etc/jitsi/meet/config.js", str(kept[0]))]


def test_links_are_resolved_inside_the_root(host):
    base, root, runner, _ = host
    # An absolute link must lead to the root's /etc/ssl, never the host's.
    os.symlink("/etc/ssl", base / "etc/ssl-alias")
    step = FileChange("/etc/ssl-alias/old.pem", "NEW CERT\n", "replace cert",
                      before="OLD CERT\n")
    assert apply(Plan([step]), root, runner, redact=Redactor()).status == "applied"
    assert (base / "etc/ssl/old.pem").read_text() == "NEW CERT\n"
    assert (base / "etc/ssl-alias").is_symlink()


def test_services_put_back_as_they_were(host):
    base, root, runner, state_file = host
    fake = [sys.executable, str(Path(runner.systemctl[1])), str(state_file)]
    units = {"prosody": {"enabled": True, "active": True},
             "coturn": {"enabled": False, "active": False}}
    fake_systemctl(runner, state_file, units,
                   watch={"prosody": str(base / "etc/prosody/conf.avail/meet.example.org.cfg.lua")})
    before = tree_state(base)
    steps = sample_steps(root, state_file)[:1] + [
        Service("prosody", "restart", "restart prosody"),
        Service("coturn", "restart", "start coturn"),
        Command([*fake, "enable", "coturn"], "enable coturn"),
        Service("coturn", "reload", "reload coturn"),
        Command(["false"], "fails"),
    ]
    outcome = apply(Plan(steps), root, runner, redact=Redactor())
    assert outcome.status == "rolled-back" and outcome.rollback_errors == []
    state = systemctl_state(state_file)
    assert state["units"] == units
    assert tree_state(base) == before
    new_host = (base / "etc/prosody/conf.avail/meet.example.org.cfg.lua").read_text()
    assert new_host == before["etc/prosody/conf.avail/meet.example.org.cfg.lua"][4].decode()
    changed_host = new_host.replace("jitsi-anonymous", "internal_hashed")
    assert state["calls"] == [
        # apply: each service's state is recorded once, before its first change
        ["is-enabled", "prosody"], ["is-active", "prosody"], ["restart", "prosody", changed_host],
        ["is-enabled", "coturn"], ["is-active", "coturn"], ["restart", "coturn"],
        ["enable", "coturn"], ["reload", "coturn"],
        # rollback: after the files are restored, back to running/stopped, enabled/disabled
        ["restart", "prosody", new_host], ["is-enabled", "prosody"], ["is-active", "prosody"],
        ["stop", "coturn"], ["is-enabled", "coturn"], ["is-active", "coturn"],
        ["disable", "coturn"],
    ]


def test_failed_service_restart_fails_the_step(host):
    base, root, runner, state_file = host
    fake_systemctl(runner, state_file, {"jicofo": {"enabled": True, "active": True,
                                                   "broken": True}})
    outcome = apply(Plan([Service("jicofo", "restart", "restart")]), root, runner,
                    redact=Redactor())
    assert outcome.status == "rolled-back"
    assert "restart jicofo failed (exit 1): Job for jicofo.service failed." in outcome.error


# -- secrets --------------------------------------------------------------------------------


CANARY = 'Zq7"canary\\Pw'


def test_secret_never_reaches_logs_journal_state_or_terminal(host, capfd):
    base, root, runner, _ = host
    secret = Secret("env:LDAP_BIND_PASSWORD", CANARY)
    redact = Redactor()
    redact.add_secret(secret)
    runner.log = print  # the runner has no redactor of its own: apply must cover it
    echo = ("import sys; data = sys.stdin.read(); print('got ' + data);"
            "sys.stderr.write('bad password ' + data + '\\n'); sys.exit(int(sys.argv[1]))")
    config = f"bind_dn = cn=admin\nbind_password = {CANARY}\n"
    first = apply(Plan([
        FileChange("/etc/prosody/ldap.cfg.lua", config, "ldap", mode=0o640,
                   secret_keys=("bind_password",)),
        Command([sys.executable, "-c", echo, "0"], "set password", stdin=secret),
    ]), root, runner, redact=redact, on_event=lambda kind, n, text: print(kind, n, text))
    assert first.status == "applied"
    assert (base / "etc/prosody/ldap.cfg.lua").read_text() == config
    second = apply(Plan([
        FileChange("/etc/prosody/ldap.cfg.lua", config + "x = 1\n", "ldap", before=config,
                   secret_keys=("bind_password",)),
        Command([sys.executable, "-c", echo, "1"], "set password", stdin=secret),
    ]), root, runner, redact=redact, on_event=lambda kind, n, text: print(kind, n, text))
    assert second.status == "rolled-back"
    assert "bad password <redacted>" in second.error
    out, err = capfd.readouterr()
    assert "got <redacted>" in out
    for run in (first, second):
        run_dir = _run_dir(root, run.run_id)
        for name in ("run.log", "journal.jsonl", "state.json"):
            text = (run_dir / name).read_text()
            assert text and CANARY not in text, name
        for path in (run_dir / "backup").iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert CANARY not in out + err + repr(first) + repr(second)


# -- the runner -----------------------------------------------------------------------------


def test_runner_simulate_records_without_running(tmp_path):
    root = make_root(tmp_path)
    lines: list = []
    runner = Runner(root, simulate=True, log=lines.append)
    result = runner.run(["touch", TargetPath("/etc/made")], timeout=5)
    assert (result.code, result.simulated) == (0, True)
    assert not (tmp_path / "etc/made").exists()
    assert runner.service_state("prosody") == {"enabled": None, "active": None}
    assert runner.service("prosody", "restart").simulated
    assert runner.recorded == [["touch", "/etc/made"], ["systemctl", "is-enabled", "prosody"],
                               ["systemctl", "is-active", "prosody"],
                               ["systemctl", "restart", "prosody"]]
    assert lines[0] == f"(simulated) $ touch {tmp_path}/etc/made"


def test_runner_maps_target_paths_feeds_stdin_and_redacts(tmp_path):
    root = make_root(tmp_path)
    redact = Redactor()
    redact.add("hunter2-secret")
    lines: list = []
    runner = Runner(root, log=lines.append, redact=redact)
    script = ("import os, sys; print(sys.argv[1]); print(sys.stdin.read());"
              "print(os.environ['EXTRA'])")
    result = runner.run([sys.executable, "-c", script, TargetPath("/etc/passwd")], timeout=10,
                        stdin=Secret("literal", "hunter2-secret"), env={"EXTRA": "yes"})
    assert result.code == 0
    assert result.stdout.split("\n")[:3] == [str(tmp_path / "etc/passwd"), "hunter2-secret",
                                            "yes"]
    text = "\n".join(lines)
    assert "hunter2-secret" not in text and "<redacted>" in text and "exit 0" in text
    assert "standard input, not logged" in text
    missing = runner.run(["/no/such/program"], timeout=5)
    assert missing.code == 127 and "command not found" in missing.stderr


def test_runner_timeout_kills_the_whole_process_group(tmp_path):
    root = make_root(tmp_path)
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    pid_file = tmp_path / "grandchild.pid"
    script = ("import subprocess, sys; child = subprocess.Popen(['cat', sys.argv[1]]);"
              "open(sys.argv[2], 'w').write(str(child.pid)); child.wait()")
    lines: list = []
    runner = Runner(root, log=lines.append)
    result = runner.run([sys.executable, "-c", script, str(fifo), str(pid_file)], timeout=0.5)
    assert (result.code, result.timed_out) == (124, True)
    assert "timed out after 0.5s: killed (exit 124)" in lines
    grandchild = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 5,
                              "the grandchild's pid"))
    wait_for(lambda: is_gone(grandchild), 5, "the grandchild to be killed")
    assert runner.run(["cat", str(fifo)], timeout=0.5).code == 124


def test_an_immutable_file_is_named_and_the_rollback_reports_no_problem(host):
    """chattr +i: the step fails with a message naming the flag and the command that lifts
    it; the rollback leaves the untouched file alone and reports nothing it could not do."""
    import shutil
    import subprocess

    base, root, runner, _ = host
    target = base / "etc/jitsi/meet/config.js"
    original = target.read_text()
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(target)],
                                        capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available on this filesystem")
    try:
        before = tree_state(base)
        outcome = apply(Plan([FileChange("/etc/x2", "x\n", "x"),
                              FileChange("/etc/jitsi/meet/config.js", "new\n", "a",
                                         before=original)]), root, runner, redact=Redactor())
        assert outcome.status == "rolled-back"
        assert "immutable" in outcome.error and f"chattr -i -a {target}" in outcome.error
        assert outcome.rollback_errors == []
        assert tree_state(base) == before
    finally:
        subprocess.run([chattr, "-i", str(target)], check=True)
