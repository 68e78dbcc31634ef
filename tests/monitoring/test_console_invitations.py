"""Station admins invite operators and station admins by e-mail, on the dealers' invitation
base: the link expires, works once, and the new member lands in the right place."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from stations.models import StationInvitation, StationMembership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def url(name, station, *args):
    return reverse(f"monitoring:{name}", args=[station.code, *args])


def _link(message) -> str:
    match = re.search(r"https?://[^/\s]+(/invitations/\S+/)", message.body)
    assert match, message.body
    return match.group(1)


@pytest.fixture
def invite(station_admin_client, station, django_capture_on_commit_callbacks):
    def send(email="new-op@example.com", role="operator"):
        with django_capture_on_commit_callbacks(execute=True):
            response = station_admin_client.post(
                url("console-invite", station), {"email": email, "role": role}
            )
        return response

    return send


def test_an_admin_invites_an_operator_who_joins_once(invite, station, station_admin, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    response = invite()
    assert response.status_code == 302
    invitation = StationInvitation.objects.get()
    assert (invitation.station, invitation.role, invitation.invited_by) == (
        station,
        "operator",
        station_admin,
    )
    message = mail.outbox[-1]
    assert message.to == ["new-op@example.com"]
    assert "https://portal.example.com/invitations/" in message.body
    assert station.name in message.body
    link = _link(message)

    newcomer = Client()
    joined = newcomer.post(
        link,
        {
            "username": "new-op",
            "password1": "a-long-pass-phrase",
            "password2": "a-long-pass-phrase",
        },
    )
    assert joined.status_code == 302 and joined.url == reverse("monitoring:home")
    membership = StationMembership.objects.get(user__username="new-op")
    assert (membership.station, membership.role) == (station, "operator")
    assert membership.history.get().history_type == "+"

    # Once: nobody else joins with the same link.
    late = Client()
    late.force_login(UserFactory(username="late"))
    assert late.post(link).status_code == 410
    assert not StationMembership.objects.filter(user__username="late").exists()


def test_an_invited_station_admin_lands_on_the_console(invite, station):
    invite(email="boss@example.com", role="station_admin")
    user = UserFactory(username="boss", email="boss@example.com")
    client = Client()
    client.force_login(user)
    response = client.post(_link(mail.outbox[-1]))
    assert response.url == url("console", station)
    # Station admins sign in with a second factor: the console waits until it is set up.
    landing = client.get(response.url)
    assert landing.status_code == 302
    assert landing.url == "/accounts/two-factor/?next=" + quote(response.url, safe="")


def test_an_expired_invitation_says_so(invite):
    invite()
    StationInvitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    client = Client()
    client.force_login(UserFactory(username="slow"))
    response = client.post(_link(mail.outbox[-1]))
    assert response.status_code == 410
    assert "expired" in response.content.decode()


def test_a_withdrawn_invitation_stops_working(invite, station, station_admin_client):
    invite()
    link = _link(mail.outbox[-1])
    invitation = StationInvitation.objects.get()
    station_admin_client.post(url("console-invitation-revoke", station, invitation.code))
    invitation.refresh_from_db()
    assert invitation.state == "revoked"
    client = Client()
    client.force_login(UserFactory(username="x"))
    assert client.post(link).status_code == 410


def test_inviting_someone_who_works_there_is_a_field_error(invite, operator):
    response = invite(email=operator.email)
    assert response.status_code == 400
    assert "already works at" in response.content.decode()
    assert not StationInvitation.objects.exists()


def test_the_people_page_lists_invitations(invite, station, station_admin_client):
    invite()
    html = station_admin_client.get(url("console-people", station)).content.decode()
    assert 'data-email="new-op@example.com"' in html
