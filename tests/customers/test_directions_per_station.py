"""Directions are approved per monitoring station: a site monitored by two stations shows each
station's operators only what their own station approved (issue 12: "Directions reach
operators only once a station admin of the monitoring station approved them")."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from customers.models import SiteDirections
from tests.factories import (
    CameraFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    NotificationRecipientFactory,
    ReceiverFactory,
    StationMembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NOTE_1 = "Gate code 4411. Dog on site."
NOTE_2 = "New gate code 9900."


@pytest.fixture(autouse=True)
def _commits(django_capture_on_commit_callbacks, monkeypatch):
    """Each request's after-commit work (the e-mails) runs when the request ends."""
    monkeypatch.setattr(_committed, "capture", django_capture_on_commit_callbacks, raising=False)


def _committed(call):
    with _committed.capture(execute=True):
        return call()


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def camera(customer):
    return CameraFactory(bridge__customer=customer, name="Loading dock", channel=1)


@pytest.fixture
def site(customer, record, dealer, other_station):
    """``customer`` monitored by two stations: ``station`` (account 3444) and
    ``other_station`` (account 5555)."""
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")
    other_record = DealerStationFactory(
        dealer=dealer, receiver=ReceiverFactory(station=other_station), name="Rival (XML)"
    )
    MonitoringAccountFactory(customer=customer, station_record=other_record, account_number="5555")
    return customer


@pytest.fixture
def operator_b(other_station):
    return StationMembershipFactory(station=other_station, user=UserFactory(username="op-b")).user


@pytest.fixture
def admin_a(station_admin_client):
    return station_admin_client


@pytest.fixture
def admin_b(other_station_admin):
    return _client(other_station_admin)


@pytest.fixture
def recipients(dealer):
    return NotificationRecipientFactory(dealer=dealer, email="told@example.com")


def _save(client, customer, camera, note=NOTE_1):
    response = _committed(
        lambda: client.post(
            reverse("customers:directions-edit", args=[customer.code]),
            {
                "note": note,
                f"camera-{camera.code}-note": "Watch the dock",
                f"camera-{camera.code}-threat": "high",
            },
        )
    )
    assert response.status_code == 302
    return SiteDirections.objects.get(customer=customer)


def _review(client, station, directions, action="approve", note=""):
    response = _committed(
        lambda: client.post(
            reverse("monitoring:console-directions-review", args=[station.code, directions.code]),
            {"action": action, "version": directions.version, "note": note},
        )
    )
    assert response.status_code == 302
    return response


def _pinned(operator, number) -> str:
    """The pinned directions box of the operator's site page, opened by account number."""
    response = _client(operator).get(f"/monitoring?act={number}")
    assert response.status_code == 200
    page = response.content.decode()
    start = page.index('data-testid="pinned-directions"')
    return page[start : page.index('data-testid="call-list"', start)]


def _queue(client, station) -> list[str]:
    """The sites whose directions wait in the station's queue."""
    response = client.get(reverse("monitoring:console-directions", args=[station.code]))
    assert response.status_code == 200
    return [directions.customer.name for directions in response.context["queue"]]


def _statuses(owner_client, customer) -> dict[str, str]:
    """The dealer's directions page: each station's status of the current version."""
    response = owner_client.get(reverse("customers:directions", args=[customer.code]))
    return {row.station.name: row.status for row in response.context["stations"]}


def test_a_station_approves_for_its_own_operators_only(
    owner_client, site, camera, station, other_station, operator, operator_b, admin_a, admin_b
):
    directions = _save(owner_client, site, camera)
    assert site.name in _queue(admin_a, station)
    assert site.name in _queue(admin_b, other_station)

    _review(admin_a, station, directions)
    assert NOTE_1 in _pinned(operator, "3444")
    # Station B has not approved anything: its operators see no directions.
    assert NOTE_1 not in _pinned(operator_b, "5555")
    assert 'data-testid="no-directions"' in _pinned(operator_b, "5555")
    assert site.name not in _queue(admin_a, station)
    assert site.name in _queue(admin_b, other_station)
    assert _statuses(owner_client, site) == {
        "Central One": "approved",
        "Rival Monitoring": "pending",
    }

    _review(admin_b, other_station, directions)
    assert NOTE_1 in _pinned(operator_b, "5555")
    assert site.name not in _queue(admin_b, other_station)
    assert _statuses(owner_client, site) == {
        "Central One": "approved",
        "Rival Monitoring": "approved",
    }


def test_a_change_is_pending_at_every_station_and_each_keeps_what_it_approved(
    owner_client, site, camera, station, other_station, operator, operator_b, admin_a, admin_b
):
    directions = _save(owner_client, site, camera)
    _review(admin_a, station, directions)
    _review(admin_b, other_station, directions)

    directions = _save(owner_client, site, camera, note=NOTE_2)
    assert directions.version == 2
    assert _statuses(owner_client, site) == {
        "Central One": "pending",
        "Rival Monitoring": "pending",
    }
    assert site.name in _queue(admin_a, station) and site.name in _queue(admin_b, other_station)
    for op, number in ((operator, "3444"), (operator_b, "5555")):
        pinned = _pinned(op, number)
        assert NOTE_1 in pinned and NOTE_2 not in pinned

    _review(admin_a, station, directions)
    _review(admin_b, other_station, directions, "reject", note="We verify before we call.")
    assert NOTE_2 in _pinned(operator, "3444")
    pinned_b = _pinned(operator_b, "5555")
    assert NOTE_1 in pinned_b and NOTE_2 not in pinned_b
    page = owner_client.get(reverse("customers:directions", args=[site.code]))
    assert _statuses(owner_client, site) == {
        "Central One": "approved",
        "Rival Monitoring": "rejected",
    }
    seen = {row.station.name: row.operators_see for row in page.context["stations"]}
    assert seen == {"Central One": 2, "Rival Monitoring": 1}
    assert "We verify before we call." in page.content.decode()


def test_the_dealers_recipients_hear_each_stations_status(
    owner_client, site, camera, station, other_station, admin_a, admin_b, recipients, mailoutbox
):
    directions = _save(owner_client, site, camera)
    assert len(mailoutbox) == 1
    assert "waiting for approval" in mailoutbox[0].subject
    assert "Central One: waiting" in mailoutbox[0].body
    assert "Rival Monitoring: waiting" in mailoutbox[0].body

    _review(admin_a, station, directions)
    told = mailoutbox[-1]
    assert len(mailoutbox) == 2 and told.to == ["told@example.com"]
    assert told.subject == f"Operator directions approved by Central One: {site.name}"
    assert "Central One: approved (its operators see version 1)" in told.body
    assert "Rival Monitoring: waiting for the station's approval" in told.body

    _review(admin_b, other_station, directions, "reject", note="Name the dog.")
    told = mailoutbox[-1]
    assert told.subject == f"Operator directions sent back by Rival Monitoring: {site.name}"
    assert "Name the dog." in told.body
    assert "Rival Monitoring: sent back by the station (its operators see no directions)" in (
        told.body
    )

    # The change is pending again at both: both statuses changed, one message says so.
    _save(owner_client, site, camera, note=NOTE_2)
    told = mailoutbox[-1]
    assert len(mailoutbox) == 4
    assert "waiting for approval at Central One and Rival Monitoring" in told.body
    # Saved again while pending everywhere: no status changed, nobody is told.
    _save(owner_client, site, camera, note="A third version.")
    assert len(mailoutbox) == 4


def test_a_station_added_later_has_the_directions_pending(
    owner_client,
    customer,
    record,
    dealer,
    camera,
    station,
    other_station,
    admin_a,
    admin_b,
    operator_b,
):
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")
    directions = _save(owner_client, customer, camera)
    _review(admin_a, station, directions)
    other_record = DealerStationFactory(
        dealer=dealer, receiver=ReceiverFactory(station=other_station), name="Rival (XML)"
    )
    MonitoringAccountFactory(customer=customer, station_record=other_record, account_number="5555")
    assert customer.name in _queue(admin_b, other_station)
    assert 'data-testid="no-directions"' in _pinned(operator_b, "5555")
    assert _statuses(owner_client, customer)["Rival Monitoring"] == "pending"


def test_each_station_sees_its_own_reviews_in_its_activity(
    owner_client,
    site,
    camera,
    station,
    other_station,
    admin_a,
    admin_b,
    station_admin,
    other_station_admin,
):
    directions = _save(owner_client, site, camera)
    _review(admin_a, station, directions)
    _review(admin_b, other_station, directions, "reject", note="Too vague.")

    def activity(client, s):
        response = client.get(reverse("monitoring:console-activity", args=[s.code]))
        return [(c.user, c.subject, c.action) for c in response.context["changes"]]

    subject = f"Directions for {site.name}"
    assert (station_admin, subject, "approved (version 1)") in activity(admin_a, station)
    assert (other_station_admin, subject, "sent back (version 1)") not in activity(admin_a, station)
    assert (other_station_admin, subject, "sent back (version 1)") in activity(
        admin_b, other_station
    )
    assert (station_admin, subject, "approved (version 1)") not in activity(admin_b, other_station)


def test_the_review_page_shows_what_this_stations_operators_see(
    owner_client, site, camera, station, other_station, admin_a, admin_b
):
    directions = _save(owner_client, site, camera)
    _review(admin_a, station, directions)
    directions = _save(owner_client, site, camera, note=NOTE_2)

    def review_page(client, s):
        url = reverse("monitoring:console-directions-review", args=[s.code, directions.code])
        return client.get(url).content.decode()

    page_a, page_b = review_page(admin_a, station), review_page(admin_b, other_station)
    # A: its operators see version 1 while it reads version 2.
    assert NOTE_1 in page_a and "(version 1)" in page_a
    # B never approved: its operators see nothing, and A's approval is not B's business.
    assert NOTE_1 not in page_b
    assert "Your station has approved no directions for this site yet." in page_b
    assert 'value="approve"' in page_a and 'value="approve"' in page_b
