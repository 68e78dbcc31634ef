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
* the UPDATE that leases the claimed rows finds them by primary key alone: the claim is one
  statement, ``UPDATE ... WHERE id = ANY(ARRAY(<the SELECT above>)) RETURNING ...``, whose
  SELECT runs once and whose UPDATE probes the primary key with the ids it gave.
  ``tests/signals/test_claim_plan.py`` checks both claims' plans (all priorities; alarms
  only) after a bulk load without ANALYZE.

The statement is compiled by Django once per process and shape (batch size, priority range,
grace), with stand-ins where the values go (``_Statement``): compiling the claim cost more of
the dispatcher's time than PostgreSQL took to run it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F, OuterRef, PositiveIntegerField, Subquery, Value

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
    """The claimed rows, for the UPDATE that leases them (SQLite: in the claim's transaction,
    under its database lock; the conditions keep the claim exclusive)."""
    return Signal.objects.due(now).filter(pk__in=ids)


# Stand-ins the claim's statement is compiled with, each a value no claim uses.
_NOW = datetime(1901, 1, 1, 0, 0, 1, tzinfo=UTC)
_EXPIRES = datetime(1901, 1, 1, 0, 0, 2, tzinfo=UTC)
_OWNER = "\u2063claim-owner\u2063"
_MOST = 32_123


_STAND_INS = {_OWNER: "owner", _EXPIRES: "expires", _NOW: "now", _MOST: "most"}


@dataclass(frozen=True)
class _Statement:
    """The claim's SQL and its parameters, the stand-ins' places named (``slots``)."""

    sql: str
    template: tuple
    slots: tuple[tuple[int, str], ...]

    def params(self, **values) -> list:
        params = list(self.template)
        for index, name in self.slots:
            params[index] = values[name]
        return params


_statements: dict[tuple, _Statement] = {}
_statements_lock = threading.Lock()


def claim_statement(limit: int, *, most: int | None, unleased_only: bool) -> _Statement:
    """One statement that selects the batch (rows locked, ``SKIP LOCKED``), leases it and
    returns its rows (PostgreSQL): the SELECT of ``claim_query`` inside an UPDATE by primary
    key."""
    key = (limit, most is not None, unleased_only)
    statement = _statements.get(key)
    if statement is not None:
        return statement
    with _statements_lock, transaction.atomic():  # FOR UPDATE compiles only in a transaction
        select = claim_query(
            _NOW, limit, most=_MOST if most is not None else None, unleased_only=unleased_only
        )
        ids_sql, ids_params = select.values_list("id").query.sql_with_params()
        table = connection.ops.quote_name(Signal._meta.db_table)
        # In the model's field order, as ``Model.from_db`` takes a subset of the fields.
        columns = (f.column for f in Signal._meta.concrete_fields if f.attname in CLAIMED_FIELDS)
        returned = ", ".join(f"claimed.{connection.ops.quote_name(c)}" for c in columns)
        sql = (
            f"UPDATE {table} AS claimed SET lease_owner = %s, lease_expires_at = %s "
            f"WHERE claimed.id = ANY(ARRAY({ids_sql})) RETURNING {returned}"
        )
        template = (_OWNER, _EXPIRES, *ids_params)
        slots = tuple(
            (index, _STAND_INS[p])
            for index, p in enumerate(template)
            if isinstance(p, str | datetime | int) and p in _STAND_INS
        )
        named = {name for _, name in slots}
        if named != {"owner", "expires", "now", *(["most"] if most is not None else [])} or any(
            str(v) in sql for v in (_OWNER, _MOST)
        ):
            raise AssertionError(f"the claim did not compile to parameters: {sql} {template}")
        statement = _Statement(sql, template, slots)
        _statements[key] = statement
    return statement


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
    if connection.vendor != "postgresql":
        return _claim_elsewhere(owner, limit, now, expires, most, unleased_only)
    statement = claim_statement(limit, most=most, unleased_only=unleased_only)
    params = statement.params(owner=owner, expires=expires, now=now, most=most)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(PLANNER_SETTINGS)
        # Its timestamps are read by psycopg's C loader, as every query's (portal.timestamps).
        cursor.execute(statement.sql, params)
        rows = cursor.fetchall()
    alias = connection.alias
    signals = [Signal.from_db(alias, _CLAIMED, row) for row in rows]
    signals.sort(key=order_key)  # RETURNING keeps no order
    return signals


# ``Model.from_db`` asks of each model field whether it was read: a set answers at once.
_CLAIMED = frozenset(CLAIMED_FIELDS)


def _claim_elsewhere(owner, limit, now, expires, most, unleased_only) -> list[Signal]:
    """SQLite: SELECT, then a conditional UPDATE under the database lock."""
    with transaction.atomic():
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
    if connection.vendor == "postgresql":
        # The same statement as below, without compiling it each time (one array parameter).
        with connection.cursor() as cursor:
            cursor.execute(_LOCKED_ROWS, [ids])
            return {pk: (state, owner) for pk, state, owner in cursor.fetchall()}
    rows = (
        Signal.objects.filter(pk__in=ids)
        .order_by("pk")
        .select_for_update(no_key=True)
        .values_list("pk", "state", "lease_owner")
    )
    return {pk: (state, owner) for pk, state, owner in rows}


_LOCKED_ROWS = (
    "SELECT id, state, lease_owner FROM signals_signal WHERE id = ANY(%s::bigint[]) "
    "ORDER BY id FOR NO KEY UPDATE"
)


# The type of a number added to a column (one instance, not one per signal written).
_ADDED = PositiveIntegerField()


def write_by_pk(
    ids: list[int], fields: dict[str, Any], *, add: dict[str, int] | None = None
) -> None:
    """Write ``fields`` to these signals and add ``add``'s numbers to theirs (the database adds
    them to whatever the row holds by then), finding the rows by primary key alone (as
    ``locked_rows`` says why): every write of the recording step and of a renewal, without
    compiling a query per batch on PostgreSQL."""
    add = add or {}
    if connection.vendor != "postgresql":
        added = {name: F(name) + Value(number, output_field=_ADDED) for name, number in add.items()}
        Signal.objects.filter(pk__in=ids).update(**fields, **added)
        return
    quote = connection.ops.quote_name
    sets, params = [], []
    for name, value in fields.items():
        field = Signal._meta.get_field(name)
        sets.append(f"{quote(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    for name, number in add.items():
        column = quote(Signal._meta.get_field(name).column)
        sets.append(f"{column} = {column} + %s")
        params.append(number)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE signals_signal SET {', '.join(sets)} WHERE id = ANY(%s::bigint[])",
            [*params, ids],
        )


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
            write_by_pk(sorted(kept), {"lease_expires_at": expires})
    if len(kept) != len(ids):
        signals = [signal for signal in signals if signal.pk in kept]
    for signal in signals:
        signal.lease_expires_at = expires
    return signals
