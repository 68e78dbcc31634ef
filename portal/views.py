"""Project-level views: the start page that sends each user to their side of the portal, and
the page for an error of ours (a database that is away answers 503, to be tried again)."""

from __future__ import annotations

import logging
import sys

from django.contrib.auth.decorators import login_required
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.views.decorators.http import require_GET

from dealers import access
from monitoring.selectors import operator_stations


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Dealer people go to their dashboard, operators to theirs; others see why not."""
    if access.active_membership(request) is not None:
        return redirect("dealers:dashboard")
    if operator_stations(request.user):
        return redirect("monitoring:home")
    return render(request, "no_access.html", status=403)


# How long a client should wait before trying again while the database is away: a restart
# takes seconds (the dispatchers hold what they learnt meanwhile: signals.recovery).
RETRY_AFTER_SECONDS = 5

logger = logging.getLogger(__name__)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``. The database being away (restarting, failing over, out of connections)
    is not an error in what was asked: 503 with ``Retry-After``, so that a bridge sends its
    event or media again and a person tries again, in JSON on the device API. Anything else is
    our bug: the plain 500 page (already logged by Django)."""
    exc = sys.exc_info()[1]
    if not isinstance(exc, OperationalError | InterfaceError):
        return HttpResponse(loader.get_template("500.html").render(), status=500)
    logger.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"error": "the portal cannot reach its database; send this again later"}, status=503
        )
    else:
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
