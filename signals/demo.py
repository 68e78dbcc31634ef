"""Demo data for signals: the demo dealer's alarm library, filled with the built-in codes, and a
receiver for each public protocol the portal speaks beside XML v1 (each at the receiver emulator
that `make run` starts), with an account of the first demo site there, so that a newcomer sees a
signal travel in each protocol."""

from __future__ import annotations

from customers.models import Customer, MonitoringAccount
from dealers.models import Dealer
from signals.models import EventCode
from signals.services import library_defaults_create
from stations.demo import DEMO_PASSKEY, DEMO_RECEIVER_HOST, DEMO_RECEIVER_PORT
from stations.models import DealerStation, MonitoringStation, Receiver, ReceiverPath

# Where `make run`'s receiver emulator listens for each protocol, as an offset from the XML v1
# port (run_all passes them), and the demo receivers' secrets: published here, so for the demo
# only. (run_all gives the emulator's DC-09 listener its key; the SOS Access listener gets no
# secret and takes any authentication, so a rotated demo password survives a restart.)
DEMO_LISTENERS = {"sia_dc09": 1, "sos_access_v4": 2}
DEMO_DC09_KEY = "00112233445566778899AABBCCDDEEFF"
DEMO_SOS_ACCESS_AUTHENTICATION = "demo-sos-auth-1"
_DEMO_RECEIVERS = {
    "sia_dc09": {
        "station": "Southside Monitoring (SIA DC-09)",
        "receiver": "Demo DC-09 receiver (encrypted)",
        "record": "Southside (SIA DC-09)",
        "account": "3446",
        "settings": {
            "payload": "SIA-DCS",
            "adm_cid_blocks": ["V"],
            "sia_dcs_blocks": ["V", "S", "L"],
            "key_form": "hex",
            "supervision_seconds": 60,
            "supervision_account": "0000",
        },
        "secret": DEMO_DC09_KEY,
    },
    "sos_access_v4": {
        "station": "Nordic Alarm Centre (SOS Access v4)",
        "receiver": "Demo SOS Access receiver",
        "record": "Nordic (SOS Access v4)",
        "account": "3447",
        "settings": {
            "receiver": "42",
            "transmitter_type": "SV300",
            "link_transmitter_code": "PORTAL1",
            "event_codes": "sia",
            "event_code_overrides": "",
            "heartbeat_level": 180,
            "pings_per_interval": 3,
        },
        "secret": DEMO_SOS_ACCESS_AUTHENTICATION,
    },
}


def seed(dealer: Dealer) -> list[EventCode]:
    """Safe to run again: entries the dealer already has are left as they are."""
    library_defaults_create(dealer=dealer)
    site = Customer.objects.for_dealer(dealer).order_by("pk").first()
    for protocol, spec in _DEMO_RECEIVERS.items():
        _protocol_receiver(dealer, site, protocol, spec)
    return list(EventCode.objects.for_dealer(dealer).filter(customer__isnull=True))


def _protocol_receiver(dealer: Dealer, site: Customer | None, protocol: str, spec: dict) -> None:
    station, _ = MonitoringStation.objects.get_or_create(
        name=spec["station"], defaults={"platform": MonitoringStation.Platform.GENERIC}
    )
    receiver = Receiver.objects.filter(station=station, name=spec["receiver"]).first()
    if receiver is None:
        receiver = Receiver(
            station=station,
            name=spec["receiver"],
            protocol=protocol,
            receiver_number="1",
            line_number="1",
            protocol_settings=spec["settings"],
            wire_credential=spec["secret"],
        )
        receiver.set_passkey(DEMO_PASSKEY)
        receiver.save()
    ReceiverPath.objects.get_or_create(
        receiver=receiver,
        role=ReceiverPath.Role.PRIMARY,
        defaults={
            "host": DEMO_RECEIVER_HOST,
            "port": DEMO_RECEIVER_PORT + DEMO_LISTENERS[protocol],
            "use_tls": False,
        },
    )
    record, _ = DealerStation.objects.get_or_create(
        dealer=dealer, name=spec["record"], defaults={"station": station, "receiver": receiver}
    )
    if site is not None:
        MonitoringAccount.objects.get_or_create(
            customer=site, station_record=record, defaults={"account_number": spec["account"]}
        )
