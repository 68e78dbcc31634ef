"""Index swaps built while bridges go on sending (CONCURRENTLY on PostgreSQL), and back again:
signals 0012 and media 0002 make a bridge's event and upload ids unique per site; signals 0014
lists a site's events in the order the portal received them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext

from tests.migrations import migrate_app_to, migrate_to_latest

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


@pytest.mark.django_db(transaction=True)
def test_signals_0014_lists_events_by_receipt_with_an_index_built_concurrently():
    """The index of a site's recent events goes from the bridge's time to the portal's, built
    while bridges go on sending, and back again."""
    received, recent = "signals_event_received", "signals_event_recent"

    def indexes() -> set[str]:
        with connection.cursor() as cursor:
            found = connection.introspection.get_constraints(cursor, "signals_alarmevent")
        return set(found) & {received, recent}

    try:
        migrate_app_to(("signals", "0013_repair_impossible_device_times"))
        assert indexes() == {recent}
        with CaptureQueriesContext(connection) as queries:
            migrate_to_latest()
        assert indexes() == {received}
        if connection.vendor == "postgresql":
            built = [q["sql"] for q in queries if received in q["sql"] and "CREATE" in q["sql"]]
            assert built and all("CREATE INDEX CONCURRENTLY" in sql for sql in built), built
        migrate_app_to(("signals", "0013_repair_impossible_device_times"))
        assert indexes() == {recent}
    finally:
        migrate_to_latest()
