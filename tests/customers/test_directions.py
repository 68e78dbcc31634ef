"""Directions for operators: written by the dealer, approved by the station, pinned for
operators; and the call list with its passcodes, which only operators see."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from customers.models import Contact, DirectionsApproval, SiteDirections
from customers.selectors import station_directions
from tests.factories import (
    CameraFactory,
    MonitoringAccountFactory,
    NotificationRecipientFactory,
    StationMembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def camera(customer):
    return CameraFactory(bridge__customer=customer, name="Loading dock", channel=1)


@pytest.fixture
def account(customer, record):
    return MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")


@pytest.fixture
def recipients(dealer):
    told = NotificationRecipientFactory(dealer=dealer, email="told@example.com")
    NotificationRecipientFactory(
        dealer=dealer, email="not-told@example.com", directions_notifications=False
    )
    return told


@pytest.fixture(autouse=True)
def _commits(django_capture_on_commit_callbacks, monkeypatch):
    """Each request's after-commit work (the e-mails) runs when the request ends, as it would
    outside the test's transaction."""
    monkeypatch.setattr(_committed, "capture", django_capture_on_commit_callbacks, raising=False)


def _committed(call):
    with _committed.capture(execute=True):
        return call()


def _save(
    client,
    customer,
    camera,
    note="Gate code 4411. Dog on site.",
    camera_note="Watch the dock",
    threat="high",
):
    return _committed(
        lambda: client.post(
            reverse("customers:directions-edit", args=[customer.code]),
            {
                "note": note,
                f"camera-{camera.code}-note": camera_note,
                f"camera-{camera.code}-threat": threat,
            },
        )
    )


def _operator_page(operator) -> str:
    client = Client()
    client.force_login(operator)
    response = client.get("/monitoring?act=3444")
    assert response.status_code == 200
    return response.content.decode()


def _status(directions, station) -> str:
    directions.refresh_from_db()
    return station_directions(directions, station).status


def _review(client, station, directions, action, note=""):
    return _committed(
        lambda: client.post(
            reverse("monitoring:console-directions-review", args=[station.code, directions.code]),
            {"action": action, "version": directions.version, "note": note},
        )
    )


def test_a_note_with_a_nul_byte_is_refused_with_a_reason(
    owner_client, customer, camera, account, station, station_admin_client
):
    assert _save(owner_client, customer, camera).status_code == 302
    directions = SiteDirections.objects.get(customer=customer)
    response = _review(station_admin_client, station, directions, "reject", note="a\x00b")
    assert response.status_code == 302  # back to the review, saying why (it answered 500)
    page = station_admin_client.get(response.url).content.decode()
    assert "Null characters are not allowed" in page
    assert _status(directions, station) != "rejected"


def test_directions_reach_operators_only_once_approved(
    owner_client,
    owner,
    customer,
    camera,
    account,
    operator,
    station,
    station_admin_client,
    station_admin,
    recipients,
    mailoutbox,
):
    assert _save(owner_client, customer, camera).status_code == 302
    directions = SiteDirections.objects.get(customer=customer)
    assert (_status(directions, station), directions.version) == ("pending", 1)
    assert directions.history.latest().history_user == owner
    assert "Gate code 4411" not in _operator_page(operator)
    assert [m.to for m in mailoutbox] == [["told@example.com"]]
    assert "waiting for approval" in mailoutbox[0].subject

    queue = station_admin_client.get(reverse("monitoring:console-directions", args=[station.code]))
    assert customer.name in queue.content.decode()
    assert _review(station_admin_client, station, directions, "approve").status_code == 302
    approval = DirectionsApproval.objects.get(directions=directions, station=station)
    assert (_status(directions, station), approval.approved_version) == ("approved", 1)
    assert approval.history.latest().history_user == station_admin
    assert approval.reviewed_by == station_admin
    page = _operator_page(operator)
    assert "Gate code 4411" in page
    assert "Watch the dock" in page and "High" in page
    assert "approved" in mailoutbox[-1].subject.lower()
    activity = station_admin_client.get(
        reverse("monitoring:console-activity", args=[station.code])
    ).context["changes"]
    assert (station_admin, f"Directions for {customer.name}", "approved (version 1)") in [
        (c.user, c.subject, c.action) for c in activity
    ]

    # A change goes back to pending; operators keep the approved version meanwhile.
    _save(owner_client, customer, camera, note="New gate code 9900.")
    approval.refresh_from_db()
    assert (_status(directions, station), directions.version, approval.approved_version) == (
        "pending",
        2,
        1,
    )
    page = _operator_page(operator)
    assert "Gate code 4411" in page and "9900" not in page
    assert "waiting for approval" in mailoutbox[-1].subject


def test_saving_the_same_directions_again_changes_nothing(
    owner_client, customer, camera, account, recipients, mailoutbox
):
    _save(owner_client, customer, camera)
    _save(owner_client, customer, camera)
    directions = SiteDirections.objects.get(customer=customer)
    assert directions.version == 1
    assert len(mailoutbox) == 1


def test_sending_back_needs_a_reason_and_keeps_the_approved_version(
    owner_client,
    customer,
    camera,
    account,
    station,
    station_admin_client,
    operator,
    mailoutbox,
    recipients,
):
    _save(owner_client, customer, camera)
    directions = SiteDirections.objects.get(customer=customer)
    _review(station_admin_client, station, directions, "approve")
    _save(owner_client, customer, camera, note="Call the police at once, always.")
    directions.refresh_from_db()

    no_reason = _review(station_admin_client, station, directions, "reject")
    assert no_reason.status_code == 302
    assert _status(directions, station) == "pending"
    _review(station_admin_client, station, directions, "reject", note="We verify before we call.")
    assert _status(directions, station) == "rejected"
    assert (
        "We verify before we call."
        in owner_client.get(reverse("customers:directions", args=[customer.code])).content.decode()
    )
    assert "sent back" in mailoutbox[-1].subject
    assert "Gate code 4411" in _operator_page(operator)


def test_an_approval_names_the_version_it_read(
    owner_client, customer, camera, account, station, station_admin_client
):
    _save(owner_client, customer, camera)
    read = SiteDirections.objects.get(customer=customer)
    _save(owner_client, customer, camera, note="Changed while the station read it.")
    response = _review(station_admin_client, station, read, "approve")
    assert response.status_code == 302
    directions = SiteDirections.objects.get(customer=customer)
    assert _status(directions, station) == "pending"
    assert not DirectionsApproval.objects.exists()


def test_only_a_station_that_monitors_the_site_reviews_it(
    owner_client, customer, camera, account, other_station, other_station_admin
):
    _save(owner_client, customer, camera)
    directions = SiteDirections.objects.get(customer=customer)
    client = Client()
    client.force_login(other_station_admin)
    queue = client.get(reverse("monitoring:console-directions", args=[other_station.code]))
    assert customer.name not in queue.content.decode()
    response = client.post(
        reverse("monitoring:console-directions-review", args=[other_station.code, directions.code]),
        {"action": "approve", "version": 1},
    )
    assert response.status_code == 404
    assert not DirectionsApproval.objects.exists()


def test_the_passcode_is_shown_to_operators_only(owner_client, customer, account, operator):
    response = owner_client.post(
        reverse("customers:contact-create", args=[customer.code]),
        {"name": "Pat Owner", "phone": "+1 555 0100", "position": "1", "passcode": "bluebird"},
    )
    assert response.status_code == 302
    contact = Contact.objects.get()
    assert contact.passcode == "bluebird"
    for url in (
        reverse("customers:directions", args=[customer.code]),
        reverse("customers:contact-update", args=[contact.code]),
    ):
        assert "bluebird" not in owner_client.get(url).content.decode()
    assert "bluebird" not in str(list(contact.history.values()))
    page = _operator_page(operator)
    assert "Pat Owner" in page and "bluebird" in page

    # Saved without a passcode it keeps the old one; "remove" clears it.
    edit = reverse("customers:contact-update", args=[contact.code])
    owner_client.post(edit, {"name": "Pat Owner", "phone": "+1 555 0101", "position": "1"})
    contact.refresh_from_db()
    assert (contact.phone, contact.passcode) == ("+1 555 0101", "bluebird")
    owner_client.post(
        edit, {"name": "Pat Owner", "phone": "+1 555 0101", "position": "1", "clear_passcode": "on"}
    )
    contact.refresh_from_db()
    assert contact.passcode == ""


def test_the_call_list_is_in_order(owner_client, customer, account, operator):
    for position, name in ((2, "Second Person"), (1, "First Person")):
        Contact.objects.create(customer=customer, name=name, phone="1", position=position)
    page = _operator_page(operator)
    assert page.index("First Person") < page.index("Second Person")


# --- the usual guarantees of a dealer-owned view -------------------------------------------------


def test_viewers_read_but_do_not_write(viewer_client, customer, camera):
    assert (
        viewer_client.get(reverse("customers:directions", args=[customer.code])).status_code == 200
    )
    assert (
        viewer_client.get(reverse("customers:directions-edit", args=[customer.code])).status_code
        == 403
    )
    assert _save(viewer_client, customer, camera).status_code == 403
    response = viewer_client.post(
        reverse("customers:contact-create", args=[customer.code]), {"name": "X", "phone": "1"}
    )
    assert response.status_code == 403
    assert not SiteDirections.objects.exists() and not Contact.objects.exists()


def test_outsiders_get_404_and_strangers_the_sign_in_page(
    outsider_client, client, customer, camera
):
    contact = Contact.objects.create(customer=customer, name="Pat", phone="1", passcode="secret")
    for url in (
        reverse("customers:directions", args=[customer.code]),
        reverse("customers:directions-edit", args=[customer.code]),
        reverse("customers:contact-create", args=[customer.code]),
        reverse("customers:contact-update", args=[contact.code]),
        reverse("customers:contact-delete", args=[contact.code]),
    ):
        assert outsider_client.get(url).status_code == 404
        if url != reverse("customers:directions", args=[customer.code]):  # read-only: 405
            assert outsider_client.post(url).status_code == 404
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert Contact.objects.filter(pk=contact.pk).exists()


def test_wrong_method_is_405(owner_client, customer):
    assert (
        owner_client.delete(reverse("customers:directions", args=[customer.code])).status_code
        == 405
    )
    assert (
        owner_client.post(reverse("customers:directions", args=[customer.code])).status_code == 405
    )


def test_an_operator_of_another_station_never_sees_the_call_list(customer, account):
    Contact.objects.create(customer=customer, name="Pat", phone="1", passcode="secret")
    stranger = StationMembershipFactory(user=UserFactory()).user
    client = Client()
    client.force_login(stranger)
    response = client.get("/monitoring?act=3444")
    assert response.status_code == 404
    assert "secret" not in response.content.decode()
