"""Keys in the order they were typed, each acting on the screen the keys before it left.

Over SSH keys arrive in bursts. Textual routes each key to the widget focused when the app
reads it, and the widget handles it later, in its own queue: in `Tab p w`, the `p` and `w`
reach the field Tab leaves; in `Down Down Enter Tab` on a choice, the Tab moves the focus
before the choice has shown the fields it opens (a message handled after the Tab). Timing
decides, so a burst may land anywhere.

Here the app hands every key (and paste) to one queue, and one task routes them: a key goes
to the widget focused at that moment, and the next one waits until the screen has handled it
and everything it set off (every message queued on the app and the screen's widgets handled,
the layout computed, the callbacks waiting for a refresh run), within a bound, so a stuck
widget delays typing by at most that much. Quit keys wait in line too (a quit question must
not describe the host as it was before the keys ahead of it).

It leans on Textual internals (message queues, layout flags), read defensively; the tests in
test_tui_keys.py pin the behaviour on the oldest and newest Textual the suite runs.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import events
from textual.app import App

if TYPE_CHECKING:
    from textual.dom import DOMNode

SETTLE_BOUND = 2.0  # seconds one key may take to settle before the next is routed anyway
# A screen that asks something of the network before it asks the admin (Review asks jicofo
# about meetings, then shows "Apply?") holds the keys behind the one that started it: typed
# ahead, they answer the question. Longer than any such exchange's own bound.
HOLD_BOUND = 15.0
_FRAME = 1 / 60  # how often a callback waiting for a refresh is looked at again


class KeyQueue:
    def __init__(self, app: App):
        self.app = app
        self._queue: asyncio.Queue[events.Event] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._holding = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._route())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    @property
    def holding(self) -> bool:
        """Keys wait for the screen (see HOLD_BOUND)."""
        return self._holding

    @property
    def idle(self) -> bool:
        """Every key put so far has been routed and handled."""
        return self._idle.is_set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def put(self, event: events.Event) -> None:
        self._idle.clear()
        self._queue.put_nowait(event)

    async def settled(self, timeout: float = 10.0) -> None:
        """Until every key the app has received so far has been routed and handled (for
        tests, and callers that must not act behind the admin's typing)."""
        loop = asyncio.get_running_loop()
        marker = loop.create_future()
        if self.app.call_later(_reached, marker):  # behind the keys in the app's queue
            await asyncio.wait_for(marker, timeout)
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def _route(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                # The app's own routing, once the screen is settled (it may have changed
                # since the last key: a check's result shown, a field opened): the key goes
                # to whatever has the focus now.
                await self._settle()
                await App.on_event(self.app, event)
                await self._settle()
                await self._while_held()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a key must never stop the queue
                self.app._handle_exception(error)
            finally:
                if self._queue.empty():
                    self._idle.set()

    async def _settle(self) -> None:
        """Rounds of markers: each widget of the screen runs a callback queued behind the
        messages it has, so once all have run, what was queued before is handled. Handling
        may queue more (a message bubbling to the parent): another round, until a round
        ends with every queue empty and no callback waiting for a refresh."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_BOUND
        while loop.time() < deadline:
            pending: dict[asyncio.Future, DOMNode] = {}
            for node in self._nodes():
                marker = loop.create_future()
                if node.call_later(_reached, marker):
                    pending[marker] = node
            while pending and loop.time() < deadline:
                done, _ = await asyncio.wait(list(pending), timeout=_FRAME)
                for marker in done:
                    pending.pop(marker)
                for marker, node in list(pending.items()):
                    if node._closed or not node.is_attached:  # removed: its queue is gone
                        pending.pop(marker)
            nodes = self._nodes()
            if not any(node.message_queue_size for node in nodes):
                if not _waiting_for_refresh(self.app):
                    return
                await asyncio.sleep(_FRAME)  # the screen's next refresh

    async def _while_held(self) -> None:
        """While the screen says it holds the keys (`holds_keys`), within HOLD_BOUND."""
        if not _holds_keys(self.app):
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOLD_BOUND
        self._holding = True
        try:
            while _holds_keys(self.app) and loop.time() < deadline:
                await asyncio.sleep(_FRAME)
        finally:
            self._holding = False
        await self._settle()  # what the screen did as it let go (a question pushed)

    def _nodes(self) -> list[DOMNode]:
        # The app too: a step change (Next) is a message to the app.
        try:
            screen = self.app.screen
        except Exception:  # no screen (starting or closing)
            return [self.app]
        return [self.app, screen, *screen.walk_children(with_self=False)]


def _reached(marker: asyncio.Future) -> None:
    if not marker.done():
        marker.set_result(None)


def _holds_keys(app: App) -> bool:
    try:
        return bool(getattr(app.screen, "holds_keys", False))
    except Exception:
        return False


def _waiting_for_refresh(app: App) -> bool:
    """A layout the screen has yet to compute (the focus order follows where widgets are
    laid out: a field just shown sits at the top until then), or callbacks it holds until
    its next refresh (call_after_refresh, e.g. a new step's first focus)."""
    try:
        screen = app.screen
    except Exception:
        return False
    return bool(getattr(screen, "_layout_required", False)
                or getattr(screen, "_scroll_required", False)
                or getattr(screen, "_callbacks", None)
                or any(getattr(node, "_layout_required", False)
                       for node in screen.walk_children(with_self=False)))
