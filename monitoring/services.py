"""Writes on the operator side: the record that an operator opened a site.

An opening is also the outbox of the "cameras viewed" signal (``SiteOpening.reported_at``), so
once an operator has been shown a site its opening must be on disk. On PostgreSQL that costs a
WAL flush at commit: on this project's reference machine about as long as the whole page. The
deep link therefore starts the write on a connection of its own (``opening_record_started``),
reads and renders the page meanwhile, and waits for the commit before the page is sent
(``PendingOpening.wait``). The operator waits for the flush only where it outlasts the page;
the guarantee is the plain one of a synchronous commit: a page that was served has its
opening committed and flushed, whatever crashes afterwards. A write that fails fails the page.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connection

from customers.models import Customer
from monitoring.models import SiteOpening
from stations.models import MonitoringStation

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
    return PendingOpening(future=_writer().submit(_write_on_own_connection, fields))


def _write_on_own_connection(fields: dict) -> SiteOpening:
    """In a writer thread: one autocommit INSERT with a synchronous commit.

    The thread's connection goes back to the pool (or is closed) after each write, so an idle
    writer holds none, and one that failed is never reused.
    """
    try:
        return SiteOpening.objects.create(**fields)
    finally:
        connection.close()


_executor: ThreadPoolExecutor | None = None
_executor_pid = 0
_executor_lock = threading.Lock()


def _writer() -> ThreadPoolExecutor:
    """The process's writer threads, started on first use (threads do not survive a fork, so
    a worker forked from a process that had them starts its own)."""
    global _executor, _executor_pid
    with _executor_lock:
        if _executor is None or _executor_pid != os.getpid():
            _executor = ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="opening-writer")
            _executor_pid = os.getpid()
        return _executor
