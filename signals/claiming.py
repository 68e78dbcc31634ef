"""The dispatcher's claim: which due signals it may take next, and taking them with a lease.

A signal may be claimed when it is pending, due (``next_attempt_at`` passed), no live lease
holds it, and it is the oldest pending signal of its account (station and account number): an
account never has two signals in flight. Highest priority goes first (priority, then
``next_attempt_at``, then id).

On PostgreSQL the claim must cost what a batch costs, not what the backlog costs, whatever the
table's statistics say (a storm of 100,000 troubles lands faster than autovacuum re-analyses
the table, and a storm smaller than a tenth of a long history never triggers it). So the
query is shaped to leave the planner one way through:

* the partial index ``signals_signal_due`` (priority, next_attempt_at, id) WHERE pending is
  walked in the claim's order, and the walk stops at the batch's last row (``LIMIT``);
* the per-account rule asks, per candidate, for the first id of its account in the order of
  the partial index ``signals_signal_pending_account`` (station, account number, id) and
  compares: one probe. A scalar subquery with ``LIMIT`` is never flattened into a join, and
  its ``ORDER BY`` can only be served by an index on (station, account number, id): with
  statistics that say "nothing is pending", an ``EXISTS`` became a join, or a probe walking
  ``signals_signal_due`` with only ``id <`` as its condition, reading every pending row for
  each candidate (seconds per claim);
* inside the claim's transaction, sorts, sequential and bitmap scans are off
  (``SET LOCAL``), so statistics that predate a bulk load cannot make a whole-backlog sort look
  cheap, nor serve the probe's order by sorting;
* the UPDATE that leases the claimed rows finds them by primary key alone (``lease_query``).
  ``tests/signals/test_claim_plan.py`` checks both claims' plans (all priorities; alarms
  only) and the lease's after a bulk load without ANALYZE.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import OuterRef, Subquery

from signals.models import Signal

# What sending and recording a signal reads from its row (the rest stays in the database).
CLAIMED_FIELDS = (
    "id",
    "reference",
    "payload",
    "protocol",
    "receiver_id",
    "account_number",
    "transmitted_number",
    "qualifier",
    "event_code",
    "partition",
    "zone",
    "priority",
    "next_attempt_at",
    "event_time",
    "site_name",
    "zone_description",
    "camera_description",
    "video_url",
    "attempts",
    "deadline_at",
    "lease_owner",
    "lease_expires_at",
)
PENDING = Signal.State.PENDING
# The claim's order; the partial index signals_signal_due holds exactly this.
CLAIM_ORDER = ("priority", "next_attempt_at", "id")
# Planner settings for the claim's transaction only (see the module's docstring).
PLANNER_SETTINGS = (
    "SET LOCAL enable_sort = off; SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off"
)


def claimable(now: datetime):
    """Due signals that are the oldest pending signal of their station and account number."""
    head = (
        Signal.objects.filter(
            station_id=OuterRef("station_id"),
            account_number=OuterRef("account_number"),
            state=Signal.State.PENDING,
        )
        # The order of signals_signal_pending_account: the first entry is the account's head.
        .order_by("station_id", "account_number", "id")
        .values("id")[:1]
    )
    return Signal.objects.due(now).filter(id=Subquery(head))


def claim_query(now: datetime, limit: int, *, most: int | None = None, unleased_only: bool = False):
    """The claim's SELECT: the batch to lease, in the order to send it, rows locked; with
    ``most``, only priorities up to that (the index's first column: a short range). With
    ``unleased_only``, not the signals whose lease ran out (just after a database outage,
    their dispatchers may still be recording them: ``signals.recovery``)."""
    signals = claimable(now)
    if most is not None:
        signals = signals.filter(priority__lte=most)
    if unleased_only:
        signals = signals.filter(lease_expires_at__isnull=True)
    return (
        signals
        # SQLite has no row locks: Django leaves FOR UPDATE out and the conditional
        # UPDATE in ``claim`` (under SQLite's database lock) keeps the claim exclusive.
        .select_for_update(skip_locked=True, of=("self",))
        .order_by(*CLAIM_ORDER)
        .only(*CLAIMED_FIELDS)[:limit]
    )


def lease_query(ids: list[int], now: datetime):
    """The claimed rows, for the UPDATE that leases them (in the claim's transaction)."""
    if connection.vendor == "postgresql":
        # The SELECT locked them, due (PostgreSQL checks a row's conditions again on its
        # newest version before it locks it): nothing else changes them until this commits.
        # By primary key alone: any condition that implies "pending" lets the planner, with
        # statistics from before a bulk load, walk a whole partial index (every pending row:
        # ~35 ms per claim at 100,000 pending, ~90 ms on a loaded machine) instead of
        # probing the ids.
        return Signal.objects.filter(pk__in=ids)
    # SQLite has no row locks: the conditions keep the claim exclusive.
    return Signal.objects.due(now).filter(pk__in=ids)


def order_key(signal: Signal) -> tuple:
    """A claimed signal's place in the claim's order."""
    return (signal.priority, signal.next_attempt_at, signal.pk)


def claim(
    *,
    owner: str,
    limit: int,
    lease_seconds: float,
    now: datetime,
    most: int | None = None,
    unleased_only: bool = False,
) -> list[Signal]:
    """Lease up to ``limit`` due signals to ``owner``, in the order to send them (with
    ``most``, only those of priority ``most`` or more urgent; ``unleased_only``: see
    ``claim_query``)."""
    expires = now + timedelta(seconds=lease_seconds)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(PLANNER_SETTINGS)
        signals = list(claim_query(now, limit, most=most, unleased_only=unleased_only))
        if not signals:
            return []
        ids = [signal.pk for signal in signals]
        leased = lease_query(ids, now).update(lease_owner=owner, lease_expires_at=expires)
    if leased != len(signals):
        mine = set(
            Signal.objects.filter(
                pk__in=ids, lease_owner=owner, lease_expires_at=expires
            ).values_list("pk", flat=True)
        )
        signals = [signal for signal in signals if signal.pk in mine]
    for signal in signals:
        signal.lease_owner, signal.lease_expires_at = owner, expires
    return signals


def locked_rows(ids: list[int]) -> dict[int, tuple[str, str]]:
    """Lock these signals' rows and read each one's state and lease owner, which stay so until
    the transaction ends; the caller then writes them by primary key.

    By primary key alone, in id order (so that two writers never wait for each other
    crosswise): a condition such as "pending" would let the planner, with statistics from
    before a storm's bulk load, walk a whole partial index of pending signals for each
    statement (~25 ms at 100,000 pending). The lock is the one an UPDATE takes anyway (FOR NO
    KEY UPDATE): it does not wait for another dispatcher inserting an attempt of the same
    signal (whose foreign key holds a key-share lock on the row)."""
    if not ids:
        return {}
    rows = (
        Signal.objects.filter(pk__in=ids)
        .order_by("pk")
        .select_for_update(no_key=True)
        .values_list("pk", "state", "lease_owner")
    )
    return {pk: (state, owner) for pk, state, owner in rows}


def renew(
    signals: list[Signal], *, owner: str, lease_seconds: float, now: datetime
) -> list[Signal]:
    """Extend the leases still ``owner``'s; drop the signals whose lease another took."""
    if not signals:
        return []
    expires = now + timedelta(seconds=lease_seconds)
    ids = [signal.pk for signal in signals]
    with transaction.atomic():
        rows = locked_rows(ids)
        kept = {pk for pk, row in rows.items() if row == (PENDING, owner)}
        if kept:
            Signal.objects.filter(pk__in=kept).update(lease_expires_at=expires)
    if len(kept) != len(ids):
        signals = [signal for signal in signals if signal.pk in kept]
    for signal in signals:
        signal.lease_expires_at = expires
    return signals
