"""Sending one signal over its receiver's paths: the receiver's codec builds the bytes, a
transport moves them, the codec reads the reply into an ``Outcome``. The dispatcher
(``signals.dispatcher``) claims and records; this module sends, and names no protocol.

A ``Sender`` belongs to one dispatcher: one open transport per receiver path and lane (reused
while the protocol keeps connections; ``signals.lanes`` keeps several lanes' exchanges going at
once, in one thread), its memory of which path worked last, each path's clock offset (set by a
receiver that answered with its own time) and the block of sequence numbers it has reserved for
each path. Sending a signal is written as steps (``deliver_steps``, see
``signals.transports``): the lanes run many at once, ``deliver`` runs one to its end.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from signals import codecs
from signals.codecs.base import Codec, Message, Outcome, Outgoing, ProtocolError, ReceiverConfig
from signals.codecs.base import SendContext as Context
from signals.models import REPLY_MAX, DeliveryAttempt, Signal
from signals.transports import (
    HttpsTransport,
    Steps,
    TcpTransport,
    Transport,
    TransportError,
    UdpTransport,
    run,
)
from stations import services as station_services
from stations.models import Receiver, ReceiverPath

logger = logging.getLogger(__name__)

Kind = DeliveryAttempt.Outcome
# Receiver paths and settings are read again this often, so changes reach running dispatchers.
PATHS_REFRESH_SECONDS = 10.0
# Sequence numbers a dispatcher reserves for a path at a time: the reservation locks the
# path's health row, which the recording of batches also takes, so not too often.
SEQUENCE_BLOCK = 100
# Outcomes that are an answer from the receiver (the path works), as opposed to none.
ANSWERED = frozenset({Kind.DELIVERED, Kind.DUPLICATE, Kind.RETRY, Kind.RESYNC, Kind.REJECTED})
DELIVERED = frozenset({Kind.DELIVERED, Kind.DUPLICATE})


@dataclass
class Attempt:
    """One exchange of one signal over one path, before it is written as a ``DeliveryAttempt``."""

    path: ReceiverPath | None
    started_at: datetime
    duration_ms: int
    outcome: str
    reply: bytes = b""
    role: str = ""
    error: str = ""
    status: str = ""
    reason: str = ""
    protocol: str = ""
    sent: bytes = b""
    sent_decrypted: bytes = b""
    # No connection or no reply at all: the receiver may be gone (as opposed to answering).
    unreachable: bool = False
    # What the codec asked to keep (Reply.facts): e.g. a slower heartbeat interval.
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def path_ok(self) -> bool:
        return self.outcome in ANSWERED


@dataclass
class Result:
    """What one round did with one signal."""

    signal: Signal
    attempts: list[Attempt] = field(default_factory=list)
    # Not sent: its receiver could not be reached earlier in this batch (why, if so).
    skipped: str = ""
    # The protocol the signal was (last) sent in.
    protocol: str = ""

    @property
    def delivered(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].outcome in DELIVERED

    @property
    def rejected(self) -> bool:
        """Refused for good: fail it now, do not wait for the deadline."""
        return bool(self.attempts) and self.attempts[-1].outcome == Kind.REJECTED

    @property
    def unreachable(self) -> bool:
        """Every path was tried and none could be reached."""
        return bool(self.attempts) and all(a.unreachable for a in self.attempts)


@dataclass(frozen=True)
class Receiving:
    """A receiver as a sender needs it: its protocol's settings and its paths."""

    config: ReceiverConfig
    paths: list[ReceiverPath]
    # The longest sending one signal to it can take (``Sender.budget`` of its paths).
    budget: float


def receiver_config(receiver: Receiver) -> ReceiverConfig:
    return ReceiverConfig(
        receiver_id=receiver.pk,
        protocol=receiver.protocol,
        receiver_number=receiver.receiver_number,
        line_number=receiver.line_number,
        settings=dict(receiver.protocol_settings or {}),
        secret=receiver.wire_credential,
    )


def message_of(signal: Signal) -> Message:
    """The codec-neutral message a signal row holds."""
    return Message(
        reference=signal.reference,
        account=signal.transmitted_number or signal.account_number,
        qualifier=signal.qualifier,
        code=signal.event_code,
        partition=signal.partition,
        zone=signal.zone,
        priority=signal.priority,
        event_time=signal.event_time,
        site_name=signal.site_name or "-",
        zone_description=signal.zone_description,
        camera_description=signal.camera_description,
        video_url=signal.video_url,
    )


def transport_kind(path: ReceiverPath) -> str:
    return path.transport


class Sender:
    """Sends signals (and heartbeats) for one dispatcher."""

    def __init__(self, *, ssl_context, stop: threading.Event) -> None:
        self.ssl_context = ssl_context
        self._stop = stop
        self._receiving: dict[int, Receiving] = {}
        self._loaded_at = -math.inf
        self._transports: dict[tuple[int, int], tuple[tuple, Transport]] = {}
        # Per path, when (monotonic) it last answered and last failed.
        self._last_ok: dict[int, float] = {}
        self._last_failure: dict[int, float] = {}
        # Per path: the receiver's clock minus ours, learnt from a receiver's answer.
        self._clock_offset: dict[int, timedelta] = {}
        self._sequences: dict[int, Iterator[int]] = {}
        self._sequence_lock = threading.Lock()

    # --- receivers and paths ---------------------------------------------------------------

    def load(self, receiver_ids: Iterable[int]) -> None:
        """Read these receivers (and their paths) unless read a moment ago.

        Every ``PATHS_REFRESH_SECONDS`` all receivers known so far are read again. The new set
        replaces the old one in one assignment: a lane in mid-send never sees it half-filled.
        """
        known = self._receiving
        wanted = set(receiver_ids)
        if time.monotonic() - self._loaded_at > PATHS_REFRESH_SECONDS:
            self._loaded_at = time.monotonic()
            wanted |= known.keys()
            known = {}
        missing = wanted - known.keys()
        if not missing:
            return
        fresh = dict(known)
        receivers = Receiver.objects.filter(pk__in=missing).prefetch_related("paths")
        for receiver in receivers:
            paths = sorted(receiver.paths.all(), key=lambda p: p.pk)
            fresh[receiver.pk] = Receiving(receiver_config(receiver), paths, self.budget(paths))
        self._receiving = fresh

    def forget_paths(self) -> None:
        self._loaded_at = -math.inf

    def receiving(self, receiver_id: int) -> Receiving | None:
        return self._receiving.get(receiver_id)

    def paths_for(self, receiver_id: int) -> list[ReceiverPath]:
        """The receiver's paths in the order to try them now: primary first, unless it failed
        after it last worked, less than ``SIGNAL_PATH_RETRY_SECONDS`` ago."""
        self.load([receiver_id])
        return self._ordered(self._receiving.get(receiver_id))

    def _ordered(self, receiving: Receiving | None) -> list[ReceiverPath]:
        if receiving is None:
            return []
        now = time.monotonic()
        retry_after = settings.SIGNAL_PATH_RETRY_SECONDS

        def failing(path: ReceiverPath) -> bool:
            failed = self._last_failure.get(path.pk)
            return (
                failed is not None
                and failed > self._last_ok.get(path.pk, -math.inf)
                and now - failed < retry_after
            )

        return sorted(
            receiving.paths, key=lambda p: (failing(p), p.role != ReceiverPath.Role.PRIMARY)
        )

    def budget_for(self, receiver_id: int) -> float:
        """``budget`` of the receiver's paths as last read (0 for a receiver not read): the
        dispatcher asks it for every signal it sends, and the paths' order does not change it."""
        receiving = self._receiving.get(receiver_id)
        return receiving.budget if receiving is not None else 0.0

    @staticmethod
    def budget(paths: Iterable[ReceiverPath]) -> float:
        """The longest sending one signal over these paths can take: every exchange ends within
        connect + reply timeout, and a receiver that asks to resynchronise gets one more."""
        return sum(2 * (path.connect_timeout + path.reply_timeout) for path in paths)

    # --- sending ----------------------------------------------------------------------------

    def deliver(self, signal: Signal, *, lane: int | None = None) -> Result:
        """``deliver_steps`` run to its end in this thread."""
        return run(self.deliver_steps(signal, lane=lane))

    def deliver_steps(self, signal: Signal, *, lane: int | None = None) -> Steps[Result]:
        """Send one signal over its receiver's paths until one answers (or all have failed).

        ``lane``: the lane's own connections, and no reading of receivers: the dispatcher has
        read the receivers of what it hands the lanes. Without, lane 0's, reading the receiver
        unless read a moment ago.
        """
        result = Result(signal)
        if lane is None:
            lane = 0
            self.load([signal.receiver_id])
        receiving = self._receiving.get(signal.receiver_id)
        paths = self._ordered(receiving)
        codec = codecs.codec_for(receiving.config.protocol) if receiving else None
        if receiving is None or codec is None or not paths:
            if receiving is None:
                problem = "the receiver no longer exists"
            elif codec is None:
                problem = f"the portal cannot send the {receiving.config.protocol} protocol"
            else:
                problem = "the receiver has no path configured"
            result.attempts.append(
                Attempt(None, timezone.now(), 0, Kind.ERROR, error=problem, unreachable=True)
            )
            return result
        config = receiving.config
        result.protocol = config.protocol
        message = message_of(signal)
        prepared = bytes(signal.payload) if signal.protocol == config.protocol else b""
        if signal.protocol != config.protocol:
            try:
                # The receiver's protocol changed since the signal was written.
                prepared = codec.prepare(message, config)
            except ProtocolError as exc:
                result.attempts.append(
                    Attempt(
                        None,
                        timezone.now(),
                        0,
                        Kind.REJECTED,
                        protocol=config.protocol,
                        error=f"the receiver's protocol cannot carry this signal: {exc.reason}",
                    )
                )
                return result
        for path in paths:
            if result.attempts and self._stop.is_set():
                # A stop request ends the dispatcher within one exchange's deadline: the
                # alternate path waits for the next dispatcher (the signal is not delivered).
                break
            attempt = yield from self._exchange(codec, config, message, prepared, path, lane=lane)
            result.attempts.append(attempt)
            if attempt.outcome == Kind.RESYNC and not self._stop.is_set():
                # The receiver's clock differs from ours: take its time and resend at once, once.
                attempt = yield from self._exchange(
                    codec, config, message, prepared, path, lane=lane
                )
                result.attempts.append(attempt)
            if attempt.path_ok:
                self._last_ok[path.pk] = time.monotonic()
                break
            self._last_failure[path.pk] = time.monotonic()
        return result

    def _context(self, config: ReceiverConfig, path: ReceiverPath) -> Context:
        return Context(
            receiver=config,
            transport=transport_kind(path),
            now=timezone.now() + self._clock_offset.get(path.pk, timedelta(0)),
            next_sequence=lambda: self._next_sequence(path.pk),
        )

    def _next_sequence(self, path_id: int) -> int:
        with self._sequence_lock:
            return self._next_sequence_locked(path_id)

    def _next_sequence_locked(self, path_id: int) -> int:
        for _ in range(2):
            block = self._sequences.get(path_id)
            if block is not None:
                number = next(block, None)
                if number is not None:
                    return number
            self._sequences[path_id] = iter(
                station_services.path_sequence_reserve(path_id=path_id, count=SEQUENCE_BLOCK)
            )
        raise RuntimeError("no sequence number could be reserved")

    def _exchange(
        self,
        codec: Codec,
        config: ReceiverConfig,
        message: Message | None,
        prepared: bytes,
        path: ReceiverPath,
        other: Callable[[Context], Outgoing | None] | None = None,
        *,
        lane: int = 0,
    ) -> Steps[Attempt]:
        """One exchange over one path: a signal (``message``), or (None) a heartbeat or the
        ``other`` exchange the codec builds (a secret rotation)."""
        started_at = timezone.now()
        start = time.monotonic()

        def done(outcome: str, **fields) -> Attempt:
            took = round((time.monotonic() - start) * 1000)
            return Attempt(
                path, started_at, took, outcome, role=path.role, protocol=codec.protocol, **fields
            )

        ctx = self._context(config, path)
        try:
            outgoing: Outgoing | None
            if message is None:
                outgoing = (other or codec.build_heartbeat)(ctx)
                if outgoing is None:
                    what = "secret rotation" if other else "heartbeat"
                    return done(Kind.ERROR, error=f"the protocol has no {what}")
            else:
                outgoing = codec.build(message, prepared, ctx)
        except ProtocolError as exc:
            return done(Kind.ERROR, error=f"cannot build the message: {exc.reason}")
        sent = {
            "sent": outgoing.wire if outgoing.encrypted else outgoing.shown,
            "sent_decrypted": outgoing.shown if outgoing.encrypted else b"",
        }
        transport: Transport | None = None
        try:
            transport = self._transport(path, codec, lane)
            reply = yield from transport.steps(
                outgoing.wire, lambda buffer, eof: codec.reply_size(buffer, eof=eof)
            )
        except TransportError as exc:
            outcome = Kind.TIMEOUT if "timeout" in exc.reason else Kind.ERROR
            return done(outcome, error=exc.reason, unreachable=True, **sent)
        except Exception as exc:  # a bug or a bad path must cost one attempt, not the dispatcher
            logger.exception("unexpected error sending over %s", path.url)
            if transport is not None:
                transport.close()
            return done(Kind.ERROR, error=f"internal: {exc!r}", unreachable=True, **sent)
        kept = codec.reply_shown(reply, ctx)[:REPLY_MAX]
        try:
            answer = codec.read_reply(reply, outgoing, ctx)
        except ProtocolError as exc:
            # Whatever the peer is doing, this conversation is out of step: start afresh.
            transport.close()
            return done(Kind.ERROR, reply=kept, error=exc.reason, **sent)
        except Exception as exc:  # the parsers are hardened; still, never trust a reply
            logger.exception("unexpected error reading a reply from %s", path.url)
            transport.close()
            return done(Kind.ERROR, reply=kept, error=f"internal: {exc!r}", **sent)
        if answer.outcome == Outcome.RESYNC and answer.receiver_time is not None:
            self._clock_offset[path.pk] = answer.receiver_time - timezone.now()
        if new_secret := answer.facts.get("new_secret"):
            # The receiver confirmed a new credential: store it only now, and only over the
            # one this exchange used (another dispatcher may have rotated it meanwhile).
            station_services.receiver_secret_replace(
                receiver_id=config.receiver_id, old=config.secret, new=new_secret
            )
            self.forget_paths()
        return done(
            Kind(answer.outcome.value),
            reply=kept,
            status=answer.status,
            reason=answer.reason,
            facts={k: v for k, v in answer.facts.items() if k != "new_secret"},
            **sent,
        )

    def heartbeat(self, receiver_id: int, path: ReceiverPath) -> Attempt | None:
        """Send the protocol's heartbeat over ``path``; None when the protocol has none."""
        receiving = self._receiving.get(receiver_id)
        codec = codecs.codec_for(receiving.config.protocol) if receiving else None
        if receiving is None or codec is None:
            return None
        attempt = run(self._exchange(codec, receiving.config, None, b"", path))
        if attempt.outcome == Kind.RESYNC:
            attempt = run(self._exchange(codec, receiving.config, None, b"", path))
        return attempt

    def rotate_secret(self, receiver_id: int) -> list[Attempt]:
        """Ask the receiver for a new protocol secret over its paths in order, until one
        answers (anything but a request for the other path). A confirmed new secret is stored
        by the exchange itself (above: only over the one it used); the caller reads the
        receiver again to know (``signals.services.receiver_secret_rotate``)."""
        attempts: list[Attempt] = []
        paths = self.paths_for(receiver_id)
        receiving = self._receiving.get(receiver_id)
        codec = codecs.codec_for(receiving.config.protocol) if receiving else None
        if receiving is None or codec is None:
            return attempts
        for path in paths:
            attempt = run(
                self._exchange(
                    codec, receiving.config, None, b"", path, other=codec.build_secret_rotation
                )
            )
            attempts.append(attempt)
            if attempt.path_ok:
                break
        return attempts

    def _transport(self, path: ReceiverPath, codec: Codec, lane: int = 0) -> Transport:
        config = (
            path.transport,
            path.host,
            path.port,
            path.use_tls,
            path.url_path,
            path.connect_timeout,
            path.reply_timeout,
            codec.protocol,
        )
        cached = self._transports.get((path.pk, lane))
        if cached is not None and cached[0] == config:
            return cached[1]
        if cached is not None:
            cached[1].close()
        transport: Transport
        if path.transport == ReceiverPath.Transport.HTTPS:
            transport = HttpsTransport(
                path.url,
                ssl_context=self.ssl_context,
                connect_timeout=path.connect_timeout,
                reply_timeout=path.reply_timeout,
                content_type=codec.content_type,
            )
        elif path.transport == ReceiverPath.Transport.UDP:
            transport = UdpTransport(path.host, path.port, reply_timeout=path.reply_timeout)
        else:
            transport = TcpTransport(
                path.host,
                path.port,
                use_tls=path.use_tls,
                ssl_context=self.ssl_context if path.use_tls else None,
                connect_timeout=path.connect_timeout,
                reply_timeout=path.reply_timeout,
                persistent=codec.persistent,
                max_reply_bytes=codec.max_reply_bytes,
            )
        self._transports[(path.pk, lane)] = (config, transport)
        return transport

    def close(self) -> None:
        for _, transport in self._transports.values():
            transport.close()
        self._transports.clear()
