"""Reads for signals that span models: what an event needs to become signals, and the lists."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

from customers.models import Bridge, Camera, Customer, MonitoringAccount, Zone
from dealers.models import Dealer
from signals.lib import EventKind
from signals.models import AlarmEvent, DeliveryAttempt, EventCode, Signal
from stations.models import DealerStation


def transmitting_accounts(customer: Customer, *, lock: bool = False) -> list[MonitoringAccount]:
    """The site's accounts whose station record has a receiver (video-only ones send nothing).

    With ``lock``, the account rows are locked (``FOR UPDATE``) until the transaction ends:
    events of one site are then recorded one after another, so the ids of each account's
    signals follow the order the events happened in the portal.
    """
    accounts = (
        MonitoringAccount.objects.filter(customer=customer, station_record__receiver__isnull=False)
        .select_related("station_record__receiver", "station")
        .order_by("pk")
    )
    if lock:
        accounts = accounts.select_for_update(of=("self",))
    return list(accounts)


def code_rules(customer: Customer, trigger: str, zone: Zone | None) -> list[EventCode]:
    """The library entries that could decide this trigger's code for this site and zone."""
    scope = Q(customer__isnull=True, zone__isnull=True) | Q(customer=customer, zone__isnull=True)
    if zone is not None:
        scope |= Q(zone=zone)
    return list(
        EventCode.objects.filter(dealer_id=customer.dealer_id, trigger=trigger).filter(scope)
    )


def zone_for_event(customer: Customer, *, number: int | None, camera: Camera | None) -> Zone | None:
    """The zone an event is about, with its cameras: by number, else the lowest-numbered zone
    that shows the camera."""
    zones = Zone.objects.filter(customer=customer).prefetch_related(
        Prefetch("cameras", Camera.objects.order_by("bridge__serial", "channel"))
    )
    if number is not None:
        return zones.filter(number=number).first()
    if camera is not None:
        return zones.filter(cameras=camera).order_by("number").first()
    return None


def bridge_by_serial(serial: str) -> Bridge | None:
    return Bridge.objects.select_related("customer__dealer").filter(serial=serial).first()


def camera_on_channel(bridge: Bridge, channel: int) -> Camera | None:
    return Camera.objects.filter(bridge=bridge, channel=channel).first()


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


def events_recent(customer: Customer, *, limit: int = 20) -> list[AlarmEvent]:
    """A site's latest events, newest first (the deep-link site page)."""
    return list(
        AlarmEvent.objects.filter(customer=customer).order_by("-occurred_at", "-id")[:limit]
    )


# --- signal lists ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SignalFilters:
    state: str = ""
    record: DealerStation | None = None


def signal_list(
    dealer: Dealer, *, customer: Customer | None = None, filters: SignalFilters | None = None
) -> QuerySet[Signal]:
    """A dealer's signals, newest first, with their attempts: a fixed number of queries."""
    filters = filters or SignalFilters()
    signals = Signal.objects.for_dealer(dealer)
    if customer is not None:
        signals = signals.filter(customer=customer)
    if filters.state:
        signals = signals.filter(state=filters.state)
    if filters.record is not None:
        signals = signals.filter(station_record=filters.record)
    attempts = DeliveryAttempt.objects.order_by("started_at", "id")
    return (
        signals.select_related("event", "customer", "station_record", "station", "receiver")
        .prefetch_related(Prefetch("delivery_attempts", attempts))
        .order_by("-created_at", "-id")
    )
