"""A monitored site with a bridge (token issued), two cameras and zone 017 on channel 1, and
an account at the dealer's record: what the media tests upload against."""

from __future__ import annotations

import pytest

from customers.models import Zone
from signals import services as signal_services
from tests.factories import BridgeFactory, CameraFactory, MonitoringAccountFactory, ZoneFactory


@pytest.fixture
def bridge(customer):
    return BridgeFactory(customer=customer, serial="BR-0001")


@pytest.fixture
def camera(bridge):
    return CameraFactory(bridge=bridge, channel=1, name="Back door camera")


@pytest.fixture
def camera2(bridge):
    return CameraFactory(bridge=bridge, channel=2, name="Yard camera")


@pytest.fixture
def zone(customer, camera):
    zone = ZoneFactory(customer=customer, number=17, name="Back door", zone_type=Zone.Type.INSTANT)
    zone.cameras.add(camera)
    return zone


@pytest.fixture
def account(customer, record):
    return MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")


@pytest.fixture
def device_token(bridge) -> str:
    return signal_services.bridge_token_issue(bridge=bridge)


@pytest.fixture(autouse=True)
def _no_limits(settings):
    """Most tests send many requests; test_device_api.py tests the limits on their own."""
    settings.DEVICE_API_LIMIT_PER_TOKEN = 0
    settings.DEVICE_API_LIMIT_PER_ADDRESS = 0
