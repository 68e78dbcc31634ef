"""The dispatcher's recording step, beside ``signals.dispatcher``: the pipeline's writer thread
and the helpers that turn a round's results into rows (attempts inserted with COPY on
PostgreSQL, a result stripped of what a receiver said when the database refuses it)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import threading
from typing import TYPE_CHECKING

from django.db import connection

from signals import lib
from signals.models import DeliveryAttempt, Signal
from signals.sending import Attempt, Result

if TYPE_CHECKING:
    from signals.dispatcher import Dispatcher

logger = logging.getLogger("signals.dispatcher")

Outcome = DeliveryAttempt.Outcome


# A delivery attempt's row: every column of DeliveryAttempt but its primary key, in this order.
ATTEMPT_FIELDS = tuple(f for f in DeliveryAttempt._meta.concrete_fields if not f.primary_key)
_ATTEMPT_NAMES = tuple(f.attname for f in ATTEMPT_FIELDS)


def attempt_row(**values) -> tuple:
    """An attempt's values (by attname, every one) as a row for ``insert_attempts``; plain
    Python values, already cut to their columns."""
    return tuple(values[name] for name in _ATTEMPT_NAMES)


def insert_attempts(rows: list[tuple]) -> None:
    """Insert a batch's attempts (rows from ``attempt_row``): with COPY on PostgreSQL (no SQL
    to build and quote per row, and no model instances: most of the recording step's own time
    once), else ``bulk_create``."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        DeliveryAttempt.objects.bulk_create(
            DeliveryAttempt(**dict(zip(_ATTEMPT_NAMES, row, strict=True))) for row in rows
        )
        return
    columns = ", ".join(connection.ops.quote_name(f.column) for f in ATTEMPT_FIELDS)
    table = connection.ops.quote_name(DeliveryAttempt._meta.db_table)
    # Django's error wrapper: a refused row raises IntegrityError/DataError, a database that
    # went away OperationalError, as from bulk_create.
    sql = f"COPY {table} ({columns}) FROM STDIN"
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def stripped(result: Result) -> Result:
    """The result with nothing a receiver said in it: what is left can always be written."""
    note = "not recorded: the database refused this attempt's reply or error (see the log)"
    attempts = [
        dataclasses.replace(
            a,
            duration_ms=min(max(a.duration_ms, 0), 2**31 - 1),
            reply=b"",
            error=note if a.error else "",
            status=lib.text_safe(a.status, 20),
            reason="",
        )
        for a in result.attempts
    ]
    return dataclasses.replace(result, attempts=attempts, skipped=result.skipped and note)


def describe(attempt: Attempt) -> str:
    return f"{attempt.role or 'no path'}: {attempt.error}"


def short_error(attempt: Attempt) -> str:
    if attempt.outcome == Outcome.FAILOVER:
        return f"receiver asked for the alternate path: {attempt.reason}".strip(": ")
    return attempt.error


class Writer:
    """The pipeline's second stage: writes batches in order, one at a time, on its own thread.

    At most one batch waits while another is written, so the sender never runs far ahead. A
    batch the database cannot take (it went away) waits, with the one queued behind it, until
    it can: however long that takes (``Dispatcher.record``), since it holds what receivers
    said. Meanwhile the sender claims nothing.
    """

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._queue: queue.Queue[tuple[list[Result], list[Signal]] | None] = queue.Queue(1)
        self._current: tuple[list[Result], list[Signal]] | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"dispatcher-writer-{dispatcher.name}", daemon=True
        )
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self._queue.unfinished_tasks > 0

    def submit(self, results: list[Result], release: list[Signal]) -> None:
        self._queue.put((results, release))

    def drain(self) -> None:
        self._queue.join()

    def waiting(self) -> list[tuple[list[Result], list[Signal]]]:
        """The batch being written and those queued behind it (for the log)."""
        with self._queue.mutex:
            queued = [item for item in self._queue.queue if item is not None]
        current = self._current
        return ([current] if current is not None else []) + queued

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                try:
                    if item is None:
                        return
                    self._current = item
                    self._write(*item)
                finally:
                    self._current = None
                    self._queue.task_done()
        finally:
            with contextlib.suppress(Exception):
                connection.close()  # this thread's own connection

    def _write(self, results: list[Result], release: list[Signal]) -> None:
        try:
            self.dispatcher.record(results, release)
        except Exception:
            logger.exception("dispatcher %s: could not record a batch", self.dispatcher.name)
