"""One masked CSRF token per request (so per response), for both template engines.

Django masks the CSRF secret afresh each time a template asks for it: once per render of
Django's engine, and on every use of Jinja2's ``csrf_input`` and ``csrf_token``. Each mask
draws 32 characters from ``SystemRandom``, one ``os.urandom`` read each. The operator's site page
(a Jinja2 page inside a Django layout) asked for it five times: about 160 reads of the
kernel's random source per deep link, for one value.

The mask is there against BREACH: a secret compressed into a response must look different in
every response. One mask per request does that; the same token repeated within one response
leaks nothing more than the token shown once. So ``token`` masks once per request and hands the
same value to every template of that request, and masks again if the secret changes under it
(``rotate_token`` at sign-in).

``csrf`` is a context processor for both engines in settings.TEMPLATES: Django's engine puts
its own ``csrf_token`` in first and the Jinja2 backend its ``csrf_token`` and ``csrf_input``,
and context processors override both.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.safestring import SafeString

_HELD = "_portal_masked_csrf_token"


def token(request: HttpRequest) -> str:
    """The request's masked CSRF token: Django's ``get_token``, masked once per request and
    per secret."""
    held = getattr(request, _HELD, None)
    if held is not None and held[0] == request.META.get("CSRF_COOKIE"):
        return held[1]
    masked = get_token(request)  # sets or renews the cookie, as each call would
    setattr(request, _HELD, (request.META["CSRF_COOKIE"], masked))
    return masked


def hidden_input(request: HttpRequest) -> SafeString:
    """The form field Django's ``{% csrf_token %}`` and Jinja2's ``csrf_input`` write."""
    return format_html(
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token(request)
    )


# Evaluated where a template uses them, never before: a page that shows no form sets no cookie.
_lazy_token = lazy(token, str)
_lazy_input = lazy(hidden_input, SafeString, str)


def csrf(request: HttpRequest) -> dict:
    return {"csrf_token": _lazy_token(request), "csrf_input": _lazy_input(request)}
