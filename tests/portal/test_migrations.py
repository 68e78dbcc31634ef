"""The portal app's own migrations: 0002 drops the unused limits cache table where an older
release left it, and changes nothing where it never was."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.migrations import migrate_app_to, migrate_to_latest

BEFORE = ("portal", "0001_limits_cache_table")
AFTER = ("portal", "0002_drop_limits_cache_table")
TABLE = "portal_cache_limits"


def _tables() -> list[str]:
    with connection.cursor() as cursor:
        return connection.introspection.table_names(cursor)


@pytest.mark.django_db(transaction=True)
def test_the_old_limits_cache_table_is_dropped():
    try:
        migrate_app_to(BEFORE)
        with connection.cursor() as cursor:  # as `createcachetable` made it for the old setting
            cursor.execute(
                f"CREATE TABLE {TABLE} (cache_key varchar(255) PRIMARY KEY, value text NOT NULL, "
                "expires timestamp with time zone NOT NULL)"
            )
        assert TABLE in _tables()
        migrate_app_to(AFTER)
        assert TABLE not in _tables()
        migrate_app_to(BEFORE)  # going back leaves it gone, and forward again is harmless
        migrate_app_to(AFTER)
        assert TABLE not in _tables()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        migrate_to_latest()
