"""Waking an idle dispatcher the moment a signal is written.

The transaction that writes signals calls ``notify()`` (or sends ``NOTIFY`` with its inserts):
on PostgreSQL a ``pg_notify`` in that transaction, which the server delivers when it commits
(never before, never for a rollback). Each dispatcher's ``Wakeup`` listens on a connection of
its own (not the pool's: a pooled connection would go back to the pool, and its ``LISTEN``
with it) and, when idle, waits for a notification, its own stop request or the poll
interval, whichever comes first. Polling stays
the fallback: on SQLite, for signals that come due later (a retry's backoff, a lease that ran
out), and whenever the listening connection is down. That connection may die at any time (the
server restarts): the wait then polls, tries to listen again every ``LISTEN_RETRY_SECONDS``,
and after listening again looks for due signals at once, for a notification sent meanwhile
was lost.
"""

from __future__ import annotations

import contextlib
import logging
import math
import select
import socket
import time

from django.db import connection

logger = logging.getLogger(__name__)

CHANNEL = "portal_signals"
LISTEN_RETRY_SECONDS = 1.0
LISTEN_CONNECT_TIMEOUT = 2  # seconds; libpq's smallest


# The statement and its parameters, for a caller that sends it with others (PostgreSQL).
NOTIFY = ("SELECT pg_notify(%s, '')", [CHANNEL])


def notify() -> None:
    """Wake the dispatchers when the current transaction commits (at once outside one)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(*NOTIFY)


class Wakeup:
    """What an idle dispatcher waits on. ``set()`` (any thread, or a signal handler) ends the
    current or next wait; ``wait()`` says why it ended."""

    def __init__(self, *, listen: bool = True, name: str = "") -> None:
        self.name = name
        self._listen = listen
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._listener = None  # a psycopg connection, while it works
        self._retry_at = -math.inf
        self._lost_logged = False
        self.notifications = 0

    @property
    def listening(self) -> bool:
        return self._listener is not None

    def set(self) -> None:
        # Fails only when already set (the buffer is full) or closed.
        with contextlib.suppress(OSError):
            self._writer.send(b"\0")

    def wait(self, timeout: float) -> str:
        """Wait up to ``timeout`` seconds: ``"notified"`` (signals were written), ``"set"``,
        ``"listening"`` (listening again: look for what a lost notification announced) or
        ``"timeout"``."""
        if self._listener is None and self._connect():
            return "listening"
        waiting_on: list = [self._reader]
        if self._listener is not None:
            waiting_on.append(self._listener.fileno())
        elif self._can_listen:
            # Not listening, but meant to: wake in time to try again.
            timeout = min(timeout, max(self._retry_at - time.monotonic(), 0.0))
        try:
            ready, _, _ = select.select(waiting_on, [], [], max(timeout, 0.0))
        except (OSError, ValueError):
            self._drop("its socket failed")
            return "timeout"
        why = "timeout"
        listened = self._listener is not None and len(waiting_on) > 1 and waiting_on[1] in ready
        if listened and self._take_notifications():
            why = "notified"
        if self._reader in ready:
            self._clear()
            why = "set"
        return why

    def drain(self) -> int:
        """Take notifications that arrived while the dispatcher was busy (they announced
        what it is about to claim anyway); how many."""
        if self._listener is None:
            return 0
        ready, _, _ = select.select([self._listener.fileno()], [], [], 0)
        return self._take_notifications() if ready else 0

    def reconnect(self) -> None:
        """Listen on a new connection at the next wait (after the database came back: the
        old one may be dead without knowing it)."""
        self._drop("")
        self._retry_at = -math.inf

    def close(self) -> None:
        self._drop("")
        self._reader.close()
        self._writer.close()

    # --- the listening connection ---------------------------------------------------------

    @property
    def _can_listen(self) -> bool:
        return self._listen and connection.vendor == "postgresql"

    def _connect(self) -> bool:
        if not self._can_listen:
            return False
        if time.monotonic() < self._retry_at:
            return False
        import psycopg

        params = connection.get_connection_params()
        params["connect_timeout"] = LISTEN_CONNECT_TIMEOUT
        try:
            listener = psycopg.connect(**params, autocommit=True)
            try:
                listener.execute(f"LISTEN {CHANNEL}")
            except psycopg.Error:
                listener.close()
                raise
        except psycopg.Error as exc:
            self._retry_at = time.monotonic() + LISTEN_RETRY_SECONDS
            if not self._lost_logged:
                self._lost_logged = True
                logger.warning(
                    "dispatcher %s: cannot listen for new signals (%s); polling meanwhile",
                    self.name,
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
                )
            return False
        self._listener = listener
        if self._lost_logged:
            logger.info("dispatcher %s: listening for new signals again", self.name)
        self._lost_logged = False
        return True

    def _take_notifications(self) -> int:
        import psycopg

        pgconn = self._listener.pgconn
        taken = 0
        try:
            pgconn.consume_input()
            while pgconn.notifies() is not None:
                taken += 1
        except psycopg.Error as exc:
            self._drop(str(exc).strip().splitlines()[0] if str(exc).strip() else "it closed")
            return taken
        if not taken and pgconn.status != psycopg.pq.ConnStatus.OK:
            self._drop("it closed")
        self.notifications += taken
        return taken

    def _drop(self, why: str) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        with contextlib.suppress(Exception):  # it is gone either way
            listener.close()
        if why:
            # Try again at once (its server process may have died alone), then every
            # LISTEN_RETRY_SECONDS.
            self._retry_at = time.monotonic()
            self._lost_logged = True
            logger.warning(
                "dispatcher %s: lost the connection listening for new signals (%s); polling "
                "until it is back",
                self.name,
                why,
            )

    def _clear(self) -> None:
        with contextlib.suppress(OSError):
            while self._reader.recv(4096):
                pass
