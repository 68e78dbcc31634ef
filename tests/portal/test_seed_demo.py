"""The demo seed: creates the demo dealer once and prints how to sign in."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from customers.models import Bridge, Camera, Customer, MonitoringAccount, Zone
from dealers.models import Dealer, Membership
from stations.models import (
    DealerStation,
    MonitoringStation,
    Receiver,
    ReceiverPath,
    StationMembership,
)

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--force", stdout=out)
    return out.getvalue()


def _snapshot() -> dict:
    """Every row the seed touches, so a second run that changed anything shows up."""
    users = get_user_model().objects.order_by("username").values_list("username", "password")
    models = [
        Dealer,
        Membership,
        MonitoringStation,
        Receiver,
        ReceiverPath,
        StationMembership,
        DealerStation,
        Customer,
        Bridge,
        Camera,
        Zone,
        MonitoringAccount,
    ]
    snapshot = {"users": list(users)}
    for model in models:
        snapshot[model.__name__] = list(model.objects.order_by("pk").values())
    snapshot["history"] = MonitoringAccount.history.count()
    return snapshot


def test_seed_creates_the_demo_dealer_with_its_people():
    output = _seed()
    roles = dict(Membership.objects.values_list("user__username", "role"))
    assert roles == {"demo-owner": "owner", "demo-tech": "technician", "demo-viewer": "viewer"}
    owner = get_user_model().objects.get(username="demo-owner")
    assert owner.check_password("demo-owner-pass")
    assert "demo-owner" in output and "demo-owner-pass" in output
    assert get_user_model().objects.get(username="demo-admin").is_superuser


def test_seed_twice_changes_nothing():
    _seed()
    first = _snapshot()
    _seed()
    assert _snapshot() == first


def test_seed_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG=true"):
        call_command("seed_demo", stdout=StringIO())
    assert not Dealer.objects.exists()


def test_seed_creates_a_station_and_customers_to_try_everything_with():
    output = _seed()
    receiver = Receiver.objects.get(name="Demo XML receiver")
    assert receiver.check_passkey("demo-passkey-1234")
    assert "demo-passkey-1234" in output
    path = receiver.paths.get()
    assert (path.host, path.port, path.use_tls) == ("127.0.0.1", 9100, False)
    assert StationMembership.objects.filter(user__username="demo-operator").exists()
    zone = Zone.objects.get(number=17)
    assert zone.cameras.count() == 1
    prefixed = MonitoringAccount.objects.get(station_record__account_prefix="NW")
    assert prefixed.account_number.startswith("NW")
    assert prefixed.reference_id  # the contract station requires its User Reference
