"""Reads for signals that span models: what an event needs to become signals, the lists, and
who hears about receivers and failed signals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from customers.models import Bridge, Camera, Customer, MonitoringAccount, Zone
from dealers.generic import PreparedReads, SmallInt
from dealers.models import Dealer, NotificationRecipient
from signals.lib import (
    DEFAULT_CODES,
    EventKind,
    Trigger,
    rule_level,
    zone_trigger,
)
from signals.models import AlarmEvent, DeliveryAttempt, EventCode, Signal


def _transmitting_accounts(customer_id: int) -> QuerySet[MonitoringAccount]:
    return (
        MonitoringAccount.objects.filter(
            customer_id=customer_id, station_record__receiver__isnull=False
        )
        .select_related("station_record__receiver", "station")
        .order_by("pk")
    )


def transmitting_accounts(customer: Customer, *, lock: bool = False) -> list[MonitoringAccount]:
    """The site's accounts whose station record has a receiver (video-only ones send nothing).

    With ``lock``, the account rows are locked (``FOR UPDATE``) until the transaction ends:
    events of one site are then recorded one after another, so the ids of each account's
    signals follow the order the events happened in the portal. That is the alarm's path
    (``services.event_record``): compiled once per process (``_LOCKED_ACCOUNTS``).
    """
    if lock:
        (accounts,) = _LOCKED_ACCOUNTS.read(customer_id=customer.pk)
        return accounts
    return list(_transmitting_accounts(customer.pk))


# Compiled on first use, which is inside the event's transaction (FOR UPDATE compiles only
# there); the statement is the same for every site.
_LOCKED_ACCOUNTS = PreparedReads(
    lambda customer_id: [
        _transmitting_accounts(customer_id).select_for_update(of=("self",)),
    ],
    customer_id=int,
)


def _code_rules_reads(dealer_id: int, trigger: str, customer_id: int, zone_id: int):
    # No order: at most one entry per level and trigger (the library's unique rules), and
    # lib.code_resolve picks by level. The model's ordering would join three tables for it.
    scope = (
        Q(customer__isnull=True, zone__isnull=True)
        | Q(customer_id=customer_id, zone__isnull=True)
        | Q(zone_id=zone_id)
    )
    return [EventCode.objects.filter(scope, dealer_id=dealer_id, trigger=trigger).order_by()]


_CODE_RULES = PreparedReads(
    _code_rules_reads, dealer_id=int, trigger=str, customer_id=int, zone_id=int
)


def code_rules(customer: Customer, trigger: str, zone: Zone | None) -> list[EventCode]:
    """The library entries that could decide this trigger's code for this site and zone.

    On every event's path: compiled once per process (``PreparedReads``)."""
    (rules,) = _CODE_RULES.read(
        dealer_id=customer.dealer_id,
        trigger=trigger,
        customer_id=customer.pk,
        # No zone: an id no row has, so that the zone's entries match nothing.
        zone_id=zone.pk if zone is not None else 0,
    )
    return rules


def _zone_reads(customer_id: int | Subquery, number: int):
    return [
        # At most one: a site's zone numbers are unique. By primary key, not by the model's
        # ordering (which would join the customer for its name).
        Zone.objects.filter(customer_id=customer_id, number=number).order_by("pk")[:1],
        Camera.objects.filter(zones__customer_id=customer_id, zones__number=number).order_by(
            "bridge__serial", "channel"
        ),
    ]


_ZONE_BY_NUMBER = PreparedReads(_zone_reads, customer_id=int, number=SmallInt)


def zone_for_event(
    customer: Customer, *, number: int | None, camera: Camera | None
) -> tuple[Zone | None, list[Camera]]:
    """The zone an event is about and its cameras (by bridge serial, then channel): by number,
    else the lowest-numbered zone that shows the camera. By number is every zone alarm's
    path: the zone and its cameras in one round trip, compiled once per process."""
    if number is not None:
        if not SmallInt.MIN <= number <= SmallInt.MAX:
            return None, []  # no zone has it (and the statement's parameter could not hold it)
        zones, cameras = _ZONE_BY_NUMBER.read(customer_id=customer.pk, number=number)
        return (zones[0], cameras) if zones else (None, [])
    if camera is not None:
        zone = Zone.objects.filter(customer=customer, cameras=camera).order_by("number").first()
        if zone is not None:
            return zone, list(zone.cameras.order_by("bridge__serial", "channel"))
    return None, []


def _bridge_reads(serial: str) -> list[QuerySet]:
    # At most one: serials are unique. By primary key, not by the model's ordering (which
    # sorts by the site's name for a single row).
    return [
        Bridge.objects.select_related("customer__dealer").filter(serial=serial).order_by("pk")[:1]
    ]


def _device_event_reads(serial: str, device_event_id: str, zone: int) -> list[QuerySet]:
    # As subqueries, without the models' orderings (which would join the site for its name).
    bridge = Bridge.objects.filter(serial=serial).order_by()
    site = Subquery(bridge.values("customer_id")[:1])
    bridge_id = Subquery(bridge.values("pk")[:1])
    site_zone = Zone.objects.filter(customer_id=site, number=zone).order_by()
    return [
        *_bridge_reads(serial),
        # At most one: a bridge's event ids are unique at its site
        # (signals_event_unique_bridge_site_device_event; a bridge moved to another site sends
        # new events there, whatever ids its old site's have). That index leaves out the empty
        # id (the portal's own events of a bridge have none): its condition, written here as a
        # constant, lets the prepared plan use it, and an empty id never reads that history.
        AlarmEvent.objects.filter(
            bridge_id=bridge_id, customer_id=site, device_event_id=device_event_id
        )
        .exclude(device_event_id="")
        .order_by("pk")[:1],
        # That event's signals' references, in id order: what a repeat is answered with. With
        # their event's id: this statement may see the id given to a new event since the one
        # above (``services.event_record``'s ``supersedes``).
        Signal.objects.filter(
            event__bridge_id=bridge_id,
            event__customer_id=site,
            event__device_event_id=device_event_id,
        )
        .exclude(event__device_event_id="")
        .order_by("id")
        .values_list("event_id", "reference"),
        # What a new event needs before its transaction (``SiteCodes``): the bridge's site's
        # zone with its cameras, as ``zone_for_event`` reads them, and the library's entries
        # for the site and that zone, of every trigger (the zone's type picks the trigger; a
        # library has a few dozen entries).
        *_zone_reads(site, zone),
        EventCode.objects.filter(
            Q(customer__isnull=True, zone__isnull=True)
            | Q(customer_id=site, zone__isnull=True)
            | Q(zone_id=Subquery(site_zone.values("pk")[:1])),
            dealer_id=Subquery(bridge.values("customer__dealer_id")[:1]),
        ).order_by(),
        # The bridge's site again, last: each statement reads the database as it is when that
        # statement starts, so a bridge moved to another site meanwhile shows here.
        bridge.values_list("customer_id", flat=True),
    ]


# Every device request starts with these: compiled once per process (``PreparedReads``), and
# an event's in one round trip.
_BRIDGE_BY_SERIAL = PreparedReads(_bridge_reads, serial=str)
_BRIDGE_AND_DEVICE_EVENT = PreparedReads(
    _device_event_reads, serial=str, device_event_id=str, zone=SmallInt
)
# A zone number no zone has (they start at 1): the reads' zone for an event without one.
_NO_ZONE = -1


def bridge_by_serial(serial: str) -> Bridge | None:
    """The bridge with this serial, with its site and dealer."""
    (bridges,) = _BRIDGE_BY_SERIAL.read(serial=serial)
    return bridges[0] if bridges else None


@dataclass(frozen=True)
class SiteCodes:
    """A site's zone by number (None: no zone was named, or the site has no such zone) with
    its cameras, and every library entry that could decide the code of an event there: what
    ``services.event_record`` would otherwise read (``zone_for_event``, ``code_rules``)."""

    customer_id: int
    number: int | None
    zone: Zone | None
    cameras: list[Camera]
    rules: list[EventCode]


@dataclass(frozen=True)
class DeviceEventReads:
    bridge: Bridge | None
    # The event the bridge already sent with this id (with its signals' ``references``).
    existing: AlarmEvent | None
    # For a new event: its site's zone and library (None without a bridge).
    site_codes: SiteCodes | None


def bridge_and_device_event(
    serial: str, device_event_id: str, *, zone: int | None = None
) -> DeviceEventReads:
    """The bridge with this serial (with its site and dealer), the event it already sent with
    this id, if any, with its signals' ``references``, and, for a new event about ``zone``,
    that zone of the bridge's site and the library entries of the site: what the device API
    needs before the event's transaction, and all a repeat is answered with, in one round
    trip. Nothing read is any answer to anyone until the bridge's token is checked (reading it
    first can only make a wrong token's 401 a few microseconds slower when the event exists;
    the id is the device's own, not a secret)."""
    number = zone if zone is not None and SmallInt.MIN <= zone <= SmallInt.MAX else None
    bridges, events, references, zones, cameras, rules, site_after = _BRIDGE_AND_DEVICE_EVENT.read(
        serial=serial,
        device_event_id=device_event_id,
        zone=number if number is not None else _NO_ZONE,
    )
    bridge = bridges[0] if bridges else None
    event = events[0] if events else None
    if event is not None and all(event_id == event.pk for event_id, _ in references):
        event.references = [reference for _, reference in references]
    # Otherwise ``references`` stays None: the answer reads them by the event found.
    site_codes = None
    if bridge is not None:
        site_codes = SiteCodes(
            customer_id=bridge.customer_id,
            number=zone,
            zone=zones[0] if zones else None,
            cameras=cameras if zones else [],
            rules=rules,
        )
        if site_after != [bridge.customer_id] or not _of_site(site_codes, bridge):
            # The bridge changed sites while it was read: no site's codes rather than another
            # site's (the event then reads its zone and library by the bridge's site as read).
            site_codes = None
    return DeviceEventReads(bridge, event, site_codes)


def _of_site(site_codes: SiteCodes, bridge: Bridge) -> bool:
    """Whether the zone and every library entry read are the bridge's site's and dealer's."""
    site, dealer_id = bridge.customer_id, bridge.customer.dealer_id
    zone_id = site_codes.zone.pk if site_codes.zone is not None else None
    if site_codes.zone is not None and site_codes.zone.customer_id != site:
        return False
    return all(
        rule.dealer_id == dealer_id
        and rule.customer_id in (None, site)
        and rule.zone_id in (None, zone_id)
        for rule in site_codes.rules
    )


def camera_on_channel(bridge: Bridge, channel: int) -> Camera | None:
    return Camera.objects.filter(bridge=bridge, channel=channel).first()


def device_event(bridge: Bridge, device_event_id: str) -> AlarmEvent | None:
    """The event the bridge sent with this id at its site (a bridge moved to another site
    keeps its old site's events there, and its ids start afresh at the new one)."""
    return AlarmEvent.objects.filter(
        bridge=bridge, customer_id=bridge.customer_id, device_event_id=device_event_id
    ).first()


def event_references(event: AlarmEvent) -> list[str]:
    return list(event.signals.order_by("id").values_list("reference", flat=True))


def periodic_test_candidates() -> QuerySet[MonitoringAccount]:
    """Accounts that send periodic tests, each with the time of its last one."""
    last_test = (
        Signal.objects.filter(account=OuterRef("pk"), event__kind=EventKind.PERIODIC_TEST)
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    return (
        MonitoringAccount.objects.filter(
            station__periodic_test_interval__isnull=False, station_record__receiver__isnull=False
        )
        .select_related("station", "customer")
        .annotate(last_test_at=Subquery(last_test))
        .order_by("pk")
    )


def events_recent(customer: Customer | int, *, limit: int = 20) -> QuerySet[AlarmEvent]:
    """A site's (or site id's) latest events, the last received first (the deep-link site page,
    the customer page's media panel); a sliced queryset, so that the page can read it together
    with its other reads, and use its ids in theirs (``dealers.generic.PreparedReads``).

    By the portal's clock, not the device's: a bridge whose clock is wrong (one without a clock
    battery boots at its firmware's date) must not bury the alarm it sends now below older
    events, nor keep it from being the page's featured alarm."""
    return AlarmEvent.objects.filter(customer=customer).order_by("-received_at", "-id")[:limit]


# --- signal lists ---------------------------------------------------------------------------


def signal_list(dealer: Dealer, *, customer: Customer | None = None) -> QuerySet[Signal]:
    """A dealer's signals, newest first, with their attempts: a fixed number of queries.

    ``filters.SignalFilter`` narrows them for the list pages."""
    signals = Signal.objects.for_dealer(dealer)
    if customer is not None:
        signals = signals.filter(customer=customer)
    attempts = DeliveryAttempt.objects.order_by("started_at", "id")
    return (
        signals.select_related("event", "customer", "station_record", "station", "receiver")
        .prefetch_related(Prefetch("delivery_attempts", attempts))
        .order_by("-created_at", "-id")
    )


# --- receiver health and notifications ------------------------------------------------------


def signal_failure_recipients(dealer_ids: Iterable[int]) -> list[NotificationRecipient]:
    """The signal-failure subscribers of these dealers."""
    return list(
        NotificationRecipient.objects.subscribed_to(NotificationRecipient.Kind.SIGNAL_FAILED)
        .filter(dealer_id__in=list(dealer_ids), dealer__is_active=True)
        .order_by("dealer_id", "email")
    )


# --- the alarm library pages ----------------------------------------------------------------

BUILT_IN = "Built-in default"


@dataclass(frozen=True)
class EffectiveCode:
    """The code a trigger sends (or that it is off) and where that comes from."""

    event_code: str
    enabled: bool
    source: str  # "Built-in default", or the deciding entry's level label


@dataclass(frozen=True)
class CodeRow:
    """One line of an alarm-library page: a trigger at one level (dealer, site or a zone).

    ``inherited`` is what applies without this level's entry (what clearing it goes back to);
    ``entry`` is this level's own entry, if any.
    """

    key: str  # the form's field prefix: the trigger, or "zone-017" for a zone's row
    trigger: str
    label: str
    inherited: EffectiveCode
    entry: EventCode | None = None
    zone: Zone | None = None

    @property
    def effective(self) -> EffectiveCode:
        if self.entry is None:
            return self.inherited
        return _from_entry(self.entry)


def _from_entry(entry: EventCode) -> EffectiveCode:
    return EffectiveCode(entry.event_code, entry.enabled, entry.get_level_display())


def code_effective(
    trigger: str,
    rules: Iterable[EventCode],
    *,
    customer_id: int,
    zone_id: int | None = None,
    below: int = 4,
) -> EffectiveCode:
    """What ``lib.code_resolve`` decides, with its source, counting only entries of a level
    under ``below`` (3 zone, 2 site, 1 dealer): ``below=2`` is what a site inherits."""
    best: EventCode | None = None
    best_level = 0
    for rule in rules:
        if rule.trigger != trigger:
            continue
        level = rule_level(rule, customer_id=customer_id, zone_id=zone_id)
        if level is not None and best_level < level < below:
            best, best_level = rule, level
    if best is None:
        return EffectiveCode(DEFAULT_CODES[trigger], True, BUILT_IN)
    return _from_entry(best)


def code_library_rows(dealer: Dealer) -> list[CodeRow]:
    """Every trigger with the dealer's entry, falling back to the built-in code: one query."""
    entries = {
        entry.trigger: entry
        for entry in EventCode.objects.for_dealer(dealer).filter(
            customer__isnull=True, zone__isnull=True
        )
    }
    return [
        CodeRow(
            key=trigger,
            trigger=trigger,
            label=label,
            inherited=EffectiveCode(DEFAULT_CODES[trigger], True, BUILT_IN),
            entry=entries.get(trigger),
        )
        for trigger, label in Trigger.choices
    ]


def site_code_rows(customer: Customer) -> tuple[list[CodeRow], list[CodeRow]]:
    """The site's rows (every trigger) and its zones' rows (each zone's alarm trigger, for its
    current type), each with what it inherits: two queries however many zones."""
    rules = list(
        EventCode.objects.filter(dealer_id=customer.dealer_id).filter(
            Q(customer__isnull=True, zone__isnull=True) | Q(customer=customer)
        )
    )
    site_entries = {r.trigger: r for r in rules if r.customer_id is not None and r.zone_id is None}
    zone_entries = {(r.zone_id, r.trigger): r for r in rules if r.zone_id is not None}
    site_rows = [
        CodeRow(
            key=trigger,
            trigger=trigger,
            label=label,
            inherited=code_effective(trigger, rules, customer_id=customer.pk, below=2),
            entry=site_entries.get(trigger),
        )
        for trigger, label in Trigger.choices
    ]
    zone_rows = []
    for zone in Zone.objects.filter(customer=customer).order_by("number"):
        trigger = zone_trigger(zone.zone_type)
        zone_rows.append(
            CodeRow(
                key=f"zone-{zone.number:03d}",
                trigger=trigger,
                label=Trigger(trigger).label,
                inherited=code_effective(
                    trigger, rules, customer_id=customer.pk, zone_id=zone.pk, below=3
                ),
                entry=zone_entries.get((zone.pk, trigger)),
                zone=zone,
            )
        )
    return site_rows, zone_rows


# --- the dealer dashboard's panel -----------------------------------------------------------


def dashboard_signals(dealer: Dealer, membership: Any = None) -> dict[str, Any]:
    """Signals of the last 24 hours by state, and those pending now: two queries (the first
    on the dealer's newest signals, the second on the small set still pending)."""
    since = timezone.now() - timedelta(hours=24)
    recent = Signal.objects.for_dealer(dealer).filter(created_at__gte=since)
    day = dict.fromkeys(Signal.State.values, 0)
    for row in recent.values("state").annotate(count=Count("id")).order_by():
        day[row["state"]] = row["count"]
    pending_now = Signal.objects.for_dealer(dealer).filter(state=Signal.State.PENDING).count()
    return {
        "signals_day": day,
        "signals_day_rows": [(value, label, day[value]) for value, label in Signal.State.choices],
        "signals_pending_now": pending_now,
    }
