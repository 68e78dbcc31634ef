"""Writes on the operator side: the record that an operator opened a site, the verdicts they
record on events, and turning both into events for the operator's own station
(``operator_actions_report``, run by the task engine outside the request).

An opening is also the outbox of the "cameras viewed" signal (``SiteOpening.reported_at``), so
once an operator has been shown a site its opening must be on disk. On PostgreSQL that costs a
WAL flush at commit: on this project's reference machine about as long as the whole page. The
deep link therefore starts the write on a connection of its own (``opening_record_started``),
reads and renders the page meanwhile, and waits for the commit before the page is sent
(``PendingOpening.wait``); the writer threads keep their connection between deep links
(``_Writers``). The operator waits for the flush only where it outlasts the page;
the guarantee is the plain one of a synchronous commit: a page that was served has its
opening committed and flushed, whatever crashes afterwards. A write that fails fails the page.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_for_all
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

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

# Enough for a threaded server's concurrent deep links; a sync worker (gunicorn's default)
# uses one. Threads start when first needed.
WRITER_THREADS = 4


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

    def __init__(self, *, future: Future[SiteOpening] | None = None, opening=None) -> None:
        self._future = future
        self._opening = opening

    def wait(self) -> SiteOpening:
        """The committed opening; raises the write's error (a ``DatabaseError``) if it failed."""
        if self._future is not None:
            self._opening = self._future.result()
            self._future = None
        return self._opening


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
    # ``auto_now_add``'s value, taken here: the writer runs no model code.
    fields["opened_at"] = timezone.now()
    return PendingOpening(future=_writer().submit(_write_on_own_connection, fields))


# The columns the writer fills, in the order of its INSERT (the others keep their defaults).
_WRITTEN = ("user", "customer", "station", "opened_at", "zone", "parameters")


def _insert_sql() -> str:
    meta, quote = SiteOpening._meta, connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in _WRITTEN)
    marks = ", ".join(["%s"] * len(_WRITTEN))
    return f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks}) RETURNING id"


def _write_on_own_connection(fields: dict) -> SiteOpening:
    """In a writer thread: one autocommit INSERT with a synchronous commit.

    A plain INSERT rather than ``objects.create``: the writer shares the interpreter with the
    page it runs beside, so what it spends in Python (the ORM compiling an INSERT is most of
    it) the page waits for. The connection is the writer thread's (``_Writers``).
    """
    meta = SiteOpening._meta
    params = [
        meta.get_field(name).get_db_prep_save(
            fields[meta.get_field(name).attname], connection=connection
        )
        for name in _WRITTEN
    ]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), params)
        (pk,) = cursor.fetchone()
    opening = SiteOpening(pk=pk, **fields)
    opening._state.adding = False
    opening._state.db = connection.alias
    return opening


class _Writers:
    """The process's writer threads. A write goes to the first thread with the least work, so
    one after another they all go to the first thread, and the others work only while deep
    links overlap. Each thread keeps its connection while openings keep coming and gives it
    back to the pool (or closes it) once idle for ``settings.OPENING_WRITER_IDLE_SECONDS``, or
    at once after a write that failed, so a broken connection is never reused. Taking a
    connection from the pool costs a round trip (its health check) and the interpreter's
    attention while the page is being built: with the connection kept, a deep link's write is
    its INSERT alone."""

    def __init__(self, threads: int) -> None:
        self._lock = threading.Lock()
        self._queues = [queue.SimpleQueue() for _ in range(threads)]
        self._pending = [0] * threads
        for number in range(threads):
            threading.Thread(
                target=self._run, args=(number,), name=f"opening-writer-{number}", daemon=True
            ).start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        with self._lock:
            number = min(range(len(self._pending)), key=self._pending.__getitem__)
            self._pending[number] += 1
        self._queues[number].put((future, fn, args))
        return future

    def release(self, timeout: float | None = None) -> None:
        """Every thread gives its connection back once its writes are done; returns when they
        have (before the database a connection was taken for goes away, and at exit)."""
        released = [Future() for _ in self._queues]
        for mine, future in zip(self._queues, released, strict=True):
            mine.put((future, None, ()))
        wait_for_all(released, timeout=timeout)

    def _run(self, number: int) -> None:
        mine = self._queues[number]
        holding = False
        while True:
            idle = settings.OPENING_WRITER_IDLE_SECONDS
            try:
                item = mine.get(timeout=idle) if holding else mine.get()
            except queue.Empty:
                item = None
            if item is None or item[1] is None:
                connection.close()
                holding = False
                if item is not None:
                    item[0].set_result(None)
                continue
            future, fn, args = item
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        result = fn(*args)
                    except BaseException as exc:
                        connection.close()
                        holding = False
                        future.set_exception(exc)
                    else:
                        holding = idle > 0
                        if not holding:
                            connection.close()
                        future.set_result(result)
            finally:
                with self._lock:
                    self._pending[number] -= 1


_writers: _Writers | None = None
_writers_pid = 0
_writers_lock = threading.Lock()


def _writer() -> _Writers:
    """The process's writer threads, started on first use (threads do not survive a fork, so
    a worker forked from a process that had them starts its own)."""
    global _writers, _writers_pid
    with _writers_lock:
        if _writers is None or _writers_pid != os.getpid():
            _writers = _Writers(WRITER_THREADS)
            _writers_pid = os.getpid()
            # Daemon threads stop with the process: hand their connections back first.
            atexit.register(_writers.release, timeout=2)
        return _writers


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
