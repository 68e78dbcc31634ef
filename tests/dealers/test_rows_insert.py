"""RowsInsert: a model's INSERT built once, each row's values as Django's own insert sends them;
rows written this way read back exactly as the same rows written by ``bulk_create``."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from customers.models import Customer
from dealers.generic import RowsInsert
from signals import services
from signals.models import AlarmEvent, DeliveryAttempt, Signal
from tests.factories import AlarmEventFactory, MonitoringAccountFactory

pytestmark = pytest.mark.django_db

ODD_TEXT = "Café 'O''Brien' 100% \\ \"x\" \u2063 ✓"


def _insert(inserter: RowsInsert, rows: list) -> None:
    sql, params = inserter.statement(rows, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        RowsInsert.inserted(rows, cursor.fetchall(), connection.alias)


def _columns(instance, *, but: tuple[str, ...]) -> dict:
    names = [f.attname for f in type(instance)._meta.concrete_fields if f.name not in but]
    row = type(instance).objects.filter(pk=instance.pk).values(*names).get()
    return {name: bytes(v) if isinstance(v, memoryview) else v for name, v in row.items()}


def _events(account) -> tuple[AlarmEvent, AlarmEvent]:
    occurred = datetime(2025, 3, 30, 2, 30, 15, 123456, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))

    def event(device_event_id: str) -> AlarmEvent:
        return AlarmEvent(
            customer=account.customer,
            kind="alarm",
            source="device",
            zone_number=None,
            channel=3,
            device_event_id=device_event_id,
            occurred_at=occurred,
            received_at=occurred,
            description=ODD_TEXT,
            unsent_reason="",
        )

    return event("one"), event("two")


def _signals(account, event: AlarmEvent, references: list[str]) -> list[Signal]:
    return [
        Signal(
            event=event,
            dealer_id=account.customer.dealer_id,
            customer=account.customer,
            account=account,
            account_number=account.account_number,
            transmitted_number="",
            station_record=account.station_record,
            station_id=account.station_id,
            receiver_id=account.station_record.receiver_id,
            protocol="xml_v1",
            qualifier="R",
            event_code="602",
            partition=99,
            zone=0,
            priority=9,
            event_time=event.occurred_at,
            site_name=ODD_TEXT,
            video_url="https://portal.example/monitoring?act=1&zone=017",
            reference=reference,
            # Every byte value, NUL first: a bytea, not text.
            payload=bytes(range(256)),
            deadline_at=event.occurred_at,
            next_attempt_at=event.occurred_at,
            created_at=event.occurred_at,
            lease_expires_at=None,
        )
        for reference in references
    ]


def test_an_event_and_its_signals_read_back_as_bulk_create_writes_them():
    account = MonitoringAccountFactory()
    ours, django = _events(account)
    _insert(RowsInsert(AlarmEvent), [ours])
    AlarmEvent.objects.bulk_create([django])
    assert ours.pk is not None and ours.pk != django.pk
    assert not ours._state.adding and ours._state.db == connection.alias
    unique = ("id", "code", "device_event_id")
    assert _columns(ours, but=unique) == _columns(django, but=unique)

    mine = _signals(account, ours, ["ours-1", "ours-2", "ours-3"])
    theirs = _signals(account, django, ["django-1", "django-2", "django-3"])
    _insert(RowsInsert(Signal), mine)
    Signal.objects.bulk_create(theirs)
    # In the order given: the ids number the rows as the list has them.
    assert [s.pk for s in mine] == sorted(s.pk for s in mine)
    assert [Signal.objects.get(pk=s.pk).reference for s in mine] == ["ours-1", "ours-2", "ours-3"]
    unique = ("id", "code", "reference", "event")
    for one, other in zip(mine, theirs, strict=True):
        assert _columns(one, but=unique) == _columns(other, but=unique)
        assert Signal.objects.get(pk=one.pk).event_id == ours.pk


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the expression is PostgreSQL's")
def test_signals_take_the_event_inserted_before_them_in_the_same_round_trip():
    """The alarm's insert: the signals' event is a computed column (the event's sequence value
    in this session), not whichever event was inserted last."""
    account = MonitoringAccountFactory()
    event, _ = _events(account)
    other = AlarmEventFactory(customer=account.customer)  # an older event
    signals = _signals(account, event, ["linked-1", "linked-2"])
    services._event_and_signals_insert(event, signals)
    assert event.pk != other.pk
    assert set(
        Signal.objects.filter(pk__in=[s.pk for s in signals]).values_list("event", flat=True)
    ) == {event.pk}


def test_a_refused_row_raises_djangos_error_and_writes_nothing():
    account = MonitoringAccountFactory()
    event, _ = _events(account)
    _insert(RowsInsert(AlarmEvent), [event])
    signals = _signals(account, event, ["same", "same"])  # one reference twice
    with pytest.raises(IntegrityError), transaction.atomic():
        _insert(RowsInsert(Signal), signals)
    assert not Signal.objects.filter(reference="same").exists()


def test_keys_must_match_the_rows():
    event, _ = _events(MonitoringAccountFactory())
    with pytest.raises(DatabaseError):
        RowsInsert.inserted([event], [], connection.alias)
    with pytest.raises(ValueError):
        RowsInsert(AlarmEvent).statement([], connection)
    with pytest.raises(ValueError):
        RowsInsert(AlarmEvent, computed={"no_such_field": "1"})
    # A related object never saved has no key to give, as bulk_create says.
    account = MonitoringAccountFactory()
    unsaved, _ = _events(account)
    unsaved.customer = Customer(dealer=account.customer.dealer, name="Unsaved")
    with pytest.raises(ValueError, match="unsaved related object"):
        RowsInsert(AlarmEvent).statement([unsaved], connection)
    # Its save() cuts the reply: an insert around it would store what it cuts.
    with pytest.raises(ValueError, match="save"):
        RowsInsert(DeliveryAttempt)
