"""A monitored site for the signals tests: a bridge with a camera on channel 1, zone 017
(Entry/Exit) showing it, and account 3444 at the dealer's record whose receiver is R1/L2."""

from __future__ import annotations

import ssl

import pytest
import trustme

from customers.models import Zone
from signals import services
from tests.factories import (
    BridgeFactory,
    CameraFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    MonitoringStationFactory,
    ZoneFactory,
)


@pytest.fixture
def receiver(receiver):
    receiver.receiver_number = "R1"
    receiver.line_number = "L2"
    receiver.save(update_fields=["receiver_number", "line_number"])
    return receiver


@pytest.fixture
def bridge(customer):
    return BridgeFactory(customer=customer, serial="BR-0001")


@pytest.fixture
def camera(bridge):
    return CameraFactory(bridge=bridge, channel=1, name="Back door camera")


@pytest.fixture
def zone(customer, camera):
    zone = ZoneFactory(
        customer=customer, number=17, name="Back door", zone_type=Zone.Type.ENTRY_EXIT
    )
    zone.cameras.add(camera)
    return zone


@pytest.fixture
def account(customer, record):
    return MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")


@pytest.fixture
def video_only_account(customer, dealer):
    station = MonitoringStationFactory(name="Video Watch")
    record = DealerStationFactory(dealer=dealer, receiver=None, station=station, name="Video only")
    return MonitoringAccountFactory(customer=customer, station_record=record, account_number="V100")


@pytest.fixture
def device_token(bridge) -> str:
    return services.bridge_token_issue(bridge=bridge)


# --- TLS: a throwaway CA for real loopback TLS servers ---------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server certificate for 127.0.0.1 and localhost, signed by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="module")
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client that trusts ``ca`` only."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context
