"""The Django admin for dealers and memberships."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dealers.models import Dealer

pytestmark = pytest.mark.django_db


def test_dealer_admin_lists_and_searches(admin_client, dealer, other_dealer, owner):
    url = reverse("admin:dealers_dealer_changelist")
    response = admin_client.get(url, {"q": "owner"})
    assert response.status_code == 200
    assert list(response.context["cl"].queryset) == [dealer]


def test_dealer_admin_edits_memberships_inline(admin_client, dealer, owner):
    response = admin_client.get(reverse("admin:dealers_dealer_change", args=[dealer.pk]))
    assert response.status_code == 200
    assert "memberships-0-role" in response.text


def test_membership_admin_filters_by_role(admin_client, owner, viewer):
    url = reverse("admin:dealers_membership_changelist")
    response = admin_client.get(url, {"role__exact": "viewer"})
    assert [m.user.username for m in response.context["cl"].queryset] == ["viewer"]


def test_admin_is_closed_to_dealer_people(owner_client):
    response = owner_client.get(reverse("admin:dealers_dealer_changelist"))
    assert response.status_code == 302
    assert Dealer.objects.count() == 1
