"""Several receiver connections busy at once: a dispatcher's lanes.

A lane is a thread with connections of its own (one per receiver path, ``Sender`` keeps them
per lane) that sends one signal at a time: the codec builds, the transport moves the bytes and
waits for the reply, the codec reads it. The dispatcher's main thread claims, hands signals to
the lanes in the claim's order (highest priority first), collects the results and passes them
to the recording step.

Why threads, on a 2-core machine: the time a lane spends on one signal is mostly waiting for
the receiver (its answer on loopback takes longer than building and reading the message), and
a blocking socket call releases the GIL, so a few threads keep a few exchanges on the wire
while one of them does Python work. The transports, TLS handshakes and their one-deadline-per-
exchange rule (which the hostile-receiver tests hold them to) are blocking code and stay
exactly as they are; an asyncio rewrite of them would buy nothing the GIL allows on 2 cores.

Per-account order needs nothing from the lanes: a claim never holds two signals of one
account (the next one becomes claimable only once the previous one is recorded), so any two
signals in the lanes at once are of different accounts and may finish in any order.
"""

from __future__ import annotations

import logging
import queue
import threading

from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from signals.models import DeliveryAttempt, Signal
from signals.sending import Attempt, Result, Sender

logger = logging.getLogger(__name__)


class Lanes:
    """``count`` sending threads; ``submit`` a signal, ``result`` waits for one to finish.

    Every submitted signal comes back as exactly one ``Result``, whatever happens in the lane.
    With ``count`` 1 no thread is started: ``submit`` sends at once in the caller's thread (the
    tests that run a dispatcher inside one database transaction rely on that).
    """

    def __init__(self, sender: Sender, count: int, *, name: str) -> None:
        self.sender = sender
        self.count = max(1, count)
        self.name = name
        self._inbox: queue.SimpleQueue[Signal | None] = queue.SimpleQueue()
        self._outbox: queue.SimpleQueue[Result] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self.in_flight = 0

    @property
    def free(self) -> int:
        return self.count - self.in_flight

    def submit(self, signal: Signal) -> None:
        self.in_flight += 1
        if self.count == 1:
            self._outbox.put(self._deliver(signal, 0))
            return
        if not self._threads:
            self._start()
        self._inbox.put(signal)

    def result(self) -> Result:
        """The next finished signal (waits for one; only while some are in flight)."""
        result = self._outbox.get()
        self.in_flight -= 1
        return result

    def close(self) -> None:
        """Stop the threads once they have finished what they were given."""
        for _ in self._threads:
            self._inbox.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def _start(self) -> None:
        for lane in range(self.count):
            thread = threading.Thread(
                target=self._run, args=(lane,), name=f"dispatcher-lane-{self.name}-{lane}"
            )
            thread.daemon = True
            thread.start()
            self._threads.append(thread)

    def _run(self, lane: int) -> None:
        # This thread's own database connection object, looked up once (``connection`` looks
        # it up per use, through a thread-local: a cost per signal for nothing).
        database = connections[DEFAULT_DB_ALIAS]
        try:
            while (signal := self._inbox.get()) is not None:
                self._outbox.put(self._deliver(signal, lane))
                if database.connection is not None:
                    # A lane touches the database only to reserve a block of sequence numbers
                    # or store a rotated secret, now and then: it gives the connection back
                    # at once. Held by every lane, connections would run out with more lanes
                    # than the pool holds, and a lane without one could not send DC-09.
                    database.close()
        finally:
            database.close()

    def _deliver(self, signal: Signal, lane: int) -> Result:
        try:
            return self.sender.deliver(signal, lane=lane)
        except Exception as exc:  # a bug must cost one attempt, never a lost result
            logger.exception("lane %d: unexpected error sending %s", lane, signal.reference)
            return Result(
                signal,
                attempts=[
                    Attempt(
                        None,
                        timezone.now(),
                        0,
                        DeliveryAttempt.Outcome.ERROR,
                        error=f"internal: {exc!r}",
                        unreachable=True,
                    )
                ],
            )
