"""Supervision: each receiver path whose protocol has a heartbeat (DC-09 ``NULL``, SOS Access
``pingrequest``) is checked at the interval its receiver's settings ask for, so a dead receiver
is noticed (its path goes down, the dealers are told) without waiting for an alarm.

The dispatchers share the work through the path's health row in ``stations``: a dispatcher
sends a path's heartbeat only after moving that row's ``heartbeat_due_at`` on by one interval
in a conditional UPDATE, so however many dispatchers run, one heartbeat goes per interval. A
protocol whose alarms count as supervision skips the heartbeat of a path that delivered within
the interval. A receiver may ask for fewer heartbeats (SOS Access ``101``, or ``9``: no
heartbeat service): the codec then says the new interval, kept on the health row until the
receiver recovers (a heartbeat answered without such a request) or its settings change; then
heartbeats go at the configured interval again. Each dispatcher's idea of when a path is due
follows the health row: it reads the rows again every ``RELOAD_SECONDS``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils import timezone

from signals import codecs
from signals.models import DeliveryAttempt
from signals.sending import receiver_config
from stations import lib as station_lib
from stations import services as station_services
from stations.models import PathHealth, Receiver, ReceiverPath

if TYPE_CHECKING:
    from signals.dispatcher import Dispatcher

logger = logging.getLogger(__name__)

# How often a dispatcher looks for heartbeats due, and reads the supervised receivers again.
CHECK_SECONDS = 1.0
RELOAD_SECONDS = 10.0


@dataclass
class Supervised:
    receiver_id: int
    path: ReceiverPath
    interval: float
    traffic_supervises: bool
    due: float = -math.inf  # monotonic: when this dispatcher should next look at the path


class Supervisor:
    """The heartbeats of one dispatcher; ``run_due()`` between batches."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._checked_at = -math.inf
        self._loaded_at = -math.inf
        self._paths: dict[int, Supervised] = {}

    def _load(self) -> None:
        if time.monotonic() - self._loaded_at < RELOAD_SECONDS:
            return
        self._loaded_at = time.monotonic()
        previous = self._paths
        self._paths = {}
        receivers = Receiver.objects.filter(is_active=True, station__is_active=True)
        for receiver in receivers.prefetch_related("paths"):
            codec = codecs.codec_for(receiver.protocol)
            if codec is None:
                continue
            interval = codec.heartbeat_seconds(receiver_config(receiver))
            if interval is None:
                continue
            for path in receiver.paths.all():
                old = previous.get(path.pk)
                self._paths[path.pk] = Supervised(
                    receiver.pk,
                    path,
                    interval,
                    codec.traffic_supervises,
                    due=old.due if old is not None and old.interval == interval else -math.inf,
                )
        # Another dispatcher, or a change of settings, may have brought a heartbeat forward
        # (a slow-down ended): never wait past what the health row says.
        now, wall = time.monotonic(), timezone.now()
        rows = PathHealth.objects.filter(path_id__in=list(self._paths)).values_list(
            "path_id", "heartbeat_due_at"
        )
        for path_id, due_at in rows:
            supervised = self._paths[path_id]
            due = -math.inf if due_at is None else now + (due_at - wall).total_seconds()
            supervised.due = min(supervised.due, due)

    def run_due(self) -> int:
        """Send the heartbeats that are due now and this dispatcher could claim; how many."""
        now = time.monotonic()
        if now - self._checked_at < CHECK_SECONDS:
            return 0
        self._checked_at = now
        self._load()
        sent = 0
        for supervised in list(self._paths.values()):
            if self.dispatcher.stopping:
                break
            if supervised.due > time.monotonic():
                continue
            claim = station_services.path_heartbeat_claim(
                path_id=supervised.path.pk,
                interval_seconds=supervised.interval,
                now=timezone.now(),
                idle_only=supervised.traffic_supervises,
            )
            supervised.due = time.monotonic() + max(claim.wait_seconds, CHECK_SECONDS)
            if not claim.send:
                continue
            self._beat(supervised)
            sent += 1
        return sent

    def _beat(self, supervised: Supervised) -> None:
        sender = self.dispatcher.sender
        sender.load([supervised.receiver_id])
        attempt = sender.heartbeat(supervised.receiver_id, supervised.path)
        if attempt is None:
            return
        error = "" if attempt.path_ok else f"heartbeat: {attempt.error or attempt.status}"
        observation = station_lib.PathObservation(
            supervised.path.pk, attempt.path_ok, attempt.started_at, error
        )
        self.dispatcher.record_health([observation])
        slower = attempt.facts.get("heartbeat_seconds")
        # Answered as it should, asking for nothing: the receiver has recovered from whatever
        # made it ask for fewer heartbeats (SOS Access 101 or 9), so the slow-down ends.
        recovered = attempt.outcome == DeliveryAttempt.Outcome.DELIVERED and not slower
        station_services.path_heartbeat_record(
            path_id=supervised.path.pk,
            at=attempt.started_at,
            answer=(attempt.status or attempt.error)[:100],
            # The receiver asked for fewer heartbeats (SOS Access 101): never flood it.
            slower_seconds=float(slower) if slower else None,
            configured_seconds=supervised.interval if recovered else None,
        )
        if recovered:
            supervised.due = min(supervised.due, time.monotonic() + supervised.interval)
        logger.debug(
            "heartbeat over %s: %s %s", supervised.path.url, attempt.outcome, attempt.status
        )
