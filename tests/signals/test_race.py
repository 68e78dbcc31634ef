"""Writers of one site at the same moment: a bridge sending the same event twice makes one
event and one set of signals; a periodic test beside an alarm cannot deadlock with it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from customers.models import MonitoringAccount
from signals import selectors, services
from signals.models import AlarmEvent, Signal
from tests.factories import (
    CustomerFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
)
from tests.threads import at_once

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers: runs on PostgreSQL (CI sets DATABASE_URL)",
    ),
]


def _device_alarm(bridge, *, zone: int = 5, month: int = 1, **more) -> AlarmEvent:
    """The bridge's alarm with device event id "dup-1", recorded as the device API does."""
    return services.event_record(
        customer=bridge.customer,
        kind="alarm",
        zone=zone,
        bridge=bridge,
        occurred_at=datetime(2025, month, 1, tzinfo=UTC),
        source=AlarmEvent.Source.DEVICE,
        device_event_id="dup-1",
        **more,
    )


@pytest.mark.usefixtures("account")  # the site is monitored: each event makes a signal
def test_two_simultaneous_copies_of_a_device_event_make_one(monkeypatch, bridge):
    # Both copies look for the event before either has written it, so only the database's
    # unique constraint can stop the second.
    barrier = threading.Barrier(2, timeout=10)
    lookup = selectors.device_event
    calls = threading.local()

    def look_then_wait(bridge, device_event_id):
        found = lookup(bridge, device_event_id)
        if not getattr(calls, "waited", False):
            calls.waited = True
            barrier.wait()
        return found

    monkeypatch.setattr(selectors, "device_event", look_then_wait)

    outcomes = at_once(lambda _: _device_alarm(bridge))

    assert all(isinstance(o, AlarmEvent) for o in outcomes), outcomes
    assert outcomes[0].pk == outcomes[1].pk
    assert sorted(o.is_new for o in outcomes) == [False, True]
    assert AlarmEvent.objects.count() == 1
    assert Signal.objects.count() == 1


@pytest.mark.usefixtures("account")
def test_two_simultaneous_copies_of_an_event_that_reuses_an_id_make_one(bridge):
    """A reset bridge's new alarm with an old id, sent twice at once (its first answer lost):
    one new event, whichever copy retires the old event's id; the other is answered with it."""
    old = _device_alarm(bridge)
    barrier = threading.Barrier(2, timeout=10)

    def send(_: int) -> AlarmEvent:
        barrier.wait()
        return _device_alarm(bridge, zone=6, month=2, device_event_checked=True, supersedes=old)

    outcomes = at_once(send)

    assert all(isinstance(o, AlarmEvent) for o in outcomes), outcomes
    assert outcomes[0].pk == outcomes[1].pk != old.pk
    assert sorted(o.is_new for o in outcomes) == [False, True]
    assert AlarmEvent.objects.count() == 2
    assert Signal.objects.count() == 2
    old.refresh_from_db()
    assert old.device_event_id == f"dup-1~{old.pk}"


def _wait_until_waiting_for_a_lock(pid: int) -> None:
    """Until the session ``pid`` waits for a lock (pg_locks is read live, not per transaction;
    it shows every database's sessions, hence the pid)."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", [pid])
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError(f"session {pid} waited for no lock within 10 s")


def _while_an_alarm_holds_the_first(first, second, write) -> tuple[list[int], list[object]]:
    """Hold ``first`` as an alarm of the site does between its first and its second row lock,
    run ``write(cursor)`` in a transaction on a connection of its own until it waits for a
    lock, then try to take ``second`` without waiting. Returns the ids taken of ``second``
    (none: ``write`` holds it while it waits for ``first``, a deadlock with the alarm) and
    what ``write`` returned or raised."""
    outcome: list[object] = []
    backend: list[int] = []
    started = threading.Event()

    def run() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend.append(cursor.fetchone()[0])
                started.set()
                outcome.append(write(cursor))
        except Exception as exc:  # pragma: no cover - reported by the caller's assertion
            started.set()
            outcome.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    with transaction.atomic():
        list(MonitoringAccount.objects.select_for_update().filter(pk=first.pk))
        thread.start()
        assert started.wait(10)
        _wait_until_waiting_for_a_lock(backend[0])
        try:
            with transaction.atomic():
                taken = list(
                    MonitoringAccount.objects.select_for_update(nowait=True).filter(pk=second.pk)
                )
        except DatabaseError:
            taken = []
    thread.join(timeout=30)
    return [account.pk for account in taken], outcome


def test_a_periodic_test_takes_the_sites_locks_in_the_order_an_alarm_does():
    """An alarm locks its site's accounts in id order. A periodic test of the site's second
    account that locked that one first, then waited for the first, deadlocked with an alarm
    holding the first: here, while "the alarm" holds the first account, the periodic test
    waits holding nothing, so the alarm's next lock is free, and the test is made after."""
    record = DealerStationFactory()
    customer = CustomerFactory(dealer=record.dealer)
    first = MonitoringAccountFactory(
        customer=customer, station_record=record, account_number="7001"
    )
    second = MonitoringAccountFactory(
        customer=customer,
        station_record=DealerStationFactory(dealer=record.dealer),
        account_number="7002",
    )
    assert first.pk < second.pk

    def periodic_test(cursor):
        now = timezone.now()
        return services._periodic_test_create(
            account=second, slot=now - timedelta(hours=1), now=now
        )

    taken, outcome = _while_an_alarm_holds_the_first(first, second, periodic_test)

    assert taken == [second.pk]
    assert len(outcome) == 1 and isinstance(outcome[0], AlarmEvent), outcome
    assert list(Signal.objects.values_list("account_id", flat=True)) == [second.pk]


def test_an_import_takes_the_sites_locks_in_the_order_an_alarm_does():
    """An import that renumbers a site's two accounts locks them in id order too. Its bulk
    update locked them in the order its plan visited them (here the second account's row lies
    first in the table), so it could hold the second while waiting for the first, which an
    alarm holds while waiting for the second: a deadlock, one of the two refused."""
    import tablib

    from customers import imports
    from tests.factories import UserFactory

    record = DealerStationFactory()
    other_record = DealerStationFactory(dealer=record.dealer)
    customer = CustomerFactory(dealer=record.dealer)
    first = MonitoringAccountFactory(customer=customer, station_record=record, account_number="71")
    second = MonitoringAccountFactory(
        customer=customer, station_record=other_record, account_number="72"
    )
    assert first.pk < second.pk
    # The first account's row written again lies after the second's in the table.
    MonitoringAccount.objects.filter(pk=first.pk).update(reference_id="MOVED")
    dataset = tablib.Dataset(
        headers=[
            "Portal site ID",
            "Name",
            "Time zone",
            f"{record.name} account number",
            f"{other_record.name} account number",
        ]
    )
    dataset.append([customer.site_id, customer.name, customer.time_zone, "8101", "8102"])
    dataset = imports.read_file(dataset.export("csv").encode(), "csv")
    actor = UserFactory()

    def run_import(cursor):
        # Rows visited in the table's order, as a plan over many rows would.
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        return imports.commit_import(record.dealer, dataset, actor=actor)

    taken, outcome = _while_an_alarm_holds_the_first(first, second, run_import)

    assert taken == [second.pk]
    assert len(outcome) == 1 and isinstance(outcome[0], imports.ImportPlan), outcome
    numbers = MonitoringAccount.objects.filter(customer=customer).order_by("pk")
    assert list(numbers.values_list("account_number", flat=True)) == ["8101", "8102"]
