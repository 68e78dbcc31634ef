"""Demo data for stations: a station with a receiver on loopback, its operator, a record."""

from __future__ import annotations

from dataclasses import dataclass

from dealers.demo import ensure_user
from dealers.models import Dealer
from stations.models import (
    DealerStation,
    MonitoringStation,
    Receiver,
    ReceiverPath,
    StationMembership,
)

DEMO_PASSKEY = "demo-passkey-1234"
DEMO_OPERATOR = ("demo-operator", "demo-operator-pass")
DEMO_STATION_ADMIN = ("demo-station", "demo-station-pass")
# The receiver emulator (manage.py run_receiver) listens here during `make run`.
DEMO_RECEIVER_HOST = "127.0.0.1"
DEMO_RECEIVER_PORT = 9100


@dataclass
class DemoStations:
    station: MonitoringStation
    receiver: Receiver
    record: DealerStation
    prefixed_record: DealerStation
    passkey: str
    operator: tuple[str, str]
    station_admin: tuple[str, str]


def _receiver(station: MonitoringStation, name: str, **defaults: object) -> Receiver:
    receiver = Receiver.objects.filter(station=station, name=name).first()
    if receiver is None:
        receiver = Receiver(station=station, name=name, **defaults)
        receiver.set_passkey(DEMO_PASSKEY)
        receiver.save()
    return receiver


def seed(dealer: Dealer) -> DemoStations:
    station, _ = MonitoringStation.objects.get_or_create(
        name="Demo Central Station",
        defaults={
            "platform": MonitoringStation.Platform.MASTERMIND,
            "time_zone": "America/New_York",
        },
    )
    receiver = _receiver(
        station,
        "Demo XML receiver",
        description="The receiver emulator on this machine (manage.py run_receiver).",
        receiver_number="1",
        line_number="1",
    )
    ReceiverPath.objects.get_or_create(
        receiver=receiver,
        role=ReceiverPath.Role.PRIMARY,
        defaults={"host": DEMO_RECEIVER_HOST, "port": DEMO_RECEIVER_PORT, "use_tls": False},
    )
    contract, _ = MonitoringStation.objects.get_or_create(
        name="Northwind Monitoring",
        defaults={
            "platform": MonitoringStation.Platform.SENTINEL,
            "requires_reference_id": True,
            "time_zone": "America/Chicago",
        },
    )
    contract.listed_dealers.add(dealer)
    contract_receiver = _receiver(
        contract,
        "Northwind XML (listed dealers)",
        visibility=Receiver.Visibility.LISTED,
        receiver_number="7",
        line_number="2",
    )
    ReceiverPath.objects.get_or_create(
        receiver=contract_receiver,
        role=ReceiverPath.Role.PRIMARY,
        defaults={"host": DEMO_RECEIVER_HOST, "port": DEMO_RECEIVER_PORT, "use_tls": False},
    )
    operator = ensure_user(*DEMO_OPERATOR)
    StationMembership.objects.get_or_create(
        user=operator, station=station, defaults={"role": StationMembership.Role.OPERATOR}
    )
    station_admin = ensure_user(*DEMO_STATION_ADMIN)
    StationMembership.objects.get_or_create(
        user=station_admin,
        station=station,
        defaults={"role": StationMembership.Role.STATION_ADMIN},
    )
    record, _ = DealerStation.objects.get_or_create(
        dealer=dealer,
        name="Demo Central (XML)",
        defaults={"station": station, "receiver": receiver},
    )
    prefixed, _ = DealerStation.objects.get_or_create(
        dealer=dealer,
        name="Northwind (contract)",
        defaults={"station": contract, "receiver": contract_receiver, "account_prefix": "NW"},
    )
    return DemoStations(
        station=station,
        receiver=receiver,
        record=record,
        prefixed_record=prefixed,
        passkey=DEMO_PASSKEY,
        operator=DEMO_OPERATOR,
        station_admin=DEMO_STATION_ADMIN,
    )
