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


needs_pool = pytest.mark.skipif(
    connection.vendor != "postgresql" or not connection.settings_dict["OPTIONS"].get("pool"),
    reason="needs PostgreSQL with the connection pool (CI sets DATABASE_URL)",
)


@needs_pool
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
    new_pool = connection.pool
    connection.close()  # this thread did not get a connection from the old pool
    closed = _wrapped(PoolClosed("the pool 'pool-1' is already closed"))
    with caplog.at_level(logging.INFO, logger="signals.recovery"):
        assert watch.recover(closed, "recording", lambda: False)
    assert caplog.text == ""
    assert not watch.down
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert connection.pool is new_pool
    connection.close()
    with caplog.at_level(logging.INFO, logger="signals.recovery"):
        assert watch.recover(closed, "recording", lambda: False)
    assert "database error while recording" in caplog.text
    assert watch.outages == 0


@needs_pool
def test_a_failure_left_over_from_before_the_outage_ended_is_not_reported_again(
    caplog, monkeypatch
):
    """One thread saw the database go and come back, and replaced the pool; another thread's
    wait for the old pool then times out (a claim made before the outage, picked up after
    it): the outage was said already, and the thread simply tries again."""
    watch = recovery.DatabaseWatch("test", probe_seconds=0.01)
    answers = iter([False, True])  # away at the first try, back at the next
    monkeypatch.setattr(recovery, "probe", lambda: next(answers))
    connection.close()
    with caplog.at_level(logging.INFO, logger="signals.recovery"):
        assert watch.recover(OperationalError("server closed the connection"), "recording", bool)
    assert watch.outages == 1
    assert "went away" in caplog.text and "is back" in caplog.text
    caplog.clear()
    monkeypatch.setattr(recovery, "probe", lambda: True)
    connection.close()  # the other thread's wait for a connection timed out
    timed_out = _wrapped(PoolTimeout("couldn't get a connection after 1.00 sec"))
    with caplog.at_level(logging.INFO, logger="signals.recovery"):
        assert watch.recover(timed_out, "claiming and sending", bool)
    assert caplog.text == ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
