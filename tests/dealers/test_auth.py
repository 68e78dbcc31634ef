"""Sign-in, sign-out, password change and reset, and the login throttle."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _login(client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_sign_in_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert 'name="username"' in response.text


def test_sign_in_lands_on_the_dashboard(client, owner):
    response = _login(client, "owner", PASSWORD)
    assert response.status_code == 302
    assert client.get(response.url, follow=True).redirect_chain[-1][0] == reverse(
        "dealers:dashboard"
    )


def test_wrong_password_is_rejected_with_a_message(client, owner):
    response = _login(client, "owner", "wrong")
    assert response.status_code == 200
    assert "correct username and password" in response.text
    assert "_auth_user_id" not in client.session


def test_sign_out_is_post_only(owner_client):
    assert owner_client.get(reverse("logout")).status_code == 405
    response = owner_client.post(reverse("logout"))
    assert response.status_code == 302
    assert owner_client.get(reverse("dealers:dashboard")).status_code == 302


def test_repeated_failures_lock_that_username_from_that_address_only(client, owner, viewer):
    for _ in range(5):
        _login(client, "owner", "wrong")
    locked = _login(client, "owner", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    # Another person behind the same address still signs in ...
    assert _login(client, "viewer", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    # ... and the same person from another address too.
    assert _login(client, "owner", PASSWORD, ip="10.0.0.2").status_code == 302


def test_password_change(owner_client, owner):
    url = reverse("password_change")
    assert owner_client.get(url).status_code == 200
    response = owner_client.post(
        url,
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-longer-new-pass-42",
            "new_password2": "a-much-longer-new-pass-42",
        },
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("a-much-longer-new-pass-42")


def test_password_change_requires_sign_in(client):
    assert client.get(reverse("password_change")).status_code == 302


def test_password_reset_by_email(client, owner):
    response = client.post(reverse("password_reset"), {"email": "owner@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form_url = client.get(link).url  # Django swaps the token for a session marker
    response = client.post(
        form_url,
        {
            "new_password1": "reset-pass-that-is-long-9",
            "new_password2": "reset-pass-that-is-long-9",
        },
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("reset-pass-that-is-long-9")


def test_password_reset_for_unknown_address_sends_nothing_and_says_the_same(client, db):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []
