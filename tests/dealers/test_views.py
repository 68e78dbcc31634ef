"""Dealer pages: every view works, needs a sign-in, refuses wrong methods, stays in its tenant."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dealers.access import SESSION_KEY
from dealers.models import Membership
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _pages(member: Membership) -> list[str]:
    return [
        reverse("dealers:dashboard"),
        reverse("dealers:member-list"),
        reverse("dealers:member-detail", args=[member.code]),
    ]


def test_dashboard_shows_the_active_dealer(owner_client, dealer, viewer):
    response = owner_client.get(reverse("dealers:dashboard"))
    assert response.status_code == 200
    assert dealer.name in response.text
    team = dict(response.context["panels"])["dealers/_dashboard_team.html"]["team"]
    assert team["members"] == 2  # owner and viewer


def test_every_page_works_for_every_role(dealer, owner, technician, viewer, client):
    member = Membership.objects.get(user=viewer)
    for user in (owner, technician, viewer):
        client.force_login(user)
        for url in _pages(member):
            assert client.get(url).status_code == 200, url


def test_every_page_requires_sign_in(client, viewer):
    for url in _pages(Membership.objects.get(user=viewer)):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url == f"{reverse('login')}?next={url}"


def test_every_page_refuses_writes_by_method(owner_client, viewer):
    for url in _pages(Membership.objects.get(user=viewer)):
        assert owner_client.post(url).status_code == 405, url
        assert owner_client.delete(url).status_code == 405, url


def test_team_lists_only_this_dealers_members(owner_client, viewer, outsider):
    response = owner_client.get(reverse("dealers:member-list"))
    names = {m.user.username for m in response.context["members"]}
    assert names == {"owner", "viewer"}
    assert "outsider" not in response.text


def test_another_dealers_member_answers_404(owner_client, outsider_client, outsider, viewer):
    theirs = Membership.objects.get(user=outsider)
    ours = Membership.objects.get(user=viewer)
    assert owner_client.get(reverse("dealers:member-detail", args=[theirs.code])).status_code == 404
    assert (
        outsider_client.get(reverse("dealers:member-detail", args=[ours.code])).status_code == 404
    )
    assert owner_client.get(reverse("dealers:member-detail", args=[ours.code])).status_code == 200


def test_user_without_dealer_gets_404_on_dealer_pages(client, db):
    client.force_login(UserFactory(username="loner"))
    assert client.get(reverse("dealers:dashboard")).status_code == 404


def test_inactive_dealer_is_not_reachable(owner_client, dealer):
    dealer.is_active = False
    dealer.save(update_fields=["is_active"])
    assert owner_client.get(reverse("dealers:dashboard")).status_code == 404


# --- home ---------------------------------------------------------------------------------


def test_home_sends_members_to_their_dashboard(owner_client):
    response = owner_client.get(reverse("home"))
    assert response.status_code == 302
    assert response.url == reverse("dealers:dashboard")


def test_home_explains_when_account_is_not_linked(client, db):
    client.force_login(UserFactory(username="loner"))
    response = client.get(reverse("home"))
    assert response.status_code == 403
    assert "not linked" in response.text


def test_home_requires_sign_in_and_get(client, owner_client):
    assert client.get(reverse("home")).status_code == 302
    assert owner_client.post(reverse("home")).status_code == 405


# --- switching dealers ----------------------------------------------------------------------


@pytest.fixture
def second_membership(owner, other_dealer):
    return MembershipFactory(user=owner, dealer=other_dealer, role=Membership.Role.VIEWER)


def test_switching_changes_the_active_dealer(owner_client, second_membership, other_dealer):
    response = owner_client.post(
        reverse("dealers:switch"),
        {"dealer": str(other_dealer.code), "next": reverse("dealers:member-list")},
    )
    assert response.status_code == 302
    assert response.url == reverse("dealers:member-list")
    assert owner_client.session[SESSION_KEY] == str(other_dealer.code)
    page = owner_client.get(reverse("dealers:dashboard"))
    assert page.context["membership"] == second_membership
    names = {
        m.user.username for m in owner_client.get(reverse("dealers:member-list")).context["members"]
    }
    assert names == {"owner"}  # the other dealer's team: only the owner's second membership


def test_switcher_lists_all_the_users_dealers(
    owner_client, second_membership, dealer, other_dealer
):
    text = owner_client.get(reverse("dealers:dashboard")).text
    assert str(dealer.code) in text
    assert str(other_dealer.code) in text


def test_switching_to_a_dealer_not_yours_answers_404(owner_client, other_dealer, dealer):
    response = owner_client.post(reverse("dealers:switch"), {"dealer": str(other_dealer.code)})
    assert response.status_code == 404
    assert owner_client.get(reverse("dealers:dashboard")).context["membership"].dealer == dealer


def test_switching_ignores_an_offsite_next(owner_client, second_membership, other_dealer):
    response = owner_client.post(
        reverse("dealers:switch"),
        {"dealer": str(other_dealer.code), "next": "https://evil.example.com/"},
    )
    assert response.url == reverse("dealers:dashboard")


def test_switch_requires_sign_in_and_post(client, owner_client):
    assert client.post(reverse("dealers:switch")).status_code == 302
    assert owner_client.get(reverse("dealers:switch")).status_code == 405
