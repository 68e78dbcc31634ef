"""signals 0012 and media 0002: a bridge's event and upload ids become unique per site, the new
rule built while bridges go on sending (CONCURRENTLY on PostgreSQL), and back again."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from tests.migrations import migrate_to_latest

BEFORE = {"signals": "0011_attempt_sent_is_payload", "media": "0001_initial"}

NEW = {"signals_event_unique_bridge_site_device_event", "media_item_unique_bridge_site_upload"}
OLD = {"signals_event_unique_bridge_device_event", "media_item_unique_bridge_upload"}


def _rules() -> set[str]:
    with connection.cursor() as cursor:
        found = set()
        for table in ("signals_alarmevent", "media_mediaitem"):
            found |= set(connection.introspection.get_constraints(cursor, table))
    return found & (NEW | OLD)


@pytest.mark.django_db(transaction=True)
def test_the_rules_are_swapped_both_ways_without_blocking_inserts():
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(
            [n for n in executor.loader.graph.leaf_nodes() if n[0] not in BEFORE]
            + list(BEFORE.items())
        )
        assert _rules() == OLD
        with CaptureQueriesContext(connection) as queries:
            migrate_to_latest()
        assert _rules() == NEW
        if connection.vendor == "postgresql":
            built = [q["sql"] for q in queries if "CREATE UNIQUE INDEX" in q["sql"]]
            assert len(built) == 2
            assert all("CREATE UNIQUE INDEX CONCURRENTLY" in sql for sql in built), built
    finally:
        migrate_to_latest()
