"""The demo seed: creates the demo dealer once and prints how to sign in."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from dealers.models import Dealer, Membership

pytestmark = pytest.mark.django_db


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", "--force", stdout=out)
    return out.getvalue()


def _snapshot() -> dict:
    users = get_user_model().objects.order_by("username").values_list("username", "password")
    return {
        "users": list(users),
        "dealers": list(Dealer.objects.values_list("code", "name")),
        "memberships": list(Membership.objects.values_list("user__username", "role")),
    }


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
