"""Reads of the media app that span models: a site's media, its requests, bridges' states."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from customers.models import Bridge, Camera, Customer
from dealers.models import Dealer
from media.models import BridgeStatus, CameraStatus, MediaItem, MediaRequest
from media.signing import MediaUrls
from signals.models import AlarmEvent
from signals.selectors import events_recent

RECENT_EVENTS = 10
RECENT_REQUESTS = 10

Item = TypeVar("Item")


def event_media(events: Iterable[AlarmEvent]) -> dict[int, list[MediaItem]]:
    """Each event's media (by event id), clips first then snapshots in the order they were
    taken; one query whatever the number of events."""
    ids = [event.pk for event in events]
    if not ids:
        return defaultdict(list)
    return media_by_event(events_media(ids))


def events_media(events: Iterable[int] | QuerySet) -> QuerySet[MediaItem]:
    """The media of these events (ids, or a queryset of their ids for a page that reads them
    in the same round trip as the events), in ``event_media``'s order."""
    return (
        MediaItem.objects.filter(event_id__in=events)
        .select_related("camera")
        .order_by("event_id", "kind", "captured_at", "id")
    )


def media_by_event(items: Iterable[Item]) -> dict[int, list[Item]]:
    """``events_media``'s rows (or anything with their ``event_id``) by event id."""
    by_event: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        by_event[item.event_id].append(item)
    return by_event


def latest_snapshots(customer: Customer) -> dict[int, MediaItem]:
    """The latest snapshot of each camera of the site, by camera id; one query."""
    latest = (
        MediaItem.objects.filter(camera=OuterRef("camera"), kind=MediaItem.Kind.SNAPSHOT)
        .order_by("-captured_at", "-id")
        .values("pk")[:1]
    )
    items = MediaItem.objects.filter(
        customer=customer, kind=MediaItem.Kind.SNAPSHOT, camera__isnull=False
    ).filter(pk=Subquery(latest))
    return {item.camera_id: item for item in items}


def latest_snapshot_code() -> Subquery:
    """For a Camera queryset's ``annotate``: the code of the camera's latest snapshot (None if
    it has none), one probe of ``media_item_camera_latest`` per camera. The operator's page
    reads it with its cameras, so the snapshots cost no statement of their own."""
    return Subquery(
        MediaItem.objects.filter(camera=OuterRef("pk"), kind=MediaItem.Kind.SNAPSHOT)
        .order_by("-captured_at", "-id")
        .values("code")[:1]
    )


def site_requests(customer: Customer, *, limit: int = RECENT_REQUESTS) -> list[MediaRequest]:
    """The site's latest "last two minutes" requests with the clips that answered them
    (``request.media_items.all()`` is prefetched); two queries."""
    return list(
        MediaRequest.objects.filter(customer=customer)
        .select_related("camera")
        # The site's own media only, whatever a request was answered with.
        .prefetch_related(
            Prefetch("media_items", queryset=MediaItem.objects.filter(customer=customer))
        )
        .order_by("-requested_at", "-id")[:limit]
    )


def request_media(request: MediaRequest) -> list[MediaItem]:
    """The media that answered a request (the operator's page polls for it)."""
    return list(
        request.media_items.filter(customer_id=request.customer_id).order_by("captured_at", "id")
    )


def stored_upload(bridge: Bridge, upload_id: str) -> MediaItem | None:
    """The bridge's upload with this id at its site: a bridge moved to another site keeps its
    old site's media there, and its upload ids start afresh at the new one."""
    return MediaItem.objects.filter(
        bridge=bridge, customer_id=bridge.customer_id, upload_id=upload_id
    ).first()


def open_requests(bridge: Bridge) -> QuerySet[MediaRequest]:
    """What a bridge polling for commands is told to do: its open requests at its site (one
    moved elsewhere is not asked for its old site's cameras), oldest first."""
    return (
        MediaRequest.objects.filter(bridge=bridge, customer_id=bridge.customer_id)
        .open()
        .select_related("camera")
        .order_by("requested_at", "id")
    )


@dataclass
class BridgeState:
    """A bridge as the site pages show it."""

    bridge: Bridge
    status: BridgeStatus | None
    lost_cameras: list[Camera] = field(default_factory=list)

    @property
    def is_online(self) -> bool | None:
        """True, False, or None when it never sent a heartbeat."""
        return None if self.status is None else self.status.is_online

    @property
    def since(self) -> datetime | None:
        return self.status.state_changed_at if self.status is not None else None

    @property
    def last_heartbeat_at(self) -> datetime | None:
        return self.status.last_heartbeat_at if self.status is not None else None


def bridge_states(customer: Customer) -> list[BridgeState]:
    """Each bridge of the site with its connection state and lost cameras; two queries."""
    bridges = list(
        Bridge.objects.filter(customer=customer).select_related("status").order_by("serial")
    )
    lost: dict[int, list[Camera]] = defaultdict(list)
    cameras = (
        Camera.objects.filter(bridge__customer=customer, status__state=CameraStatus.State.LOST)
        .select_related("status")
        .order_by("channel")
    )
    for camera in cameras:
        lost[camera.bridge_id].append(camera)
    return [
        BridgeState(
            bridge=bridge,
            status=getattr(bridge, "status", None),
            lost_cameras=lost.get(bridge.pk, []),
        )
        for bridge in bridges
    ]


def recent_events_with_media(customer: Customer, *, limit: int = RECENT_EVENTS) -> list:
    """The site's latest events (``signals.selectors.events_recent``), each with ``media``: its
    snapshots and clips; two queries."""
    events = list(events_recent(customer, limit=limit))
    media = event_media(events)
    for event in events:
        event.media = media.get(event.pk, [])
    return events


def offline_bridges(dealer: Dealer) -> QuerySet[BridgeStatus]:
    """The dealer's bridges the watchdog found silent, longest silent first."""
    return (
        BridgeStatus.objects.for_dealer(dealer)
        .filter(state=BridgeStatus.State.OFFLINE, bridge__customer__status="active")
        .select_related("bridge__customer")
        .order_by("state_changed_at", "id")
    )


def dashboard_bridges(dealer: Dealer, membership: Any = None) -> dict[str, Any]:
    """The dashboard's bridges card: offline bridges and lost cameras of active sites; two
    queries."""
    offline = offline_bridges(dealer).count()
    lost = CameraStatus.objects.filter(
        camera__bridge__customer__dealer=dealer,
        camera__bridge__customer__status=Customer.Status.ACTIVE,
        state=CameraStatus.State.LOST,
    ).count()
    return {"bridges_offline": offline, "cameras_lost": lost}


def customer_panel(customer: Customer, membership: Any = None) -> dict[str, Any]:
    """The customer page's media panel: bridges' states and recent events with their media;
    four queries whatever the number of bridges, events and media."""
    events = recent_events_with_media(customer)
    if membership is not None:
        # Signed for the member who looks (media.signing): the URL works for them only.
        urls = MediaUrls(membership.user)
        for event in events:
            for item in event.media:
                item.url = urls.item(item.code, item.customer_id)
    return {
        "bridges": bridge_states(customer),
        "events": events,
        "time_zone": customer.time_zone,
    }
