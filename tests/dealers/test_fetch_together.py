"""fetch_together: several querysets in one round trip, each as if it had been listed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Count

from customers.models import Camera, Customer
from dealers.generic import fetch_together
from tests.factories import BridgeFactory, CameraFactory, CustomerFactory, ZoneFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sites(dealer):
    shop = CustomerFactory(dealer=dealer, name="100% Bakery")
    bridge = BridgeFactory(customer=shop)
    for channel in (1, 2, 3):
        ZoneFactory(customer=shop, number=channel).cameras.add(
            CameraFactory(bridge=bridge, channel=channel)
        )
    ZoneFactory(customer=shop, number=9)
    CustomerFactory(dealer=dealer, name="Corner Store")
    return shop


def _querysets(shop):
    return [
        Camera.objects.filter(bridge__customer=shop)
        .select_related("bridge__customer")
        .order_by("-channel"),
        shop.zones.order_by("number").values_list("number", "cameras__channel"),
        # A literal percent sign among the parameters, a slice, an annotation, flat values.
        Customer.objects.filter(name__contains="100%").annotate(zones_count=Count("zones"))[:5],
        Customer.objects.order_by("name").values_list("name", flat=True),
        Customer.objects.filter(pk__in=[]),  # answers without asking the database
        Customer.objects.filter(name="nobody").values("name"),
    ]


def _compare(result):
    """What a test compares: model rows by their fields, everything else as it is."""
    if isinstance(result, Camera):
        return (result.pk, result.channel, result.bridge.serial, result.bridge.customer.name)
    if isinstance(result, Customer):
        return (result.pk, result.name, result.zones_count)
    return result


def test_each_queryset_holds_what_listing_it_would_give(sites, django_assert_num_queries):
    expected = [[_compare(row) for row in qs] for qs in _querysets(sites)]
    together = _querysets(sites)
    statements = len(together) - 1  # the empty one asks nothing
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else statements):
        fetch_together(*together)
    with django_assert_num_queries(0):
        got = [[_compare(row) for row in qs] for qs in together]
        # select_related reached through without a query
        assert {camera.bridge.customer.name for camera in together[0]} == {"100% Bakery"}
    assert got == expected
    assert got[0][0][1] == 3  # in the queryset's own order
    assert got[2] == [(sites.pk, "100% Bakery", 4)]
    assert got[4] == [] and got[5] == []


def test_querysets_already_listed_are_not_read_again(sites, django_assert_num_queries):
    cameras, zones = _querysets(sites)[:2]
    list(cameras)
    with django_assert_num_queries(1):
        fetch_together(cameras, zones)
    assert len(zones) == 4


def test_nothing_to_read_asks_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        fetch_together()
        fetch_together(Customer.objects.none())
