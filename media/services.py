"""Writes of the media app: "last two minutes" requests, storing uploaded media, bridges'
heartbeats and the watchdog, and retention."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import Bridge, Camera, Customer
from dealers.models import Dealer
from media import receivers, selectors
from media.content import Inspected
from media.models import (
    REQUEST_SECONDS_DEFAULT,
    BridgeStatus,
    CameraStatus,
    MediaItem,
    MediaRequest,
)
from media.storage import media_storage
from signals import services as event_services
from signals.lib import EventKind, retired_device_id
from signals.models import AlarmEvent

logger = logging.getLogger(__name__)


def media_request_create(
    *,
    customer: Customer,
    camera: Camera,
    zone_number: int | None = None,
    requested_by: AbstractBaseUser | None = None,
    seconds: int = REQUEST_SECONDS_DEFAULT,
) -> MediaRequest:
    """Ask the camera's bridge for its last ``seconds`` of video. The bridge picks the request
    up when it next polls for commands and answers with an upload naming the request.

    The caller has scoped the site (an operator of one of its stations, or its dealer); the
    camera must be one of that site's.
    """
    if camera.bridge.customer_id != customer.pk:
        raise ValidationError({"camera": "Choose one of this site's cameras."})
    request = MediaRequest(
        customer=customer,
        bridge=camera.bridge,
        camera=camera,
        channel=camera.channel,
        zone_number=zone_number,
        requested_by=requested_by,
        seconds=seconds,
        requested_at=timezone.now(),
    )
    request.full_clean(exclude=["customer", "bridge", "camera", "requested_by"])
    with transaction.atomic():
        request.save()
    return request


# --- storing uploads ------------------------------------------------------------------------


class UploadConflict(Exception):
    """The bridge reused an upload id for different content."""


class StorageUnavailable(Exception):
    """The media storage refused the file (a full disk, an object store that is down)."""


def _file_name_free(item: MediaItem) -> None:
    """Delete the stored file of an item whose row was never written."""
    if item.file and item.file.name:
        receivers.file_delete(item.file.storage, item.file.name)


def media_store(
    *,
    bridge: Bridge,
    channel: int,
    kind: str,
    phase: str,
    event: AlarmEvent | None,
    media_request: MediaRequest | None,
    captured_at: datetime,
    upload_id: str,
    data: bytes,
    inspected: Inspected,
    supersedes: MediaItem | None = None,
) -> MediaItem:
    """Store checked media (``media.content.inspect`` said what it is) and its row together.

    The file is written first, then the row; if the row cannot be written the file is deleted
    again, so there is never a file without its row nor a row without its file. Idempotent on
    (bridge, its site, upload_id): the same id again returns the stored item (``is_new``
    False); the same id with other content is an ``UploadConflict``. An upload naming a
    request finishes it.

    ``supersedes``: the stored upload with this id when the caller found this one to be other
    media (``api.same_upload``: a bridge reset counts its ids from 1 again). In the same
    transaction its id is retired (``<id>~<pk>``), so the id is this upload's from then on.
    """
    if supersedes is not None and (
        supersedes.bridge_id != bridge.pk or supersedes.customer_id != bridge.customer_id
    ):
        raise ValueError("another bridge's or site's upload cannot give up its id here")
    existing = None if supersedes is not None else selectors.stored_upload(bridge, upload_id)
    if existing is not None:
        return _same_upload(existing, inspected)
    camera = Camera.objects.filter(bridge=bridge, channel=channel).first()
    item = MediaItem(
        customer=bridge.customer,
        bridge=bridge,
        camera=camera,
        channel=channel,
        event=event,
        request=media_request,
        kind=kind,
        phase=phase,
        content_type=inspected.content_type,
        size=inspected.size,
        sha256=inspected.sha256,
        width=inspected.width,
        height=inspected.height,
        duration_seconds=inspected.duration_seconds,
        captured_at=captured_at,
        created_at=timezone.now(),
        upload_id=upload_id,
    )
    try:
        item.file.save("upload", ContentFile(data), save=False)
    except Exception as exc:
        logger.exception("could not store an upload of bridge %s", bridge.serial)
        _file_name_free(item)
        raise StorageUnavailable(str(exc)) from exc
    try:
        with transaction.atomic():
            if supersedes is not None:
                MediaItem.objects.filter(
                    pk=supersedes.pk, customer_id=supersedes.customer_id, upload_id=upload_id
                ).update(upload_id=retired_device_id(supersedes, "upload_id"))
            item.save()
            if media_request is not None:
                _request_finish(media_request)
    except IntegrityError:
        _file_name_free(item)
        # Two uploads with one id raced: the database's unique rule picked the first.
        existing = selectors.stored_upload(bridge, upload_id)
        if existing is None:
            raise
        return _same_upload(existing, inspected)
    except BaseException:
        _file_name_free(item)
        raise
    item.is_new = True
    if supersedes is not None:
        logger.warning(
            "bridge %s used upload id %r again at site %s for other media (%s, channel %s): "
            "stored as a new upload, the first one's id is now %r",
            bridge.serial,
            upload_id,
            bridge.customer.site_id,
            kind,
            channel,
            retired_device_id(supersedes, "upload_id"),
        )
    return item


def _same_upload(existing: MediaItem, inspected: Inspected) -> MediaItem:
    if existing.sha256 != inspected.sha256:
        raise UploadConflict("This bridge already uploaded different content with this upload_id.")
    existing.is_new = False
    return existing


def _request_finish(media_request: MediaRequest) -> None:
    locked = MediaRequest.objects.select_for_update().get(pk=media_request.pk)
    if locked.state == MediaRequest.State.DONE:
        return
    now = timezone.now()
    locked.state = MediaRequest.State.DONE
    locked.done_at = now
    locked.picked_at = locked.picked_at or now
    locked.failure_reason = ""
    locked.save(update_fields=["state", "done_at", "picked_at", "failure_reason"])


# --- commands -------------------------------------------------------------------------------


def media_requests_pick(*, bridge: Bridge) -> list[MediaRequest]:
    """The bridge's open requests, oldest first; the pending ones become picked. Requests the
    bridge picked before are handed out again (a bridge that restarted forgets them)."""
    now = timezone.now()
    with transaction.atomic():
        requests = list(selectors.open_requests(bridge).select_for_update(of=("self",)))
        pending = [r.pk for r in requests if r.state == MediaRequest.State.PENDING]
        if pending:
            MediaRequest.objects.filter(pk__in=pending).update(
                state=MediaRequest.State.PICKED, picked_at=now
            )
            for request in requests:
                if request.pk in pending:
                    request.state, request.picked_at = MediaRequest.State.PICKED, now
    return requests


def media_requests_expire(*, now: datetime | None = None) -> int:
    """Requests no upload answered in time are failed (the operator's page says so)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.MEDIA_REQUEST_TIMEOUT_SECONDS)
    return (
        MediaRequest.objects.open()
        .filter(requested_at__lt=cutoff)
        .update(
            state=MediaRequest.State.FAILED,
            failure_reason="The bridge did not send the video in time.",
        )
    )


# --- heartbeats and the watchdog ------------------------------------------------------------


@dataclass(frozen=True)
class HeartbeatResult:
    state: str
    lost_channels: list[int]
    open_requests: int


def _event(
    bridge: Bridge, kind: str, *, source: str, channel: int | None = None, description: str
) -> None:
    event_services.event_record(
        customer=bridge.customer,
        kind=kind,
        bridge=bridge,
        channel=channel,
        occurred_at=timezone.now(),
        source=source,
        description=description,
    )


def bridge_heartbeat(*, bridge: Bridge, lost_channels: list[int]) -> HeartbeatResult:
    """Record a bridge's heartbeat and the cameras it reports lost.

    A bridge the watchdog had marked offline is back: a restore (``bridge_online``) goes to
    the site's stations. A camera newly reported lost is a trouble (``camera_lost``); one no
    longer reported is its restore. Each change is written with its event in one transaction,
    under the status row's lock, so a heartbeat racing the watchdog signals each change once.
    """
    now = timezone.now()
    lost = set(lost_channels)
    with transaction.atomic():
        status, created = BridgeStatus.objects.select_for_update().get_or_create(
            bridge=bridge,
            defaults={"last_heartbeat_at": now, "state_changed_at": now},
        )
        if not created:
            came_back = status.state == BridgeStatus.State.OFFLINE
            status.last_heartbeat_at = now
            fields = ["last_heartbeat_at"]
            if came_back:
                status.state = BridgeStatus.State.ONLINE
                status.state_changed_at = now
                fields += ["state", "state_changed_at"]
            status.save(update_fields=fields)
            if came_back:
                _event(
                    bridge,
                    EventKind.BRIDGE_ONLINE,
                    source=AlarmEvent.Source.SUPERVISION,
                    description="Heartbeats again",
                )
        cameras = list(
            Camera.objects.filter(bridge=bridge).select_related("status").order_by("channel")
        )
        for camera in cameras:
            camera_status = getattr(camera, "status", None)
            was_lost = camera_status is not None and camera_status.is_lost
            is_lost = camera.channel in lost
            if was_lost == is_lost:
                continue
            state = CameraStatus.State.LOST if is_lost else CameraStatus.State.OK
            CameraStatus.objects.update_or_create(
                camera=camera, defaults={"state": state, "state_changed_at": now}
            )
            _event(
                bridge,
                EventKind.CAMERA_LOST if is_lost else EventKind.CAMERA_RESTORED,
                source=AlarmEvent.Source.DEVICE,
                channel=camera.channel,
                description=f"{camera.name}: {'connection lost' if is_lost else 'back'}",
            )
        open_count = MediaRequest.objects.filter(bridge=bridge).open().count()
    return HeartbeatResult(status.state, sorted(lost), open_count)


def bridges_watchdog(*, now: datetime | None = None) -> list[BridgeStatus]:
    """Mark offline every online bridge of an active site whose last heartbeat is older than
    its dealer allows, each with a trouble (``bridge_offline``) to the site's stations; returns
    the bridges it marked. Safe to run on many workers at once: each row is re-read under its
    lock before it changes."""
    now = now or timezone.now()
    marked = []
    delays = (
        BridgeStatus.objects.filter(state=BridgeStatus.State.ONLINE)
        .values_list("bridge__customer__dealer__bridge_offline_minutes", flat=True)
        .distinct()
    )
    for minutes in sorted(set(delays)):
        cutoff = now - timedelta(minutes=minutes)
        due = BridgeStatus.objects.filter(
            state=BridgeStatus.State.ONLINE,
            last_heartbeat_at__lt=cutoff,
            bridge__customer__dealer__bridge_offline_minutes=minutes,
            bridge__customer__status=Customer.Status.ACTIVE,
        ).values_list("pk", flat=True)
        for pk in list(due):
            with transaction.atomic():
                status = (
                    BridgeStatus.objects.select_for_update(of=("self",))
                    .select_related("bridge__customer")
                    .filter(pk=pk, state=BridgeStatus.State.ONLINE, last_heartbeat_at__lt=cutoff)
                    .first()
                )
                if status is None:
                    continue  # a heartbeat came in meanwhile, or another worker did it
                status.state = BridgeStatus.State.OFFLINE
                # Offline since the last sign of life, which is what the dealer needs to know.
                status.state_changed_at = status.last_heartbeat_at
                status.save(update_fields=["state", "state_changed_at"])
                _event(
                    status.bridge,
                    EventKind.BRIDGE_OFFLINE,
                    source=AlarmEvent.Source.SUPERVISION,
                    description=f"No heartbeat for {minutes} minutes",
                )
            marked.append(status)
    return marked


# --- retention ------------------------------------------------------------------------------

RETENTION_BATCH = 500


def media_expired(*, now: datetime | None = None):
    """Media older than its dealer's retention period."""
    now = now or timezone.now()
    items = MediaItem.objects.none()
    days = Dealer.objects.filter(customers__media_items__isnull=False).values_list(
        "media_retention_days", flat=True
    )
    query = Q(pk__in=[])
    for value in sorted(set(days)):
        query |= Q(
            customer__dealer__media_retention_days=value,
            created_at__lt=now - timedelta(days=value),
        )
    items = MediaItem.objects.filter(query)
    return items


def media_retention_apply(*, now: datetime | None = None, batch: int = RETENTION_BATCH) -> int:
    """Delete expired media, rows and files together (a file goes once its row's deletion
    has committed: media.receivers); returns how many. Batches keep each transaction short."""
    deleted = 0
    while True:
        ids = list(
            media_expired(now=now).order_by("created_at", "id").values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return deleted
        with transaction.atomic():
            count, _ = MediaItem.objects.filter(pk__in=ids).delete()
        deleted += count


# Files younger than this are never orphans: their row may be about to be written.
ORPHAN_GRACE = timedelta(hours=1)
ORPHAN_LOOKUP_BATCH = 500


def _stored_names(storage, path: str = ""):
    directories, files = storage.listdir(path)
    for name in files:
        yield f"{path}/{name}" if path else name
    for name in directories:
        yield from _stored_names(storage, f"{path}/{name}" if path else name)


def media_orphans_delete(
    *, now: datetime | None = None, grace: timedelta = ORPHAN_GRACE, dry_run: bool = False
) -> list[str]:
    """Delete files of the media storage that no row names and that are older than ``grace``;
    returns their names. Such a file is left only by a process killed between writing an
    upload and its row (every other way keeps or deletes both); retention never finds it, so
    this sweep does (``manage.py media_retention --orphans``). It lists the whole storage:
    run it now and then, not every hour."""
    storage = media_storage()
    now = now or timezone.now()
    if not storage.exists("") and not hasattr(storage, "bucket_name"):
        return []
    orphans = []
    names = list(_stored_names(storage))
    for start in range(0, len(names), ORPHAN_LOOKUP_BATCH):
        batch = names[start : start + ORPHAN_LOOKUP_BATCH]
        known = set(MediaItem.objects.filter(file__in=batch).values_list("file", flat=True))
        for name in batch:
            if name in known or storage.get_modified_time(name) > now - grace:
                continue
            orphans.append(name)
            if not dry_run:
                receivers.file_delete(storage, name)
    return orphans
