"""The sign-in backend: Django's, with what two-factor sign-in needs loaded with the user."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import Exists, OuterRef
from django_otp.plugins.otp_totp.models import TOTPDevice

from dealers.models import Membership
from stations.models import StationMembership


class PortalBackend(ModelBackend):
    """Loads the signed-in user with three flags, in the same single query as before.

    Every request checks whether its user must pass a second factor (portal.middleware);
    asking in the user's own query keeps that check free.
    """

    def get_user(self, user_id):
        users = get_user_model()._default_manager.annotate(
            two_factor_enrolled=Exists(
                TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
            ),
            two_factor_station_admin=Exists(
                StationMembership.objects.filter(
                    user=OuterRef("pk"), role=StationMembership.Role.STATION_ADMIN
                )
            ),
            two_factor_dealer=Exists(
                Membership.objects.filter(
                    user=OuterRef("pk"), dealer__two_factor_required=True, dealer__is_active=True
                )
            ),
        )
        user = users.filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
