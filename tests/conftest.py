"""Personas shared by the whole suite.

``dealer`` is the dealer under test; ``owner``, ``admin_member``, ``technician`` and ``viewer``
work for it; ``outsider`` owns ``other_dealer``; ``admin`` is platform staff.
"""

from __future__ import annotations

import pytest
from django.test import Client

from dealers.models import Membership
from tests.factories import DealerFactory, MembershipFactory, UserFactory


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
