"""Django signal receivers: every sign-in, failed sign-in and lockout goes to the audit."""

from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from dealers import services
from dealers.models import SignInEvent

# A failed second factor is reported to django-axes as a failed sign-in (so it counts toward
# the lockout) with this key in the credentials, so that the audit tells the two apart.
SECOND_FACTOR = "second_factor"


@receiver(user_logged_in, dispatch_uid="dealers_audit_logged_in")
def _logged_in(sender, request, user, **kwargs) -> None:
    services.signin_event_record(kind=SignInEvent.Kind.SIGNED_IN, request=request, user=user)


@receiver(user_login_failed, dispatch_uid="dealers_audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    kind = (
        SignInEvent.Kind.TWO_FACTOR_FAILED
        if credentials.get(SECOND_FACTOR)
        else SignInEvent.Kind.FAILED
    )
    services.signin_event_record(
        kind=kind, request=request, username=str(credentials.get("username") or "")
    )


@receiver(user_locked_out, dispatch_uid="dealers_audit_locked_out")
def _locked_out(sender, request, username=None, ip_address=None, **kwargs) -> None:
    services.signin_event_record(
        kind=SignInEvent.Kind.LOCKED_OUT, request=request, username=str(username or "")
    )
