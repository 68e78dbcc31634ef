"""Sign-ins, failed sign-ins, lockouts and two-factor changes are kept: the dealer's owner sees
their own people's, staff see everyone's in the admin."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from dealers.models import SignInEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

URL = reverse("dealers:security")


def _login(username: str, password: str, ip: str = "10.3.0.1"):
    return Client().post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_sign_ins_failures_and_lockouts_are_kept(owner):
    _login("owner", PASSWORD)
    for _ in range(5):
        _login("owner", "wrong", ip="10.3.0.9")
    events = list(SignInEvent.objects.filter(user=owner).order_by("created_at"))
    kinds = [e.kind for e in events]
    assert kinds[0] == SignInEvent.Kind.SIGNED_IN
    assert kinds.count(SignInEvent.Kind.FAILED) == 5
    assert SignInEvent.Kind.LOCKED_OUT in kinds
    assert events[-1].ip_address == "10.3.0.9"


def test_the_owner_sees_their_own_peoples_events_only(owner_client, owner, viewer, outsider):
    _login("viewer", PASSWORD)
    _login("outsider", "wrong")
    _login("nobody-at-all", "wrong")
    response = owner_client.get(URL)
    assert response.status_code == 200
    names = {e.username for e in response.context["events"]}
    assert "viewer" in names
    assert "outsider" not in names and "nobody-at-all" not in names
    assert "outsider" not in response.text


def test_only_the_owner_may_see_or_change_it(client, viewer_client, technician_client, outsider):
    assert client.get(URL).status_code == 302
    assert viewer_client.get(URL).status_code == 403
    assert technician_client.post(URL, {"two_factor_required": "on"}).status_code == 403
    assert viewer_client.delete(URL).status_code == 403


def test_a_user_without_a_dealer_gets_404(client, operator):
    client.force_login(operator)
    assert client.get(URL).status_code == 404


def test_the_page_is_a_fixed_number_of_queries(owner_client, owner, django_assert_num_queries):
    for _ in range(30):
        _login("owner", "wrong")
    # session, user (with its two-factor flags), memberships, events
    with django_assert_num_queries(4):
        assert owner_client.get(URL).status_code == 200


def test_staff_see_every_event_in_the_admin(admin_client, owner):
    _login("nobody-at-all", "wrong")
    _login("owner", PASSWORD)
    response = admin_client.get("/admin/dealers/signinevent/")
    assert response.status_code == 200
    assert "nobody-at-all" in response.text and "owner" in response.text
    event = SignInEvent.objects.first()
    assert admin_client.get(f"/admin/dealers/signinevent/{event.pk}/change/").status_code == 200
    assert admin_client.get("/admin/dealers/signinevent/add/").status_code == 403


def test_hostile_usernames_are_kept_safely(owner):
    _login("a\x00" + "x" * 400, "wrong")
    _login("u" * 400, "wrong")
    assert all(
        len(e.username) <= 150 and "\x00" not in e.username for e in SignInEvent.objects.all()
    )
