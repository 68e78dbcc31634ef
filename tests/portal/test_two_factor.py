"""Two-factor sign-in: who must use it, setting it up, passing it, recovery codes, lockout."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from dealers.models import SignInEvent
from stations.models import StationMembership
from tests.factories import PASSWORD, StationMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

SETUP = reverse("two-factor-setup")
VERIFY = reverse("two-factor-verify")


def _code(device: TOTPDevice, offset: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset
    return f"{totp.token():06d}"


def _password_login(client: Client, username: str, ip: str = "10.9.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": PASSWORD}, REMOTE_ADDR=ip
    )


def _enrol(client: Client, user) -> tuple[TOTPDevice, list[str]]:
    client.get(SETUP)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(SETUP, {"code": _code(device)})
    assert response.status_code == 200
    codes = response.context["codes"]
    device.refresh_from_db()
    return device, codes


# --- who must use it ------------------------------------------------------------------------


def test_staff_must_set_it_up_before_anything_else(client):
    UserFactory(username="boss", is_staff=True, is_superuser=True)
    _password_login(client, "boss")
    for url in ("/admin/", "/", "/customers/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(SETUP), url
    assert client.get(SETUP).status_code == 200


def test_station_admins_must_set_it_up(client, station):
    StationMembershipFactory(
        station=station,
        user=UserFactory(username="chief"),
        role=StationMembership.Role.STATION_ADMIN,
    )
    _password_login(client, "chief")
    assert client.get("/monitoring").url.startswith(SETUP)


def test_operators_and_dealer_people_need_not_unless_the_owner_says(client, owner, dealer):
    _password_login(client, "owner")
    assert client.get("/dealer/").status_code == 200
    dealer.two_factor_required = True
    dealer.save()
    # The owner's switch reaches sessions that already exist.
    assert client.get("/dealer/").url.startswith(SETUP)


def test_the_owner_turns_it_on_for_the_dealer(owner_client, dealer, viewer):
    response = owner_client.post(reverse("dealers:security"), {"two_factor_required": "on"})
    assert response.status_code == 302
    dealer.refresh_from_db()
    assert dealer.two_factor_required
    viewer_client = Client()
    _password_login(viewer_client, "viewer")
    assert viewer_client.get("/dealer/").url.startswith(SETUP)


# --- setting it up --------------------------------------------------------------------------


def test_setup_shows_a_server_drawn_qr_code_and_the_key(client, owner):
    _password_login(client, "owner")
    response = client.get(SETUP)
    html = response.text
    assert re.search(r'<img src="data:image/svg\+xml[^"]+"', html)
    # Nothing is fetched from elsewhere (the key shown may spell "cdn" by chance).
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)
    device = TOTPDevice.objects.get(user=owner)
    assert not device.confirmed
    secret = response.context["secret"].replace(" ", "")
    from base64 import b32decode

    assert b32decode(secret) == device.bin_key


def test_a_wrong_code_does_not_turn_it_on(client, owner):
    _password_login(client, "owner")
    client.get(SETUP)
    response = client.post(SETUP, {"code": "000000"})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert not TOTPDevice.objects.filter(user=owner, confirmed=True).exists()


def test_confirming_shows_ten_recovery_codes_once(client, owner):
    _password_login(client, "owner")
    device, codes = _enrol(client, owner)
    assert device.confirmed
    assert len(codes) == len(set(codes)) == 10
    assert set(StaticToken.objects.filter(device__user=owner).values_list("token", flat=True)) == (
        set(codes)
    )
    # The page that manages it never shows them again.
    page = client.get(SETUP)
    assert "Two-factor sign-in is on" in page.text
    assert not any(code in page.text for code in codes)
    assert SignInEvent.objects.filter(user=owner, kind=SignInEvent.Kind.TWO_FACTOR_ENABLED)


# --- passing it -----------------------------------------------------------------------------


@pytest.fixture
def enrolled(client, owner):
    _password_login(client, "owner")
    device, codes = _enrol(client, owner)
    client.post(reverse("logout"))
    return device, codes


def test_after_the_password_every_page_waits_for_the_code(client, owner, enrolled):
    _password_login(client, "owner")
    response = client.get("/dealer/")
    assert response.status_code == 302
    assert response.url == VERIFY + "?next=%2Fdealer%2F"
    assert client.get("/customers/").url.startswith(VERIFY)


def test_the_apps_code_lets_the_person_in(client, owner, enrolled):
    device, _ = enrolled
    _password_login(client, "owner")
    response = client.post(VERIFY, {"code": _code(device, offset=30), "next": "/customers/"})
    assert response.status_code == 302
    assert response.url == "/customers/"
    assert client.get("/dealer/").status_code == 200
    assert SignInEvent.objects.filter(user=owner, kind=SignInEvent.Kind.TWO_FACTOR_PASSED)


def test_a_recovery_code_works_once(client, owner, enrolled):
    _, codes = enrolled
    _password_login(client, "owner")
    assert client.post(VERIFY, {"code": codes[0].upper()}).status_code == 302
    assert client.get("/dealer/").status_code == 200
    assert SignInEvent.objects.filter(user=owner, kind=SignInEvent.Kind.RECOVERY_CODE_USED)
    client.post(reverse("logout"))
    other = Client()
    _password_login(other, "owner", ip="10.9.0.2")
    response = other.post(VERIFY, {"code": codes[0]})
    assert response.status_code == 200
    assert response.context["form"].errors["code"]


def test_wrong_codes_lock_the_sign_in_like_wrong_passwords(client, owner, enrolled):
    _password_login(client, "owner")
    statuses = [client.post(VERIFY, {"code": "12345678"}).status_code for _ in range(5)]
    assert statuses[-1] == 429
    # Locked and signed out: even the right code cannot be tried now.
    assert client.get("/dealer/").status_code == 302
    # The lock is on this name from this address (the code was posted from 127.0.0.1).
    assert _password_login(Client(), "owner", ip="127.0.0.1").status_code == 429
    kinds = set(SignInEvent.objects.filter(user=owner).values_list("kind", flat=True))
    assert {SignInEvent.Kind.TWO_FACTOR_FAILED, SignInEvent.Kind.LOCKED_OUT} <= kinds


@pytest.mark.parametrize("code", ["", "x" * 40, "\x00", "💥", "1" * 12, "000000"])
def test_any_code_input_gets_the_page_with_an_error(client, owner, enrolled, code):
    _password_login(client, "owner")
    response = client.post(VERIFY, {"code": code})
    assert response.status_code == 200
    assert response.context["form"].errors


# --- turning it off, new codes --------------------------------------------------------------


def test_turning_it_off_needs_a_current_code(client, owner, enrolled):
    device, codes = enrolled
    _password_login(client, "owner")
    client.post(VERIFY, {"code": codes[0]})  # the app's code of this half-minute is spent
    client.post(reverse("two-factor-disable"), {"code": "000000"})
    assert TOTPDevice.objects.filter(user=owner, confirmed=True).exists()
    time.sleep(1.1)  # django-otp slows the next try after a wrong code by a second
    client.post(reverse("two-factor-disable"), {"code": _code(device, offset=30)})
    assert not TOTPDevice.objects.filter(user=owner).exists()
    assert not StaticToken.objects.filter(device__user=owner).exists()
    assert SignInEvent.objects.filter(user=owner, kind=SignInEvent.Kind.TWO_FACTOR_DISABLED)


def test_it_cannot_be_turned_off_where_it_is_required(client, owner, dealer, enrolled):
    device, codes = enrolled
    dealer.two_factor_required = True
    dealer.save()
    _password_login(client, "owner")
    client.post(VERIFY, {"code": codes[0]})
    client.post(reverse("two-factor-disable"), {"code": _code(device, offset=30)})
    assert TOTPDevice.objects.filter(user=owner, confirmed=True).exists()


def test_new_recovery_codes_replace_the_old_ones(client, owner, enrolled):
    _, old = enrolled
    _password_login(client, "owner")
    client.post(VERIFY, {"code": old[0]})
    response = client.post(reverse("two-factor-recovery-codes"))
    new = response.context["codes"]
    assert len(new) == 10 and not set(new) & set(old)
    stored = set(StaticToken.objects.filter(device__user=owner).values_list("token", flat=True))
    assert stored == set(new)
    assert SignInEvent.objects.filter(user=owner, kind=SignInEvent.Kind.RECOVERY_CODES_RENEWED)


def test_an_enrolled_but_unverified_session_cannot_replace_the_device(client, owner, enrolled):
    _password_login(client, "owner")
    assert client.get(SETUP).url.startswith(VERIFY)
    assert client.post(reverse("two-factor-recovery-codes")).url.startswith(VERIFY)
    assert client.post(reverse("two-factor-disable"), {"code": "1"}).url.startswith(VERIFY)


def test_pages_need_sign_in_and_refuse_wrong_methods(client, owner_client):
    for url in (SETUP, VERIFY):
        assert client.get(url).status_code == 302
    assert owner_client.get(reverse("two-factor-disable")).status_code == 405
    assert owner_client.get(reverse("two-factor-recovery-codes")).status_code == 405
    assert owner_client.put(SETUP).status_code == 405


# --- the admin ------------------------------------------------------------------------------


def test_the_admin_needs_the_second_factor_too(client):
    staff = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.post(reverse("admin:login"), {"username": "boss", "password": PASSWORD})
    assert client.get("/admin/").url.startswith(SETUP)
    device, _ = _enrol(client, staff)
    assert client.get("/admin/").status_code == 200
    client.post(reverse("logout"))
    client.post(reverse("admin:login"), {"username": "boss", "password": PASSWORD})
    assert client.get("/admin/auth/user/").url.startswith(VERIFY)
    client.post(VERIFY, {"code": _code(device, offset=30)})
    assert client.get("/admin/auth/user/").status_code == 200
