"""Reads for customer pages that span models."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FilteredRelation,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    When,
    Window,
)
from django.db.models.functions import RowNumber

from customers import lib
from customers.lib import normalise_identifier
from customers.models import (
    Bridge,
    Camera,
    Contact,
    Customer,
    DirectionsApproval,
    MonitoringAccount,
    SiteDirections,
    Zone,
)
from dealers.generic import fetch_together
from dealers.models import Dealer
from stations.lib import Change, LinkExample
from stations.models import DealerStation, MonitoringStation

# What the list shows, and no more: every column read is parsed into Python for 50 rows (the
# timestamps most of all), and the list is one of the pages dealers open most.
LIST_COLUMNS = ("code", "dealer_id", "name", "address", "city", "region", "postal_code", "status")


def customer_list(dealer: Dealer) -> QuerySet[Customer]:
    """One dealer's customers for the list page (``filters.CustomerFilter`` narrows them),
    with the columns the list shows. ``list_accounts`` adds a page's accounts: two queries per
    page, whatever the size. (The export, which needs every column, has its own queryset.)"""
    return Customer.objects.for_dealer(dealer).only(*LIST_COLUMNS).order_by("name", "id")


@dataclass(frozen=True, slots=True)
class ListedAccount:
    """An account as the customer list shows it."""

    account_number: str
    record_name: str
    station_name: str
    prefix: str  # the prefix the station now gives the dealer ("" for none)

    @property
    def follows_prefix(self) -> bool:
        return lib.follows_prefix(self.account_number, self.prefix)


def list_accounts(customers: Iterable[Customer]) -> list[Customer]:
    """Give each customer of a list page ``account_list``: its accounts, in one query.

    Plain values rather than a ``prefetch_related``: models for 50 accounts, their station
    records and stations cost more to build than the rest of the list page."""
    rows = list(customers)
    by_id = {customer.pk: customer for customer in rows}
    for customer in rows:
        customer.account_list = []
    accounts = (
        MonitoringAccount.objects.filter(customer_id__in=by_id)
        .order_by("station_record__name", "id")
        .values_list(
            "customer_id",
            "account_number",
            "station_record__name",
            "station_record__station__name",
            "station_record__account_prefix",
        )
    )
    for customer_id, *shown in accounts:
        by_id[customer_id].account_list.append(ListedAccount(*shown))
    return rows


@dataclass
class CustomerPage:
    bridges: list[Bridge]
    zones: list[Zone]
    accounts: list[MonitoringAccount]


def customer_page(customer: Customer) -> CustomerPage:
    """Everything the customer's detail page shows, in a fixed number of queries."""
    cameras = Camera.objects.order_by("channel").prefetch_related(
        Prefetch("zones", Zone.objects.order_by("number"))
    )
    bridges = list(
        customer.bridges.order_by("serial").prefetch_related(Prefetch("cameras", cameras))
    )
    zones = list(
        customer.zones.order_by("number").prefetch_related(
            Prefetch("cameras", Camera.objects.select_related("bridge").order_by("channel"))
        )
    )
    accounts = list(
        customer.accounts.select_related(
            "station_record__station", "station_record__receiver"
        ).order_by("station_record__name")
    )
    return CustomerPage(bridges=bridges, zones=zones, accounts=accounts)


def link_example(station: MonitoringStation, *, dealer: Dealer | None = None) -> LinkExample | None:
    """A real active account at the station (the dealer's own, on the dealer's page) to fill a
    deep-link template with: one with a reference ID and a zone when there is one."""
    return link_examples([station], dealer=dealer).get(station.pk)


def link_examples(
    stations: Iterable[MonitoringStation], *, dealer: Dealer | None = None
) -> dict[int, LinkExample]:
    """``link_example`` of each station, by station id: one query however many stations."""
    accounts = MonitoringAccount.objects.filter(
        station__in=list(stations), customer__status=Customer.Status.ACTIVE
    )
    if dealer is not None:
        accounts = accounts.filter(customer__dealer=dealer)
    first_zone = Zone.objects.filter(customer=OuterRef("customer_id")).order_by("number")
    best_first = [
        Case(When(reference_id="", then=1), default=0).asc(),
        Case(When(zone__isnull=True, then=1), default=0).asc(),
        F("pk").asc(),
    ]
    rows = (
        accounts.annotate(zone=Subquery(first_zone.values("number")[:1]))
        .annotate(rank=Window(RowNumber(), partition_by=F("station_id"), order_by=best_first))
        .filter(rank=1)
        .values_list("station_id", "account_number", "reference_id", "zone", "customer__name")
    )
    return {
        station_id: LinkExample(
            account_number=number, reference_id=reference, zone=zone, site_name=site_name
        )
        for station_id, number, reference, zone, site_name in rows
    }


# --- the station console: accounts and dealers at a station ---------------------------------


def station_accounts(
    station: MonitoringStation, *, search: str = "", off_rule: bool = False
) -> QuerySet[MonitoringAccount]:
    """Every account at the station with its dealer, site and zones (for its console and the
    CSV export): the page's accounts plus one query for their zones."""
    accounts = MonitoringAccount.objects.filter(station=station)
    term = "".join(ch for ch in search if ch.isprintable()).strip()
    if term:
        number = normalise_identifier(term)
        accounts = accounts.filter(
            Q(account_number__startswith=number)
            | Q(reference_id=number)
            | Q(customer__site_id=number)
            | Q(customer__name__icontains=term)
            | Q(customer__address__icontains=term)
            | Q(customer__city__icontains=term)
            | Q(customer__dealer__name__icontains=term)
        )
    if off_rule:
        accounts = accounts.off_prefix_rule()
    return (
        accounts.select_related("customer__dealer", "station_record__receiver")
        .prefetch_related(Prefetch("customer__zones", Zone.objects.order_by("number")))
        .order_by("account_number")
    )


@dataclass
class StationDealer:
    """A dealer with records at the station: its prefix, records and accounts there."""

    dealer: Dealer
    records: list[DealerStation]
    accounts: int = 0
    off_rule: int = 0
    listed: bool = False

    @property
    def prefixes(self) -> list[str]:
        return sorted({record.account_prefix for record in self.records})

    @property
    def prefix(self) -> str:
        return self.prefixes[0] if len(self.prefixes) == 1 else ""


def station_dealers(station: MonitoringStation) -> list[StationDealer]:
    """Dealers with a record at the station, with prefix and account counts: four queries."""
    rows: dict[int, StationDealer] = {}
    records = DealerStation.objects.filter(station=station).select_related("dealer", "receiver")
    for record in records.order_by("dealer__name", "name"):
        rows.setdefault(record.dealer_id, StationDealer(record.dealer, [])).records.append(record)
    accounts = MonitoringAccount.objects.filter(station=station)
    for dealer_id, count in (
        accounts.values_list("customer__dealer_id").annotate(n=Count("id")).order_by()
    ):
        if dealer_id in rows:
            rows[dealer_id].accounts = count
    for dealer_id, count in (
        accounts.off_prefix_rule().values_list("customer__dealer_id").annotate(n=Count("id"))
    ).order_by():
        if dealer_id in rows:
            rows[dealer_id].off_rule = count
    listed = set(station.listed_dealers.values_list("pk", flat=True))
    for row in rows.values():
        row.listed = row.dealer.pk in listed
    return list(rows.values())


# --- directions and contacts -------------------------------------------------------------------


@dataclass
class StationDirections:
    """Where a site's directions stand at one of its monitoring stations."""

    station: MonitoringStation
    status: str  # SiteDirections.Status of the dealer's current version
    approval: DirectionsApproval | None  # the station's last review, if any

    @property
    def status_label(self) -> str:
        return SiteDirections.Status(self.status).label

    @property
    def operators_see(self) -> int | None:
        """The version this station's operators see (None: no directions)."""
        return self.approval.approved_version if self.approval else None


def directions_by_station(directions: SiteDirections) -> list[StationDirections]:
    """Each station where the site has an account, with the directions' status there (two
    queries). A station that never reviewed them has them pending."""
    stations = MonitoringStation.objects.filter(
        accounts__customer_id=directions.customer_id
    ).order_by("name", "pk")
    approvals = {
        approval.station_id: approval
        for approval in DirectionsApproval.objects.filter(directions=directions).select_related(
            "reviewed_by"
        )
    }
    rows = []
    for station in stations:
        approval = approvals.get(station.pk)
        status = (
            approval.status_of(directions.version) if approval else SiteDirections.Status.PENDING
        )
        rows.append(StationDirections(station, status, approval))
    return rows


@dataclass
class DirectionsPage:
    directions: SiteDirections | None
    stations: list[StationDirections]
    cameras: list[Camera]
    contacts: list[Contact]


def directions_page(customer: Customer) -> DirectionsPage:
    """The dealer's directions page: the directions and their status at each station, each
    camera with its note, the call list."""
    directions = (
        SiteDirections.objects.filter(customer=customer).select_related("changed_by").first()
    )
    return DirectionsPage(
        directions=directions,
        stations=directions_by_station(directions) if directions else [],
        cameras=directions_cameras(customer),
        contacts=list(customer.contacts.order_by("position", "name")),
    )


def directions_cameras(customer: Customer) -> list[Camera]:
    """The site's cameras, each with the dealer's note (``camera.direction``), in order."""
    return list(
        Camera.objects.filter(bridge__customer=customer)
        .select_related("bridge", "direction")
        .order_by("bridge__serial", "channel")
    )


@dataclass
class OperatorDirections:
    """What an operator sees pinned on a site: the last directions their own station approved,
    and the call list."""

    approved: dict
    approved_at: object
    pending: bool  # the dealer's current version is not yet approved by this station
    contacts: list[Contact]


def operator_directions_reads(*, customer_id: int, station_id: int) -> list[QuerySet]:
    """The two reads of ``operator_directions``: the site's directions with this station's
    approval of them, and the call list. For a page that reads them with its own
    (``operator_directions_of`` turns the results into what the operator sees)."""
    row_query = (
        SiteDirections.objects.filter(customer_id=customer_id)
        .annotate(mine=FilteredRelation("approvals", condition=Q(approvals__station=station_id)))
        .values("version", "mine__approved", "mine__approved_version", "mine__approved_at")
        .order_by("pk")[:1]
    )
    contacts = Contact.objects.filter(customer_id=customer_id).order_by("position", "name")
    return [row_query, contacts]


def operator_directions_of(rows: list[dict], contacts: list[Contact]) -> OperatorDirections:
    """``OperatorDirections`` from the results of ``operator_directions_reads``."""
    row = rows[0] if rows else None
    has_approved = bool(row and row["mine__approved_version"] is not None)
    return OperatorDirections(
        approved=row["mine__approved"] if has_approved else {},
        approved_at=row["mine__approved_at"] if has_approved else None,
        pending=bool(row and row["mine__approved_version"] != row["version"]),
        contacts=list(contacts),
    )


def operator_directions(customer: Customer, station: MonitoringStation) -> OperatorDirections:
    """Only a version approved by the operator's own station reaches them: a site monitored by
    two stations shows each station's operators what that station approved. Two statements,
    in one round trip on PostgreSQL (``fetch_together``); the operator's site page reads them
    with the rest of the page (``operator_directions_reads``)."""
    row_query, contacts = operator_directions_reads(customer_id=customer.pk, station_id=station.pk)
    fetch_together(row_query, contacts)
    return operator_directions_of(list(row_query), list(contacts))


def station_directions(directions: SiteDirections, station: MonitoringStation) -> StationDirections:
    """The directions' status at one station, for its admin's review page (one query)."""
    approval = (
        DirectionsApproval.objects.filter(directions=directions, station=station)
        .select_related("reviewed_by")
        .first()
    )
    status = approval.status_of(directions.version) if approval else SiteDirections.Status.PENDING
    return StationDirections(station, status, approval)


def directions_queue(station: MonitoringStation) -> QuerySet[SiteDirections]:
    """Directions waiting for this station's approval: at sites with an account at the
    station, the dealer's current version not yet reviewed by it. Each carries
    ``station_approved_version``, what the station's operators see meanwhile."""
    mine = DirectionsApproval.objects.filter(directions=OuterRef("pk"), station=station)
    return (
        # One account per site and station: the join repeats no directions.
        SiteDirections.objects.filter(customer__accounts__station=station)
        .exclude(Exists(mine.filter(version=OuterRef("version"))))
        .annotate(station_approved_version=Subquery(mine.values("approved_version")[:1]))
        .select_related("customer__dealer", "changed_by")
        .order_by("changed_at", "pk")
    )


def directions_reviews(station: MonitoringStation, *, limit: int = 100) -> list[Change]:
    """The station's approvals and sendings-back of directions, newest first (one query)."""
    rows = (
        DirectionsApproval.history.filter(station_id=station.pk)
        .select_related("history_user", "directions__customer")
        .order_by("-history_date")[:limit]
    )
    changes = []
    for row in rows:
        customer = row.directions.customer if row.directions else None
        action = "approved" if row.decision == DirectionsApproval.Decision.APPROVED else "sent back"
        changes.append(
            Change(
                row.history_date,
                row.history_user,
                f"Directions for {customer.name if customer else 'a removed site'}",
                f"{action} (version {row.version})",
            )
        )
    return changes


# --- the dealer dashboard's panel -----------------------------------------------------------


def dashboard_customers(dealer: Dealer, membership: Any = None) -> dict[str, Any]:
    """The customers by status and the accounts per station record: two queries."""
    counts = Customer.objects.for_dealer(dealer).aggregate(
        active=Count("id", filter=Q(status=Customer.Status.ACTIVE)),
        archived=Count("id", filter=Q(status=Customer.Status.ARCHIVED)),
    )
    records = list(
        DealerStation.objects.for_dealer(dealer)
        .select_related("station")
        .annotate(account_count=Count("accounts"))
        .order_by("name")
    )
    return {"customer_counts": counts, "account_records": records}
