"""The root is a boundary: under --root DIR nothing is read or written outside DIR. A state
directory linked out of it is refused (exit 2) before anything is written; links inside the
tree are followed as on the host the tree is (an absolute target names a path under DIR), and
a link that climbs above DIR is refused."""

from __future__ import annotations

import os

import pytest

from jitsiwizard.cli.main import main
from jitsiwizard.errors import UserError
from jitsiwizard.rootfs import Root, RootEscape

from .conftest import answers_toml, snapshot

OUTSIDE_TEXT = "outside-line-1\nOUTSIDE-LAST-LINE password = not-for-you\n"


def _answers(tmp_path, policy="ldap", guests=True):
    path = tmp_path / "a.toml"
    path.write_text(answers_toml(policy, guests))
    path.chmod(0o600)
    return str(path)


def _listing(directory):
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.mark.parametrize("linked", ["var/lib/jitsi-wizard", "var/lib"])
def test_a_state_directory_linked_out_of_the_root_is_refused(make_root, tmp_path, capsys,
                                                             linked):
    root = make_root()
    outside = tmp_path / "outside"
    outside.mkdir()
    link = root / linked
    if link.exists():
        os.rename(link, outside / "moved")  # keep what was there, outside
    before_outside = _listing(outside)
    os.symlink(str(outside), link)
    before = snapshot(root, include_state=True)
    for argv in (["--answers", _answers(tmp_path)], ["rollback"], ["runs"],
                 ["plan", "--answers", _answers(tmp_path)]):
        code = main([*argv, "--root", str(root), "--simulate", "--skip-checks"]
                    if argv[0] == "--answers" else [*argv, "--root", str(root)]
                    + (["--simulate"] if argv[0] == "rollback" else []))
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert "outside the root" in err and f"/{linked}" in err and "Traceback" not in err
    assert _listing(outside) == before_outside  # no lock, run or backup written there
    assert snapshot(root, include_state=True) == before


def test_planning_never_reads_a_file_outside_the_root(make_root, tmp_path, capsys):
    root = make_root()
    secret_file = tmp_path / "outside.conf"
    secret_file.write_text(OUTSIDE_TEXT)
    jicofo = root / "etc/jitsi/jicofo/jicofo.conf"
    jicofo.unlink()
    os.symlink(str(secret_file), jicofo)  # absolute: under --root it means ROOT + that path
    code = main(["plan", "--answers", _answers(tmp_path), "--root", str(root)])
    out = capsys.readouterr()
    assert "OUTSIDE-LAST-LINE" not in out.out + out.err
    assert "Traceback" not in out.err
    assert code in (0, 2)
    assert secret_file.read_text() == OUTSIDE_TEXT


def test_a_link_climbing_above_the_root_is_refused(make_root, tmp_path, capsys):
    root = make_root()
    secret_file = tmp_path / "outside.conf"
    secret_file.write_text(OUTSIDE_TEXT)
    jicofo = root / "etc/jitsi/jicofo/jicofo.conf"
    jicofo.unlink()
    os.symlink(os.path.relpath(secret_file, jicofo.parent), jicofo)
    before = snapshot(root, include_state=True)
    code = main(["--answers", _answers(tmp_path), "--root", str(root), "--simulate",
                 "--skip-checks"])
    out = capsys.readouterr()
    assert code == 2, out.err
    assert "climbs above the root" in out.err and "OUTSIDE-LAST-LINE" not in out.out + out.err
    assert snapshot(root, include_state=True) == before
    assert secret_file.read_text() == OUTSIDE_TEXT


def test_root_resolves_links_inside_itself(tmp_path):
    base = tmp_path / "r"
    (base / "etc/a").mkdir(parents=True)
    (base / "etc/a/file").write_text("inside\n")
    os.symlink("/etc/a", base / "etc/abs")  # absolute: the root's /etc/a
    os.symlink("../a/file", base / "etc/a/rel")
    os.symlink("../../../../../../../../etc/passwd", base / "etc/up")
    root = Root(base)
    assert root.read_text("/etc/abs/file") == "inside\n"
    assert root.read_text("/etc/a/rel") == "inside\n"
    assert root.resolve("/etc/abs/file") == "/etc/a/file"
    with pytest.raises(RootEscape):
        root.read_text("/etc/up")
    os.symlink(str(tmp_path), base / "out")
    with pytest.raises(UserError, match="outside the root"):
        root.path("/out/x")


def test_reads_refuse_fifos_and_devices_without_blocking(tmp_path):
    base = tmp_path / "r"
    (base / "etc").mkdir(parents=True)
    os.mkfifo(base / "etc/fifo")
    os.symlink("/dev/zero", base / "etc/zero")  # the root's /dev/zero, not this machine's
    root = Root(base)
    with pytest.raises(UserError, match="FIFO"):
        root.read_text("/etc/fifo")
    assert root.read_text("/etc/zero") is None
    os.makedirs(base / "dev")
    os.symlink("/dev/zero", base / "dev/zero")  # a link to itself, as the root sees it
    with pytest.raises(RootEscape, match="too many levels"):
        root.read_text("/etc/zero")
    big = base / "etc/big"
    with open(big, "wb") as fh:
        fh.truncate(64 << 20)
    with pytest.raises(UserError, match="at most"):
        root.read_text("/etc/big")


def test_a_host_config_file_that_is_a_fifo_is_refused_at_once(make_root, tmp_path, capsys):
    root = make_root()
    config = root / "etc/jitsi/meet/meet.example.org-config.js"
    config.unlink()
    os.mkfifo(config)  # nobody writes to it: a blocking read would hang the plan
    code = main(["plan", "--answers", _answers(tmp_path), "--root", str(root)])
    err = capsys.readouterr().err
    assert code == 2 and "meet.example.org-config.js" in err and "FIFO" in err
    assert "Traceback" not in err


def test_file_secrets_are_read_where_the_answers_give_them_not_under_the_root(
        make_root, tmp_path, capsys):
    """--root DIR stands for the host's files; the answers file and the `file:` secrets it
    names are the admin's inputs, read at the paths given (as `bridge add`'s printed
    commands put them: /root/bridge-NAME.secret on the machine that runs the wizard)."""
    root = make_root()
    outside = tmp_path / "inputs" / "ldap.secret"
    outside.parent.mkdir()
    outside.write_text("from-the-real-path\n")
    outside.chmod(0o600)
    inside_only = "/etc/jitsi-wizard-test-only-under-root.secret"
    (root / inside_only.lstrip("/")).write_text("from-under-the-root\n")
    assert not os.path.exists(inside_only)
    for ref, code, said in ((f"file:{outside}", 0, None),
                            (f"file:{inside_only}", 2, f"secret file {inside_only} does "
                                                       "not exist")):
        answers = tmp_path / "answers.toml"
        answers.write_text(answers_toml("ldap", ldap_password=ref))
        answers.chmod(0o600)
        capsys.readouterr()
        assert main(["plan", "--answers", str(answers), "--root", str(root)]) == code
        err = capsys.readouterr().err
        if said:
            assert said in err and "bind_password" in err
