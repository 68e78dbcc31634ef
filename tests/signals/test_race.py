"""A bridge sends the same event twice at the same moment: one event, one set of signals."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, connections

from signals import services
from signals.models import AlarmEvent, Signal
from tests.factories import (
    BridgeFactory,
    CustomerFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers: runs on PostgreSQL (CI sets DATABASE_URL)",
    ),
]


def test_two_simultaneous_copies_of_a_device_event_make_one(monkeypatch):
    record = DealerStationFactory()
    customer = CustomerFactory(dealer=record.dealer)
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="7001")
    bridge = BridgeFactory(customer=customer)

    # Both copies look for the event before either has written it, so only the database's
    # unique constraint can stop the second.
    barrier = threading.Barrier(2, timeout=10)
    lookup = services._existing_device_event
    calls = threading.local()

    def look_then_wait(bridge, device_event_id):
        found = lookup(bridge, device_event_id)
        if not getattr(calls, "waited", False):
            calls.waited = True
            barrier.wait()
        return found

    monkeypatch.setattr(services, "_existing_device_event", look_then_wait)
    outcomes: list[object] = [None, None]

    def send(i: int) -> None:
        try:
            outcomes[i] = services.event_record(
                customer=customer,
                kind="alarm",
                zone=5,
                bridge=bridge,
                occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
                source=AlarmEvent.Source.DEVICE,
                device_event_id="dup-1",
            )
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert all(isinstance(o, AlarmEvent) for o in outcomes), outcomes
    assert outcomes[0].pk == outcomes[1].pk
    assert sorted(o.is_new for o in outcomes) == [False, True]
    assert AlarmEvent.objects.count() == 1
    assert Signal.objects.count() == 1
