"""Two-factor sign-in: a signed-in user who has, or must have, a second factor does nothing
else until they pass it (or set it up)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from portal.lib import two_factor_enrolled, two_factor_required

# Views an unverified user may still reach (by URL name): the second-factor pages, sign-out.
OPEN_TO_ENROLLED = {"two-factor-verify", "logout"}
OPEN_TO_UNENROLLED = {"two-factor-setup", "logout"}


class TwoFactorMiddleware:
    """After django_otp's OTPMiddleware, which tells whether the session passed a factor."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        name = request.resolver_match.url_name if request.resolver_match else None
        if two_factor_enrolled(user):
            if name in OPEN_TO_ENROLLED:
                return None
            return self._redirect(request, "two-factor-verify")
        if two_factor_required(user):
            if name in OPEN_TO_UNENROLLED:
                return None
            return self._redirect(request, "two-factor-setup")
        return None

    @staticmethod
    def _redirect(request: HttpRequest, name: str) -> HttpResponse:
        url = reverse(name)
        if request.method in ("GET", "HEAD"):
            url += "?" + urlencode({"next": request.get_full_path()})
        return redirect(url)
