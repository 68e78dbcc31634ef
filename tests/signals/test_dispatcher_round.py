"""A dispatcher's round (``Dispatcher.run_batch``) as a schedule: when it claims, hands signals
to the lanes and collects their results. The claims, the lanes and the recording step are
stand-ins, so the test is about the loop alone (no database, no receiver)."""

from __future__ import annotations

import itertools
import time
from collections import deque
from datetime import timedelta

from django.utils import timezone

from signals import dispatcher as dispatcher_module
from signals.dispatcher import Dispatcher
from signals.models import Signal
from signals.sending import Result

EXCHANGE_SECONDS = 0.005


def signal(pk: int, priority: int) -> Signal:
    return Signal(
        pk=pk,
        priority=priority,
        receiver_id=1,
        account_number=str(pk),
        next_attempt_at=timezone.now() - timedelta(seconds=1),
        reference=f"ref-{pk}",
    )


class Lanes:
    """Four lanes whose exchanges each take EXCHANGE_SECONDS, finishing in the order sent."""

    count = 4

    def __init__(self, log: list[tuple[str, int]]) -> None:
        self.log = log
        self.sending: deque[Signal] = deque()

    @property
    def in_flight(self) -> int:
        return len(self.sending)

    @property
    def free(self) -> int:
        return self.count - self.in_flight

    def submit(self, signal: Signal) -> None:
        self.log.append(("sent", signal.pk))
        self.sending.append(signal)

    def result(self, *, wake=None, until=None) -> Result:
        time.sleep(EXCHANGE_SECONDS)
        return Result(self.sending.popleft())

    def close(self) -> None:
        pass


def test_a_slow_alarm_claim_that_keeps_finding_alarms_does_not_hold_up_the_lanes(monkeypatch):
    """An alarms-only claim that takes longer than ALARM_LOOK_SECONDS (a loaded database) and
    finds a new alarm each time: every alarm it finds is sent before the next such claim
    starts. (The loop once went from one such claim straight to the next while the lanes were
    full, never collecting a result: in a 100,000-trouble storm, alarms waited 20 s.)"""
    slow_claim = dispatcher_module.ALARM_LOOK_SECONDS * 2
    log: list[tuple[str, int]] = []
    troubles = [signal(pk, 5) for pk in range(1, 101)]
    alarms = iter(range(1001, 1011))

    def claim_more(*, most: int | None = None) -> list[Signal]:
        if most is None:
            return [] if log else troubles  # the round's batch, then no top-up
        log.append(("claim", 0))
        time.sleep(slow_claim)
        alarm = next(alarms, None)
        return [] if alarm is None else [signal(alarm, 3)]

    flushed: list[Result] = []
    dispatcher = Dispatcher(name="round-test", batch=100)
    try:
        dispatcher.lanes = Lanes(log)
        monkeypatch.setattr(dispatcher, "_claim_more", claim_more)
        monkeypatch.setattr(dispatcher, "_lease_allows", lambda signal: True)
        monkeypatch.setattr(dispatcher, "flush", lambda results, **_: flushed.extend(results))

        assert dispatcher.run_batch() == 110
    finally:
        dispatcher.close()

    assert sorted(r.signal.pk for r in flushed) == [*range(1, 101), *range(1001, 1011)]
    claims = [n for n, (what, _) in enumerate(log) if what == "claim"]
    assert len(claims) > 10, log  # it kept looking while the troubles were sent
    for alarm, (claim, next_claim) in enumerate(itertools.pairwise(claims), 1001):
        if alarm > 1010:
            break
        assert ("sent", alarm) in log[claim:next_claim], (alarm, log)


def test_with_the_claimer_the_lanes_go_on_while_a_slow_claim_runs(monkeypatch):
    """With the pipeline's claimer, the same slow alarm claims run on its thread: troubles are
    sent while each one runs, and every alarm it finds is still sent before the next one."""
    slow_claim = dispatcher_module.ALARM_LOOK_SECONDS * 2
    log: list[tuple[str, int]] = []
    troubles = [signal(pk, 5) for pk in range(1, 101)]
    alarms = iter(range(1001, 1011))
    found: list[int] = []
    first = True

    def claim_more(*, most: int | None = None, limit: int | None = None) -> list[Signal]:
        nonlocal first
        if most is None:
            batch, first = (troubles if first else []), False
            return batch  # the round's batch, then no top-up
        log.append(("claim", 0))
        time.sleep(slow_claim)
        alarm = next(alarms, None)
        log.append(("claimed", 0))
        if alarm is None:
            return []
        found.append(alarm)
        return [signal(alarm, 3)]

    flushed: list[Result] = []
    dispatcher = Dispatcher(name="round-test", batch=100, pipeline=True, connections=4)
    try:
        dispatcher.lanes = Lanes(log)
        monkeypatch.setattr(dispatcher, "_claim_more", claim_more)
        monkeypatch.setattr(dispatcher, "_lease_allows", lambda signal: True)
        monkeypatch.setattr(dispatcher, "flush", lambda results, **_: flushed.extend(results))

        claimed = dispatcher.run_batch()
    finally:
        dispatcher.close()

    # The troubles are sent quicker than the claims come: how many alarms were found before
    # they ran out depends on timing; each one found was sent.
    assert len(found) >= 5, log
    assert claimed == 100 + len(found)
    assert sorted(r.signal.pk for r in flushed) == [*range(1, 101), *found]
    claims = [n for n, (what, _) in enumerate(log) if what == "claim"]
    # Troubles went out while claims ran (the dispatcher's thread did not wait for them).
    during = [
        what
        for start in claims
        for what, _ in log[start : log.index(("claimed", 0), start)]
        if what == "sent"
    ]
    assert len(during) > len(claims), log
    for alarm, (claim, next_claim) in enumerate(itertools.pairwise(claims), 1001):
        if alarm > found[-1]:
            break
        assert ("sent", alarm) in log[claim:next_claim], (alarm, log)


def test_a_flood_of_alarms_is_recorded_a_gap_apart_not_one_by_one(monkeypatch):
    """An alarm answered while the recording step is idle is recorded at once, but not within
    RECORD_AT_ONCE_GAP_SECONDS of the last such recording: a flood of alarms goes to the
    database in batches, each alarm still recorded within the gap (and one exchange)."""
    gap = dispatcher_module.RECORD_AT_ONCE_GAP_SECONDS
    alarms = [signal(pk, 3) for pk in range(1, 201)]
    flushes: list[tuple[float, list[int]]] = []

    def claim_more(*, most: int | None = None, limit: int | None = None) -> list[Signal]:
        return [] if flushes or most is not None else alarms

    def flush(results: list[Result], **_: object) -> None:
        flushes.append((time.monotonic(), [r.signal.pk for r in results]))

    dispatcher = Dispatcher(name="round-test", batch=100)
    try:
        dispatcher.lanes = Lanes([])
        monkeypatch.setattr(dispatcher, "_claim_more", claim_more)
        monkeypatch.setattr(dispatcher, "_lease_allows", lambda signal: True)
        monkeypatch.setattr(dispatcher, "_recorder_idle", lambda: True)
        monkeypatch.setattr(dispatcher, "flush", flush)

        assert dispatcher.run_batch() == 200
    finally:
        dispatcher.close()

    assert sorted(pk for _, pks in flushes for pk in pks) == list(range(1, 201))
    during = [(at, pks) for at, pks in flushes if pks][:-1]  # the last one ends the round
    assert len(during) > 3, flushes  # recorded as the round went, not only at its end
    # ...and not one by one: one recording per gap at most.
    assert len(during) <= len(alarms) * EXCHANGE_SECONDS / gap + 2, flushes
    for (earlier, _), (later, _) in itertools.pairwise(during):
        assert later - earlier >= gap * 0.9, flushes
