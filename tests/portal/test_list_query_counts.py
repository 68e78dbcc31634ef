"""Every dealer and operator list page runs a fixed number of queries, whatever it lists.

Each page is asked for with one row and with several rows of what it lists, and must run the
pinned number of queries both times: a query per row (a template reaching through a relation
that was not selected) fails here. Pages pinned elsewhere: the customer list
(tests/customers/test_sites.py), the signal lists (tests/signals/test_views.py), the dashboard
(tests/dealers/test_dashboard.py), the code library (tests/signals/test_code_library.py), the
console's accounts (tests/monitoring/test_console.py) and the deep link's sizes
(tests/monitoring/test_deep_link.py, tests/monitoring/test_site_media.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.db import connection
from django.urls import reverse

from customers import services as customer_services
from customers.models import Contact, Customer, MonitoringAccount
from dealers.models import Membership
from monitoring.models import SiteOpening, Verdict
from tests.factories import (
    AlarmEventFactory,
    BridgeFactory,
    CameraFactory,
    CustomerFactory,
    DealerStationFactory,
    MediaItemFactory,
    MembershipFactory,
    MonitoringAccountFactory,
    MonitoringStationFactory,
    NotificationRecipientFactory,
    ReceiverFactory,
    ReceiverPathFactory,
    StationMembershipFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db


@dataclass
class World:
    dealer: object
    owner: object
    station: object
    station_admin: object
    operator: object
    record: object


@pytest.fixture
def world(dealer, owner, station, station_admin, operator, record) -> World:
    return World(dealer, owner, station, station_admin, operator, record)


@dataclass
class Page:
    """A list page: who asks for it, its address, and how to add ``n`` rows to it."""

    persona: str  # "owner", "station_admin" or "operator"
    url: Callable[[World], str]
    grow: Callable[[World, int], None]
    queries: int
    why: str


def _console(name: str) -> Callable[[World], str]:
    return lambda w: reverse(f"monitoring:{name}", args=[w.station.code])


def _members(w: World, n: int) -> None:
    for _ in range(n):
        MembershipFactory(dealer=w.dealer, role=Membership.Role.TECHNICIAN)


def _recipients(w: World, n: int) -> None:
    for _ in range(n):
        NotificationRecipientFactory(dealer=w.dealer)


def _records(w: World, n: int) -> None:
    for _ in range(n):
        DealerStationFactory(dealer=w.dealer, receiver=ReceiverFactory())


def _accounts(w: World, n: int) -> None:
    for _ in range(n):
        MonitoringAccountFactory(customer=CustomerFactory(dealer=w.dealer), station_record=w.record)


def _receivers(w: World, n: int) -> None:
    for _ in range(n):
        receiver = ReceiverFactory(station=w.station)
        ReceiverPathFactory(receiver=receiver)


def _people(w: World, n: int) -> None:
    for _ in range(n):
        StationMembershipFactory(station=w.station)


def _dealers(w: World, n: int) -> None:
    for _ in range(n):
        DealerStationFactory(receiver=w.record.receiver)


def _directions(w: World, n: int) -> None:
    for _ in range(n):
        customer = CustomerFactory(dealer=w.dealer)
        MonitoringAccountFactory(customer=customer, station_record=w.record)
        customer_services.directions_save(
            customer=customer, note="Gate code 1234", cameras=[], actor=w.owner
        )


def _stations(w: World, n: int) -> None:
    for _ in range(n):
        StationMembershipFactory(user=w.operator, station=MonitoringStationFactory())


def _same_number_elsewhere(w: World, n: int) -> None:
    """``n`` more stations of the operator, each monitoring a site with account 3444."""
    for _ in range(n):
        station = MonitoringStationFactory()
        StationMembershipFactory(user=w.operator, station=station)
        record = DealerStationFactory(dealer=w.dealer, receiver=ReceiverFactory(station=station))
        MonitoringAccountFactory(
            customer=CustomerFactory(dealer=w.dealer), station_record=record, account_number="3444"
        )


def _site(w: World) -> Customer:
    """The site with account 3444 at the operator's station (made on first use)."""
    account = MonitoringAccount.objects.filter(station_record=w.record).first()
    if account is None:
        account = MonitoringAccountFactory(
            customer=CustomerFactory(dealer=w.dealer),
            station_record=w.record,
            account_number="3444",
        )
    return account.customer


def _site_contents(w: World, n: int) -> None:
    """``n`` more of everything the operator's site page shows: a bridge with a camera on a
    zone, an alarm in that zone with a clip, a snapshot and a verdict, a snapshot of the
    camera, a contact, and an opening by a colleague."""
    site = _site(w)
    colleague = StationMembershipFactory(station=w.station).user
    for _ in range(n):
        camera = CameraFactory(bridge=BridgeFactory(customer=site), channel=1)
        number = site.zones.count() + 1
        ZoneFactory(customer=site, number=number).cameras.add(camera)
        alarm = AlarmEventFactory(customer=site, kind="alarm", zone_number=number, channel=1)
        MediaItemFactory(camera=camera, event=alarm)
        MediaItemFactory(camera=camera, event=alarm, kind="clip", content_type="video/mp4")
        MediaItemFactory(camera=camera)
        Verdict.objects.create(
            event=alarm, customer=site, station=w.station, user=w.operator, outcome="real"
        )
        Contact.objects.create(customer=site, name="Key holder", phone="555 0100")
        SiteOpening.objects.create(user=colleague, customer=site, station=w.station)


def _choices(w: World, n: int) -> None:
    """A site with account 3444 at the operator's station, and ``n`` more elsewhere."""
    if not MonitoringAccount.objects.filter(station_record=w.record).exists():
        MonitoringAccountFactory(
            customer=CustomerFactory(dealer=w.dealer),
            station_record=w.record,
            account_number="3444",
        )
    _same_number_elsewhere(w, n)


PAGES = {
    "team": Page(
        "owner",
        lambda w: reverse("dealers:member-list"),
        _members,
        7,
        "session, user, membership, invitations, the members' history, "
        "invitations and members again",
    ),
    "notification recipients": Page(
        "owner",
        lambda w: reverse("dealers:recipient-list"),
        _recipients,
        4,
        "session, user, membership, recipients",
    ),
    "station records": Page(
        "owner",
        lambda w: reverse("stations:record-list"),
        _records,
        5,
        "session, user, membership, records with stations and receivers, their paths",
    ),
    "deep-link templates": Page(
        "owner",
        lambda w: reverse("customers:deep-links"),
        _records,
        5,
        "session, user, membership, stations, one example per station",
    ),
    "console overview": Page(
        "station_admin",
        _console("console"),
        _receivers,
        10,
        "session, user, device, station, receivers, paths, accounts, accounts by dealer, "
        "directions, dealers",
    ),
    "console receivers": Page(
        "station_admin",
        _console("console-receivers"),
        _receivers,
        6,
        "session, user, device, station, receivers, their paths",
    ),
    "console receiver health": Page(
        "station_admin",
        _console("console-health"),
        _receivers,
        6,
        "session, user, device, station, receivers, their paths",
    ),
    "console people": Page(
        "station_admin",
        _console("console-people"),
        _people,
        6,
        "session, user, device, station, invitations, people",
    ),
    "console dealers": Page(
        "station_admin",
        _console("console-dealers"),
        _dealers,
        9,
        "session, user, device, station, records, two account counts, listed dealers, dealers",
    ),
    "console deep links": Page(
        "station_admin",
        _console("console-deep-links"),
        _accounts,
        5,
        "session, user, device, station, one example",
    ),
    "console directions queue": Page(
        "station_admin",
        _console("console-directions"),
        _directions,
        5,
        "session, user, device, station, the queue",
    ),
    "console activity": Page(
        "station_admin",
        _console("console-activity"),
        _directions,
        10,
        "session, user, device, station, one per history source",
    ),
    "operator start page": Page(
        "operator",
        lambda w: reverse("monitoring:home"),
        _stations,
        4,
        "session, user, stations, consoles",
    ),
    "deep link to a site": Page(
        "operator",
        lambda w: reverse("monitoring:deep-link") + "?act=3444",
        _site_contents,
        # One round trip for the page on PostgreSQL (its eight statements, one by one elsewhere).
        5 if connection.vendor == "postgresql" else 12,
        "session, user, the accounts found, the page (directions, call list, cameras with "
        "their latest snapshot, zones, also opened by, events, their verdicts and media), "
        "the opening (on the request's connection inside a test)",
    ),
    "operator's site page": Page(
        "operator",
        lambda w: reverse("monitoring:site", args=[_site(w).code]),
        _site_contents,
        4 if connection.vendor == "postgresql" else 11,
        "session, user, the site's accounts, the page (as the deep link's)",
    ),
    "deep link choosing between sites": Page(
        "operator",
        lambda w: reverse("monitoring:deep-link") + "?act=3444",
        _choices,
        3,
        "session, user, the accounts found",
    ),
}


@pytest.mark.parametrize("name", PAGES)
def test_a_list_page_runs_a_fixed_number_of_queries(name, world, client, django_assert_num_queries):
    page = PAGES[name]
    user = {"owner": world.owner, "station_admin": world.station_admin}.get(
        page.persona, world.operator
    )
    client.force_login(user)
    url = page.url(world)
    page.grow(world, 1)
    with django_assert_num_queries(page.queries):
        assert client.get(url).status_code == 200
    page.grow(world, 4)
    with django_assert_num_queries(page.queries):
        assert client.get(url).status_code == 200
