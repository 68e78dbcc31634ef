"""Several receiver connections busy at once, in one thread: a dispatcher's lanes.

A lane is a slot for one signal's exchanges at a time, with connections of its own (one per
receiver path: ``Sender`` keeps them per lane). Sending a signal is written as steps
(``Sender.deliver_steps``): a generator that builds, sends and reads on non-blocking sockets
and yields whenever it would wait (``signals.transports.Wait``). The lanes keep every signal in
flight going from the dispatcher's own thread: ``submit`` starts one and runs it until it first
waits; ``result`` waits on all of their sockets at once with one ``poll`` and moves on whichever
is ready, until one signal is done. So the dispatcher claims, hands signals to the lanes in the
claim's order (highest priority first) and collects their results without a thread switch per
signal.

Every exchange keeps its one deadline (connection and TLS handshake within the path's connect
timeout, the request and the whole reply within its reply timeout): the steps yield the
deadline with what they wait for, the poll never waits past the nearest one, and an exchange
whose deadline passes has ``TimeoutError`` thrown into it, which it turns into the same
``TransportError`` as a blocking exchange would. A receiver that stalls holds its own lane
only; the other lanes go on.

Why not threads (as the lanes once were): on a 2-core machine the GIL lets one of them run at a
time anyway, and each signal then cost several thread switches (7-8 per signal with four
lanes), more CPU than the exchange itself. Why not asyncio: the transports' deadlines, TLS and
hostile-receiver rules are a few generators over sockets; an event loop would add its own
costs per signal and a second way to write every exchange.

Per-account order needs nothing from the lanes: a claim never holds two signals of one
account (the next one becomes claimable only once the previous one is recorded), so any two
signals in the lanes at once are of different accounts and may finish in any order.
"""

from __future__ import annotations

import logging
import math
import select
import socket
import time
from collections import deque

from django.utils import timezone

from signals.models import DeliveryAttempt, Signal
from signals.sending import Attempt, Result, Sender
from signals.transports import Steps, Wait

logger = logging.getLogger(__name__)

# While a name is being looked up (on a thread of its own), the lanes look at it this often.
LOOKUP_POLL_SECONDS = 0.01


class _InFlight:
    """One signal in a lane: its steps and what they wait for now."""

    __slots__ = ("lane", "signal", "steps", "wait")

    def __init__(self, signal: Signal, lane: int, steps: Steps[Result]) -> None:
        self.signal = signal
        self.lane = lane
        self.steps = steps
        self.wait: Wait | None = None


class Lanes:
    """``count`` lanes; ``submit`` a signal, ``result`` waits for one to finish.

    Every submitted signal comes back as exactly one ``Result``, whatever happens in its lane.
    All of it runs in the caller's thread, the database included (a DC-09 lane reserving
    sequence numbers, a rotated secret being stored): tests that run a dispatcher inside one
    transaction rely on that.
    """

    def __init__(self, sender: Sender, count: int) -> None:
        self.sender = sender
        self.count = max(1, count)
        self.in_flight = 0
        self._free = list(range(self.count - 1, -1, -1))  # lane 0 first
        self._done: deque[Result] = deque()
        self._poller = select.poll()
        # What waits on a socket (by file descriptor), and what waits for a look-up.
        self._on_socket: dict[int, _InFlight] = {}
        self._on_lookup: list[_InFlight] = []

    @property
    def free(self) -> int:
        return self.count - self.in_flight

    def submit(self, signal: Signal) -> None:
        """Start sending ``signal`` in a free lane (there must be one)."""
        self.in_flight += 1
        lane = self._free.pop()
        self._step(_InFlight(signal, lane, self.sender.deliver_steps(signal, lane=lane)))

    def result(
        self, *, wake: socket.socket | None = None, until: float | None = None
    ) -> Result | None:
        """The next finished signal (waits for one; only while some are in flight), or None
        as soon as ``wake`` is readable (the dispatcher's claim in the background is done) or
        ``until`` (monotonic) has come with none finished."""
        while not self._done:
            if self._poll(wake, until) and not self._done:
                return None
        self.in_flight -= 1
        return self._done.popleft()

    def close(self) -> None:
        """Give up whatever is still in flight (a dispatcher drains its lanes before closing:
        nothing is, unless it is closed by an error)."""
        for flight in [*self._on_socket.values(), *self._on_lookup]:
            flight.steps.close()
        self._on_socket.clear()
        self._on_lookup.clear()
        self._poller = select.poll()

    # --- running the steps ----------------------------------------------------------------------

    def _step(self, flight: _InFlight, error: BaseException | None = None) -> None:
        """Run ``flight``'s steps until they wait again (and file them by what for) or end."""
        try:
            wait = flight.steps.send(None) if error is None else flight.steps.throw(error)
        except StopIteration as stop:
            self._finish(flight, stop.value)
            return
        except Exception as exc:  # a bug must cost one attempt, never a lost result
            logger.exception(
                "lane %d: unexpected error sending %s", flight.lane, flight.signal.reference
            )
            self._finish(flight, _internal_error(flight.signal, exc))
            return
        flight.wait = wait
        if wait.future is not None:
            self._on_lookup.append(flight)
            return
        assert wait.sock is not None
        fd = wait.sock.fileno()
        self._on_socket[fd] = flight
        self._poller.register(fd, select.POLLOUT if wait.write else select.POLLIN)

    def _finish(self, flight: _InFlight, result: Result) -> None:
        self._free.append(flight.lane)
        self._done.append(result)

    def _poll(self, wake: socket.socket | None = None, until: float | None = None) -> bool:
        """Wait for the first socket ready, look-up done or deadline passed (or ``until``), and
        move those on; True if ``wake`` was readable or ``until`` has come."""
        waiting = [*self._on_socket.values(), *self._on_lookup]
        assert waiting, "result() with nothing in flight"
        soonest = min(flight.wait.deadline.at for flight in waiting)  # type: ignore[union-attr]
        timeout = soonest - time.monotonic()
        if self._on_lookup:
            timeout = min(timeout, LOOKUP_POLL_SECONDS)
        if until is not None:
            timeout = min(timeout, until - time.monotonic())
        if wake is not None:
            self._poller.register(wake, select.POLLIN)
        try:
            ready = self._poller.poll(math.ceil(max(0.0, timeout) * 1000))
        finally:
            if wake is not None:
                self._poller.unregister(wake)
        # What is ready goes first: a reply that came in time is never taken for a timeout,
        # however late this thread gets to it.
        for fd, _ in ready:
            flight = self._on_socket.pop(fd, None)
            if flight is not None:
                self._poller.unregister(fd)
                self._step(flight)
        if self._on_lookup:
            looking, self._on_lookup = self._on_lookup, []
            for flight in looking:
                if flight.wait.future.done():  # type: ignore[union-attr]
                    self._step(flight)
                else:
                    self._on_lookup.append(flight)
        now = time.monotonic()
        for fd, flight in list(self._on_socket.items()):
            if flight.wait.deadline.at <= now:  # type: ignore[union-attr]
                del self._on_socket[fd]
                self._poller.unregister(fd)
                self._step(flight, TimeoutError("deadline passed"))
        for flight in list(self._on_lookup):
            if flight.wait.deadline.at <= now:  # type: ignore[union-attr]
                self._on_lookup.remove(flight)
                self._step(flight, TimeoutError("deadline passed"))
        if until is not None and now >= until:
            return True
        return wake is not None and any(fd == wake.fileno() for fd, _ in ready)


def _internal_error(signal: Signal, exc: Exception) -> Result:
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
