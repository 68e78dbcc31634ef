"""The lanes: several signals' exchanges kept going from one thread with one poll, against real
loopback receivers. A stalled receiver holds up its own lane only, every exchange still ends
within its deadline, and a wake socket ends the wait for a result at once."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from signals.emulator import ReceiverEmulator
from signals.lanes import Lanes
from signals.models import DeliveryAttempt, Signal
from signals.sending import Sender
from tests.factories import MonitoringAccountFactory, SignalFactory
from tests.signals.receivers import HANG, path_to, scripted

pytestmark = pytest.mark.django_db

Outcome = DeliveryAttempt.Outcome


@contextmanager
def lanes_for(count: int, *signals: Signal) -> Iterator[Lanes]:
    """``count`` lanes, their sender having read the signals' receivers; closed after."""
    sender = Sender(ssl_context=None, stop=threading.Event())
    sender.load({signal.receiver_id for signal in signals})
    lanes = Lanes(sender, count)
    try:
        yield lanes
    finally:
        lanes.close()
        sender.close()


def signal_beside(account, dealer) -> Signal:
    """A signal for another site's account at the same station record (same receiver)."""
    return SignalFactory(
        account=MonitoringAccountFactory(
            customer__dealer=dealer, station_record=account.station_record
        )
    )


def test_a_stalled_receiver_holds_up_its_own_lane_only(account, receiver, dealer):
    other = MonitoringAccountFactory(customer__dealer=dealer)  # at another receiver
    stalled = SignalFactory(account=account)
    others = [signal_beside(other, dealer) for _ in range(6)]
    finished: list[tuple[str, float]] = []
    with (
        scripted(lambda payload, n: HANG) as black_hole,
        ReceiverEmulator() as station,
    ):
        path_to(receiver, black_hole.port, reply_timeout=1.5)
        path_to(other.station_record.receiver, station.port)
        with lanes_for(2, stalled, *others) as lanes:
            started = time.monotonic()
            lanes.submit(stalled)
            queue = list(others)
            while lanes.in_flight or queue:
                while queue and lanes.free:
                    lanes.submit(queue.pop(0))
                result = lanes.result()
                finished.append((result.signal.reference, time.monotonic() - started))
                last = result.attempts[-1]
                if result.signal == stalled:
                    assert (last.outcome, last.error) == (
                        Outcome.TIMEOUT,
                        "timeout waiting for reply",
                    )
                else:
                    assert last.outcome == Outcome.DELIVERED

    # The six went through the other lane while the first waited for its reply...
    assert [ref for ref, _ in finished[:6]] == [s.reference for s in others]
    assert finished[5][1] < 1.0
    assert [s.reference for s in station.accepted] == [s.reference for s in others]
    # ...which ended at its deadline, not before and not much after.
    assert finished[6][0] == stalled.reference
    assert 1.5 <= finished[6][1] < 2.5


def test_a_lane_connects_only_when_that_many_signals_are_in_flight(account, receiver, dealer):
    """Eight lanes do not mean eight connections to every receiver: one signal at a time goes
    over one connection, reused, and three at once open three."""
    one_at_a_time = [signal_beside(account, dealer) for _ in range(5)]
    together = [signal_beside(account, dealer) for _ in range(3)]
    with ReceiverEmulator() as station:
        path_to(receiver, station.port)
        with lanes_for(8, *one_at_a_time, *together) as lanes:
            for signal in one_at_a_time:
                lanes.submit(signal)
                assert lanes.result().attempts[-1].outcome == Outcome.DELIVERED
            assert len({heard.peer for heard in station.received}) == 1
            for signal in together:
                lanes.submit(signal)
            results = [lanes.result() for _ in together]
    assert all(r.attempts[-1].outcome == Outcome.DELIVERED for r in results)
    assert len(station.accepted) == 8
    assert len({heard.peer for heard in station.received}) == 3


def test_a_wake_socket_ends_the_wait_for_a_result(account, receiver):
    signal = SignalFactory(account=account)
    wake, waker = socket.socketpair()
    with scripted(lambda payload, n: HANG) as black_hole, wake, waker:
        path_to(receiver, black_hole.port, reply_timeout=3)
        with lanes_for(2, signal) as lanes:
            lanes.submit(signal)
            threading.Timer(0.2, waker.send, args=(b"\0",)).start()
            started = time.monotonic()
            assert lanes.result(wake=wake) is None
            assert 0.15 < time.monotonic() - started < 1.0
            assert lanes.in_flight == 1  # still on the wire: it comes back later
            wake.recv(1)
            result = lanes.result()
            assert result is not None and result.signal == signal
            assert result.attempts[-1].outcome == Outcome.TIMEOUT
            assert lanes.in_flight == 0 and lanes.free == 2


def test_a_bug_in_a_lane_costs_one_attempt_and_the_lane_goes_on(
    account, receiver, dealer, monkeypatch
):
    signals = [SignalFactory(account=account), signal_beside(account, dealer)]
    with ReceiverEmulator() as station:
        path_to(receiver, station.port)
        with lanes_for(1, *signals) as lanes:
            original = lanes.sender.deliver_steps

            def deliver_steps(signal, *, lane=None):
                if signal == signals[0]:
                    raise RuntimeError("a bug")
                return (yield from original(signal, lane=lane))

            monkeypatch.setattr(lanes.sender, "deliver_steps", deliver_steps)
            lanes.submit(signals[0])
            broken = lanes.result()
            lanes.submit(signals[1])
            delivered = lanes.result()
    assert broken.attempts[-1].outcome == Outcome.ERROR
    assert broken.attempts[-1].error == "internal: RuntimeError('a bug')"
    assert delivered.attempts[-1].outcome == Outcome.DELIVERED
    assert [s.reference for s in station.accepted] == [signals[1].reference]


@pytest.mark.parametrize("past", [False, True])
def test_until_ends_the_wait_for_a_result(account, receiver, past):
    """``until`` ends the wait when it comes; one anywhere in the past (the dispatcher's
    first alarm of a round has none before it: minus infinity) looks at the sockets once and
    returns at once."""
    signal = SignalFactory(account=account)
    with scripted(lambda payload, n: HANG) as black_hole:
        path_to(receiver, black_hole.port, reply_timeout=3)
        with lanes_for(2, signal) as lanes:
            lanes.submit(signal)
            started = time.monotonic()
            if past:
                assert lanes.result(until=-math.inf) is None
                assert lanes.result(until=started - 5) is None
                assert time.monotonic() - started < 0.5
            else:
                assert lanes.result(until=started + 0.2) is None
                assert 0.19 < time.monotonic() - started < 1.0
            assert lanes.in_flight == 1


def test_a_path_given_by_name_is_looked_up_in_the_lanes(account, receiver, dealer):
    """A host name is looked up on a thread of its own while the lanes go on; the signal is
    then sent as to an address."""
    signals = [SignalFactory(account=account), signal_beside(account, dealer)]
    with ReceiverEmulator() as station:
        path_to(receiver, station.port, host="localhost", reply_timeout=2)
        with lanes_for(2, *signals) as lanes:
            for signal in signals:
                lanes.submit(signal)
            results = [lanes.result(), lanes.result()]
    assert all(r is not None and r.delivered for r in results), results
    assert sorted(s.reference for s in station.accepted) == sorted(s.reference for s in signals)
