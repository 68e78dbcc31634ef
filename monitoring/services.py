"""Writes on the operator side: the record that an operator opened a site, the verdicts they
record on events, and turning both into events for the operator's own station
(``operator_actions_report``, run by the task engine outside the request).

An opening is also the outbox of the "cameras viewed" signal (``SiteOpening.reported_at``), so
once an operator has been shown a site its opening must be on disk. On PostgreSQL that costs a
WAL flush at commit: on a virtual disk about as long as the whole page. The deep link therefore
sends the INSERT on a connection of its own without waiting for it (``opening_record_started``:
libpq's asynchronous interface, no thread), reads and renders the page meanwhile, and collects
the commit before the page is sent (``PendingOpening.wait``); the connection is kept between
deep links (``_SideConnections``). The operator waits for the flush only where it outlasts the
page; the guarantee is the plain one of a synchronous commit: a page that was served has its
opening committed and flushed, whatever crashes afterwards. A write that fails fails the page.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper as DatabaseWrapper
from django.utils import timezone
from psycopg import pq

from customers.models import Customer
from monitoring.models import SiteOpening, Verdict
from signals.lib import EventKind
from signals.models import AlarmEvent
from signals.services import event_record
from stations.models import MonitoringStation

logger = logging.getLogger(__name__)

# How many rows of each kind one run of the reporting task turns into events; the next run
# (or the next verdict) takes the rest.
REPORT_BATCH = 200

VERDICT_KINDS = {
    Verdict.Outcome.REAL: EventKind.VERDICT_REAL,
    Verdict.Outcome.FALSE_ALARM: EventKind.VERDICT_FALSE_ALARM,
    Verdict.Outcome.UNVERIFIED: EventKind.VERDICT_UNVERIFIED,
}


def opening_record(
    *,
    user,
    customer: Customer,
    station: MonitoringStation,
    zone: int | None,
    parameters: dict[str, str],
) -> SiteOpening:
    """Remember who opened which site, when, and with which link (for "also opened by")."""
    return SiteOpening.objects.create(
        user=user, customer=customer, station=station, zone=zone, parameters=parameters
    )


class PendingOpening:
    """An opening being written while the page is built; ``wait()`` before serving the page."""

    def __init__(self, *, opening: SiteOpening | None = None, sent: _Sent | None = None) -> None:
        self._opening = opening
        self._sent = sent

    def wait(self) -> SiteOpening:
        """The committed opening; raises the write's error (a ``DatabaseError``) if it failed."""
        if self._sent is not None:
            sent, self._sent = self._sent, None
            self._opening = sent.committed()
        return self._opening

    def abandon(self) -> None:
        """For a page that will not be served: collect the write (its connection goes back)
        and keep whatever became of it to itself."""
        try:
            self.wait()
        except DatabaseError:
            logger.warning("An opening's write failed for a page that failed too", exc_info=True)


def opening_record_started(
    *,
    user,
    customer: Customer,
    station: MonitoringStation,
    zone: int | None,
    parameters: dict[str, str],
) -> PendingOpening:
    """Start recording an opening; its commit overlaps whatever the caller does until ``wait``.

    Inside a transaction (a test, or ATOMIC_REQUESTS) the row belongs to that transaction, and
    on SQLite (``make run``) a second writer would only queue behind the first: both write
    here and now, on the caller's connection.
    """
    fields = {
        "user_id": user.pk,
        "customer_id": customer.pk,
        "station_id": station.pk,
        "zone": zone,
        "parameters": parameters,
    }
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return PendingOpening(opening=SiteOpening.objects.create(**fields))
    # ``auto_now_add``'s value, taken here: the INSERT runs no model code.
    fields["opened_at"] = timezone.now()
    return PendingOpening(sent=_Sent.send(connection.alias, fields))


# The columns the INSERT fills, in its order (the others keep their defaults).
_WRITTEN = ("user", "customer", "station", "opened_at", "zone", "parameters")


@functools.cache
def _insert_sql() -> bytes:
    """The opening's INSERT with libpq's own placeholders ($1...), sent as it is."""
    meta, quote = SiteOpening._meta, connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in _WRITTEN)
    marks = ", ".join(f"${number}" for number in range(1, len(_WRITTEN) + 1))
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks}) RETURNING id".encode()


def _as_text(value: Any) -> bytes | None:
    """A value as PostgreSQL reads it in text format (the column gives it its type)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().encode()
    if isinstance(value, dict):
        return json.dumps(value).encode()
    return str(value).encode()


# How long a deep link waits for its opening's commit before it gives up and asks the operator
# to reload (a lock held on the table, a disk that stopped answering): far above a commit's few
# milliseconds, far below an operator's patience.
WRITE_DEADLINE_SECONDS = 10.0


class _Sent:
    """An opening's INSERT sent on a connection beside the request's own, through libpq's
    asynchronous interface: sending does not wait for the server, and the commit is collected
    only when the page is ready (``committed``). No thread is involved, so the write takes
    nothing from the interpreter while the page is read and rendered; the server runs the
    INSERT and flushes its commit meanwhile."""

    def __init__(self, side: DatabaseWrapper, fields: dict) -> None:
        self._side = side
        self._fields = fields

    @classmethod
    def send(cls, alias: str, fields: dict) -> _Sent:
        params = [_as_text(fields[SiteOpening._meta.get_field(name).attname]) for name in _WRITTEN]
        side = _side_connections().take(alias)
        try:
            with side.wrap_database_errors:
                pgconn = side.connection.pgconn
                pgconn.send_query_params(_insert_sql(), params)
                # psycopg keeps its connections non-blocking: what the socket did not take at
                # once is sent here.
                _wait_until(pgconn, lambda: pgconn.flush() == 0, select.POLLOUT)
        except BaseException:
            _side_connections().give_back(side, failed=True)
            raise
        return cls(side, fields)

    def committed(self) -> SiteOpening:
        """Wait for the server's answer: the row's id once its transaction has committed (the
        server says it is ready for the next query only after the commit's WAL flush)."""
        try:
            with self._side.wrap_database_errors:
                pk = _inserted_id(self._side.connection.pgconn)
        except BaseException:
            _side_connections().give_back(self._side, failed=True)
            raise
        _side_connections().give_back(self._side, failed=False)
        opening = SiteOpening(pk=pk, **self._fields)
        opening._state.adding = False
        opening._state.db = self._side.alias
        return opening


def _wait_until(pgconn: Any, done: Callable[[], bool], event: int) -> None:
    """Poll the connection's socket for ``event`` until ``done()``, within the deadline."""
    deadline = time.monotonic() + WRITE_DEADLINE_SECONDS
    poller = select.poll()
    poller.register(pgconn.socket, event)
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            # The INSERT is called off, so that it does not land after the page was refused.
            try:
                pgconn.get_cancel().cancel()
            except Exception:  # the connection is dropped as failed either way
                logger.debug("Could not cancel an opening's write", exc_info=True)
            raise DatabaseError(f"The opening was not recorded within {WRITE_DEADLINE_SECONDS:g} s")
        poller.poll(left * 1000)


def _inserted_id(pgconn: Any) -> int:
    """Read every result of the one INSERT sent, up to the end of its transaction (libpq gives
    no more results only once the server is ready for the next query, after the commit)."""

    def answered() -> bool:
        pgconn.consume_input()
        return not pgconn.is_busy()

    inserted, error = None, None
    while True:
        _wait_until(pgconn, answered, select.POLLIN)
        result = pgconn.get_result()
        if result is None:
            break
        if result.status == pq.ExecStatus.TUPLES_OK and result.ntuples == 1:
            inserted = int(result.get_value(0, 0))
        else:
            error = result.error_message.decode(errors="replace").strip() or "no row inserted"
    if error is not None or inserted is None:
        raise DatabaseError(f"The opening was not recorded: {error or 'no answer'}")
    return inserted


class _SideConnections:
    """The process's connections for openings, each used by one deep link at a time. A deep
    link takes the connection given back last; one idle for longer than
    ``settings.OPENING_WRITER_IDLE_SECONDS`` goes back to the pool (or is closed) by a thread
    that wakes for nothing else, one that failed is never used again, and one the server closed
    or wrote to while it was idle (a restart) is dropped before use. Taking a connection from
    the pool costs a round trip (its health check): with the connection kept, a deep link's
    write is its INSERT alone."""

    # More than a threaded worker usually runs at once; extra connections go back at once.
    KEPT = 4

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._idle: list[tuple[DatabaseWrapper, float]] = []
        self._reaper: threading.Thread | None = None

    def take(self, alias: str) -> DatabaseWrapper:
        chosen, stale = None, []
        with self._lock:
            for side, _ in reversed(self._idle):
                if not _still_open(side):
                    stale.append(side)
                elif chosen is None and side.alias == alias:
                    chosen = side
            self._idle = [(s, t) for s, t in self._idle if s is not chosen and s not in stale]
        for side in stale:
            _close(side, failed=True)
        if chosen is not None:
            return chosen
        side = connections.create_connection(alias)
        # Taken and given back by whichever request thread writes an opening.
        side.inc_thread_sharing()
        try:
            side.ensure_connection()
        except BaseException:
            _close(side, failed=True)
            raise
        return side

    def give_back(self, side: DatabaseWrapper, *, failed: bool) -> None:
        idle = settings.OPENING_WRITER_IDLE_SECONDS
        keep = not failed and idle > 0
        if keep:
            with self._lock:
                keep = len(self._idle) < self.KEPT
                if keep:
                    self._idle.append((side, time.monotonic()))
                    if self._reaper is None:
                        self._reaper = threading.Thread(
                            target=self._reap, name="opening-connections", daemon=True
                        )
                        self._reaper.start()
                    elif len(self._idle) == 1:
                        self._lock.notify()
        if not keep:
            _close(side, failed=failed)

    def _reap(self) -> None:
        """Give back connections idle for longer than the idle time: wakes once per idle time
        while any is kept, never per deep link."""
        while True:
            with self._lock:
                while not self._idle:
                    self._lock.wait()
                limit = settings.OPENING_WRITER_IDLE_SECONDS
                self._lock.wait(limit)
                now = time.monotonic()
                expired = [(s, t) for s, t in self._idle if now - t > limit]
                self._idle = [(s, t) for s, t in self._idle if now - t <= limit]
            for side, _ in expired:
                _close(side)

    def release(self) -> None:
        """Give every kept connection back (before the database they belong to goes away, and
        at exit)."""
        with self._lock:
            kept, self._idle = self._idle, []
            self._lock.notify_all()
        for side, _ in kept:
            _close(side)


def _still_open(side: DatabaseWrapper) -> bool:
    """An idle connection the server neither closed nor wrote to (a server shutting down sends
    its goodbye first): nothing may be waiting to be read on it."""
    raw = side.connection
    if raw is None or raw.closed or raw.pgconn.status != pq.ConnStatus.OK:
        return False
    if raw.pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    poller = select.poll()
    poller.register(raw.pgconn.socket, select.POLLIN)
    return not poller.poll(0)


def _close(side: DatabaseWrapper, *, failed: bool = False) -> None:
    """Back to the pool, or closed; a connection whose write failed is closed first, so that
    the pool replaces it rather than lend it again."""
    try:
        if failed and side.connection is not None:
            side.connection.close()
        side.close()
    except Exception:  # a broken connection's goodbye: nothing to keep either way
        logger.debug("Could not close an opening connection cleanly", exc_info=True)
        side.connection = None


_sides: _SideConnections | None = None
_sides_pid = 0
_sides_lock = threading.Lock()


def _side_connections() -> _SideConnections:
    """The process's kept connections (a worker forked from a process that kept some starts
    with none of its own: a connection cannot be shared across a fork)."""
    global _sides, _sides_pid
    with _sides_lock:
        if _sides is None or _sides_pid != os.getpid():
            _sides = _SideConnections()
            _sides_pid = os.getpid()
            atexit.register(_release_at_exit, _sides, _sides_pid)
        return _sides


def _release_at_exit(sides: _SideConnections, pid: int) -> None:
    # A forked child inherits its parent's exit handlers: it must not say goodbye on its
    # parent's sockets.
    if os.getpid() == pid:
        sides.release()


def opening_connections_release() -> None:
    """Give back the connections kept for openings (before their database is dropped)."""
    _side_connections().release()


def verdict_record(
    *,
    event: AlarmEvent,
    station: MonitoringStation,
    user,
    outcome: str,
    note: str,
) -> Verdict:
    """Store an operator's verdict; its signal to the station follows outside the request."""
    verdict = Verdict(
        event=event,
        customer_id=event.customer_id,
        station=station,
        user=user,
        outcome=outcome,
        note=note.strip(),
    )
    verdict.full_clean(exclude=["event", "customer", "station", "user", "signal_event"])
    with transaction.atomic():
        verdict.save()
        transaction.on_commit(_report_soon)
    return verdict


def _report_soon() -> None:
    """Ask the task engine to report now rather than at the next scheduled run."""
    from django_q.tasks import async_task

    async_task("monitoring.tasks.report_operator_actions")


def operator_actions_report(*, now: datetime | None = None) -> int:
    """Turn unreported openings and verdicts into events for their station; returns how many.

    Each row is locked, checked still unreported, turned into its event (with its signal) and
    marked reported in one transaction: a row is signalled once, however many workers run this
    at once (``SKIP LOCKED``: a row another worker holds is its to finish), and a worker that
    dies mid-way rolls back both the event and the mark, so the row is taken again.
    """
    now = now or timezone.now()
    done = 0
    opening_ids = list(
        SiteOpening.objects.filter(reported_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)[:REPORT_BATCH]
    )
    for opening_id in opening_ids:
        done += _opening_report(opening_id, now=now)
    verdict_ids = list(
        Verdict.objects.filter(reported_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)[:REPORT_BATCH]
    )
    for verdict_id in verdict_ids:
        done += _verdict_report(verdict_id, now=now)
    return done


def _opening_report(opening_id: int, *, now: datetime) -> int:
    with transaction.atomic():
        opening = (
            SiteOpening.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=opening_id, reported_at__isnull=True)
            .select_related("customer", "station", "user")
            .first()
        )
        if opening is None:
            return 0
        who = opening.user.get_username() if opening.user else "a former operator"
        event_record(
            customer=opening.customer,
            kind=EventKind.CAMERAS_VIEWED,
            zone=opening.zone,
            occurred_at=opening.opened_at,
            source=AlarmEvent.Source.OPERATOR,
            description=f"Cameras viewed by {who} at {opening.station.name}",
            actor=opening.user,
            only_station=opening.station,
        )
        opening.reported_at = now
        opening.save(update_fields=["reported_at"])
    return 1


def _verdict_report(verdict_id: int, *, now: datetime) -> int:
    with transaction.atomic():
        verdict = (
            Verdict.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=verdict_id, reported_at__isnull=True)
            .select_related("event", "customer", "station", "user")
            .first()
        )
        if verdict is None:
            return 0
        who = verdict.user.get_username() if verdict.user else "a former operator"
        event = event_record(
            customer=verdict.customer,
            kind=VERDICT_KINDS[verdict.outcome],
            zone=verdict.event.zone_number,
            occurred_at=verdict.recorded_at,
            source=AlarmEvent.Source.OPERATOR,
            description=f"{verdict.get_outcome_display()} by {who}: {verdict.note}",
            actor=verdict.user,
            only_station=verdict.station,
        )
        verdict.reported_at = now
        verdict.signal_event = event
        verdict.save(update_fields=["reported_at", "signal_event"])
    return 1
