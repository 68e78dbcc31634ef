"""Plain helpers of the project package."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict
from django.views.debug import ExceptionReporter


class SafeExceptionReporter(ExceptionReporter):
    """Django's debug error page, for requests whose parameters cannot be read.

    The debug page lists the request's GET, POST and FILES. When the error was that they
    could not be parsed (more than DATA_UPLOAD_MAX_NUMBER_FIELDS, or too big), reading them
    again raised the same error from inside the error handler, and the request ended with
    no response at all. The page now shows them as empty instead.
    """

    def get_traceback_data(self):
        request = self.request
        if request is not None:
            try:
                request.GET  # noqa: B018 - parse it now, while failure can be caught
            except (TooManyFieldsSent, RequestDataTooBig):
                request.GET = QueryDict()
            try:
                request.POST  # noqa: B018
                request.FILES  # noqa: B018
            except (TooManyFieldsSent, RequestDataTooBig):
                request._post, request._files = QueryDict(), MultiValueDict()
        return super().get_traceback_data()


def two_factor_required(user) -> bool:
    """Must this user sign in with a second factor? Staff, station admins, and the people of
    a dealer whose owner turned it on."""
    from dealers.models import Membership
    from stations.models import StationMembership

    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    if hasattr(user, "two_factor_station_admin"):  # loaded by portal.backends.PortalBackend
        return bool(user.two_factor_station_admin or user.two_factor_dealer)
    return (
        StationMembership.objects.filter(
            user=user, role=StationMembership.Role.STATION_ADMIN
        ).exists()
        or Membership.objects.filter(
            user=user, dealer__two_factor_required=True, dealer__is_active=True
        ).exists()
    )


def two_factor_enrolled(user) -> bool:
    """Has this user a confirmed authenticator (TOTP) device?"""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if not user.is_authenticated:
        return False
    if hasattr(user, "two_factor_enrolled"):
        return bool(user.two_factor_enrolled)
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()
