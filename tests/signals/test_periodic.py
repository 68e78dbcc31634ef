"""Periodic tests: one per account per interval of its station, however often the schedule runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from signals import lib, services
from signals.lib import Trigger
from signals.models import AlarmEvent, Signal
from tests.factories import (
    CustomerFactory,
    DealerStationFactory,
    EventCodeFactory,
    MonitoringAccountFactory,
    ReceiverFactory,
)

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def daily(station):
    station.periodic_test_interval = DAY
    station.save()
    return station


def _tests() -> list[Signal]:
    return list(Signal.objects.filter(event__kind="periodic_test").order_by("id"))


def test_a_due_account_gets_one_periodic_test(daily, account):
    events = services.periodic_tests_create(NOW)
    assert len(events) == 1
    event = events[0]
    assert (event.kind, event.source, event.customer) == (
        "periodic_test",
        "schedule",
        account.customer,
    )
    signal = event.signals.get()
    assert (signal.account, signal.qualifier, signal.event_code) == (account, "E", "602")
    assert (signal.zone, signal.priority) == (0, 6)
    assert signal.created_at == NOW


def test_running_again_in_the_same_interval_creates_nothing(daily, account):
    services.periodic_tests_create(NOW)
    assert services.periodic_tests_create(NOW) == []
    assert services.periodic_tests_create(NOW + timedelta(minutes=5)) == []
    assert len(_tests()) == 1


def test_the_next_interval_gets_the_next_test(daily, account):
    services.periodic_tests_create(NOW)
    assert len(services.periodic_tests_create(NOW + DAY)) == 1
    assert len(_tests()) == 2


def test_stations_without_an_interval_get_none(station, account):
    assert station.periodic_test_interval is None
    assert services.periodic_tests_create(NOW) == []


def test_video_only_accounts_get_none(daily, video_only_account):
    video_only_account.station.periodic_test_interval = DAY
    video_only_account.station.save()
    assert services.periodic_tests_create(NOW) == []
    assert not AlarmEvent.objects.exists()


def test_only_the_due_account_of_a_site_is_tested(daily, customer, dealer, account):
    elsewhere = DealerStationFactory(dealer=dealer, receiver=ReceiverFactory(), name="Elsewhere")
    MonitoringAccountFactory(customer=customer, station_record=elsewhere, account_number="E1")
    services.periodic_tests_create(NOW)
    assert [s.account for s in _tests()] == [account]


def test_each_account_of_the_station_is_tested(daily, record):
    accounts = [
        MonitoringAccountFactory(
            customer=CustomerFactory(dealer=record.dealer), station_record=record
        )
        for _ in range(3)
    ]
    services.periodic_tests_create(NOW)
    # Run again later in every account's current slot (slots are shifted per account id, so a
    # fixed "an hour later" would cross the next slot's start for some ids).
    later = min(lib.periodic_slot_start(NOW, DAY, seed=a.pk) for a in accounts) + DAY
    services.periodic_tests_create(later - timedelta(seconds=1))
    assert sorted(s.account_id for s in _tests()) == sorted(a.pk for a in accounts)


def test_a_switched_off_periodic_test_records_nothing_run_after_run(daily, dealer, account):
    EventCodeFactory(dealer=dealer, trigger=Trigger.PERIODIC_TEST, event_code="602", enabled=False)
    for minutes in (0, 5, 10):
        assert services.periodic_tests_create(NOW + timedelta(minutes=minutes)) == []
    assert not AlarmEvent.objects.exists()


def test_the_command_is_idempotent(daily, account):
    out = StringIO()
    call_command("create_periodic_tests", stdout=out)
    call_command("create_periodic_tests", stdout=out)
    assert out.getvalue().splitlines() == [
        "1 periodic test(s) queued.",
        "0 periodic test(s) queued.",
    ]
    assert len(_tests()) == 1
    assert _tests()[0].created_at <= timezone.now()


def test_the_scheduled_task_queues_what_is_due_once(daily, account):
    from django_q.tasks import async_task

    from signals.tasks import create_periodic_tests

    assert create_periodic_tests() == 1
    # Through the task engine, as its schedule calls it (the tests run tasks inline).
    async_task("signals.tasks.create_periodic_tests")
    assert [s.account_id for s in _tests()] == [account.pk]


@given(
    now=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2090, 1, 1)),
    minutes=st.integers(min_value=1, max_value=60 * 24 * 30),
    seed=st.integers(min_value=1, max_value=10**9),
)
def test_slots_contain_now_and_are_stable(now, minutes, seed):
    now = now.replace(tzinfo=UTC)
    interval = timedelta(minutes=minutes)
    slot = lib.periodic_slot_start(now, interval, seed=seed)
    assert slot <= now < slot + interval
    assert lib.periodic_slot_start(slot, interval, seed=seed) == slot
    assert lib.periodic_slot_start(slot + interval, interval, seed=seed) == slot + interval


def test_accounts_of_a_station_are_spread_over_the_interval():
    starts = {lib.periodic_slot_start(NOW, DAY, seed=seed) for seed in range(1, 50)}
    assert len(starts) > 40
