"""The Firewall step's outside probe: Ctrl+L shows the command to run elsewhere and ticks a
port off the moment a real probe reaches it, while still listening for the rest; Ctrl+L
again stops and frees the ports."""

from __future__ import annotations

import socket

from jitsiwizard.checks.probe import probe
from tests.lab.proc import free_port
from tests.test_tui_support import (
    HOST,
    SIZE,
    loaded,
    make_app,
    next_step,
    press,
    screen_text,
    tui_root,
    wait_until,
)


async def test_a_probe_from_outside_is_ticked_off_as_it_arrives(request):
    tcp, udp = (free_port("tcp"), "tcp"), (free_port("udp"), "udp")
    app = make_app(tui_root(request))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        for name in ("hostname", "dns", "firewall"):
            await next_step(pilot, name)
        screen = app.screen
        screen.probe_ports = [tcp, udp]
        screen.probe_address = "127.0.0.1"
        shown = screen.query_one("#probe-text")

        def text() -> str:
            return str(shown.render())

        commands = screen.query_one("#probe-commands")
        await press(pilot, "ctrl+l")
        await wait_until(pilot, lambda: "[WAIT]" in text(), "the listeners")
        command = next(line for line in str(commands.render()).splitlines()
                       if "jitsi-wizard probe" in line)
        assert command.startswith(f"jitsi-wizard probe {HOST} ")
        token = command.split()[3]
        assert command.endswith(f"--ports {tcp[0]}/tcp,{udp[0]}/udp")
        # On screen, the command is one line (cut at the edge, scrolled sideways), never
        # wrapped onto the next: the line after it is the comment before the other one.
        commands.scroll_visible(animate=False)
        await wait_until(pilot, lambda: "# or, without the wizard:" in screen_text(app),
                         "the commands on screen")
        lines = screen_text(app).splitlines()
        at = next(i for i, line in enumerate(lines) if "jitsi-wizard probe" in line)
        assert lines[at].strip().startswith("jitsi-wizard probe")
        assert lines[at + 1].strip() == "# or, without the wizard:"

        # The prober runs on the same loop as the app: the UI keeps serving it meanwhile.
        assert (await probe("127.0.0.1", token, [tcp], timeout=5))[0].status == "reached"
        await wait_until(pilot, lambda: f"[ OK ] {tcp[0]}/tcp: reached from 127.0.0.1"
                         in text(), "the TCP port to be ticked off")
        assert f"[WAIT] {udp[0]}/udp: listening" in text()
        assert commands.parent.display  # still listening: the command stays
        assert str(screen.query_one("#probe").label) == "Stop listening"

        await press(pilot, "ctrl+l")
        await wait_until(pilot, lambda: "Stopped listening." in text(), "the stop")
        assert f"[ OK ] {tcp[0]}/tcp" in text()
        # Nothing says "listening" any more, and the commands are gone.
        assert "[WAIT]" not in text() and f"[STOP] {udp[0]}/udp: not reached" in text()
        assert not commands.parent.display
        assert str(screen.query_one("#probe").label) == "Listen for a probe"
        await wait_until(pilot, lambda: not screen.probe_running(), "the listener to end")
        with socket.socket() as again:  # the listener is closed (the probe's connection
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # may linger)
            again.bind(("127.0.0.1", tcp[0]))
            again.listen(1)
