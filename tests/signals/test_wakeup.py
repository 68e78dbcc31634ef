"""An idle dispatcher's wait (``signals.wakeup``): a new signal ends it when the transaction
that wrote it commits (PostgreSQL LISTEN/NOTIFY), a stop request ends it at once, and
otherwise it lasts the poll interval."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from signals import services, wakeup
from signals.models import AlarmEvent
from tests.signals.processes import needs_postgresql


def record_test_event(customer) -> None:
    services.event_record(
        customer=customer,
        kind="test",
        occurred_at=timezone.now(),
        source=AlarmEvent.Source.TEST_SIGNAL,
    )


def test_a_stop_request_ends_the_wait_at_once():
    waiting = wakeup.Wakeup(listen=False)
    try:
        threading.Timer(0.05, waiting.set).start()
        started = time.monotonic()
        assert waiting.wait(5) == "set"
        assert time.monotonic() - started < 1
        # Without one, the wait lasts the poll interval.
        started = time.monotonic()
        assert waiting.wait(0.1) == "timeout"
        assert time.monotonic() - started >= 0.09
    finally:
        waiting.close()


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_signal_wakes_the_wait_when_its_transaction_commits_not_before(customer, account):
    waiting = wakeup.Wakeup(listen=True)
    try:
        assert waiting.wait(0) == "listening"
        assert waiting.listening
        with transaction.atomic():
            record_test_event(customer)
            # Written, not committed: nothing yet.
            assert waiting.wait(0.2) == "timeout"
        started = time.monotonic()
        assert waiting.wait(5) == "notified"
        assert time.monotonic() - started < 1
        # Rolled back: nothing at all.
        with pytest.raises(RuntimeError), transaction.atomic():
            record_test_event(customer)
            raise RuntimeError("rolled back")
        assert waiting.wait(0.3) == "timeout"
    finally:
        waiting.close()


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_wait_listens_again_after_its_connection_died(customer, account):
    waiting = wakeup.Wakeup(listen=True)
    try:
        assert waiting.wait(0) == "listening"
        pid = waiting._listener.info.backend_pid
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        # The wait notices, and listens again at once: the caller then looks for due signals.
        deadline = time.monotonic() + 5
        seen = []
        while time.monotonic() < deadline and "listening" not in seen:
            seen.append(waiting.wait(0.5))
        assert "listening" in seen, seen
        assert waiting._listener.info.backend_pid != pid
        record_test_event(customer)
        assert waiting.wait(5) == "notified"
    finally:
        waiting.close()
