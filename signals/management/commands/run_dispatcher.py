"""Deliver signals to the stations' receivers until SIGTERM or Ctrl-C (see docs/signals.md)."""

from __future__ import annotations

import logging
import signal
import threading
from argparse import ArgumentParser, ArgumentTypeError
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.checks import Tags
from django.core.checks.registry import registry
from django.core.management.base import BaseCommand
from django.db import connection

from signals.dispatcher import Dispatcher

# How long a dispatcher waits for a connection from its pool (see _short_pool_timeout).
POOL_TIMEOUT_SECONDS = 1.0


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise ArgumentTypeError(f"must be more than 0, got {text}")
        return value

    return parse


class Command(BaseCommand):
    help = (
        "Deliver pending signals to the monitoring stations' receivers: claim due signals with "
        "a lease, send them, record every attempt. Run as many as you like, on as many "
        "machines as you like. Stops after the signal in flight on SIGTERM or Ctrl-C."
    )

    # Every system check but the URL configuration's: the dispatcher serves no URLs, and
    # importing every view (the media app's video library among what they import) would cost
    # it ~35 MB of resident memory. The others run at start in ``handle``.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="Deliver what is due now, then exit (signals waiting for a retry stay).",
        )
        parser.add_argument(
            "--batch",
            type=_positive(int),
            default=None,
            help=f"Signals claimed per transaction (default {settings.SIGNAL_DISPATCH_BATCH}).",
        )
        parser.add_argument(
            "--lease-seconds",
            type=_positive(float),
            default=None,
            help="How long claimed signals stay this dispatcher's "
            f"(default {settings.SIGNAL_LEASE_SECONDS:g}).",
        )
        parser.add_argument(
            "--poll-seconds",
            type=_positive(float),
            default=None,
            help=f"Pause when nothing is due (default {settings.SIGNAL_DISPATCH_POLL_SECONDS:g}).",
        )
        parser.add_argument(
            "--connections",
            type=_positive(int),
            default=None,
            help="Signals sent at once, each on connections of its own (default "
            f"{settings.SIGNAL_DISPATCH_CONNECTIONS}).",
        )
        parser.add_argument(
            "--no-listen",
            action="store_true",
            help="Do not LISTEN for new signals on PostgreSQL: wait for the poll alone.",
        )
        parser.add_argument(
            "--id",
            dest="name",
            default=None,
            help="This dispatcher's name in the attempts it records (default host-pid).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options.get("skip_checks"):
            self.check(tags=sorted(registry.tags_available() - {Tags.urls}))
        restore_pool = self._short_pool_timeout()
        logger = logging.getLogger("signals")
        saved_level = logger.level
        if options["verbosity"] >= 2:
            logger.setLevel(logging.DEBUG)
        dispatcher = Dispatcher(
            name=options["name"],
            batch=options["batch"],
            lease_seconds=options["lease_seconds"],
            poll_seconds=options["poll_seconds"],
            # Record one batch while sending the next. SQLite has one writer at a time: a
            # second connection there would only wait its turn.
            pipeline=connection.vendor != "sqlite",
            # The lanes run on this thread, between the claims and records (on SQLite, too), so a
            # stalled receiver holds up only its own lane on either database.
            connections=options["connections"] or settings.SIGNAL_DISPATCH_CONNECTIONS,
            listen=not options["no_listen"],
        )
        previous = self._on_signals(dispatcher)
        self.stdout.write(
            f"Dispatcher {dispatcher.lease_owner} delivering signals "
            f"(batch {dispatcher.batch}, {dispatcher.lanes.count} connection(s) at once, "
            f"lease {dispatcher.lease_seconds:g} s"
            f"{', once' if options['once'] else ''}); Ctrl-C or SIGTERM stops it."
        )
        self.stdout.flush()
        try:
            stats = dispatcher.run(once=options["once"])
        finally:
            self._restore_signals(previous)
            logger.setLevel(saved_level)
            restore_pool()
        self.stdout.write(
            f"Dispatcher {dispatcher.lease_owner} stopped: {stats.delivered} delivered, "
            f"{stats.retried} to retry, {stats.failed} failed, {stats.attempts} attempts."
        )

    @staticmethod
    def _short_pool_timeout() -> Callable[[], None]:
        """A dispatcher waits at most ``POOL_TIMEOUT_SECONDS`` for a pooled connection, not
        the web's default: it holds its connections, so a wait means the database is away,
        and while it is, the dispatcher watches for its return itself (signals.recovery).
        Returns what puts the setting back (for a dispatcher run inside another process)."""
        options = connection.settings_dict.get("OPTIONS", {})
        configured = options.get("pool")
        if connection.vendor != "postgresql" or not configured or connection.in_atomic_block:
            return lambda: None
        pool = {} if configured is True else dict(configured)
        pool["timeout"] = min(float(pool.get("timeout", 30)), POOL_TIMEOUT_SECONDS)
        options["pool"] = pool
        connection.close()
        connection.close_pool()  # made again, with it, at the first query

        def restore() -> None:
            options["pool"] = configured
            connection.close()
            connection.close_pool()

        return restore

    def _on_signals(self, dispatcher: Dispatcher) -> dict[int, Any]:
        # Signal handlers can only be set from the main thread (not so under some test runners).
        if threading.current_thread() is not threading.main_thread():
            return {}

        def request_stop(signum: int, frame: FrameType | None) -> None:
            dispatcher.stop()

        previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, request_stop)
        return previous

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
