"""The pipeline's first stage: claims on a thread of its own while the lanes send.

A claim is a round trip to the database and a few milliseconds of its work. Made by the
dispatcher's own thread, which also keeps every lane's exchange going (``signals.lanes``), it
left every lane idle meanwhile: about a third of a round's time, measured against a receiver
answering from a template. The ``Claimer`` makes the round's top-ups and its looks for new
alarms on its own database connection; the dispatcher's thread starts one, goes on sending and
collecting, and picks the signals up when the claim is done. A socket the claimer writes to
when it is done wakes the lanes' ``poll``, so a claimed alarm is sent as soon as a lane is
free, not when the next reply comes.

One claim at a time. What it raises (the database went away) is raised again in the
dispatcher's thread when the signals are picked up, for the dispatcher's usual recovery; the
claimer's connection is closed then, so the next claim takes a fresh one.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from typing import TYPE_CHECKING

from django.db import connection

if TYPE_CHECKING:
    from signals.dispatcher import Dispatcher
    from signals.models import Signal

_STOP = object()


class Claimer:
    """``start`` a claim, go on, ``take`` its signals once it is done (or ``wait`` for them)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.pending = False
        self._requests: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[tuple[list[Signal], BaseException | None]] = (
            queue.SimpleQueue()
        )
        # Readable once a claim is done: the lanes' poll watches it.
        self.wake, self._waker = socket.socketpair()
        self.wake.setblocking(False)
        self._thread = threading.Thread(
            target=self._run, name=f"dispatcher-claimer-{dispatcher.name}", daemon=True
        )
        self._thread.start()

    def start(self, *, most: int | None = None, limit: int | None = None) -> None:
        """Claim a batch (or ``limit``; with ``most``, of priorities up to that only), in the
        background."""
        assert not self.pending, "one claim at a time"
        self.pending = True
        self._requests.put((most, limit))

    def take(self) -> list[Signal] | None:
        """The claimed signals if the claim is done, else None; raises what the claim raised."""
        self._unwake()
        try:
            outcome = self._results.get_nowait()
        except queue.Empty:
            return None
        return self._picked(outcome)

    def wait(self) -> list[Signal]:
        """The claimed signals, once the claim is done."""
        self._unwake()
        return self._picked(self._results.get())

    def close(self) -> None:
        """End the thread (after the claim it makes, if any) and close its connection."""
        if self._thread.is_alive():
            self._requests.put(_STOP)
            self._thread.join()
        for sock in (self.wake, self._waker):
            sock.close()

    def _unwake(self) -> None:
        """Read what the thread wrote to ``wake`` so far. (It writes after it hands over the
        signals: a byte may come after they were taken, and then only makes the lanes look
        once for nothing.)"""
        with contextlib.suppress(OSError):
            while self.wake.recv(64):
                pass

    def _picked(self, outcome: tuple[list[Signal], BaseException | None]) -> list[Signal]:
        self.pending = False
        signals, error = outcome
        if error is not None:
            raise error
        return signals

    def _run(self) -> None:
        try:
            while (request := self._requests.get()) is not _STOP:
                most, limit = request  # type: ignore[misc]
                try:
                    outcome = (self.dispatcher._claim_more(most=most, limit=limit), None)
                except BaseException as exc:  # raised again in the dispatcher's thread
                    with contextlib.suppress(Exception):
                        connection.close()
                    outcome = ([], exc)
                self._results.put(outcome)
                with contextlib.suppress(OSError):
                    self._waker.send(b"\0")
        finally:
            with contextlib.suppress(Exception):
                connection.close()  # this thread's own connection
