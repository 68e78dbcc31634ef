"""The dispatcher: claims due signals, sends their stored bytes to the receiver, records what
came back. ``manage.py run_dispatcher`` runs one; run as many as you like, anywhere.

One round is three steps:

1. **Claim** (``signals.claiming``), in one short transaction: the due signals that are the
   oldest pending signal of their account (station and account number), highest priority
   first, locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` and leased to this dispatcher
   (``lease_owner``, ``lease_expires_at``). Another dispatcher skips them; a signal whose lease
   ran out (its dispatcher died) is due again.
2. **Send** each claimed signal over its receiver's paths in the receiver's protocol
   (``signals.sending``: the codec builds, a transport moves, the codec reads the reply): the
   path that worked last first, the other right away on no connection, no reply in time, a
   reply that is not one, or ``failover``. ``delivered`` and ``duplicate`` deliver it;
   ``retry`` waits with capped, jittered exponential backoff; ``resync`` is resent at once on
   the receiver's clock; ``rejected`` (refused for good) fails it at once. ``connections``
   lanes (``signals.lanes``) send that many signals at once, each on connections of its own,
   all from this thread (one ``poll`` over their sockets); while they send the last of a
   batch, the next batch is claimed (for up to ``TOP_UP_SECONDS``; with ``pipeline``, on the
   claimer's thread, ``signals.claimer``), so the lanes do not wait for the claim.
3. **Record**, in one transaction: every attempt as a ``DeliveryAttempt`` (one bulk insert),
   the signals' new states (one UPDATE for all delivered alike; one per retry, for its own
   jittered time), path health, and, after commit, the e-mails: signals that failed (refused
   for good, or past their deadline), paths that went down or came back. With ``pipeline``
   (the command's default on PostgreSQL) a second thread records one batch while the next one
   is claimed and sent.

A batch that takes longer than its lease allows is recorded part way and the rest of its
leases are renewed; one signal that waited out every path of a receiver sends that receiver's
other signals of the batch back to wait a little, so a dead receiver does not hold up others.

Order: an account's signal is never claimed while an earlier one of the same account is
pending, so the next one leaves only after the receiver has acknowledged the previous one
(``delivered`` or ``duplicate``) or it failed. A dispatcher that dies mid-send loses
nothing: its leases expire and the next dispatcher sends the same signal with the same
reference (the same bytes, in XML v1), which the receiver answers ``duplicate``.

The result of a signal is written only while this dispatcher still holds its lease, except
"delivered", which is true whoever holds the lease.
"""

from __future__ import annotations

import logging
import math
import os
import random
import secrets
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.utils import timezone

from signals import claiming, lib, recovery, services
from signals.claimer import Claimer
from signals.claiming import CLAIMED_FIELDS, claimable  # noqa: F401  (this module's API)
from signals.lanes import Lanes
from signals.models import REPLY_MAX, DeliveryAttempt, Signal
from signals.recording import (
    Writer,
    attempt_row,
    describe,
    insert_attempts,
    short_error,
    stripped,
)
from signals.sending import Attempt, Result, Sender
from signals.supervision import Supervisor
from signals.wakeup import Wakeup
from stations import lib as station_lib
from stations import services as station_services
from stations.models import ReceiverPath

logger = logging.getLogger(__name__)

Outcome = DeliveryAttempt.Outcome

# The states a receiver's acceptance still changes: delivered is true whoever holds the lease,
# and after the deadline passed.
DELIVERABLE = (Signal.State.PENDING, Signal.State.FAILED)
# A path that only answered is written to its health row at most this often per dispatcher;
# a failure, or a change of state, is always written at once.
HEALTH_REFRESH_SECONDS = 1.0
# A send starts only if the lease outlives the worst case of its paths by this much.
LEASE_MARGIN_SECONDS = 0.5
ERROR_MAX = 2000
# With several lanes, a round keeps claiming while its last signals are on the wire, for up to
# this long; then it ends, so heartbeats get their turn between rounds.
TOP_UP_SECONDS = 1.0
# While a round sends troubles, it looks this often for alarms (priorities 1-4) that arrived
# meanwhile, and sends them next: an alarm never waits for the troubles claimed before it.
ALARM_LOOK_SECONDS = 0.02
# An alarm (priorities 1-4: fire, hold-up, burglary, other alarms) answered while the recording
# step is idle is recorded at once, with whatever else is done by then, rather than when a
# batch's worth is done (when the recording step is busy, batches grow as usual)...
RECORD_AT_ONCE_PRIORITY = 4
# ...but not within this long of the last such recording: a flood of alarms would otherwise
# be recorded a few at a time, each few a transaction of its own (a fifth of the throughput,
# measured). An alarm waits at most this long more for its recording. 25 ms rather than 10:
# with every signal an alarm, 7-14 % more a second to a quick receiver and two dispatchers
# level with one instead of 0.87x (each records apart), while the storm's alarms were
# recorded as fast (p99 136 against 132 ms, on a slow 2-core machine).
RECORD_AT_ONCE_GAP_SECONDS = 0.025


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def tls_context() -> ssl.SSLContext:
    """The system's trusted CAs, plus ``SIGNAL_TLS_CA_FILE`` (a station's private CA)."""
    context = ssl.create_default_context()
    if settings.SIGNAL_TLS_CA_FILE:
        context.load_verify_locations(cafile=settings.SIGNAL_TLS_CA_FILE)
    return context


@dataclass
class Stats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    attempts: int = 0


class Dispatcher:
    """Claims, sends and records signals; ``run()`` until ``stop()``, or ``run(once=True)``.

    One instance is one dispatcher: its database connection (a second one for the pipeline's
    writer), its ``Sender`` (one open transport per receiver path, its memory of which path
    worked last) and its ``Supervisor`` (the receivers' heartbeats).
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        batch: int | None = None,
        lease_seconds: float | None = None,
        poll_seconds: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
        rng: random.Random | None = None,
        pipeline: bool = False,
        connections: int = 1,
        listen: bool = True,
    ) -> None:
        self.name = (name or default_name())[:80]
        # The lease names this process, even when two dispatchers were given the same name.
        self.lease_owner = f"{self.name}/{secrets.token_hex(4)}"
        self.batch = batch or settings.SIGNAL_DISPATCH_BATCH
        self.lease_seconds = lease_seconds or settings.SIGNAL_LEASE_SECONDS
        self.poll_seconds = (
            settings.SIGNAL_DISPATCH_POLL_SECONDS if poll_seconds is None else poll_seconds
        )
        self.ssl_context = ssl_context or tls_context()
        self.rng = rng or random.Random()
        self.stats = Stats()
        self._stop = threading.Event()
        # A second stop request while the database is away gives up what waits to be recorded.
        self._abandon = threading.Event()
        # When idle: woken by a new signal (PostgreSQL LISTEN), a stop request or the poll.
        self.wakeup = Wakeup(listen=listen, name=self.name)
        self.sender = Sender(ssl_context=self.ssl_context, stop=self._stop)
        self.supervisor = Supervisor(self)
        # Signals sent at once, each lane on connections of its own, all in this thread (tests
        # inside one transaction rely on that).
        self.lanes = Lanes(self.sender, connections)
        # Paths this dispatcher last recorded as up, and when (monotonic).
        self._recorded_up: dict[int, float] = {}
        # With a pipeline, a thread of its own (and its own database connection) records one
        # batch while the next is being sent. Tests inside one transaction flush inline.
        self._writer = Writer(self) if pipeline else None
        # With a pipeline, mid-round claims are made on a thread of their own too.
        self._claimer = Claimer(self) if pipeline and connections > 1 else None
        # Notices the database going away, says what waits meanwhile, sees it come back.
        self.database = recovery.DatabaseWatch(self.name, waiting=self._waiting)

    def __repr__(self) -> str:
        return f"<Dispatcher {self.lease_owner}>"

    # --- running --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the signal being sent, record what was done, release the rest, return.

        While the database is away, what waits to be recorded keeps the dispatcher until the
        database takes it; a second ``stop()`` gives that up (the leases then run out and
        another dispatcher resends those signals, answered duplicate)."""
        if self._stop.is_set() and not self._abandon.is_set():
            self._abandon.set()
            logger.warning(
                "dispatcher %s: asked to stop again: giving up what waits for the database (%s)",
                self.name,
                self._waiting() or "nothing",
            )
        self._stop.set()
        self.wakeup.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def paths_for(self, receiver_id: int) -> list[ReceiverPath]:
        """The receiver's paths in the order this dispatcher would try them now."""
        return self.sender.paths_for(receiver_id)

    def run(self, *, once: bool = False) -> Stats:
        """Deliver until stopped; with ``once``, until nothing is due any more."""
        try:
            while not self._stop.is_set():
                try:
                    # Notifications that came while busy announced what this claim finds.
                    self.wakeup.drain()
                    handled = self.run_batch()
                    # Heartbeats go between batches; they never hold up a claimed signal.
                    self.supervisor.run_due()
                except DatabaseError as exc:
                    # The database went away (or a query lost a race): claim nothing until it
                    # answers; what the receivers said waits in the writer meanwhile.
                    if connection.in_atomic_block:
                        raise  # a test's transaction: nothing to wait for
                    if not self.database.recover(exc, "claiming and sending", self._stop.is_set):
                        break
                    self._after_database_error()
                    continue
                if handled == 0:
                    if self._writer is not None and self._writer.busy:
                        # A batch being recorded may make the next signals of accounts due.
                        self._writer.drain()
                        continue
                    if once:
                        break
                    self._idle_wait()
        finally:
            self.close()
        return self.stats

    def _idle_wait(self) -> None:
        """Nothing was due: wait for a new signal (on PostgreSQL, notified by the transaction
        that wrote it), a stop request or the poll, whichever comes first."""
        self.wakeup.wait(self.poll_seconds)

    def close(self) -> None:
        """Record what is still in the pipeline, then close the connections to receivers."""
        self.lanes.close()
        if self._claimer is not None:
            self._claimer.close()
        if self._writer is not None:
            if self.database.down and self._writer.busy:
                logger.warning(
                    "dispatcher %s: stopping once the database takes what waits (%s); stop "
                    "again to give it up",
                    self.name,
                    self._waiting(),
                )
            self._writer.close()
        self.sender.close()
        self.wakeup.close()

    def _after_database_error(self) -> None:
        """Before claiming again: what waits in the writer goes first (it may hold the
        receiver's answer to a signal whose lease ran out meanwhile: claiming before it is
        written would send it again), and the listening connection is renewed."""
        if self._writer is not None:
            self._writer.drain()
        if not self.database.down:
            self.wakeup.reconnect()

    def _waiting(self) -> str:
        """What waits to be recorded, for the log."""
        if self._writer is None:
            return ""
        return recovery.describe(self._writer.waiting())

    def run_batch(self) -> int:
        """Claim, send and flush one round; returns how many signals were claimed.

        The lanes take the claimed signals in the claim's order. When fewer are waiting than
        lanes are free, the next batch is claimed and merged in by priority (for up to
        ``TOP_UP_SECONDS``), so the lanes stay busy and a new alarm overtakes the troubles not
        yet sent. Results go to the recording step a batch at a time.

        With the pipeline's claimer those claims are made on its thread while the lanes go on
        (``signals.claimer``): a top-up starts while a third of a batch still waits, and
        claims what makes the batch whole again, so the lanes do not run dry meanwhile and no
        more than a batch ever waits to be sent.
        """
        claimed = self._claim_more()
        if not claimed:
            return 0
        started = time.monotonic()
        waiting = deque(claimed)
        results: list[Result] = []
        unreachable: dict[int, str] = {}  # receiver id -> what its paths said
        total = len(claimed)
        lanes = self.lanes
        claimer = self._claimer if lanes.count > 1 else None
        claiming_alarms = False  # what the claimer's claim in progress is: alarms only?
        dry = False  # a top-up found nothing: not again this round
        looked = time.monotonic()  # when this round last finished looking for new alarms
        urgent = False  # an alarm waits in ``results``
        recorded_at_once = -math.inf  # when an alarm was last recorded at once
        try:
            while (
                waiting or lanes.in_flight or (claimer is not None and claimer.pending)
            ) and not self._stop.is_set():
                while waiting and lanes.free and not self._stop.is_set():
                    signal = waiting[0]
                    if not self._lease_allows(signal):
                        # Record what is done and extend the leases of the rest before going on.
                        self.flush(results)
                        results = []
                        waiting = deque(self._renew(list(waiting)))
                        continue
                    waiting.popleft()
                    if signal.receiver_id in unreachable:
                        # One signal already waited out every path of this receiver in this round:
                        # the others try again shortly, instead of holding up other receivers'.
                        results.append(Result(signal, skipped=unreachable[signal.receiver_id]))
                        continue
                    lanes.submit(signal)
                more: list[Signal] = []
                topping_up = (
                    lanes.count > 1
                    and not dry
                    and time.monotonic() - started < TOP_UP_SECONDS
                    and not self._stop.is_set()
                )
                looking = (
                    lanes.count > 1
                    and waiting
                    and waiting[-1].priority > RECORD_AT_ONCE_PRIORITY
                    and time.monotonic() - looked >= ALARM_LOOK_SECONDS
                    and not self._stop.is_set()
                )
                if claimer is not None and claimer.pending:
                    # Nothing to do but wait for it, or go on and look now and then.
                    idle = not waiting and not lanes.in_flight
                    taken = claimer.wait() if idle else claimer.take()
                    if taken is not None:
                        more = taken
                        if claiming_alarms:
                            looked = time.monotonic()  # from the claim's end, as below
                        else:
                            dry = not more
                elif (
                    claimer is not None
                    and topping_up
                    and len(waiting) <= max(lanes.count, self.batch // 3)
                ):
                    claimer.start(limit=self.batch - len(waiting))
                    claiming_alarms = False
                elif claimer is None and topping_up and len(waiting) < lanes.free:
                    more = self._claim_more()
                    dry = not more
                elif looking and claimer is not None:
                    claimer.start(most=RECORD_AT_ONCE_PRIORITY)
                    claiming_alarms = True
                elif looking:
                    more = self._claim_more(most=RECORD_AT_ONCE_PRIORITY)
                    # From the claim's end: a claim slower than ALARM_LOOK_SECONDS (a loaded
                    # database) must not follow itself back to back, or the lanes' results are
                    # never collected and nothing claimed is sent (alarms waited 20 s so).
                    looked = time.monotonic()
                if more:
                    total += len(more)
                    waiting = deque(sorted([*waiting, *more], key=claiming.order_key))
                    continue
                if not lanes.in_flight:
                    continue
                at_once = recorded_at_once + RECORD_AT_ONCE_GAP_SECONDS
                result = lanes.result(
                    wake=claimer.wake if claimer is not None and claimer.pending else None,
                    # An alarm waiting for its gap to pass is recorded when it has, even if
                    # no other exchange ends by then.
                    until=at_once if urgent and self._recorder_idle() else None,
                )
                if result is not None:
                    results.append(result)
                    urgent |= result.signal.priority <= RECORD_AT_ONCE_PRIORITY
                    if result.unreachable:
                        unreachable[result.signal.receiver_id] = (
                            "not sent: the receiver could not be reached a moment ago ("
                            + "; ".join(describe(a) for a in result.attempts)
                            + ")"
                        )
                if len(results) >= self.batch or (
                    urgent and self._recorder_idle() and time.monotonic() >= at_once
                ):
                    if urgent:
                        recorded_at_once = time.monotonic()
                    self.flush(results)
                    results = []
                    urgent = False
        except DatabaseError:
            # The database went away mid-round (renewing leases, topping up, reading paths):
            # what is on the wire ends within its deadline, and everything the receivers said
            # waits to be recorded, with the leases of the signals not sent.
            results += self._drain_lanes()
            self.flush(results, release=[*waiting, *self._claimed_meanwhile(claimer)])
            raise
        # Stopping: what is on the wire ends within its deadline and is recorded.
        results += self._drain_lanes()
        self.flush(results, release=[*waiting, *self._claimed_meanwhile(claimer)])
        return total

    def _drain_lanes(self) -> list[Result]:
        """What is on the wire, once each has ended (within its deadline)."""
        results = []
        while self.lanes.in_flight:
            result = self.lanes.result()
            assert result is not None  # no wake: a result
            results.append(result)
        return results

    def _claimed_meanwhile(self, claimer: Claimer | None) -> list[Signal]:
        """What the claimer's claim in progress claims: the round ends, so it is released."""
        if claimer is None or not claimer.pending:
            return []
        try:
            return claimer.wait()
        except DatabaseError:
            return []  # claimed nothing we know of; any lease it took runs out

    def _recorder_idle(self) -> bool:
        """Whether the pipeline's writer would take a batch now without waiting."""
        return self._writer is not None and not self._writer.busy

    def _lease_allows(self, signal: Signal) -> bool:
        """Whether the signal's lease outlives the worst case of sending it."""
        # A lease shorter than the paths' timeouts cannot be helped by renewing it: send
        # anyway (at worst another dispatcher resends meanwhile, answered duplicate). The
        # claim read the signal's receiver (``_claim_more``).
        budget = self.sender.budget_for(signal.receiver_id)
        needed = min(budget + LEASE_MARGIN_SECONDS, self.lease_seconds * 0.9)
        return time.monotonic() + needed <= signal._lease_until

    # --- claiming -------------------------------------------------------------------------------

    def _claim_more(self, *, most: int | None = None, limit: int | None = None) -> list[Signal]:
        """Claim a batch (or ``limit``) and read the receivers it needs (the lanes never
        query)."""
        claimed = self.claim(most=most, limit=limit)
        if claimed:
            self.stats.claimed += len(claimed)
            self.sender.load({signal.receiver_id for signal in claimed})
        return claimed

    def claim(self, *, most: int | None = None, limit: int | None = None) -> list[Signal]:
        """Lease up to ``batch`` (or ``limit``) due signals to this dispatcher, in the order to
        send them; with ``most``, only priorities up to that."""
        lease_until = time.monotonic() + self.lease_seconds
        signals = claiming.claim(
            owner=self.lease_owner,
            limit=limit or self.batch,
            lease_seconds=self.lease_seconds,
            now=timezone.now(),
            most=most,
            # Just after the database came back, a lease that ran out meanwhile may be a live
            # dispatcher's whose receiver's answer waits to be recorded: sending that signal
            # again would only be answered duplicate. It waits a few seconds.
            unleased_only=self.database.in_grace,
        )
        for signal in signals:
            signal._lease_until = lease_until  # monotonic, for the send loop
        return signals

    def _renew(self, signals: list[Signal]) -> list[Signal]:
        """Extend the leases still ours; drop the signals whose lease another dispatcher took."""
        lease_until = time.monotonic() + self.lease_seconds
        signals = claiming.renew(
            signals,
            owner=self.lease_owner,
            lease_seconds=self.lease_seconds,
            now=timezone.now(),
        )
        for signal in signals:
            signal._lease_until = lease_until
        return signals

    # --- recording ------------------------------------------------------------------------------

    def flush(self, results: list[Result], *, release: Iterable[Signal] = ()) -> None:
        """Record a batch: now, or in the pipeline's writer while the next batch is sent."""
        release = list(release)
        if not results and not release:
            return
        if self._writer is not None:
            self._writer.submit(results, release)
        else:
            self.record(results, release)

    def record(self, results: list[Result], release: list[Signal]) -> bool:
        """Write a batch, waiting for the database as long as it is away (see
        ``signals.recovery``); False only if the wait was given up (a second stop request)."""
        while True:
            try:
                self.write(results, release=release)
                return True
            except (OperationalError, InterfaceError) as exc:
                if connection.in_atomic_block:
                    raise  # a test's transaction: nothing to wait for
                if not self.database.recover(exc, "recording", self._abandon.is_set):
                    logger.error(
                        "dispatcher %s: gave up recording %s; their leases run out and "
                        "another dispatcher resends them (answered duplicate)",
                        self.name,
                        recovery.describe([(results, release)]).removeprefix(
                            "waiting to be recorded: "
                        ),
                    )
                    return False

    def write(self, results: list[Result], *, release: Iterable[Signal] = ()) -> None:
        """Write a batch; see ``_write``.

        A receiver path deleted while this dispatcher still used it fails the write (its
        attempts name it): they are written again without it. Any other refusal by the database
        is one row's fault, not the batch's: each signal is then written on its own, so one bad
        row never takes the other signals' outcomes with it. Only a database that went away
        (the connection, not the data) fails the whole write, for the caller to retry.
        """
        release = list(release)
        try:
            self._write(results, release)
        except (OperationalError, InterfaceError):
            raise
        except IntegrityError:
            if not self._forget_deleted_paths(results):
                self._write_each(results, release)
                return
            try:
                self._write(results, release)
            except (OperationalError, InterfaceError):
                raise
            except Exception:
                self._write_each(results, release)
        except Exception:
            self._write_each(results, release)

    def _write_each(self, results: list[Result], release: list[Signal]) -> None:
        """Each signal in a transaction of its own; one the database still refuses is written
        once more without the texts of its attempts, so that its outcome is kept."""
        logger.warning("dispatcher %s: a batch was refused; recording each signal alone", self.name)
        for result in results:
            try:
                self._write([result], [])
            except (OperationalError, InterfaceError):
                raise
            except Exception:
                logger.exception(
                    "dispatcher %s: could not record signal %s as it was; recording it without "
                    "the attempts' replies and errors",
                    self.name,
                    result.signal.reference,
                )
                self._write([stripped(result)], [])
        if release:
            self._write([], release)

    def _forget_deleted_paths(self, results: list[Result]) -> bool:
        used = {a.path.pk for r in results for a in r.attempts if a.path is not None}
        existing = set(ReceiverPath.objects.filter(pk__in=used).values_list("pk", flat=True))
        if used <= existing:
            return False
        for result in results:
            for attempt in result.attempts:
                if attempt.path is not None and attempt.path.pk not in existing:
                    attempt.path = None  # the role it had stays on the attempt
        self.sender.forget_paths()  # read the receivers' paths again
        return True

    def _write(self, results: list[Result], release: list[Signal]) -> None:
        """Write a batch's attempts and outcomes in one transaction; release unsent leases.

        Signals delivered in the same way share one UPDATE (the common case is one for the
        whole batch); a retry has its own jittered time, so it has its own UPDATE.
        """
        release_ids = [signal.pk for signal in release]
        now = timezone.now()
        released = {"lease_owner": "", "lease_expires_at": None}
        attempts: list[tuple] = []
        observations: list[station_lib.PathObservation] = []
        # Signals delivered alike: (attempts, status, reason, protocol) -> (fields, ids).
        delivered: dict[tuple, tuple[dict[str, Any], list[int]]] = {}
        # Each with the number of attempts this round adds to the signal's count.
        retried: list[tuple[int, dict[str, Any], int]] = []
        failed: list[tuple[Signal, dict[str, Any], int]] = []
        skipped: list[int] = []
        for result in results:
            signal = result.signal
            for attempt in result.attempts:
                attempts.append(self._attempt_row(signal, attempt))
                if attempt.path is not None:
                    observations.append(
                        station_lib.PathObservation(
                            attempt.path.pk,
                            attempt.path_ok,
                            attempt.started_at,
                            lib.text_safe(short_error(attempt)),
                        )
                    )
            if result.skipped and now < signal.deadline_at:
                skipped.append(signal.pk)
                continue
            if result.skipped:
                # Past its deadline, with its receiver unreachable right now: trying it would
                # only hold up the others for another timeout.
                fields = {
                    "state": Signal.State.FAILED,
                    "failed_at": now,
                    "last_error": lib.text_safe(result.skipped, ERROR_MAX),
                    **released,
                }
                failed.append((signal, fields, 0))
                continue
            state, fields = self._conclude(result, now)
            tried = len(result.attempts)
            if state == Signal.State.DELIVERED:
                key = (tried, fields["ack_status"], fields["ack_reason"], fields.get("protocol"))
                delivered.setdefault(key, (fields, []))[1].append(signal.pk)
            elif state == Signal.State.FAILED:
                failed.append((signal, fields, tried))
            else:
                retried.append((signal.pk, fields, tried))

        with transaction.atomic():
            insert_attempts(attempts)
            # Every row this batch changes, locked and read by primary key; each write below
            # finds its rows by primary key too (``claiming.locked_rows`` says why), and adds
            # the round's attempts to what the row holds by then.
            rows = claiming.locked_rows(
                [pk for _, ids in delivered.values() for pk in ids]
                + [pk for pk, _, _ in retried]
                + skipped
                + [signal.pk for signal, _, _ in failed]
                + release_ids
            )
            ours = (Signal.State.PENDING, self.lease_owner)
            mine = {pk for pk, row in rows.items() if row == ours}
            for (tried, *_), (fields, ids) in delivered.items():
                # Delivered is true whoever holds the lease now, and after a deadline passed.
                ids = [pk for pk in ids if rows.get(pk, ("",))[0] in DELIVERABLE]
                if ids:
                    claiming.write_by_pk(ids, fields, add={"attempts": tried})
            for pk, fields, tried in retried:
                if pk in mine:
                    claiming.write_by_pk([pk], fields, add={"attempts": tried})
            if skipped := [pk for pk in skipped if pk in mine]:
                backoff = timedelta(seconds=settings.SIGNAL_BACKOFF_BASE_SECONDS)
                claiming.write_by_pk(skipped, {"next_attempt_at": now + backoff, **released})
            failed_ids = [signal.pk for signal, _, _ in failed if signal.pk in mine]
            for signal, fields, tried in failed:
                if signal.pk in mine:
                    claiming.write_by_pk([signal.pk], fields, add={"attempts": tried})
            if release_ids := [pk for pk in release_ids if pk in mine]:
                claiming.write_by_pk(release_ids, released)
            self.record_health(observations)
            if failed_ids:
                transaction.on_commit(lambda: services.signal_failure_notify(signal_ids=failed_ids))
        self.stats.attempts += len(attempts)
        self.stats.delivered += sum(len(ids) for _, ids in delivered.values())
        self.stats.retried += len(retried)
        self.stats.failed += len(failed_ids)
        for signal, fields, _ in failed:
            logger.warning(
                "signal %s (account %s) failed: %s",
                signal.reference,
                signal.account_number,
                fields.get("ack_reason") or fields["last_error"],
            )

    def record_health(self, observations: list[station_lib.PathObservation]) -> None:
        """Path health, last in the batch's transaction and in a savepoint of its own.

        A dispatcher frozen mid-write could hold a path's health row: the others wait for it a
        moment, then record their signals without the health of this batch, rather than stop.
        """
        news = self._news(observations)
        if not news:
            return
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL lock_timeout = '2s'")
                station_services.path_health_record(observations=news)
        except DatabaseError as exc:
            for observation in news:
                self._recorded_up.pop(observation.path_id, None)
            if not recovery.connection_works():
                # The database went away: the batch fails with it, and its recovery says so.
                raise
            logger.warning("dispatcher %s: path health not recorded: %s", self.name, exc)

    def _news(
        self, observations: list[station_lib.PathObservation]
    ) -> list[station_lib.PathObservation]:
        """Leave out paths that only answered and were recorded up a moment ago: writing the
        same health row for every batch would cost every batch a locked row."""
        now = time.monotonic()
        failed = {o.path_id for o in observations if not o.ok}
        news = []
        for observation in observations:
            path_id = observation.path_id
            if path_id in failed:
                self._recorded_up.pop(path_id, None)
                news.append(observation)
            elif now - self._recorded_up.get(path_id, -math.inf) >= HEALTH_REFRESH_SECONDS:
                news.append(observation)
        for observation in news:
            if observation.path_id not in failed:
                self._recorded_up[observation.path_id] = now
        return news

    def _conclude(self, result: Result, now: datetime) -> tuple[str, dict[str, Any]]:
        """The signal's new state after its round, and the fields that say so."""
        signal = result.signal
        tried = len(result.attempts)
        fields: dict[str, Any] = {"lease_owner": "", "lease_expires_at": None}
        answered = [a for a in result.attempts if a.status]
        if answered:
            fields["ack_status"] = lib.text_safe(answered[-1].status, 20)
            fields["ack_reason"] = lib.text_safe(answered[-1].reason, 500)
        if result.protocol:
            fields["protocol"] = result.protocol
        last = result.attempts[-1]
        if result.delivered:
            fields.update(state=Signal.State.DELIVERED, delivered_at=now, last_error="")
            logger.debug(
                "delivered %s (account %s) via %s in %d ms: %s",
                signal.reference,
                signal.account_number,
                last.role or "-",
                last.duration_ms,
                last.status,
            )
            return Signal.State.DELIVERED, fields
        errors = [describe(a) for a in result.attempts if a.error]
        fields["last_error"] = lib.text_safe("; ".join(errors), ERROR_MAX)
        if result.rejected:
            # Refused for good: waiting for the deadline would change nothing.
            reason = last.reason or last.error or last.status
            fields.update(
                state=Signal.State.FAILED,
                failed_at=now,
                last_error=lib.text_safe(f"refused for good by the receiver: {reason}", ERROR_MAX),
            )
            return Signal.State.FAILED, fields
        if now >= signal.deadline_at:
            fields.update(state=Signal.State.FAILED, failed_at=now)
            return Signal.State.FAILED, fields
        delay = lib.backoff_delay(
            signal.attempts + tried,
            base=settings.SIGNAL_BACKOFF_BASE_SECONDS,
            cap=settings.SIGNAL_BACKOFF_MAX_SECONDS,
            rng=self.rng,
        )
        fields["next_attempt_at"] = now + timedelta(seconds=delay)
        logger.info(
            "retrying %s (account %s) in %.1f s: %s",
            signal.reference,
            signal.account_number,
            delay,
            fields["last_error"] or f"{last.status}: {last.reason}",
        )
        return Signal.State.PENDING, fields

    def _attempt_row(self, signal: Signal, attempt: Attempt) -> tuple:
        # Cut to their columns here: rows are copied in as they are. A message that went out
        # exactly as the signal stores it is not stored again (``sent_is_payload``): most
        # attempts, and the better part of an attempt's row.
        sent = bytes(attempt.sent)
        is_payload = bool(sent) and not attempt.sent_decrypted and sent == bytes(signal.payload)
        return attempt_row(
            signal_id=signal.pk,
            started_at=attempt.started_at,
            duration_ms=attempt.duration_ms,
            path_id=attempt.path.pk if attempt.path is not None else None,
            path_role=str(attempt.role),
            dispatcher_id=self.name,
            outcome=str(attempt.outcome),
            protocol=str(attempt.protocol),
            sent=b"" if is_payload else sent,
            sent_decrypted=bytes(attempt.sent_decrypted),
            sent_is_payload=is_payload,
            reply=bytes(attempt.reply[:REPLY_MAX]),
            error=lib.text_safe(attempt.error, ERROR_MAX),
        )
