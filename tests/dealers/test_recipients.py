"""Dealer settings → notifications: list, add, edit and delete the dealer's recipients."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dealers.models import NotificationRecipient
from tests.factories import NotificationRecipientFactory

pytestmark = pytest.mark.django_db

LIST = reverse("dealers:recipient-list")
CREATE = reverse("dealers:recipient-create")


def _update(recipient: NotificationRecipient) -> str:
    return reverse("dealers:recipient-update", args=[recipient.code])


def _delete(recipient: NotificationRecipient) -> str:
    return reverse("dealers:recipient-delete", args=[recipient.code])


def _form(email: str = "night-shift@acme.example", **overrides: object) -> dict:
    data = {
        "email": email,
        "name": "Night shift",
        "phone": "+1 555 0100",
        "receiver_notifications": "on",
        "signal_failure_notifications": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def recipient(dealer) -> NotificationRecipient:
    return NotificationRecipientFactory(dealer=dealer, email="ops@acme.example", name="Ops")


@pytest.fixture
def theirs(other_dealer) -> NotificationRecipient:
    return NotificationRecipientFactory(dealer=other_dealer, email="ops@rival.example")


# --- access rules ---------------------------------------------------------------------------


def test_every_view_requires_sign_in(client, recipient):
    for url in (LIST, CREATE, _update(recipient), _delete(recipient)):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url == f"{reverse('login')}?next={url}"


def test_every_view_refuses_wrong_methods(owner_client, recipient):
    assert owner_client.post(LIST).status_code == 405
    for url in (CREATE, _update(recipient), _delete(recipient)):
        assert owner_client.put(url).status_code == 405, url
        assert owner_client.delete(url).status_code == 405, url


@pytest.mark.parametrize("persona", ["viewer_client", "technician_client"])
def test_viewer_and_technician_may_look_but_not_write(request, persona, recipient):
    client = request.getfixturevalue(persona)
    listing = client.get(LIST)
    assert listing.status_code == 200
    assert recipient.email in listing.text
    assert CREATE not in listing.text  # no add button
    assert _update(recipient) not in listing.text
    for url in (CREATE, _update(recipient), _delete(recipient)):
        assert client.get(url).status_code == 403, url
    assert client.post(CREATE, _form()).status_code == 403
    assert client.post(_update(recipient), _form(email="hijack@evil.example")).status_code == 403
    assert client.post(_delete(recipient)).status_code == 403
    recipient.refresh_from_db()
    assert recipient.email == "ops@acme.example"
    assert not NotificationRecipient.objects.filter(email="night-shift@acme.example").exists()


def test_another_dealers_recipient_answers_404(owner_client, theirs):
    for url in (_update(theirs), _delete(theirs)):
        assert owner_client.get(url).status_code == 404, url
    assert owner_client.post(_update(theirs), _form()).status_code == 404
    assert owner_client.post(_delete(theirs)).status_code == 404
    assert NotificationRecipient.objects.filter(pk=theirs.pk, email=theirs.email).exists()


def test_the_list_shows_only_this_dealers_recipients(owner_client, recipient, theirs):
    response = owner_client.get(LIST)
    assert list(response.context["recipients"]) == [recipient]
    assert theirs.email not in response.text


def test_a_user_of_no_dealer_gets_404(client, operator):
    client.force_login(operator)
    assert client.get(LIST).status_code == 404


# --- writes ---------------------------------------------------------------------------------


def test_owner_adds_a_recipient(owner_client, dealer):
    response = owner_client.post(
        CREATE, _form(" Night-Shift@Acme.example ", receiver_notifications=None)
    )
    assert response.status_code == 302
    assert response.url == LIST
    added = NotificationRecipient.objects.get(dealer=dealer)
    assert added.email == "Night-Shift@Acme.example"
    assert (added.receiver_notifications, added.signal_failure_notifications) == (False, True)
    assert added.phone == "+1 555 0100"


def test_an_address_is_listed_once_per_dealer_whatever_its_case(
    owner_client, recipient, other_dealer
):
    response = owner_client.post(CREATE, _form("OPS@acme.example"))
    assert response.status_code == 200
    assert "already receives" in str(response.context["form"].errors["email"])
    assert NotificationRecipient.objects.filter(dealer=recipient.dealer).count() == 1
    # Another dealer may list the same address.
    NotificationRecipientFactory(dealer=other_dealer, email="ops@acme.example")


def test_an_invalid_address_is_refused(owner_client):
    response = owner_client.post(CREATE, _form("not-an-address"))
    assert response.status_code == 200
    assert "email" in response.context["form"].errors


def test_admin_member_edits_a_recipient(client, admin_member, recipient):
    client.force_login(admin_member)
    response = client.post(
        _update(recipient), _form("ops@acme.example", name="Operations", phone="")
    )
    assert response.status_code == 302
    recipient.refresh_from_db()
    assert (recipient.name, recipient.phone) == ("Operations", "")


def test_editing_keeps_the_own_address_but_refuses_a_colleagues(owner_client, recipient, dealer):
    NotificationRecipientFactory(dealer=dealer, email="boss@acme.example")
    assert owner_client.post(_update(recipient), _form("ops@acme.example")).status_code == 302
    response = owner_client.post(_update(recipient), _form("Boss@acme.example"))
    assert response.status_code == 200
    recipient.refresh_from_db()
    assert recipient.email == "ops@acme.example"


def test_owner_deletes_a_recipient_after_confirming(owner_client, recipient):
    confirm = owner_client.get(_delete(recipient))
    assert confirm.status_code == 200
    assert recipient.email in confirm.text
    assert NotificationRecipient.objects.filter(pk=recipient.pk).exists()

    response = owner_client.post(_delete(recipient))

    assert response.status_code == 302
    assert not NotificationRecipient.objects.filter(pk=recipient.pk).exists()


def test_the_navigation_links_to_the_page(owner_client):
    assert LIST in owner_client.get(reverse("dealers:dashboard")).text
