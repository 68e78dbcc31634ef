"""Two-factor sign-in pages: pass the second factor, set it up, turn it off, new recovery codes.

Built on django-otp: a TOTP device (an authenticator app) and a static device holding ten
one-time recovery codes. The QR code is drawn on the server (segno) as an image in the page.
Wrong codes count toward django-axes' lockout like wrong passwords do.
"""

from __future__ import annotations

import segno
from axes.handlers.proxy import AxesProxyHandler
from axes.utils import reset as axes_reset
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from dealers import services as dealer_services
from dealers.models import SignInEvent
from dealers.receivers import SECOND_FACTOR
from portal.forms import CodeForm, TotpCodeForm
from portal.lib import two_factor_enrolled, two_factor_required

RECOVERY_CODES = 10


def _next_url(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return reverse("home")


def _locked_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return render(request, "registration/locked_out.html", status=429)


def _check(user, code: str):
    """The device that accepts this code, or None. Six digits go to the app; anything else is
    tried as a recovery code, so one kind of mistake never slows down the other."""
    wanted = TOTPDevice if code.isdigit() and len(code) <= 8 else StaticDevice
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=True, for_verify=True):
            if isinstance(device, wanted) and device.verify_token(code):
                return device
    return None


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in, for people who set up an authenticator app."""
    user = request.user
    if user.is_verified() or not two_factor_enrolled(user):
        return redirect(_next_url(request))
    credentials = {"username": user.get_username(), SECOND_FACTOR: True}
    if not AxesProxyHandler.is_allowed(request, credentials):
        return _locked_out(request)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = _check(user, form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            request.session.cycle_key()
            axes_reset(username=user.get_username())
            kind = (
                SignInEvent.Kind.RECOVERY_CODE_USED
                if isinstance(device, StaticDevice)
                else SignInEvent.Kind.TWO_FACTOR_PASSED
            )
            dealer_services.signin_event_record(kind=kind, request=request, user=user)
            if isinstance(device, StaticDevice):
                left = device.token_set.count()
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {left} left. Make new ones on the "
                    "two-factor page if you are running out.",
                )
            return redirect(_next_url(request))
        # Counts toward the lockout like a wrong password (and goes to the audit).
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if getattr(request, "axes_locked_out", False):
            return _locked_out(request)
        form.add_error("code", "That code is not right, or was used already. Try again.")
    return render(
        request, "registration/two_factor_verify.html", {"form": form, "next": _next_url(request)}
    )


def _new_recovery_codes(user) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name="Recovery codes", defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _qr(device: TOTPDevice) -> str:
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


def _secret(device: TOTPDevice) -> str:
    from base64 import b32encode

    text = b32encode(device.bin_key).decode()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
def setup(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator app (QR code, confirm with a code, recovery codes shown once),
    or, once set up, the page to turn it off or make new recovery codes."""
    user = request.user
    if two_factor_enrolled(user):
        return render(
            request,
            "registration/two_factor_manage.html",
            {
                "required": two_factor_required(user),
                "codes_left": StaticToken.objects.filter(device__user=user).count(),
                "form": TotpCodeForm(),
            },
        )
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            with transaction.atomic():
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                TOTPDevice.objects.filter(user=user, confirmed=False).delete()
                codes = _new_recovery_codes(user)
            otp_login(request, device)
            request.session.cycle_key()
            dealer_services.signin_event_record(
                kind=SignInEvent.Kind.TWO_FACTOR_ENABLED, request=request, user=user
            )
            return render(
                request,
                "registration/two_factor_codes.html",
                {"codes": codes, "next": _next_url(request), "first_time": True},
            )
        form.add_error("code", "That code does not match. Check the app's clock and try again.")
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "qr": _qr(device),
            "secret": _secret(device),
            "required": two_factor_required(user),
            "next": _next_url(request),
        },
    )


@require_POST
@login_required
def disable(request: HttpRequest) -> HttpResponse:
    """Turn two-factor sign-in off: needs a current code, and is refused where it is required."""
    user = request.user
    if not two_factor_enrolled(user):
        return redirect("two-factor-setup")
    if two_factor_required(user):
        messages.error(request, "Two-factor sign-in is required for your account.")
        return redirect("two-factor-setup")
    form = TotpCodeForm(request.POST)
    if not form.is_valid() or _check(user, form.cleaned_data["code"]) is None:
        messages.error(request, "That code is not right: two-factor sign-in stays on.")
        return redirect("two-factor-setup")
    with transaction.atomic():
        for device in devices_for_user(user, confirmed=None):
            device.delete()
    dealer_services.signin_event_record(
        kind=SignInEvent.Kind.TWO_FACTOR_DISABLED, request=request, user=user
    )
    messages.success(request, "Two-factor sign-in is off.")
    return redirect("two-factor-setup")


@require_POST
@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """Make ten new recovery codes (the old ones stop working) and show them once."""
    user = request.user
    if not two_factor_enrolled(user):
        return redirect("two-factor-setup")
    codes = _new_recovery_codes(user)
    dealer_services.signin_event_record(
        kind=SignInEvent.Kind.RECOVERY_CODES_RENEWED, request=request, user=user
    )
    return render(
        request,
        "registration/two_factor_codes.html",
        {"codes": codes, "next": reverse("two-factor-setup"), "first_time": False},
    )
