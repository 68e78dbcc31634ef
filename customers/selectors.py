"""Reads for customer pages that span models."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, Exists, OuterRef, Prefetch, QuerySet, When

from customers.models import Bridge, Camera, Customer, MonitoringAccount, Zone
from dealers.models import Dealer
from stations.lib import LinkExample
from stations.models import DealerStation, MonitoringStation


def customer_list(
    dealer: Dealer, *, search: str = "", status: str = "", record: DealerStation | None = None
) -> QuerySet[Customer]:
    """One dealer's customers for the list page: two queries per page, whatever the size."""
    customers = Customer.objects.for_dealer(dealer).search(search)
    if status:
        customers = customers.filter(status=status)
    if record is not None:
        customers = customers.filter(accounts__station_record=record)
    accounts = MonitoringAccount.objects.select_related("station_record").order_by(
        "station_record__name"
    )
    return customers.order_by("name", "id").prefetch_related(Prefetch("accounts", accounts))


@dataclass
class CustomerPage:
    bridges: list[Bridge]
    zones: list[Zone]
    accounts: list[MonitoringAccount]
    history: list


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
    history = list(
        MonitoringAccount.history.filter(customer_id=customer.pk)
        .select_related("history_user", "station_record")
        .order_by("-history_date")[:50]
    )
    return CustomerPage(bridges=bridges, zones=zones, accounts=accounts, history=history)


def link_example(station: MonitoringStation, *, dealer: Dealer | None = None) -> LinkExample | None:
    """A real active account at the station (the dealer's own, on the dealer's page) to fill a
    deep-link template with: one with a reference ID and a zone when there is one."""
    accounts = MonitoringAccount.objects.filter(
        station=station, customer__status=Customer.Status.ACTIVE
    )
    if dealer is not None:
        accounts = accounts.filter(customer__dealer=dealer)
    has_zone = Exists(Zone.objects.filter(customer=OuterRef("customer_id")))
    account = (
        accounts.select_related("customer")
        .annotate(has_zone=has_zone)
        .order_by(Case(When(reference_id="", then=1), default=0), "-has_zone", "pk")
        .first()
    )
    if account is None:
        return None
    zone = account.customer.zones.order_by("number").values_list("number", flat=True).first()
    return LinkExample(
        account_number=account.account_number,
        reference_id=account.reference_id,
        zone=zone,
        site_name=account.customer.name,
    )
