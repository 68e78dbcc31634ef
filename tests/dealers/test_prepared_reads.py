"""PreparedReads: querysets compiled once, read again with other values, each giving what
listing the queryset built with those values gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count

from customers.models import Camera, Customer, Zone
from dealers.generic import PreparedReads, SmallInt
from monitoring.models import SiteOpening
from tests.factories import (
    BridgeFactory,
    CameraFactory,
    CustomerFactory,
    MonitoringStationFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="reads are prepared on PostgreSQL only"
)


def _site(dealer, name: str, channels: int) -> Customer:
    site = CustomerFactory(dealer=dealer, name=name)
    bridge = BridgeFactory(customer=site)
    for channel in range(1, channels + 1):
        ZoneFactory(customer=site, number=channel).cameras.add(
            CameraFactory(bridge=bridge, channel=channel)
        )
    ZoneFactory(customer=site, number=9)
    SiteOpening.objects.create(
        customer=site, station=MonitoringStationFactory(), parameters={"act": name, "zone": "9"}
    )
    return site


@pytest.fixture
def sites(dealer):
    return _site(dealer, "100% Bakery", 3), _site(dealer, "Corner Store", 2)


def _reads(*, customer_id: int, name: str, since: datetime) -> list:
    return [
        Camera.objects.filter(bridge__customer_id=customer_id)
        .select_related("bridge__customer")
        .order_by("-channel"),
        Zone.objects.filter(customer_id=customer_id)
        .order_by("number")
        .values_list("number", "cameras__channel"),
        # A literal percent sign next to a parameter, a slice, an annotation, flat values, dicts.
        Customer.objects.filter(name__contains="%", name=name, created_at__gte=since)
        .annotate(zones_count=Count("zones"))
        .order_by("pk")[:5],
        Customer.objects.filter(pk=customer_id).values_list("name", flat=True),
        Zone.objects.filter(customer_id=customer_id, number=9).values("number", "customer_id"),
        # A column with a converter (JSON), and a model with one.
        SiteOpening.objects.filter(customer_id=customer_id).values_list("parameters", flat=True),
        SiteOpening.objects.filter(customer_id=customer_id, opened_at__gte=since),
    ]


def _compare(result):
    if isinstance(result, SiteOpening):
        return (result.pk, result.parameters, result.opened_at)
    if isinstance(result, Camera):
        return (result.pk, result.channel, result.bridge.serial, result.bridge.customer.name)
    if isinstance(result, Customer):
        return (result.pk, result.name, result.zones_count)
    return result


def _listed(querysets) -> list[list]:
    return [[_compare(row) for row in qs] for qs in querysets]


def test_each_read_gives_what_listing_its_queryset_gives(sites, django_assert_num_queries):
    reads = PreparedReads(_reads, customer_id=int, name=str, since=datetime)
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    # The second read reuses the first one's SQL with other values: each gives its own site.
    for site in (*sites, sites[0]):
        values = {"customer_id": site.pk, "name": site.name, "since": long_ago}
        expected = _listed(_reads(**values))
        with django_assert_num_queries(1 if connection.vendor == "postgresql" else 7):
            got = reads.read(**values)
        with django_assert_num_queries(0):
            # select_related reached through without a query
            assert {camera.bridge.customer.name for camera in got[0]} == {site.name}
            assert [[_compare(row) for row in rows] for rows in got] == expected
        assert got[3] == [site.name]
        assert got[4] == [{"number": 9, "customer_id": site.pk}]
        assert got[5] == [{"act": site.name, "zone": "9"}]
        assert got[6][0].parameters == {"act": site.name, "zone": "9"}
    bakery = reads.read(customer_id=sites[0].pk, name="100% Bakery", since=long_ago)
    assert [c.channel for c in bakery[0]] == [3, 2, 1]  # in the queryset's own order
    assert bakery[2] == [sites[0]] and bakery[2][0].zones_count == 4
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert reads.read(customer_id=sites[0].pk, name="100% Bakery", since=tomorrow)[2] == []


def test_the_values_must_be_given(sites):
    reads = PreparedReads(_reads, customer_id=int, name=str, since=datetime)
    with pytest.raises(TypeError):
        reads.read(customer_id=sites[0].pk, name="x")


@on_postgresql
def test_a_value_that_never_reaches_the_sql_is_refused(sites):
    def ignores_name(*, customer_id: int, name: str) -> list:
        return [Customer.objects.filter(pk=customer_id)]

    with pytest.raises(ValueError, match="never reach"):
        PreparedReads(ignores_name, customer_id=int, name=str).read(customer_id=1, name="x")


@on_postgresql
def test_a_value_written_into_the_sql_is_refused(sites):
    def inlines(*, customer_id: int) -> list:
        return [Customer.objects.filter(pk=customer_id).extra(where=[f"id <> {customer_id}"])]

    with pytest.raises(ValueError, match="in the SQL"):
        PreparedReads(inlines, customer_id=int).read(customer_id=1)


@on_postgresql
def test_prefetch_related_is_refused(sites):
    def prefetches(*, customer_id: int) -> list:
        return [Customer.objects.filter(pk=customer_id).prefetch_related("zones")]

    with pytest.raises(ValueError, match="prefetch"):
        PreparedReads(prefetches, customer_id=int).read(customer_id=1)


@on_postgresql
def test_each_statement_is_prepared_once_with_its_constants_written_in(sites):
    reads = PreparedReads(_reads, customer_id=int, name=str, since=datetime)
    values = {
        "customer_id": sites[0].pk,
        "name": sites[0].name,
        "since": datetime(2000, 1, 1, tzinfo=UTC),
    }
    reads.read(**values)
    reads.read(**values)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, parameter_types::text[] FROM pg_prepared_statements WHERE name LIKE %s",
            [f"prepared\\_{reads._number}\\_%"],
        )
        types = {name.split("_")[2]: parameters for name, parameters in cursor.fetchall()}
    assert len(types) == len(_reads(**values))
    # The customers' statement (the third): the name and the time are its parameters; the
    # constant pattern (name__contains) stays in its text, where the planner sees it.
    assert sorted(types["2"]) == ["text", "timestamp with time zone"]
    assert types["0"] == ["bigint"]


@on_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_session_that_lost_its_statements_prepares_them_again(sites):
    reads = PreparedReads(_reads, customer_id=int, name=str, since=datetime)
    values = {
        "customer_id": sites[1].pk,
        "name": sites[1].name,
        "since": datetime(2000, 1, 1, tzinfo=UTC),
    }
    expected = _listed(_reads(**values))
    assert [[_compare(row) for row in rows] for rows in reads.read(**values)] == expected
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    assert [[_compare(row) for row in rows] for rows in reads.read(**values)] == expected


def _zone_by_number(*, customer_id: int, number: int) -> list:
    return [Zone.objects.filter(customer_id=customer_id, number=number).order_by("pk")]


def test_a_small_integer_column_is_read_with_a_smallint_value(sites):
    """A zone number is a small integer column: its stand-in must lie in the column's range
    (an ``int`` one compiles to "no rows"), and every number then finds its own zone."""
    reads = PreparedReads(_zone_by_number, customer_id=int, number=SmallInt)
    for site in sites:
        for number in (1, 2, 9, 40, 32_767):
            expected = [list(qs) for qs in _zone_by_number(customer_id=site.pk, number=number)]
            assert reads.read(customer_id=site.pk, number=number) == expected
    assert reads.read(customer_id=sites[0].pk, number=9)[0][0].number == 9
