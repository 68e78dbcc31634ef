"""The sign-in backend loads a request's user with its two-factor flags in one prepared read
(portal.backends); on PostgreSQL that read is a prepared statement, so these run in CI there."""

from __future__ import annotations

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.backends import PortalBackend
from stations.models import StationMembership
from tests.factories import MembershipFactory, StationMembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

FLAGS = ("two_factor_enrolled", "two_factor_station_admin", "two_factor_dealer")


def _flags(user_id) -> tuple[bool, ...] | None:
    user = PortalBackend().get_user(user_id)
    return None if user is None else tuple(getattr(user, flag) for flag in FLAGS)


def test_each_user_comes_with_their_own_two_factor_flags():
    plain = UserFactory()
    enrolled = UserFactory()
    TOTPDevice.objects.create(user=enrolled, name="phone", confirmed=True)
    TOTPDevice.objects.create(user=plain, name="never confirmed", confirmed=False)
    station_admin = StationMembershipFactory(role=StationMembership.Role.STATION_ADMIN).user
    operator = StationMembershipFactory().user
    strict = MembershipFactory(dealer__two_factor_required=True).user
    closed = MembershipFactory(dealer__two_factor_required=True, dealer__is_active=False).user

    # Read one after another on one connection: each answer is that user's, not the last one's.
    for _ in range(2):
        assert _flags(plain.pk) == (False, False, False)
        assert _flags(enrolled.pk) == (True, False, False)
        assert _flags(station_admin.pk) == (False, True, False)
        assert _flags(operator.pk) == (False, False, False)
        assert _flags(strict.pk) == (False, False, True)
        assert _flags(closed.pk) == (False, False, False)
    assert PortalBackend().get_user(str(plain.pk)) == plain  # as a session may hold it


@pytest.mark.parametrize("user_id", [-1, 0, 2**31, 2**63, "", "x", None, "1.5"])
def test_an_id_no_user_can_have_is_nobody_never_an_error(user_id):
    UserFactory()
    assert PortalBackend().get_user(user_id) is None


def test_an_inactive_user_is_nobody():
    user = UserFactory(is_active=False)
    assert PortalBackend().get_user(user.pk) is None
