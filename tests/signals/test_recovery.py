"""A dispatcher thread whose query failed: an outage only when the database does not answer."""

from __future__ import annotations

import logging

import pytest
from django.db import OperationalError, connection
from psycopg_pool import PoolClosed, PoolTimeout

from signals import recovery

pytestmark = pytest.mark.django_db(transaction=True)


def _wrapped(cause: BaseException) -> OperationalError:
    """What Django raises for a psycopg error: its own class, the driver's as the cause."""
    try:
        try:
            raise cause
        except Exception as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as exc:
        return exc


def test_the_pool_failing_is_told_from_other_errors():
    assert recovery.is_pool_error(_wrapped(PoolTimeout("couldn't get a connection after 1.00 sec")))
    assert recovery.is_pool_error(_wrapped(PoolClosed("the pool 'default' is already closed")))
    assert not recovery.is_pool_error(OperationalError("server closed the connection"))


def test_a_failed_connection_while_the_database_answers_is_no_outage(caplog):
    watch = recovery.DatabaseWatch("test", probe_seconds=0.01)
    connection.close()  # this thread's connection is gone, as after a server restart
    failure = _wrapped(PoolTimeout("couldn't get a connection after 1.00 sec"))
    with caplog.at_level(logging.INFO, logger="signals.recovery"):
        assert watch.recover(failure, "recording", lambda: False)
    assert not watch.down
    assert watch.outages == 0
    assert not watch.in_grace  # no grace period: nothing was away
    assert "went away" not in caplog.text
    assert "trying again" in caplog.text
    with connection.cursor() as cursor:  # and this thread has a working connection again
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
