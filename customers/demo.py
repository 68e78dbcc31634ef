"""Demo data for customers: sites with bridges, cameras, zones and account numbers."""

from __future__ import annotations

from dataclasses import dataclass

from customers.models import Bridge, Camera, Customer, MonitoringAccount, Zone
from dealers.models import Dealer
from stations.demo import DemoStations

# (name, address, city, bridge serial, cameras, zones (number, name, type, camera channel))
_SITES = [
    (
        "Corner Pharmacy",
        "12 Market Street",
        "Springfield",
        "DEMO-BR-0001",
        ["Front door", "Pharmacy counter", "Stock room", "Parking lot"],
        [
            (1, "Front door contact", Zone.Type.ENTRY_EXIT, 1),
            (2, "Counter motion", Zone.Type.FOLLOWER, 2),
            (17, "Stock room motion", Zone.Type.INSTANT, 3),
            (24, "Panic button", Zone.Type.TWENTY_FOUR_HOUR, 2),
        ],
    ),
    (
        "Riverside Warehouse",
        "400 River Road",
        "Springfield",
        "DEMO-BR-0002",
        ["Loading dock", "Yard east", "Yard west", "Office"],
        [
            (1, "Dock door", Zone.Type.EXTERIOR_ENTRY_EXIT, 1),
            (3, "Yard beam", Zone.Type.EXTERIOR_INSTANT, 2),
        ],
    ),
]


@dataclass
class DemoCustomers:
    customers: list[Customer]
    accounts: list[MonitoringAccount]


def _site(dealer: Dealer, spec: tuple) -> Customer:
    name, address, city, serial, camera_names, zones = spec
    customer, created = Customer.objects.get_or_create(
        dealer=dealer,
        name=name,
        defaults={"address": address, "city": city, "region": "IL", "postal_code": "62701"},
    )
    if not created:
        return customer
    bridge = Bridge.objects.create(customer=customer, serial=serial, model=Bridge.Model.CH4)
    cameras = {
        channel: Camera.objects.create(bridge=bridge, channel=channel, name=camera_name)
        for channel, camera_name in enumerate(camera_names, start=1)
    }
    for number, zone_name, zone_type, channel in zones:
        zone = Zone.objects.create(
            customer=customer, number=number, name=zone_name, zone_type=zone_type
        )
        zone.cameras.add(cameras[channel])
    return customer


def seed(dealer: Dealer, stations: DemoStations) -> DemoCustomers:
    pharmacy, warehouse = (_site(dealer, spec) for spec in _SITES)
    plans = [
        (pharmacy, stations.record, "3444", ""),
        (warehouse, stations.record, "3445", ""),
        # The contract station gave this dealer the prefix NW and wants its User Reference.
        (warehouse, stations.prefixed_record, "NW1234", "77812"),
    ]
    accounts = []
    for customer, record, number, reference in plans:
        account, _ = MonitoringAccount.objects.get_or_create(
            customer=customer,
            station_record=record,
            defaults={"account_number": number, "reference_id": reference},
        )
        accounts.append(account)
    return DemoCustomers(customers=[pharmacy, warehouse], accounts=accounts)


def seed_second(dealer: Dealer) -> Customer:
    """The second demo dealer's one site (no station yet: it shows an empty start)."""
    customer, _ = Customer.objects.get_or_create(
        dealer=dealer,
        name="Marina Office",
        defaults={
            "address": "1 Pier Way",
            "city": "Bayport",
            "region": "CA",
            "time_zone": "America/Los_Angeles",
        },
    )
    return customer
