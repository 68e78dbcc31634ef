"""Walk EVERY station-console URL pattern (from the URL resolver, through the shared
tests/urlwalk.py, never a hand-kept list) as each kind of outsider: another station's admin,
an operator of the station, a dealer, and someone signed out. Each gets 404 or the sign-in
page, never the data, and changes nothing.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from customers.models import DirectionsApproval, SiteDirections
from dealers.services import invitation_send
from monitoring.access import StationAdminRequiredMixin
from stations.models import DealerStation, Receiver, StationInvitation, StationMembership
from tests.factories import (
    DealerStationFactory,
    MonitoringAccountFactory,
    ReceiverFactory,
    ReceiverPathFactory,
)
from tests.urlwalk import (
    UrlFinder,
    Visitor,
    all_routes,
    expect_login_redirect,
    expect_not_found,
    expect_status,
    walk,
)

pytestmark = pytest.mark.django_db

SECRET_NAME = "Zebra Secret Receiver"
SECRET_NUMBER = "NW7788"


def console_routes():
    """Every route behind the console's doorway, plus its entry point ``/station/``."""
    return [
        route
        for route in all_routes()
        if route.view_inherits(StationAdminRequiredMixin) or route.name == "monitoring:console-home"
    ]


def test_the_walk_finds_every_console_page():
    names = {route.name for route in console_routes()}
    assert {
        "monitoring:console",
        "monitoring:console-receivers",
        "monitoring:console-accounts-csv",
        "monitoring:console-people",
        "monitoring:console-directions-review",
    } <= names
    assert len(names) >= 18


@pytest.fixture
def world(station, record, dealer, customer, operator, station_admin):
    """The station with one of everything a console URL can name."""
    receiver = ReceiverFactory(station=station, name=SECRET_NAME)
    ReceiverPathFactory(receiver=receiver)
    DealerStationFactory(dealer=dealer, receiver=receiver, name="Second", account_prefix="NW")
    MonitoringAccountFactory(customer=customer, station_record=record, account_number=SECRET_NUMBER)
    directions = SiteDirections.objects.create(customer=customer, note=SECRET_NAME, version=3)
    invitation = invitation_send(
        invitation=StationInvitation(station=station, email="zebra@example.com", role="operator"),
        actor=station_admin,
    )
    return [
        invitation,
        station,
        receiver,
        StationMembership.objects.get(user=operator, station=station),
        dealer,
        directions,
    ]


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _snapshot():
    return (
        list(StationInvitation.objects.order_by("pk").values()),
        list(SiteDirections.objects.order_by("pk").values()),
        list(DirectionsApproval.objects.order_by("pk").values()),
        list(Receiver.objects.order_by("pk").values()),
        list(StationMembership.objects.order_by("pk").values()),
        list(DealerStation.objects.order_by("pk").values()),
    )


def _leaks_nothing(check):
    def checked(route, method, url, response):
        body = response.content.decode(errors="replace")
        if SECRET_NAME in body or SECRET_NUMBER in body:
            return "shows the station's data"
        return check(route, method, url, response)

    return checked


def test_every_console_url_refuses_every_outsider(
    world, station, station_admin, other_station, other_station_admin, operator, owner
):
    finder = UrlFinder(_client(station_admin), world)
    for route in console_routes():
        finder.url(route)  # finding a POST-only page POSTs as its admin: before the snapshot
    before = _snapshot()
    refused = {m: _leaks_nothing(expect_not_found()) for m in ("GET", "POST")}
    home = reverse("monitoring:console-home")
    visitors = [
        Visitor("another station's admin", _client(other_station_admin), refused),
        Visitor("operator of the station", _client(operator), refused),
        Visitor("dealer", _client(owner), refused),
        Visitor(
            "signed out",
            _client(),
            {m: _leaks_nothing(expect_login_redirect()) for m in ("GET", "POST")},
        ),
    ]
    for visitor in visitors:
        # /station/ takes a station admin to their own station and answers only GET.
        visitor.exempt["monitoring:console-home"] = "checked below"
    problems = walk(console_routes(), finder, visitors)
    assert not problems, "\n".join(problems)

    # /station/: 404 for anyone who runs no station; another admin lands on their own.
    for user in (operator, owner):
        assert _client(user).get(home).status_code == 404
    response = _client(other_station_admin).get(home)
    assert response.url == reverse("monitoring:console", args=[other_station.code])
    assert expect_login_redirect()(None, "GET", home, _client().get(home)) is None
    assert _snapshot() == before


def test_another_admin_cannot_reach_this_stations_objects_through_their_own_station(
    world, station, station_admin, other_station, other_station_admin
):
    """The same URLs with their own station's code: the objects are not inside it."""
    finder = UrlFinder(_client(station_admin), world)
    for route in console_routes():
        finder.url(route)  # finding a POST-only page POSTs as its admin: before the snapshot
    before = _snapshot()
    them = _client(other_station_admin)
    problems = []
    routes = [r for r in console_routes() if len(r.converters) > 1]
    assert routes, "no console route names an object"
    for route in routes:
        url = finder.url(route)
        assert url is not None, route
        theirs = url.replace(str(station.code), str(other_station.code))
        for method in ("GET", "POST"):
            problem = _leaks_nothing(expect_status(404))(
                route, method, theirs, them.generic(method, theirs)
            )
            if problem:
                problems.append(f"{method} {theirs}: {problem}")
    assert not problems, "\n".join(problems)
    assert _snapshot() == before
