"""The dealer's team: invitations by e-mail, roles, removal, the last owner, and the history."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core import mail, signing
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dealers import services
from dealers.access import SESSION_KEY
from dealers.models import DealerInvitation, Invitation, Membership
from tests.factories import DealerFactory, MembershipFactory, UserFactory
from tests.threads import at_once

pytestmark = pytest.mark.django_db

TEAM = reverse("dealers:member-list")
INVITE = reverse("dealers:invite")


def _role_url(m: Membership) -> str:
    return reverse("dealers:member-update", args=[m.code])


def _remove_url(m: Membership) -> str:
    return reverse("dealers:member-delete", args=[m.code])


def _link_in(message) -> str:
    """The invitation link of an e-mail, as a path."""
    match = re.search(r"https?://[^/\s]+(/invitations/\S+/)", message.body)
    assert match, message.body
    return match.group(1)


@pytest.fixture
def sent(django_capture_on_commit_callbacks):
    """``with sent():`` runs the on-commit work (the invitation e-mail) at the block's end, as a
    commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def owner_membership(owner) -> Membership:
    return owner.dealer_memberships.get()


@pytest.fixture
def tech_membership(technician) -> Membership:
    return technician.dealer_memberships.get()


@pytest.fixture
def dealer_admin_client(admin_member) -> Client:
    client = Client()
    client.force_login(admin_member)
    return client


# --- inviting -------------------------------------------------------------------------------


def test_an_owner_invites_by_email_and_the_link_is_mailed(owner_client, dealer, settings, sent):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    with sent():
        response = owner_client.post(
            INVITE, {"email": " New.Tech@Example.com ", "role": "technician"}
        )
    assert response.status_code == 302 and response.url == TEAM
    invitation = DealerInvitation.objects.get()
    assert (invitation.dealer, invitation.email, invitation.role) == (
        dealer,
        "New.Tech@Example.com",
        "technician",
    )
    assert invitation.invited_by.username == "owner"
    assert invitation.expires_at - invitation.created_at == timedelta(days=7)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["New.Tech@Example.com"]
    assert dealer.name in message.subject
    assert "https://portal.example.com/invitations/" in message.body
    assert "Technician" in message.body
    # The team page lists it as open, with a button to withdraw it.
    page = owner_client.get(TEAM).content.decode()
    assert "New.Tech@Example.com" in page
    assert reverse("dealers:invitation-revoke", args=[invitation.code]) in page


def test_the_token_names_the_invitation_but_stores_nothing_secret(owner, dealer, sent):
    with sent():
        invitation = services.member_invite(
            dealer=dealer, email="a@example.com", role="viewer", actor=owner, actor_role="owner"
        )
    token = _link_in(mail.outbox[0]).split("/")[2]
    assert signing.loads(token, salt=Invitation.TOKEN_SALT) == [
        "dealers.dealerinvitation",
        str(invitation.code),
    ]
    row = DealerInvitation.objects.filter(pk=invitation.pk).values().get()
    assert token not in {str(value) for value in row.values()}


def test_admins_may_not_invite_owners(dealer_admin_client, admin_member, dealer):
    form = dealer_admin_client.get(INVITE).context["form"]
    assert "owner" not in dict(form.fields["role"].choices)
    response = dealer_admin_client.post(INVITE, {"email": "boss@example.com", "role": "owner"})
    assert "role" in response.context["form"].errors
    with pytest.raises(ValidationError):
        services.member_invite(
            dealer=dealer,
            email="boss@example.com",
            role="owner",
            actor=admin_member,
            actor_role="admin",
        )
    assert not DealerInvitation.objects.exists()


def test_inviting_a_member_again_is_a_field_error(owner_client, viewer):
    response = owner_client.post(INVITE, {"email": viewer.email.upper(), "role": "viewer"})
    assert "already works for" in response.context["form"].errors["email"][0]
    assert not DealerInvitation.objects.exists()


def test_a_new_invitation_replaces_the_open_one(owner_client, client, sent):
    with sent():
        owner_client.post(INVITE, {"email": "x@example.com", "role": "viewer"})
    with sent():
        owner_client.post(INVITE, {"email": "X@example.com", "role": "technician"})
    first, second = DealerInvitation.objects.order_by("id")
    assert first.state == "revoked" and second.state == "pending"
    old_link, new_link = _link_in(mail.outbox[0]), _link_in(mail.outbox[1])
    assert client.get(old_link).status_code == 410
    assert client.get(new_link).status_code == 200


@pytest.mark.parametrize("persona", ["technician_client", "viewer_client"])
def test_only_owners_and_admins_invite(request, persona):
    client = request.getfixturevalue(persona)
    assert client.get(INVITE).status_code == 403
    assert client.post(INVITE, {"email": "x@example.com", "role": "viewer"}).status_code == 403
    assert not DealerInvitation.objects.exists()


def test_withdrawing_an_invitation_stops_its_link(owner_client, client, sent):
    with sent():
        owner_client.post(INVITE, {"email": "x@example.com", "role": "viewer"})
    invitation = DealerInvitation.objects.get()
    response = owner_client.post(reverse("dealers:invitation-revoke", args=[invitation.code]))
    assert response.url == TEAM
    invitation.refresh_from_db()
    assert invitation.state == "revoked" and invitation.revoked_by.username == "owner"
    page = client.get(_link_in(mail.outbox[0]))
    assert page.status_code == 410 and "withdrawn" in page.content.decode()
    # Withdrawing it again says so, and changes nothing.
    again = owner_client.post(reverse("dealers:invitation-revoke", args=[invitation.code]))
    assert "already accepted or withdrawn" in _messages(again)[-1]


def test_the_mail_is_not_sent_for_an_invitation_withdrawn_before_the_task_ran(owner, dealer):
    from dealers.tasks import invitation_email

    invitation = services.member_invite(
        dealer=dealer, email="a@example.com", role="viewer", actor=owner, actor_role="owner"
    )
    services.invitation_revoke(invitation=invitation, actor=owner)
    mail.outbox.clear()
    assert invitation_email("dealers.dealerinvitation", invitation.pk) is False
    assert mail.outbox == []


# --- accepting ------------------------------------------------------------------------------


@pytest.fixture
def link(owner, dealer, sent) -> str:
    with sent():
        services.member_invite(
            dealer=dealer,
            email="newbie@example.com",
            role="technician",
            actor=owner,
            actor_role="owner",
        )
    return _link_in(mail.outbox[-1])


def test_someone_new_creates_a_sign_in_and_joins(client, link, dealer):
    page = client.get(link)
    assert page.status_code == 200
    assert "newbie@example.com" in page.content.decode()
    response = client.post(
        link,
        {
            "username": "newbie",
            "password1": "a-long-pass-phrase",
            "password2": "a-long-pass-phrase",
        },
    )
    assert response.status_code == 302 and response.url == reverse("dealers:dashboard")
    membership = Membership.objects.get(user__username="newbie")
    assert (membership.dealer, membership.role) == (dealer, "technician")
    assert membership.user.email == "newbie@example.com"
    assert client.session[SESSION_KEY] == str(dealer.code)
    assert client.get(reverse("dealers:dashboard")).status_code == 200  # signed in
    invitation = DealerInvitation.objects.get()
    assert invitation.state == "accepted" and invitation.accepted_by == membership.user


def test_the_sign_up_form_shows_its_errors_and_creates_nobody(client, link):
    response = client.post(link, {"username": "", "password1": "a", "password2": "b"})
    assert response.status_code == 200
    assert {"username", "password2"} <= set(response.context["form"].errors)
    assert not Membership.objects.filter(role="technician").exists()


def test_a_signed_in_user_joins_with_their_sign_in(link, dealer, other_dealer):
    user = MembershipFactory(dealer=other_dealer, user=UserFactory(username="elsewhere")).user
    client = Client()
    client.force_login(user)
    assert "Join as elsewhere" in client.get(link).content.decode()
    response = client.post(link)
    assert response.url == reverse("dealers:dashboard")
    assert Membership.objects.get(user=user, dealer=dealer).role == "technician"
    # They now work for the dealer they joined.
    assert client.get(reverse("dealers:dashboard")).context["membership"].dealer == dealer


def test_the_link_works_once(link, client):
    first = Client()
    first.force_login(UserFactory(username="first"))
    first.post(link)
    second = Client()
    second.force_login(UserFactory(username="second"))
    response = second.post(link)
    assert response.status_code == 410
    assert "already been used" in response.content.decode()
    assert not Membership.objects.filter(user__username="second").exists()


def test_an_expired_link_says_so(link, client):
    DealerInvitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(link)
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    user = UserFactory(username="late")
    client.force_login(user)
    assert client.post(link).status_code == 410
    assert not Membership.objects.filter(user=user).exists()


@pytest.mark.parametrize(
    "token",
    ["garbage", signing.dumps(["dealers.dealerinvitation", "0" * 32], salt="other-salt")],
)
def test_a_link_that_is_not_an_invitation_is_a_404(client, token):
    response = client.get(reverse("invitations:accept", args=[token]))
    assert response.status_code == 404
    assert "not a valid invitation" in response.content.decode()


def test_a_tampered_token_is_a_404(link, client):
    assert client.get(link[:-3] + "x/").status_code == 404


def test_a_member_cannot_join_twice(link, viewer):
    client = Client()
    client.force_login(viewer)
    assert "already belong" in client.get(link).content.decode()
    response = client.post(link)
    assert "already works for" in _messages(response)[-1]
    assert viewer.dealer_memberships.get().role == "viewer"
    assert DealerInvitation.objects.get().state == "pending"


# --- roles and removal ----------------------------------------------------------------------


def test_an_owner_changes_a_role(owner_client, tech_membership):
    response = owner_client.post(_role_url(tech_membership), {"role": "admin"})
    assert response.url == TEAM
    tech_membership.refresh_from_db()
    assert tech_membership.role == "admin"
    change = tech_membership.history.order_by("-history_id").first()
    assert (change.history_type, change.role, change.history_user.username) == (
        "~",
        "admin",
        "owner",
    )


def test_the_last_owner_cannot_be_demoted_or_removed(owner_client, owner_membership):
    response = owner_client.post(_role_url(owner_membership), {"role": "admin"})
    assert "last owner" in response.context["form"].errors["role"][0]
    response = owner_client.post(_remove_url(owner_membership))
    assert "last owner" in _messages(response)[-1]
    owner_membership.refresh_from_db()
    assert owner_membership.role == "owner"


def test_with_two_owners_one_may_step_down(owner_client, owner_membership, dealer):
    MembershipFactory(dealer=dealer, role="owner")
    owner_client.post(_role_url(owner_membership), {"role": "admin"})
    owner_membership.refresh_from_db()
    assert owner_membership.role == "admin"


def test_admins_manage_everyone_but_owners(dealer_admin_client, owner_membership, tech_membership):
    assert (
        dealer_admin_client.post(_role_url(tech_membership), {"role": "viewer"}).status_code == 302
    )
    response = dealer_admin_client.post(_role_url(tech_membership), {"role": "owner"})
    assert "role" in response.context["form"].errors
    response = dealer_admin_client.post(_role_url(owner_membership), {"role": "viewer"})
    assert "Only an owner" in response.context["form"].errors["role"][0]
    response = dealer_admin_client.post(_remove_url(owner_membership))
    assert "Only an owner" in _messages(response)[-1]
    assert Membership.objects.get(pk=owner_membership.pk).role == "owner"


def test_removing_a_member_keeps_their_sign_in_and_the_history(
    owner_client, tech_membership, technician
):
    response = owner_client.post(_remove_url(tech_membership))
    assert response.url == TEAM
    assert not Membership.objects.filter(pk=tech_membership.pk).exists()
    technician.refresh_from_db()  # the user is still there
    gone = Membership.history.filter(id=tech_membership.pk, history_type="-").get()
    assert gone.history_user.username == "owner"
    client = Client()
    client.force_login(technician)
    assert client.get(reverse("dealers:dashboard")).status_code == 404


@pytest.mark.parametrize("persona", ["technician_client", "viewer_client"])
def test_only_owners_and_admins_change_the_team(request, persona, owner_membership):
    client = request.getfixturevalue(persona)
    for url in (_role_url(owner_membership), _remove_url(owner_membership)):
        assert client.get(url).status_code == 403
        assert client.post(url, {"role": "viewer"}).status_code == 403
    assert Membership.objects.filter(pk=owner_membership.pk).exists()


def test_the_team_page_tells_the_history(owner_client, owner, dealer, tech_membership):
    services.member_role_set(
        membership=tech_membership, role="viewer", actor=owner, actor_role="owner"
    )
    invitation = services.member_invite(
        dealer=dealer, email="x@example.com", role="viewer", actor=owner, actor_role="owner"
    )
    services.invitation_revoke(invitation=invitation, actor=owner)
    services.member_remove(membership=tech_membership, actor=owner, actor_role="owner")
    history = [e.what for e in owner_client.get(TEAM).context["history"]]
    assert history[:4] == [
        "technician was removed from the team",
        "withdrew the invitation of x@example.com",
        "invited x@example.com as Viewer",
        "technician: Technician → Viewer",
    ]


def test_the_team_page_shows_no_buttons_to_viewers(viewer_client):
    page = viewer_client.get(TEAM).content.decode()
    assert INVITE not in page and "Change role" not in page


def test_another_dealers_invitation_cannot_be_withdrawn(owner_client, outsider):
    other = DealerFactory()
    MembershipFactory(dealer=other, user=outsider)
    invitation = services.member_invite(
        dealer=other, email="x@example.com", role="viewer", actor=outsider, actor_role="owner"
    )
    url = reverse("dealers:invitation-revoke", args=[invitation.code])
    assert owner_client.post(url).status_code == 404
    assert DealerInvitation.objects.get().state == "pending"


# --- the last owner under concurrency -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs concurrent writers")
def test_two_owners_stepping_down_at_once_leave_one_owner():
    dealer = DealerFactory()
    owners = [MembershipFactory(dealer=dealer, role="owner") for _ in range(2)]
    barrier = threading.Barrier(2, timeout=10)

    def step_down(i: int) -> Membership:
        barrier.wait()
        return services.member_role_set(
            membership=owners[i], role="admin", actor=owners[i].user, actor_role="owner"
        )

    outcomes = at_once(step_down)
    assert sorted(type(o).__name__ for o in outcomes) == ["Membership", "ValidationError"]
    assert Membership.objects.filter(dealer=dealer, role="owner").count() == 1
