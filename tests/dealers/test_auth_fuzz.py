"""Whatever is typed into the sign-in and password-reset forms, the page answers with an error."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db

# Text of any length and any code point, including NUL, surrogates' neighbours and controls.
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=600)
HOSTILE = [
    "x" * 256,
    "x" * 10_000,
    "a\x00b",
    "\x00",
    "\uff4f\uff57\uff4e\uff45\uff52",  # full-width "owner"
    "owner\u200b",
    "' OR 1=1 --",
    "owner%00",
    "💥" * 300,
    "",
    " ",
]


def _sign_in(username: str, password: str):
    return Client(REMOTE_ADDR="10.1.2.3").post(
        reverse("login"), {"username": username, "password": password}
    )


@pytest.mark.parametrize("username", HOSTILE)
def test_hostile_usernames_get_the_sign_in_page_with_an_error(owner, username):
    response = _sign_in(username, "wrong")
    assert response.status_code == 200
    assert response.context["form"].errors


@pytest.mark.parametrize("password", HOSTILE)
def test_hostile_passwords_get_the_sign_in_page_with_an_error(owner, password):
    response = _sign_in("owner", password)
    assert response.status_code == 200
    assert response.context["form"].errors


def test_a_username_over_255_characters_is_an_error_not_a_500(owner):
    response = _sign_in("u" * 300, "wrong")
    assert response.status_code == 200
    assert response.context["form"].errors


@pytest.mark.parametrize("username", ["u" * 300, "a\x00b", "💥" * 300])
def test_the_admin_sign_in_answers_hostile_usernames_with_an_error(admin, username):
    response = Client().post(reverse("admin:login"), {"username": username, "password": "x"})
    assert response.status_code == 200
    assert response.context["form"].errors


def test_a_long_user_agent_is_recorded_without_a_500(owner):
    response = Client(HTTP_USER_AGENT="agent" * 500).post(
        reverse("login"), {"username": "owner", "password": "wrong"}
    )
    assert response.status_code == 200


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(username=ANY_TEXT, password=ANY_TEXT)
def test_any_sign_in_input_gets_the_page_with_an_error(owner, username, password):
    response = _sign_in(username, password)
    assert response.status_code in (200, 429)  # 429: the lockout page, also a page with a reason


@pytest.mark.parametrize("email", [*HOSTILE, "a@b.c" + "x" * 300, "owner@example.com\x00"])
def test_hostile_password_reset_input_is_answered_without_a_500(owner, email):
    response = Client().post(reverse("password_reset"), {"email": email})
    assert response.status_code in (200, 302)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(email=ANY_TEXT)
def test_any_password_reset_input_is_answered_without_a_500(owner, email):
    response = Client().post(reverse("password_reset"), {"email": email})
    assert response.status_code in (200, 302)


@pytest.mark.parametrize("password", HOSTILE)
def test_hostile_new_passwords_on_the_reset_confirmation_get_a_page(owner, password):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    client = Client()
    uid = urlsafe_base64_encode(force_bytes(owner.pk))
    token = default_token_generator.make_token(owner)
    url = reverse("password_reset_confirm", args=[uid, token])
    set_url = client.get(url).url
    response = client.post(set_url, {"new_password1": password, "new_password2": password})
    assert response.status_code in (200, 302)  # a long or odd password may well be good
    if response.status_code == 200:
        assert response.context["form"].errors
