"""A dispatcher's database going away and coming back.

While the database is away a dispatcher claims nothing, and what it learnt from receivers
waits in memory until the database takes it, however long that takes: the batch being
recorded, at most one batch queued behind it and the batch being sent (which ends when its
lease can no longer be renewed). Nothing a receiver accepted is sent again by this dispatcher,
and the attempt recorded is the receiver's real answer. Only if the dispatcher itself dies
meanwhile is that memory lost: its leases run out and another dispatcher resends, which the
receiver answers ``duplicate``.

``DatabaseWatch`` is shared by a dispatcher's threads (the sender and the pipeline's writer).
A thread whose query failed calls ``recover()``: an error on a connection that still works
(a deadlock, a lock timeout) is retried after a short pause; a connection that no longer works
starts an outage, said once in the log and then every ``OUTAGE_LOG_SECONDS`` with what waits,
and the database is tried every ``PROBE_SECONDS`` on a connection of its own (short connect
timeout, no pool), so that delivery resumes within a fraction of a second of its return. Then
the connection pool is replaced: the old one holds broken connections and, while the server
was away, backed off its reconnection attempts for seconds. What another thread then finds
left over from the old pool (its connection dead, its wait for the pool timed out) is tried
again once without a word: the outage was said already.

After an outage, signals whose lease ran out are left alone for ``RECOVERY_GRACE_SECONDS``:
their dispatchers, alive and holding what the receiver said, record it first.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from django.db import DatabaseError, connection
from psycopg_pool import PoolClosed, PoolTimeout

if TYPE_CHECKING:
    from signals.sending import Result

logger = logging.getLogger(__name__)

# How often a dispatcher tries a database that went away, and the connect timeout of each try.
PROBE_SECONDS = 0.1
PROBE_CONNECT_TIMEOUT = 2  # seconds; libpq's smallest
# How often the log says again what waits for a database that is still away.
OUTAGE_LOG_SECONDS = 10.0
# After an outage, signals whose lease ran out stay untouched this long (see the module).
RECOVERY_GRACE_SECONDS = 5.0
# A thread's failure this soon after its dispatcher replaced the pool is taken as left over
# from the old one (a wait for it that timed out, a claim made before an outage), once.
POOL_SETTLE_SECONDS = 5.0
# A query that failed on a connection that still works is retried after this (doubling).
ERROR_PAUSE_SECONDS = 0.05
ERROR_PAUSE_MAX_SECONDS = 1.0


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def describe(batches: Iterable[tuple[list[Result], list]]) -> str:
    """What waits to be recorded, for the log: how many outcomes of which kind, a few names."""
    results = [r for batch, _ in batches for r in batch]
    released = sum(len(release) for _, release in batches)
    if not results and not released:
        return "nothing waits to be recorded"
    delivered = [r for r in results if r.delivered]
    names = ", ".join(r.signal.reference for r in delivered[:3])
    more = f" and {len(delivered) - 3} more" if len(delivered) > 3 else ""
    parts = [f"{len(delivered)} delivered" + (f" ({names}{more})" if names else "")]
    if others := len(results) - len(delivered):
        parts.append(f"{others} other outcome(s)")
    if released:
        parts.append(f"{released} unsent lease(s) to hand back")
    return "waiting to be recorded: " + ", ".join(parts)


def connection_works() -> bool:
    try:
        return connection.connection is not None and connection.is_usable()
    except Exception:
        return False


def close_connection() -> None:
    """Drop this thread's connection (a broken pooled one is discarded by the pool)."""
    try:
        connection.close()
    except Exception:
        # A connection that cannot even be closed is gone anyway.
        connection.connection = None


def probe() -> bool:
    """Does the database answer, on a connection of its own (never the pool's)?"""
    if connection.vendor != "postgresql":
        try:
            close_connection()
            connection.ensure_connection()
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except DatabaseError:
            close_connection()
            return False
    import psycopg

    params = connection.get_connection_params()
    params["connect_timeout"] = PROBE_CONNECT_TIMEOUT
    try:
        with psycopg.connect(**params, autocommit=True) as probe_connection:
            probe_connection.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _caused_by(exc: BaseException | None, *kinds: type[BaseException]) -> bool:
    while exc is not None:
        if isinstance(exc, kinds):
            return True
        exc = exc.__cause__
    return False


def is_pool_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the connection pool's own failure (it could not hand out a
    connection in time, or it was closed under this thread): a fresh pool cures it."""
    return _caused_by(exc, PoolTimeout, PoolClosed)


def is_pool_replaced(exc: BaseException) -> bool:
    """Whether ``exc`` says the pool was closed under this thread: only this process closes
    its pool, when another of its threads replaced it (``reset_pool``). Nothing failed: the
    next query takes a connection from the new pool."""
    return _caused_by(exc, PoolClosed)


def reset_pool() -> None:
    """Replace the connection pool (if any): its connections died with the server, and its
    own reconnection attempts back off for seconds. The next query opens a fresh pool;
    connections other threads hold are closed when they hand them back."""
    if connection.vendor == "postgresql" and connection.pool is not None:
        try:
            connection.close_pool()
        except Exception:
            logger.exception("could not close the old connection pool")


class DatabaseWatch:
    """Notices the database going away for one dispatcher, and waits for it to come back."""

    def __init__(
        self,
        name: str,
        *,
        waiting: Callable[[], str] = lambda: "",
        probe_seconds: float = PROBE_SECONDS,
        grace_seconds: float = RECOVERY_GRACE_SECONDS,
    ) -> None:
        self.name = name
        self.waiting = waiting  # says what waits to be recorded
        self.probe_seconds = probe_seconds
        self.grace_seconds = grace_seconds
        self._lock = threading.Lock()
        self._thread = threading.local()
        self._pool_replaced_at = -math.inf
        self._down_since: float | None = None  # monotonic
        self._cause = ""
        self._generation = 0  # outages ended so far
        self._logged_at = -math.inf
        self._grace_until = -math.inf
        self._pause = 0.0
        self._error_at = self._error_logged_at = -math.inf
        self.outages = 0
        self.last_outage_seconds = 0.0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    @property
    def in_grace(self) -> bool:
        """Right after an outage: leave signals whose lease ran out to their dispatchers."""
        return time.monotonic() < self._grace_until

    def recover(self, exc: BaseException, doing: str, stopping: Callable[[], bool]) -> bool:
        """A query ``doing`` something failed with ``exc``: return once the database works
        again (True), or when ``stopping()`` gives up waiting (False)."""
        if not self.down and self._left_over(exc):
            # An error from before the pool was replaced, surfacing now: not the database's,
            # nothing to say, and no reason to replace the new pool as well.
            close_connection()
            time.sleep(ERROR_PAUSE_SECONDS)
            return True
        if connection_works():
            # The connection is fine: the query lost a race (a deadlock, a lock timeout), or
            # the server refuses writes for a while (a full disk). Try again, a little later
            # each time, and say so now and then.
            self._try_again(exc, doing)
            return True
        close_connection()
        if not self.down and probe():
            # This thread's connection failed but the database answers: a connection that
            # died with an earlier outage, or a pool that could not hand one out in time (one
            # made while the server was away backs off its own reconnections; on a loaded
            # machine a just-restarted server is slow to accept) or was closed and not
            # replaced. Not an outage: a fresh connection, from a fresh pool if the
            # pool was what failed (so that a pool error cannot repeat forever).
            if is_pool_error(exc):
                with self._lock:
                    self._replace_pool()
            self._try_again(exc, doing)
            return True
        with self._lock:
            generation = self._generation
            # Nothing uses the pool until the database is back; closed, it stops trying (and
            # logging) its own reconnections meanwhile. (A thread that asked for a connection
            # after the outage began made a new one: this closes that one too.)
            self._replace_pool()
            if self._down_since is None:
                self._down_since = time.monotonic()
                self._cause = first_line(exc)
                self._logged_at = time.monotonic()
                logger.warning(
                    "dispatcher %s: the database went away while %s (%s); claiming nothing "
                    "until it is back, trying it every %.1f s; %s",
                    self.name,
                    doing,
                    self._cause,
                    self.probe_seconds,
                    self.waiting() or "nothing waits to be recorded",
                )
        while True:
            with self._lock:
                if self._generation != generation:
                    return True  # another thread saw it come back
            if probe():
                self._back(generation)
                return True
            if stopping():
                return False
            self._log_still_down()
            time.sleep(self.probe_seconds)

    def _replace_pool(self) -> None:
        reset_pool()
        self._pool_replaced_at = time.monotonic()

    def _left_over(self, exc: BaseException) -> bool:
        """Whether ``exc``, on a connection that no longer works, is left over from the pool
        replaced a moment ago: closed under this thread (only this process closes its pool),
        or any failure of this thread within ``POOL_SETTLE_SECONDS`` of the replacement (a
        connection that died with the server, a wait for the old pool that timed out, a
        claim made before the outage and picked up after it). Once per thread: a second
        failure in a row is the database's or the new pool's own."""
        now = time.monotonic()
        recent = now - self._pool_replaced_at < POOL_SETTLE_SECONDS
        if not (recent or is_pool_replaced(exc)) or connection_works():
            return False
        last = getattr(self._thread, "left_over_at", -math.inf)
        self._thread.left_over_at = now
        return now - last > OUTAGE_LOG_SECONDS

    def _try_again(self, exc: BaseException, doing: str) -> None:
        """Pause before trying a failed query again, a little longer each time; say so now
        and then."""
        now = time.monotonic()
        if now - self._error_at > OUTAGE_LOG_SECONDS:
            self._pause = 0.0
        self._pause = min(max(self._pause * 2, ERROR_PAUSE_SECONDS), ERROR_PAUSE_MAX_SECONDS)
        if now - self._error_logged_at > OUTAGE_LOG_SECONDS:
            self._error_logged_at = now
            logger.warning(
                "dispatcher %s: database error while %s (%s); trying again; %s",
                self.name,
                doing,
                first_line(exc),
                self.waiting() or "nothing waits to be recorded",
            )
        self._error_at = now
        time.sleep(self._pause)

    def _back(self, generation: int) -> None:
        with self._lock:
            if self._generation != generation:
                return
            took = time.monotonic() - (self._down_since or time.monotonic())
            self._replace_pool()
            self._generation += 1
            self._down_since = None
            self._grace_until = time.monotonic() + self.grace_seconds
            self.outages += 1
            self.last_outage_seconds = took
        logger.warning(
            "dispatcher %s: the database is back after %.1f s; %s",
            self.name,
            took,
            self.waiting() or "nothing waited to be recorded",
        )

    def _log_still_down(self) -> None:
        with self._lock:
            if self._down_since is None or time.monotonic() - self._logged_at < OUTAGE_LOG_SECONDS:
                return
            self._logged_at = time.monotonic()
            down_for = time.monotonic() - self._down_since
        logger.warning(
            "dispatcher %s: the database is still away after %.0f s (%s); claiming nothing; %s",
            self.name,
            down_for,
            self._cause,
            self.waiting() or "nothing waits to be recorded",
        )
