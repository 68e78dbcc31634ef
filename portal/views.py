"""Project-level views: the start page that sends each user to their side of the portal."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
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
