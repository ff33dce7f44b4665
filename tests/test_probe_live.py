"""The outside probe reports each port the moment a probe reaches it (`listen(on_reached=)`),
not only when listening ends: real listeners on free loopback ports, the real prober (the
function, and `python -m jitsiwizard probe` in a child process)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading

from jitsiwizard.checks.probe import listen, new_token, probe
from tests.lab.proc import free_port

WIZARD = [sys.executable, "-m", "jitsiwizard"]


async def test_each_port_is_reported_while_the_others_still_listen():
    tcp, udp = (free_port("tcp"), "tcp"), (free_port("udp"), "udp")
    token = new_token()
    ready = asyncio.Event()
    arrived = {tcp: asyncio.Event(), udp: asyncio.Event()}
    calls = []

    def reached(number: int, proto: str, peer: str) -> None:
        calls.append(((number, proto), peer))
        arrived[(number, proto)].set()

    listening = asyncio.ensure_future(listen(
        [tcp, udp], token, timeout=20, settle=20, address="127.0.0.1",
        on_ready=lambda *_: ready.set(), on_reached=reached))
    try:
        await asyncio.wait_for(ready.wait(), 5)
        # A wrong token reaches the port but is not counted.
        assert (await probe("127.0.0.1", "not-it", [udp], timeout=0.5))[0].status == "no_answer"
        assert calls == []

        assert (await probe("127.0.0.1", token, [tcp], timeout=5))[0].status == "reached"
        await asyncio.wait_for(arrived[tcp].wait(), 5)
        # Ticked off while the listener still waits for the UDP port.
        assert not listening.done()
        assert calls == [(tcp, "127.0.0.1")]

        # UDP resends until answered; the port is still reported once.
        assert (await probe("127.0.0.1", token, [udp, tcp], timeout=5))[0].status == "reached"
        await asyncio.wait_for(arrived[udp].wait(), 5)
        outcomes = await asyncio.wait_for(listening, 5)
    finally:
        listening.cancel()
    assert calls == [(tcp, "127.0.0.1"), (udp, "127.0.0.1")]
    # The return value is what it always was.
    assert [(o.port, o.status, o.detail) for o in outcomes] == [
        (tcp, "reached", "from 127.0.0.1"), (udp, "reached", "from 127.0.0.1")]


def test_a_listener_on_another_thread_reports_before_it_returns():
    """As a UI runs it: listen on its own thread and loop, the real `jitsi-wizard probe`
    command from a child process; each report arrives before listen returns."""
    tcp, udp = (free_port("tcp"), "tcp"), (free_port("udp"), "udp")
    token = new_token()
    ready = threading.Event()
    arrived = {tcp: threading.Event(), udp: threading.Event()}
    log: list = []
    lock = threading.Lock()
    outcomes: list = []

    def reached(number: int, proto: str, peer: str) -> None:
        with lock:
            log.append(("reached", (number, proto), peer, threading.current_thread().name))
        arrived[(number, proto)].set()

    def run() -> None:
        outcomes.extend(asyncio.run(listen(
            [tcp, udp], token, timeout=20, settle=20, address="127.0.0.1",
            on_ready=lambda *_: ready.set(), on_reached=reached)))
        with lock:
            log.append(("returned",))

    listener = threading.Thread(target=run, name="probe-listener", daemon=True)
    listener.start()
    try:
        assert ready.wait(5), "the listeners did not open"
        done = subprocess.run(
            [*WIZARD, "probe", "127.0.0.1", token, "--ports",
             f"{tcp[0]}/tcp,{udp[0]}/udp", "--timeout", "5", "--json"],
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert {o["status"] for o in json.loads(done.stdout)} == {"reached"}
        assert arrived[tcp].wait(5) and arrived[udp].wait(5)
    finally:
        listener.join(25)
    assert not listener.is_alive()
    by_proto = sorted(log[:2], key=lambda entry: entry[1][1])
    assert by_proto == [("reached", tcp, "127.0.0.1", "probe-listener"),
                        ("reached", udp, "127.0.0.1", "probe-listener")]
    assert log[2:] == [("returned",)]
    assert {o.status for o in outcomes} == {"reached"}


async def test_cancelling_closes_the_listeners_at_once():
    tcp = (free_port("tcp"), "tcp")
    ready = asyncio.Event()
    listening = asyncio.ensure_future(listen(
        [tcp], new_token(), timeout=60, address="127.0.0.1",
        on_ready=lambda *_: ready.set(), on_reached=lambda *_: None))
    await asyncio.wait_for(ready.wait(), 5)
    listening.cancel()
    await asyncio.gather(listening, return_exceptions=True)
    with socket.socket() as again:  # the port is free again: nothing left listening
        again.bind(("127.0.0.1", tcp[0]))
