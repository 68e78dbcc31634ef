"""portal/csrf.py: one masked CSRF token per request, masked again when the secret changes."""

from __future__ import annotations

import pytest
from django.middleware import csrf as django_csrf
from django.template import engines
from django.test import RequestFactory

from portal import csrf


@pytest.fixture
def request_():
    request = RequestFactory().get("/")
    request.META["CSRF_COOKIE"] = django_csrf._get_new_csrf_string()
    return request


def test_one_mask_per_request(request_):
    first = csrf.token(request_)
    assert csrf.token(request_) == first
    assert django_csrf._unmask_cipher_token(first) == request_.META["CSRF_COOKIE"]
    # The cookie is renewed, as Django's get_token does.
    assert request_.META["CSRF_COOKIE_NEEDS_UPDATE"] is True


def test_a_rotated_secret_is_masked_afresh(request_):
    before = csrf.token(request_)
    django_csrf.rotate_token(request_)
    after = csrf.token(request_)
    assert after != before
    assert django_csrf._unmask_cipher_token(after) == request_.META["CSRF_COOKIE"]


def test_a_request_without_a_cookie_gets_one_once_it_is_asked_for():
    request = RequestFactory().get("/")
    context = csrf.csrf(request)
    assert "CSRF_COOKIE" not in request.META  # lazy: nothing asked yet
    token = str(context["csrf_token"])
    assert django_csrf._unmask_cipher_token(token) == request.META["CSRF_COOKIE"]


@pytest.mark.parametrize(
    ("engine", "source"),
    [
        ("django", "{% csrf_token %}|{{ csrf_token }}|{% csrf_token %}"),
        ("jinja2", "{{ csrf_input }}|{{ csrf_token }}|{{ csrf_input }}"),
    ],
)
def test_both_engines_write_the_one_token(request_, engine, source):
    rendered = engines[engine].from_string(source).render({}, request=request_)
    field, bare, again = rendered.split("|")
    token = csrf.token(request_)
    expected = f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
    assert (field, bare, again) == (expected, token, expected)
