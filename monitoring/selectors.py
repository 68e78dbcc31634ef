"""Reads for the operator side: which sites a deep link means, and what a site page shows."""

from __future__ import annotations

import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from uuid import UUID
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils import timezone

from customers.models import Camera, Customer, MonitoringAccount, Zone
from customers.selectors import (
    OperatorDirections,
    operator_directions_of,
    operator_directions_reads,
)
from dealers.generic import PreparedReads
from media.models import MediaItem, MediaRequest
from media.selectors import (
    event_media,
    events_media,
    latest_snapshot_code,
    media_by_event,
    request_media,
)
from media.signing import MediaUrls
from monitoring.lib import DeepLink
from monitoring.models import SiteOpening, Verdict
from signals.models import AlarmEvent
from signals.selectors import events_recent
from stations.models import MonitoringStation

ALSO_OPENED_WINDOW = timedelta(hours=24)
RECENT_EVENTS = 15


def operator_stations(user) -> list[MonitoringStation]:
    """The active stations this user works at (empty for anyone who is not an operator)."""
    if not user.is_authenticated:
        return []
    return list(
        MonitoringStation.objects.filter(memberships__user=user, is_active=True).order_by("name")
    )


@dataclass
class Match:
    """One site a deep link may mean, with its matching accounts at the operator's stations."""

    customer: Customer
    accounts: list[MonitoringAccount] = field(default_factory=list)

    @property
    def station(self) -> MonitoringStation:
        return self.accounts[0].station


@dataclass
class Resolution:
    """What a deep link resolved to inside the operator's stations."""

    matches: list[Match]
    # Identifiers that matched nothing; and whether all matched, but not the same site.
    unmatched: list[str]
    disagree: bool


# Each identifier a link may give, and where it is looked up.
IDENTIFIER_LOOKUPS = {
    "account_number": "account_number",
    "reference_id": "reference_id",
    "site_id": "customer__site_id",
}


def _accounts_matching(*, user_id: int, **identifiers: str) -> list[QuerySet]:
    """The accounts at the user's active stations that any of the identifiers points at."""
    branches = []
    for name, value in identifiers.items():
        branch = Q(**{IDENTIFIER_LOOKUPS[name]: value})
        if name == "reference_id":
            # Repeat the partial unique index's own condition, so that every database (SQLite
            # too) sees that the index covers the reference ID lookup.
            branch &= ~Q(reference_id="")
        branches.append(branch)
    return [
        MonitoringAccount.objects.filter(
            reduce(operator.or_, branches),
            station__memberships__user_id=user_id,
            station__is_active=True,
            customer__status=Customer.Status.ACTIVE,
        )
        # What the site page and the chooser show: the site and the station, nothing more.
        .select_related("customer", "station")
        .order_by("customer__name", "station__name")
    ]


# One prepared read per set of identifiers a link gives (at most seven), made when first used.
_resolvers: dict[tuple[str, ...], PreparedReads] = {}


def _resolver(names: tuple[str, ...]) -> PreparedReads:
    reads = _resolvers.get(names)
    if reads is None:
        kinds = dict.fromkeys(names, str)
        reads = PreparedReads(_accounts_matching, user_id=int, **kinds)
        reads = _resolvers.setdefault(names, reads)
    return reads


def resolve(link: DeepLink, user) -> Resolution:
    """Find the site(s) inside the user's stations, in one query, whatever the data size.

    Accounts at other stations are never looked at, so a number that exists elsewhere
    answers exactly like a number that exists nowhere. The query is compiled once per set of
    identifiers (``PreparedReads``): an operator waits on this with an alarm open.
    """
    checks = {
        "account number": ("account_number", link.account_number),
        "reference ID": ("reference_id", link.reference_id),
        "site ID": ("customer__site_id", link.site_id),
    }
    identifiers = {name: getattr(link, name) for name in IDENTIFIER_LOOKUPS if getattr(link, name)}
    (accounts,) = _resolver(tuple(identifiers)).read(user_id=user.pk, **identifiers)

    def value_of(account: MonitoringAccount, lookup: str) -> str:
        return (
            account.customer.site_id if lookup == "customer__site_id" else getattr(account, lookup)
        )

    # For each identifier given, the sites it points at.
    given = {
        name: {a.customer_id for a in accounts if value_of(a, lookup) == value}
        for name, (lookup, value) in checks.items()
        if value
    }
    unmatched = [name for name, sites in given.items() if not sites]
    if unmatched:
        return Resolution(matches=[], unmatched=unmatched, disagree=False)
    agreed = set.intersection(*given.values())
    if not agreed:
        return Resolution(matches=[], unmatched=[], disagree=True)

    matches: dict[int, Match] = {}
    for account in accounts:
        if account.customer_id in agreed:
            matches.setdefault(account.customer_id, Match(account.customer)).accounts.append(
                account
            )
    return Resolution(matches=list(matches.values()), unmatched=[], disagree=False)


@dataclass
class CameraView:
    camera: Camera
    zone_numbers: list[int]
    for_zone: bool


@dataclass
class ZoneRow:
    number: int
    name: str
    zone_type: str
    camera_ids: list[int] = field(default_factory=list)

    def get_zone_type_display(self) -> str:
        return Zone.Type(self.zone_type).label

    @property
    def label(self) -> str:
        return f"{self.number:03d}"


@dataclass(slots=True)
class PageMedia:
    """A snapshot or clip as the site page shows it: the six columns the page reads of a
    ``MediaItem`` (as a row, not a model instance: building sixteen instances cost more than
    reading them) and its camera, one of the page's own."""

    code: UUID
    customer_id: int
    event_id: int
    camera_id: int | None
    channel: int
    kind: str
    camera: Camera | None = None

    @property
    def is_clip(self) -> bool:
        return self.kind == MediaItem.Kind.CLIP


@dataclass
class SitePage:
    cameras: list[CameraView]
    zones: list[ZoneRow]
    zone_found: bool
    also_opened: list[SiteOpening]
    events: list[AlarmEvent]
    # Pinned on the page: the last directions the operator's station approved, the call list.
    directions: OperatorDirections
    # The events' verdicts for the operator's station (newest first) and media, by event id.
    verdicts: dict[int, list[Verdict]] = field(default_factory=dict)
    media: dict[int, list[PageMedia]] = field(default_factory=dict)


def _zone_rows(rows) -> list[ZoneRow]:
    """The site's zones with their cameras' ids, from one LEFT JOIN row per zone and camera."""
    zones: dict[int, ZoneRow] = {}
    for number, name, zone_type, camera_id in rows:
        row = zones.setdefault(number, ZoneRow(number, name, zone_type))
        if camera_id is not None:
            row.camera_ids.append(camera_id)
    return list(zones.values())


def _site_page_reads(
    *, customer_id: int, station_id: int, user_id: int, since: datetime
) -> list[QuerySet]:
    """Every statement of the operator's site page, for ``SITE_PAGE_READS``."""
    cameras = (
        Camera.objects.filter(bridge__customer_id=customer_id)
        .select_related("bridge")
        # The code of each camera's latest snapshot (media), read with the cameras.
        .annotate(latest_snapshot_code=latest_snapshot_code())
        .order_by("bridge__serial", "channel")
    )
    zones = (
        Zone.objects.filter(customer_id=customer_id)
        .order_by("number")
        .values_list("number", "name", "zone_type", "cameras")
    )
    # Only openings made at the viewer's own stations: a site monitored by two stations must
    # not show one station's operators to the other.
    also_opened = (
        SiteOpening.objects.filter(
            customer_id=customer_id, opened_at__gte=since, station__memberships__user_id=user_id
        )
        .exclude(user_id=user_id)
        .select_related("user")
        .order_by("-opened_at")[:10]
    )
    events = events_recent(customer_id, limit=RECENT_EVENTS)
    # The events' verdicts (for the operator's station only) and media, read with the events
    # rather than after them: the ids come from the same statement as a subquery.
    event_ids = events.values("pk")
    verdicts = (
        Verdict.objects.filter(event_id__in=event_ids, station_id=station_id)
        .select_related("user", "station")
        .order_by("-recorded_at", "-id")
    )
    # What the page shows of each snapshot and clip (``PageMedia``): its signed URL, its camera
    # and channel. The camera is one of the page's own (``site_page`` hands it over).
    media = (
        events_media(event_ids)
        .select_related(None)
        .values_list("code", "customer_id", "event_id", "camera_id", "channel", "kind")
    )
    return [
        *operator_directions_reads(customer_id=customer_id, station_id=station_id),
        cameras,
        zones,
        also_opened,
        events,
        verdicts,
        media,
    ]


# Compiled once per process (``PreparedReads``): compiling these eight statements cost more
# than running them.
SITE_PAGE_READS = PreparedReads(
    _site_page_reads, customer_id=int, station_id=int, user_id=int, since=datetime
)


def site_page(
    customer: Customer, *, zone: int | None, user, station: MonitoringStation
) -> SitePage:
    """The cameras (the zone's first, each with its latest snapshot's code), zones, recent
    events with their verdicts and media, and openings of a site, and the directions
    ``station`` approved: eight statements, read in one round trip on PostgreSQL and compiled
    once per process (``SITE_PAGE_READS``), since an operator waits on this page with an alarm
    open."""
    (
        directions_row,
        contacts,
        cameras,
        zone_rows,
        also_opened,
        events,
        verdicts,
        media,
    ) = SITE_PAGE_READS.read(
        customer_id=customer.pk,
        station_id=station.pk,
        user_id=user.pk,
        since=timezone.now() - ALSO_OPENED_WINDOW,
    )
    zones = _zone_rows(zone_rows)
    zone_numbers: dict[int, list[int]] = {camera.pk: [] for camera in cameras}
    for row in zones:
        for camera_id in row.camera_ids:
            zone_numbers.setdefault(camera_id, []).append(row.number)
    asked = next((row for row in zones if row.number == zone), None)
    zone_cameras = set(asked.camera_ids) if asked else set()
    views = [
        CameraView(camera, zone_numbers.get(camera.pk, []), camera.pk in zone_cameras)
        for camera in cameras
    ]
    # The zone's camera(s) first; sorted() keeps the rest in their order.
    views = sorted(views, key=lambda view: not view.for_zone)
    by_id = {camera.pk: camera for camera in cameras}
    items = [PageMedia(*row, camera=by_id.get(row[3])) for row in media]
    verdicts_by_event: dict[int, list[Verdict]] = {event.pk: [] for event in events}
    for verdict in verdicts:
        verdicts_by_event[verdict.event_id].append(verdict)
    return SitePage(
        cameras=views,
        zones=zones,
        zone_found=asked is not None,
        also_opened=also_opened,
        events=events,
        directions=operator_directions_of(directions_row, contacts),
        verdicts=verdicts_by_event,
        media=media_by_event(items),
    )


# --- verdicts and the alarm that brought the operator here -----------------------------------


def stations_monitoring(user, customer: Customer) -> list[MonitoringStation]:
    """The user's active stations that monitor this site (have an account for it)."""
    return list(
        MonitoringStation.objects.filter(
            memberships__user=user, is_active=True, accounts__customer=customer
        )
        .distinct()
        .order_by("name")
    )


def site_for_operator(user, code) -> Match | None:
    """The active site with this code, with its accounts at the user's stations, or None."""
    accounts = list(
        MonitoringAccount.objects.filter(
            customer__code=code,
            customer__status=Customer.Status.ACTIVE,
            station__memberships__user=user,
            station__is_active=True,
        )
        .select_related("customer", "station", "station_record")
        .order_by("station__name")
    )
    if not accounts:
        return None
    return Match(accounts[0].customer, accounts)


def event_for_operator(user, code) -> AlarmEvent | None:
    """An event of an active site that one of the user's stations monitors, or None."""
    return (
        AlarmEvent.objects.filter(
            code=code,
            customer__status=Customer.Status.ACTIVE,
            customer__accounts__station__memberships__user=user,
            customer__accounts__station__is_active=True,
        )
        .select_related("customer")
        .first()
    )


def featured_alarm(events: list[AlarmEvent], *, zone: int | None) -> AlarmEvent | None:
    """The alarm that brought the operator here, from the page's recent events: the latest
    alarm in the link's zone (the latest alarm at all when the link names no zone)."""
    for event in events:
        if event.kind == AlarmEvent.Kind.ALARM and (zone is None or event.zone_number == zone):
            return event
    return None


@dataclass
class MediaLink:
    """A snapshot or clip with its signed portal URL (``media.signing``) for the viewer."""

    item: MediaItem | PageMedia
    url: str


# An event's labels by value, looked up once: the model's get_FOO_display() builds a dictionary
# of every choice on each call, and the site page shows two per event.
_KIND_LABELS = dict(AlarmEvent.Kind.choices)
_SOURCE_LABELS = dict(AlarmEvent.Source.choices)


@dataclass
class EventView:
    """An event as the operator's site page shows it: with the verdicts for the viewer's
    stations, its clips and snapshots, and its text put together once, here (as the camera
    tiles' is), rather than by the template's filters per event."""

    event: AlarmEvent
    verdicts: list[Verdict] = field(default_factory=list)
    clips: list[MediaLink] = field(default_factory=list)
    snapshots: list[MediaLink] = field(default_factory=list)
    # When it happened in the site's time zone ("" when the caller gave none).
    when: str = ""
    # When the portal received it, likewise, if far from ``when`` (``received_apart``), else "".
    received: str = ""
    # In the zone the deep link names.
    for_zone: bool = False

    @property
    def clip(self) -> MediaLink | None:
        return self.clips[0] if self.clips else None

    @property
    def kind_label(self) -> str:
        return _KIND_LABELS.get(self.event.kind, self.event.kind)

    @property
    def source_label(self) -> str:
        return _SOURCE_LABELS.get(self.event.source, self.event.source)

    @property
    def zone_label(self) -> str:
        """The zone as operators write it ("003"); "" for an event of no zone."""
        zone = self.event.zone_number
        return "" if zone is None else f"{zone:03d}"


def event_views(
    events: list[AlarmEvent],
    *,
    stations: list[MonitoringStation],
    verdicts: dict[int, list[Verdict]] | None = None,
    time_zone: str | None = None,
    zone: int | None = None,
) -> list[EventView]:
    """The events with their verdicts for ``stations`` (read here, one query, unless the
    caller read them already: ``verdicts``, by event id), and, given the site's
    ``time_zone``, when each happened there (and when the portal received it, if that was
    far off); those in ``zone`` (the link's) say so."""
    if verdicts is None:
        verdicts = verdicts_by_event(events, stations=stations)
    local = ZoneInfo(time_zone) if time_zone else None

    def there(moment: datetime) -> str:
        return moment.astimezone(local).strftime("%Y-%m-%d %H:%M:%S") if local else ""

    return [
        EventView(
            event,
            verdicts.get(event.pk, []),
            when=there(event.occurred_at),
            received=there(event.received_at) if event.received_apart else "",
            for_zone=zone is not None and event.zone_number == zone,
        )
        for event in events
    ]


def verdicts_by_event(
    events: list[AlarmEvent], *, stations: list[MonitoringStation]
) -> dict[int, list[Verdict]]:
    """The verdicts on these events made for these stations (one station's operators never see
    another's), newest first, by event id: one query."""
    found: dict[int, list[Verdict]] = {event.pk: [] for event in events}
    if not events or not stations:
        return found
    for verdict in (
        Verdict.objects.filter(event_id__in=list(found), station__in=stations)
        .select_related("user", "station")
        .order_by("-recorded_at", "-id")
    ):
        found[verdict.event_id].append(verdict)
    return found


# --- media on the site page ------------------------------------------------------------------


@dataclass
class CameraTile:
    """A camera on the site page: its latest snapshot's signed URL, its live stream if it has
    one, and whether the operator may ask for its last two minutes here."""

    view: CameraView
    snapshot_url: str
    live_url: str
    can_request: bool
    # What the tile says under the camera's name: bridge, channel and the zones it watches.
    detail: str = ""
    # The "last two minutes" request's values (htmx's hx-vals): the camera, and the link's
    # zone on the zone's own camera.
    request_values: str = ""

    @property
    def camera(self) -> Camera:
        return self.view.camera


def _link(item: MediaItem | PageMedia, urls: MediaUrls) -> MediaLink:
    return MediaLink(item, urls.item(item.code, item.customer_id))


def has_live_view(camera: Camera) -> bool:
    """The camera has a stream and its bridge a relay to fetch it from (no query: the page's
    cameras come with their bridge)."""
    return bool(camera.stream_url and camera.bridge.relay_url)


def attach_media(
    events: list[EventView],
    *,
    user,
    media: dict[int, list[MediaItem]] | dict[int, list[PageMedia]] | None = None,
) -> None:
    """Give each event its clips and snapshots with signed URLs for ``user`` (read here, one
    query, unless the caller read them already: ``media``, by event id)."""
    if media is None:
        media = event_media([view.event for view in events])
    urls = MediaUrls(user)
    for view in events:
        for item in media.get(view.event.pk, []):
            (view.clips if item.is_clip else view.snapshots).append(_link(item, urls))


def camera_tiles(
    page: SitePage,
    *,
    user,
    featured: EventView | None,
    zone: int | None = None,
    events: Sequence[EventView] = (),
) -> list[CameraTile]:
    """The site's cameras with their latest snapshots and live view (no query: the cameras came
    with their latest snapshot's code). The featured alarm's camera shows the alarm's own media
    instead of a request button. Each tile's text is put together here, once, rather than by
    the template in a loop per camera. A latest snapshot that is also one of ``events``' (the
    alarm that brought the operator here, most often) keeps the URL signed for it there."""
    featured_channel = featured.event.channel if featured else None
    signed = {link.item.code: link.url for view in events for link in view.snapshots}
    urls = MediaUrls(user)
    tiles = []
    for view in page.cameras:
        camera = view.camera
        code = camera.latest_snapshot_code
        shows_alarm = featured is not None and (
            view.for_zone or (featured_channel is not None and camera.channel == featured_channel)
        )
        zones = ", ".join(f"{number:03d}" for number in view.zone_numbers) or "none"
        request_values = {"camera": str(camera.code)}
        if view.for_zone and zone is not None:
            request_values["zone"] = str(zone)
        tiles.append(
            CameraTile(
                view=view,
                snapshot_url=(
                    (signed.get(code) or urls.item(code, camera.bridge.customer_id)) if code else ""
                ),
                live_url=urls.live(camera) if has_live_view(camera) else "",
                can_request=not shows_alarm,
                detail=f"{camera.bridge} · channel {camera.channel} · zones {zones}",
                request_values=json.dumps(request_values),
            )
        )
    return tiles


def media_request_for_operator(user, code) -> MediaRequest | None:
    """A "last two minutes" request of a site one of the user's stations monitors, or None."""
    return (
        MediaRequest.objects.filter(
            code=code,
            customer__status=Customer.Status.ACTIVE,
            customer__accounts__station__memberships__user=user,
            customer__accounts__station__is_active=True,
        )
        .select_related("camera", "customer")
        .first()
    )


def camera_for_operator(user, customer: Customer, code) -> Camera | None:
    """One of the site's cameras, by code."""
    return (
        Camera.objects.filter(code=code, bridge__customer=customer).select_related("bridge").first()
    )


def request_links(request: MediaRequest, *, user) -> list[MediaLink]:
    """The clips (and snapshots) that answered a request, with signed URLs: one query."""
    urls = MediaUrls(user)
    return [_link(item, urls) for item in request_media(request)]
