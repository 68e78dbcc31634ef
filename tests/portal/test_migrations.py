"""The portal app's own migrations: 0002 drops the unused limits cache table where an older
release left it, and changes nothing where it never was."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("portal", "0001_limits_cache_table")
AFTER = ("portal", "0002_drop_limits_cache_table")
TABLE = "portal_cache_limits"


def _migrate(portal_at: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    targets = [n for n in executor.loader.graph.leaf_nodes() if n[0] != "portal"]
    executor.migrate([*targets, portal_at])


def _tables() -> list[str]:
    with connection.cursor() as cursor:
        return connection.introspection.table_names(cursor)


@pytest.mark.django_db(transaction=True)
def test_the_old_limits_cache_table_is_dropped():
    try:
        _migrate(BEFORE)
        with connection.cursor() as cursor:  # as `createcachetable` made it for the old setting
            cursor.execute(
                f"CREATE TABLE {TABLE} (cache_key varchar(255) PRIMARY KEY, value text NOT NULL, "
                "expires timestamp with time zone NOT NULL)"
            )
        assert TABLE in _tables()
        _migrate(AFTER)
        assert TABLE not in _tables()
        _migrate(BEFORE)  # going back leaves it gone, and forward again is harmless
        _migrate(AFTER)
        assert TABLE not in _tables()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
