"""The sign-in throttle sees the client's address: behind a proxy only when told so."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from dealers.lib import client_address
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.5"


def _through_proxy(username: str, password: str, *, client_ip: str, forged: str = ""):
    """A request as a TLS proxy forwards it: it appends the address it received it from."""
    forwarded = f"{forged}, {client_ip}" if forged else client_ip
    return Client().post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def test_behind_a_proxy_one_attacker_cannot_lock_out_everyone(settings, owner):
    settings.PORTAL_PROXY_COUNT = 1
    for _ in range(6):
        _through_proxy("owner", "wrong", client_ip="198.51.100.66")
    assert _through_proxy("owner", "wrong", client_ip="198.51.100.66").status_code == 429
    # The real owner, from their own address through the same proxy, still signs in.
    assert _through_proxy("owner", PASSWORD, client_ip="203.0.113.7").status_code == 302


def test_behind_a_proxy_a_forged_header_entry_does_not_dodge_the_lockout(settings, owner):
    settings.PORTAL_PROXY_COUNT = 1
    for i in range(6):
        _through_proxy("owner", "wrong", client_ip="198.51.100.66", forged=f"192.0.2.{i}")
    locked = _through_proxy("owner", PASSWORD, client_ip="198.51.100.66", forged="192.0.2.99")
    assert locked.status_code == 429


def test_without_a_proxy_the_header_is_ignored(settings, owner):
    settings.PORTAL_PROXY_COUNT = 0
    for i in range(6):
        Client().post(
            reverse("login"),
            {"username": "owner", "password": "wrong"},
            REMOTE_ADDR="198.51.100.66",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}",
        )
    locked = Client().post(
        reverse("login"),
        {"username": "owner", "password": PASSWORD},
        REMOTE_ADDR="198.51.100.66",
        HTTP_X_FORWARDED_FOR="192.0.2.200",
    )
    assert locked.status_code == 429


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "203.0.113.7", "10.0.0.5"),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (2, "203.0.113.7", "10.0.0.5"),  # fewer hops than proxies: not through them
        (1, "not-an-address", "10.0.0.5"),
        (1, "", "10.0.0.5"),
        (1, "2001:db8::1", "2001:db8::1"),
        # A scope is the sender's interface, any text at all (a NUL no database column takes).
        (1, "fe80::1%eth0", "fe80::1"),
        (2, "fe80::1%\x00, 10.0.0.9", "fe80::1"),
    ],
)
def test_client_address_rule(settings, hops, forwarded, expected):
    settings.PORTAL_PROXY_COUNT = hops
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected
