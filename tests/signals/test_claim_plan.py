"""The claim walks its index whatever the statistics say (PostgreSQL).

A storm lands faster than autovacuum re-analyses the outbox: right after a bulk load, the
table's statistics still describe a history of delivered signals with nothing pending. The
claim must then still read one batch's worth of rows in index order, not sort the backlog
and not scan every pending row once per candidate (seconds per claim at 100,000 pending).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from signals import claiming
from signals.dispatcher import Dispatcher
from signals.models import DeliveryAttempt, Signal
from signals.sending import Attempt, Result
from tests.factories import SignalFactory
from tests.signals.processes import needs_postgresql

pytestmark = [pytest.mark.django_db, needs_postgresql]

HISTORY = 2_000
BACKLOG = 20_000
BATCH = settings.SIGNAL_DISPATCH_BATCH  # what a dispatcher claims at once

# Columns copied from the template row; the rest are set per row below.
VARIED = {"id", "code", "reference", "account_number", "state", "priority", "delivered_at"}


def bulk_copy(template: Signal, count: int, *, state: str, first: int, priority: str) -> None:
    """``count`` copies of ``template`` in one INSERT: two per account number, from ``first``."""
    columns = [
        f.column for f in Signal._meta.concrete_fields if f.column not in VARIED | {"event_id"}
    ]
    columns += ["event_id"]
    kept = ", ".join(f'"{c}"' for c in columns)
    copied = ", ".join(f't."{c}"' for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO signals_signal
                ({kept}, code, reference, account_number, state, priority, delivered_at)
            SELECT {copied}, gen_random_uuid(), 'bulk-' || (%s + g),
                   (%s + g / 2)::text, %s, {priority},
                   CASE WHEN %s = 'delivered' THEN now() END
            FROM signals_signal t, generate_series(1, %s) AS g
            WHERE t.id = %s
            """,
            [first, first, state, state, count, template.pk],
        )


def claim_plan(most: int | None = None) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the claim's statement (select, lock and lease), as the
    claim runs it: in a transaction with its planner settings, rolled back."""
    statement = claiming.claim_statement(BATCH, most=most, unleased_only=False)
    now = timezone.now()
    params = statement.params(owner="plan-test", expires=now, now=now, most=most)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(claiming.PLANNER_SETTINGS)
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement.sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def check_plan(plan: str, *, rows: int) -> None:
    """The claim walked signals_signal_due in order, probed each candidate's account, and
    leased what it found by primary key."""
    assert "Sort" not in plan, plan
    assert "Seq Scan" not in plan and "Bitmap" not in plan, plan
    assert "Index Scan using signals_signal_due on signals_signal " in plan, plan
    # The per-account rule is a probe per candidate with the candidate's values as the index
    # condition: not a join that reads every pending row for each candidate, nor a walk of the
    # due index with only "id <" to go on.
    assert "Join" not in plan, plan
    assert "signals_signal_due on signals_signal u0" not in plan, plan
    assert re.search(
        r"Index (Only )?Scan using signals_signal_pending_account on signals_signal u0 .*\n"
        r"\s+Index Cond: \(\(station_id = ",
        plan,
    ), plan
    limit = re.search(
        r"^\s*(?:->\s+)?Limit .*actual time=[\d.]+\.\.[\d.]+ rows=(\d+).*\n"
        r"\s+Buffers: shared hit=(\d+)(?: read=(\d+))?",
        plan,
        re.M,
    )
    assert limit and int(limit[1]) == rows, plan
    # One batch's worth of pages, not the backlog's (20,000 rows fill ~700 heap pages; every
    # candidate costs a few index pages and one heap page).
    assert int(limit[2]) + int(limit[3] or 0) < 20 * BATCH, plan
    # The lease probes the claimed ids, not every pending row (a walk of a partial index with
    # the ids as a filter, ~35 ms per claim at 100,000 pending, once held alarms up in a storm).
    lease = re.search(
        r"Index Scan using signals_signal_pkey on signals_signal claimed .*\n"
        r"\s+Index Cond: \(id = ANY \(\$\d+\)\)\n"
        r"\s+Buffers: shared hit=(\d+)(?: read=(\d+))?",
        plan,
    )
    assert lease, plan
    # The scan's own pages (the UPDATE's, above it, count the rows' new versions): a few per
    # id, not the backlog's.
    assert int(lease[1]) + int(lease[2] or 0) < 10 * BATCH, plan


def storm_without_analyze() -> None:
    template = SignalFactory(state=Signal.State.DELIVERED, delivered_at=timezone.now())
    with connection.cursor() as cursor:
        # Statistics as they were before the storm: a delivered history, nothing pending. (The
        # test's transaction is never committed, so autovacuum never counts these rows.)
        bulk_copy(template, HISTORY, state="delivered", first=1_000_000, priority="5")
        cursor.execute("ANALYZE signals_signal")
        # The storm: troubles (two per account), and a few fires among them, never analysed.
        bulk_copy(template, BACKLOG, state="pending", first=2_000_000, priority="5")
        bulk_copy(template, 50, state="pending", first=3_000_000, priority="1")


def test_the_claim_walks_its_index_right_after_a_bulk_load_without_analyze():
    storm_without_analyze()
    fires = Signal.objects.filter(state=Signal.State.PENDING, priority=1)
    heads = fires.values("account_number").distinct().count()

    check_plan(claim_plan(), rows=BATCH)
    # The alarms-only claim a busy dispatcher runs every 20 ms: the same shape (its probe once
    # walked the due index, reading every pending row per alarm, in a storm).
    check_plan(claim_plan(most=4), rows=heads)

    # And the claim takes the fires first, never two of one account.
    claimed = claiming.claim(owner="plan-test", limit=BATCH, lease_seconds=60, now=timezone.now())
    assert len(claimed) == BATCH
    priorities = [s.priority for s in claimed]
    assert priorities == [1] * heads + [5] * (BATCH - heads)
    accounts = [s.account_number for s in claimed]
    assert len(set(accounts)) == len(accounts)


def answered(outcome: str) -> Attempt:
    if outcome == DeliveryAttempt.Outcome.DELIVERED:
        return Attempt(None, timezone.now(), 5, outcome, status="accepted")
    return Attempt(None, timezone.now(), 5, outcome, error="no reply in time")


def test_the_recording_step_finds_its_rows_by_primary_key_right_after_a_bulk_load():
    """A batch's outcomes (delivered, to retry, leases handed back) and renewed leases are
    written by primary key: a condition such as "pending" once let each retry's UPDATE walk
    every pending row."""
    storm_without_analyze()
    recording = Dispatcher(name="plan-test", lease_seconds=60, listen=False)
    try:
        claimed = claiming.claim(
            owner=recording.lease_owner, limit=BATCH, lease_seconds=60, now=timezone.now()
        )
        Signal.objects.filter(pk__in=[s.pk for s in claimed]).update(
            deadline_at=timezone.now() + timedelta(hours=1)
        )
        for signal in claimed:
            signal.refresh_from_db(fields=["deadline_at"])
        sent, held = claimed[:-10], claimed[-10:]
        outcomes = [
            DeliveryAttempt.Outcome.DELIVERED if n % 2 else DeliveryAttempt.Outcome.TIMEOUT
            for n in range(len(sent))
        ]
        results = [
            Result(signal, attempts=[answered(outcome)])
            for signal, outcome in zip(sent, outcomes, strict=True)
        ]
        with CaptureQueriesContext(connection) as queries:
            renewed = claiming.renew(
                claimed, owner=recording.lease_owner, lease_seconds=60, now=timezone.now()
            )
            recording._write(results, held)
    finally:
        recording.wakeup.close()

    assert renewed == claimed
    statements = [q["sql"] for q in queries if q["sql"].startswith(("SELECT", "UPDATE"))]
    assert len(statements) >= 5, statements
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "signals_signal_pkey" in plan, plan
            assert "pending_account" not in plan and "signals_signal_due" not in plan, plan
    # What was written is what the outcomes say.
    states = dict(Signal.objects.filter(pk__in=[s.pk for s in claimed]).values_list("pk", "state"))
    for signal, outcome in zip(sent, outcomes, strict=True):
        expected = "delivered" if outcome == DeliveryAttempt.Outcome.DELIVERED else "pending"
        assert states[signal.pk] == expected
    leased = Signal.objects.filter(
        pk__in=[s.pk for s in claimed], lease_owner=recording.lease_owner
    )
    assert not leased.exists()


def test_the_outbox_leaves_room_on_its_pages_for_the_lease():
    """The lease changes no indexed column: with room on the row's page (fillfactor 50) every
    lease is written in place, as a heap-only tuple, not as a new entry in each of the table's
    indexes (at 70, one in two was not)."""
    template = SignalFactory()
    bulk_copy(template, 500, state="pending", first=4_000_000, priority="5")
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'signals_signal'")
        assert "fillfactor=50" in (cursor.fetchone()[0] or [])
        before = updates_so_far(cursor)
        claimed = claiming.claim(owner="hot", limit=BATCH, lease_seconds=60, now=timezone.now())
        assert len(claimed) == BATCH
        after = updates_so_far(cursor)
    assert (after[0] - before[0], after[1] - before[1]) == (BATCH, BATCH)


def updates_so_far(cursor):
    """The outbox's row updates and, of them, heap-only ones this connection has counted.

    PostgreSQL 15 flushes a backend's counts at most once a second, and until then its
    pg_stat_xact_* views also hold earlier transactions' counts: only a difference read
    twice in one transaction is this transaction's."""
    cursor.execute(
        "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables"
        " WHERE relname = 'signals_signal'"
    )
    return cursor.fetchone()


def test_a_claimed_signal_carries_the_times_its_row_holds_in_utc():
    """The claim reads its time columns with psycopg's own loader (in C) instead of Django's:
    the values must be the same aware UTC datetimes Django reads."""
    now = timezone.now()
    signal = SignalFactory(next_attempt_at=now - timedelta(seconds=5))

    (claimed,) = claiming.claim(owner="times", limit=BATCH, lease_seconds=60, now=now)

    stored = Signal.objects.get(pk=signal.pk)
    for name in ("next_attempt_at", "event_time", "deadline_at", "lease_expires_at"):
        value = getattr(claimed, name)
        assert value == getattr(stored, name), name
        assert value.utcoffset() == timedelta(0), name
    assert claimed.lease_expires_at == now + timedelta(seconds=60)
