"""The host read in a child process while the wizard starts: the same facts as a read in the
process, the same errors, and a read in the process whenever the child fails."""

from __future__ import annotations

import os

import pytest

from jitsiwizard.rootfs import Root, RootEscape
from jitsiwizard.workflow import host_reader
from jitsiwizard.workflow.host_reader import HostReader, read_host_facts
from jitsiwizard.workflow.session import Session


@pytest.fixture
def two_cpus(monkeypatch):
    monkeypatch.setattr(host_reader, "usable_cpus", lambda: 2)


@pytest.mark.parametrize(("generation", "handmade", "policy"), [
    ("current", None, "open"), ("legacy", "ldap2", "ldap"), ("current", "secure-domain", "local")])
def test_the_child_reads_what_the_process_would(make_root, two_cpus, generation, handmade,
                                                policy):
    root = Root(make_root(generation, handmade=handmade))
    reader = HostReader(root)
    assert reader.pid > 0  # a child was started
    facts = reader.facts()
    assert facts == read_host_facts(root)
    assert facts.policy == policy and facts.hostname == "meet.example.org"


def test_the_session_uses_the_prefetched_read_once(make_root, two_cpus):
    session = Session(Root(make_root()))
    session.prefetch_host()
    first = session.read_host()
    assert session._host_reader is None  # consumed: the next read is a fresh one
    assert session.read_host() == first


def test_an_error_in_the_read_is_raised_as_in_the_process(make_root, two_cpus):
    base = make_root()
    (base / "etc/os-release").unlink()
    os.symlink("/etc/os-release", base / "etc/os-release")  # a loop, as the root sees it
    reader = HostReader(Root(base))
    assert reader.pid > 0
    with pytest.raises(RootEscape, match="too many levels"):
        reader.facts()


def test_a_child_that_fails_leaves_the_read_to_the_process(make_root, two_cpus, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no pickling today")

    monkeypatch.setattr(host_reader.pickle, "dumps", broken)  # the child inherits it
    readers: list[int] = []

    def counted(root):
        readers.append(os.getpid())  # only the parent's list is seen here
        return read_host_facts(root)

    monkeypatch.setattr(host_reader, "read_host_facts", counted)
    root = Root(make_root())
    facts = HostReader(root).facts()
    assert readers == [os.getpid()]
    assert facts == read_host_facts(root)


def test_one_cpu_reads_in_the_process(make_root, monkeypatch):
    monkeypatch.setattr(host_reader, "usable_cpus", lambda: 1)
    root = Root(make_root())
    reader = HostReader(root)
    assert reader.pid == 0
    assert reader.facts() == read_host_facts(root)
