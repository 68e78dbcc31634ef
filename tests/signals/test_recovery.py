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


def _current_pool():
    return connection.pool if connection.vendor == "postgresql" else None


def test_a_pool_replaced_under_a_thread_is_taken_quietly_and_the_new_pool_kept(caplog):
    """Another thread replaced the pool (the database came back) while this one was taking a
    connection from the old one: no error to report, and the new pool is not replaced too.
    Closed under it again at once, the pool was not replaced: that is an error and is said."""
    watch = recovery.DatabaseWatch("test", probe_seconds=0.01)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    recovery.reset_pool()  # another thread's doing
    connection.close()
    with connection.cursor() as cursor:  # the new pool
        cursor.execute("SELECT 1")
    new_pool = _current_pool()
    closed = _wrapped(PoolClosed("the pool 'pool-1' is already closed"))
    with caplog.at_level(logging.INFO, logger="signals.recovery"):
        assert watch.recover(closed, "recording", lambda: False)
    assert caplog.text == ""
    assert not watch.down
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert _current_pool() is new_pool
    with caplog.at_level(logging.INFO, logger="signals.recovery"):
        assert watch.recover(closed, "recording", lambda: False)
    assert "database error while recording" in caplog.text
    assert watch.outages == 0
