"""The private-file writer and directory maker every module of the wizard uses for its own
state."""

from __future__ import annotations

import os
import stat

import pytest

from jitsiwizard.apply.fsio import private_dir, write_private


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def loose_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_write_private_replaces_atomically_and_leaves_no_temp_file(tmp_path, loose_umask):
    path = tmp_path / "state.json"
    write_private(path, b"one")
    assert path.read_bytes() == b"one" and _mode(path) == 0o600
    write_private(str(path), b"two" * 100_000, 0o640)
    assert path.read_bytes() == b"two" * 100_000 and _mode(path) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_write_private_replaces_a_link_instead_of_writing_through_it(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"untouched")
    path = tmp_path / "answers.toml"
    path.symlink_to(elsewhere)
    write_private(path, b"secret")
    assert not path.is_symlink() and path.read_bytes() == b"secret"
    assert elsewhere.read_bytes() == b"untouched"


def test_write_private_cleans_up_when_it_cannot_replace(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        write_private(tmp_path / "taken", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    with pytest.raises(FileNotFoundError):
        write_private(tmp_path / "missing" / "file", b"x")


def test_private_dir_makes_0700_directories_and_leaves_existing_parents(tmp_path, loose_umask):
    os.chmod(tmp_path, 0o755)
    leaf = private_dir(tmp_path / "var" / "lib" / "jitsi-wizard")
    assert leaf == tmp_path / "var" / "lib" / "jitsi-wizard"
    for path in (tmp_path / "var", tmp_path / "var" / "lib", leaf):
        assert path.is_dir() and _mode(path) == 0o700
    assert _mode(tmp_path) == 0o755
    os.chmod(leaf, 0o755)
    assert private_dir(str(leaf)) == leaf and _mode(leaf) == 0o700


def test_private_dir_refuses_what_is_not_a_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path)
    for name in ("file", "link"):
        with pytest.raises(NotADirectoryError):
            private_dir(tmp_path / name)
