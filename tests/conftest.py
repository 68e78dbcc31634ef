"""Personas shared by the whole suite.

``dealer`` is the dealer under test; ``owner``, ``admin_member``, ``technician`` and ``viewer``
work for it; ``outsider`` owns ``other_dealer``; ``admin`` is platform staff. ``operator``
works at ``station`` (whose receiver the dealer's ``record`` uses); ``other_operator`` at
another station.

Staff and station admins must pass a second factor (portal/middleware.py). ``force_login``
therefore signs them in as if they had: it gives them an authenticator device and marks the
session as having passed it. ``client.force_login(user, second_factor=False)`` signs in with
the password step only, for tests of the two-factor gate itself.
"""

from __future__ import annotations

import pytest
from django.test import Client

from dealers.models import Membership
from stations.models import StationMembership
from tests.factories import (
    CustomerFactory,
    DealerFactory,
    DealerStationFactory,
    MembershipFactory,
    MonitoringStationFactory,
    ReceiverFactory,
    StationMembershipFactory,
    UserFactory,
)


def _force_login_with_second_factor(real):
    def force_login(self, user, backend=None, *, second_factor: bool = True):
        real(self, user, backend)
        if not second_factor:
            return
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from portal.lib import two_factor_required

        if not two_factor_required(user):
            return
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="test app", confirmed=True)
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()

    return force_login


@pytest.fixture(autouse=True)
def _second_factor_on_force_login(monkeypatch):
    monkeypatch.setattr(Client, "force_login", _force_login_with_second_factor(Client.force_login))


@pytest.fixture
def dealer():
    return DealerFactory(name="Acme Alarms")


@pytest.fixture
def other_dealer():
    return DealerFactory(name="Rival Security")


def _member(dealer, username: str, role: str):
    return MembershipFactory(dealer=dealer, user=UserFactory(username=username), role=role).user


@pytest.fixture
def owner(dealer):
    return _member(dealer, "owner", Membership.Role.OWNER)


@pytest.fixture
def admin_member(dealer):
    return _member(dealer, "dealer-admin", Membership.Role.ADMIN)


@pytest.fixture
def technician(dealer):
    return _member(dealer, "technician", Membership.Role.TECHNICIAN)


@pytest.fixture
def viewer(dealer):
    return _member(dealer, "viewer", Membership.Role.VIEWER)


@pytest.fixture
def outsider(other_dealer):
    return _member(other_dealer, "outsider", Membership.Role.OWNER)


@pytest.fixture
def admin(db):
    return UserFactory(username="staff", is_staff=True, is_superuser=True)


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner) -> Client:
    return _client_for(owner)


@pytest.fixture
def technician_client(technician) -> Client:
    return _client_for(technician)


@pytest.fixture
def viewer_client(viewer) -> Client:
    return _client_for(viewer)


@pytest.fixture
def outsider_client(outsider) -> Client:
    return _client_for(outsider)


@pytest.fixture
def admin_client(admin) -> Client:
    return _client_for(admin)


# --- stations -------------------------------------------------------------------------------


@pytest.fixture
def station(db):
    return MonitoringStationFactory(name="Central One")


@pytest.fixture
def receiver(station):
    return ReceiverFactory(station=station, name="Main XML")


@pytest.fixture
def operator(station):
    return StationMembershipFactory(station=station, user=UserFactory(username="operator")).user


@pytest.fixture
def other_operator(db):
    other = MonitoringStationFactory(name="Elsewhere Monitoring")
    return StationMembershipFactory(station=other, user=UserFactory(username="other-op")).user


@pytest.fixture
def record(dealer, receiver):
    return DealerStationFactory(dealer=dealer, receiver=receiver, name="Central (XML)")


@pytest.fixture
def outsider_record(other_dealer, receiver):
    return DealerStationFactory(dealer=other_dealer, receiver=receiver, name="Their record")


# --- customers ------------------------------------------------------------------------------


@pytest.fixture
def customer(dealer):
    return CustomerFactory(dealer=dealer, name="Corner Store", address="1 Elm Street")


@pytest.fixture
def outsider_customer(other_dealer):
    return CustomerFactory(dealer=other_dealer, name="Their Warehouse", address="9 Oak Road")


@pytest.fixture
def station_admin(station):
    """Runs ``station`` in the station console."""
    return StationMembershipFactory(
        station=station,
        user=UserFactory(username="station-admin"),
        role=StationMembership.Role.STATION_ADMIN,
    ).user


@pytest.fixture
def other_station(db):
    return MonitoringStationFactory(name="Rival Monitoring")


@pytest.fixture
def other_station_admin(other_station):
    """Runs another station: must never reach ``station``'s console or its objects."""
    return StationMembershipFactory(
        station=other_station,
        user=UserFactory(username="other-station-admin"),
        role=StationMembership.Role.STATION_ADMIN,
    ).user


@pytest.fixture
def station_admin_client(station_admin) -> Client:
    return _client_for(station_admin)
