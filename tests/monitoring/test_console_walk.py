"""Walk EVERY station-console URL pattern (from the URL resolver, not a hand-kept list) as
each kind of outsider: another station's admin, an operator of the station, a dealer, and
someone signed out. Each gets 404 or the sign-in page, never the data, and changes nothing.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from customers.models import SiteDirections
from stations.models import DealerStation, Receiver, StationMembership
from tests.factories import (
    DealerStationFactory,
    MonitoringAccountFactory,
    ReceiverFactory,
    ReceiverPathFactory,
)

pytestmark = pytest.mark.django_db

PARAM_RE = re.compile(r"<(?:\w+:)?(\w+)>")
SECRET_NAME = "Zebra Secret Receiver"


def console_patterns() -> list[tuple[str, str, list[str]]]:
    """(name, route, [parameters]) of every pattern of the station console."""
    found = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route, entry.namespace or namespace)
            elif (
                isinstance(entry, URLPattern)
                and namespace == "monitoring"
                and (entry.name or "").startswith("console")
            ):
                found.append((entry.name, route, PARAM_RE.findall(route)))

    walk(get_resolver().url_patterns, "", "")
    return found


def test_the_walk_finds_the_console():
    names = {name for name, _, _ in console_patterns()}
    assert {"console", "console-receivers", "console-accounts-csv", "console-people"} <= names
    assert len(names) >= 15


@pytest.fixture
def world(station, record, dealer, customer, operator, station_admin):
    """A station with one of everything a console URL can name."""
    receiver = ReceiverFactory(station=station, name=SECRET_NAME)
    ReceiverPathFactory(receiver=receiver)
    DealerStationFactory(dealer=dealer, receiver=receiver, name="Second", account_prefix="NW")
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="NW7788")
    membership = StationMembership.objects.get(user=operator, station=station)
    directions = SiteDirections.objects.create(customer=customer, note=SECRET_NAME, version=3)
    return {
        "receivers": receiver.code,
        "people": membership.code,
        "dealers": dealer.code,
        "directions": directions.code,
    }


def _kwargs(route: str, params: list[str], station_code, objects) -> dict:
    kwargs = {}
    for param in params:
        if param == "station":
            kwargs[param] = station_code
        elif param == "code":
            segment = route.split("<uuid:code>")[0].rstrip("/").split("/")[-1]
            if segment not in objects:
                pytest.fail(f"The walk has no object for {route!r}: add one to `world`.")
            kwargs[param] = objects[segment]
        else:
            pytest.fail(f"The walk does not know the parameter {param!r} of {route!r}.")
    return kwargs


def _snapshot():
    return (
        list(SiteDirections.objects.order_by("pk").values()),
        list(Receiver.objects.order_by("pk").values()),
        list(StationMembership.objects.order_by("pk").values()),
        list(DealerStation.objects.order_by("pk").values()),
    )


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_every_console_url_refuses_every_outsider(
    world, station, other_station, other_station_admin, operator, owner
):
    before = _snapshot()
    outsiders = {
        "other station's admin": _client(other_station_admin),
        "operator": _client(operator),
        "dealer": _client(owner),
        "signed out": _client(),
    }
    checked = 0
    for name, route, params in console_patterns():
        targets = [_kwargs(route, params, station.code, world)]
        if "station" in params and "code" in params:
            # Another station's admin naming their own station and this station's object.
            targets.append(_kwargs(route, params, other_station.code, world))
        for kwargs in targets:
            url = reverse(f"monitoring:{name}", kwargs=kwargs)
            for who, client in outsiders.items():
                for method in ("get", "post"):
                    response = getattr(client, method)(url)
                    body = response.content.decode(errors="replace")
                    if not params and method == "post":
                        # /station/ only answers GET: nothing to post to, for anyone.
                        assert response.status_code == 405, (who, url)
                    elif who == "signed out":
                        assert response.status_code == 302, (who, method, url)
                        assert response.url.startswith("/accounts/login/"), (who, url)
                    elif not params and who == "other station's admin" and method == "get":
                        # /station/ takes every admin to their own station, never this one.
                        assert response.url == reverse(
                            "monitoring:console", args=[other_station.code]
                        )
                    else:
                        assert response.status_code == 404, (who, method, url, response.status_code)
                    assert SECRET_NAME not in body and "NW7788" not in body, (who, url)
                    checked += 1
    assert checked >= 15 * 4 * 2
    assert _snapshot() == before


def test_the_walk_would_notice_a_view_that_skipped_the_doorway(world, station, station_admin):
    """The admin of the station does get through, so a 404 above is the doorway's doing."""
    client = _client(station_admin)
    for name, route, params in console_patterns():
        if name in {"console-home"}:
            continue
        url = reverse(f"monitoring:{name}", kwargs=_kwargs(route, params, station.code, world))
        response = client.get(url)
        assert response.status_code in (200, 302, 405), (url, response.status_code)
