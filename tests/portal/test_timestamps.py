"""Timestamps loaded by psycopg's C loader, giving exactly what Django's own loader gives
(portal/timestamps.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from signals.models import AlarmEvent
from tests.factories import AlarmEventFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg's loaders: PostgreSQL"),
]

TEXTS = [
    "2026-11-30 08:58:12.123456+00",
    "2026-03-29 01:30:00+00",
    "1970-01-01 00:00:00+00",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "2024-02-29 23:59:59.5+05:30",
]


def _loaders():
    import psycopg
    from django.db.backends.postgresql.psycopg_any import register_tzloader
    from psycopg.pq import Format

    oid = psycopg.adapters.types["timestamptz"].oid
    connection.ensure_connection()
    ours = connection.connection.adapters.get_loader(oid, Format.TEXT)
    # Django's own loader for the same time zone, on a map of its own.
    holder = type("Holder", (), {"adapters": psycopg.adapt.AdaptersMap(psycopg.adapters)})()
    register_tzloader(connection.timezone, holder)
    djangos = holder.adapters.get_loader(oid, Format.TEXT)
    return oid, ours(oid, connection.connection), djangos(oid, connection.connection)


def test_each_value_is_loaded_by_psycopgs_c_loader():
    import psycopg
    from psycopg.pq import Format

    oid, ours, _ = _loaders()
    fast = psycopg.adapters.get_loader(oid, Format.TEXT)
    assert fast.__module__.startswith("psycopg_binary"), "psycopg[binary] is a dependency"
    assert isinstance(ours.load.__self__, fast)


@pytest.mark.parametrize("text", TEXTS)
def test_the_value_is_djangos(text):
    _, ours, djangos = _loaders()
    value = ours.load(text.encode())
    assert value == djangos.load(text.encode())
    assert value.tzinfo is djangos.load(text.encode()).tzinfo is UTC


def test_in_a_session_of_another_time_zone_djangos_parsing_runs():
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'America/New_York'")
        try:
            _, ours, djangos = _loaders()
            # psycopg's C loader would give New York's time; Django sets UTC on the wall time.
            assert ours.load.__self__ is ours
            assert ours.load(TEXTS[0].encode()) == djangos.load(TEXTS[0].encode())
        finally:
            cursor.execute("SET TIME ZONE 'UTC'")


def test_a_saved_time_reads_back_the_same():
    when = datetime(2026, 11, 30, 8, 58, 12, 123456, tzinfo=UTC)
    event = AlarmEventFactory(occurred_at=when)
    read = AlarmEvent.objects.values_list("occurred_at", flat=True).get(pk=event.pk)
    assert read == when
    assert read.tzinfo is UTC


def test_no_loader_is_registered_per_cursor():
    """Django registers its own loader on a cursor whose connection's time zone differs from
    the registered loader's: ours carries Django's, so cursors share the connection's map."""
    import psycopg
    from psycopg.pq import Format

    oid = psycopg.adapters.types["timestamptz"].oid
    with connection.cursor() as cursor:
        loader = cursor.cursor.adapters.get_loader(oid, Format.TEXT)
    assert loader is connection.connection.adapters.get_loader(oid, Format.TEXT)
    assert loader.__module__ == "portal.timestamps"
