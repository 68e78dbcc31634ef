"""Two dealers race for the same account number at the same station: the database decides."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from customers import services
from customers.models import MonitoringAccount
from tests.factories import CustomerFactory, DealerStationFactory, ReceiverFactory
from tests.threads import at_once

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs concurrent writers: runs on PostgreSQL (CI sets DATABASE_URL)",
    ),
]


def test_exactly_one_of_two_simultaneous_assignments_wins(monkeypatch):
    receiver = ReceiverFactory()
    records = [DealerStationFactory(receiver=receiver) for _ in range(2)]
    customers = [CustomerFactory(dealer=record.dealer) for record in records]

    # Both requests pass the friendly pre-check before either inserts, so only the
    # database's unique constraint can stop the second one.
    barrier = threading.Barrier(2, timeout=10)
    checked = services._account_errors
    calls = threading.local()

    def check_then_wait(account):
        errors = checked(account)
        if not getattr(calls, "waited", False):
            calls.waited = True
            barrier.wait()
        return errors

    monkeypatch.setattr(services, "_account_errors", check_then_wait)
    outcomes = at_once(
        lambda i: services.account_assign(
            customer=customers[i], station_record=records[i], account_number="4242"
        )
    )

    winners = [o for o in outcomes if isinstance(o, MonitoringAccount)]
    losers = [o for o in outcomes if isinstance(o, ValidationError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].message_dict == {"account_number": [MonitoringAccount.DUPLICATE_NUMBER]}
    assert MonitoringAccount.objects.filter(account_number="4242").count() == 1
