"""Project-level views: the start page that sends each user to their side of the portal."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from dealers import access


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Dealer people go to their dashboard; anyone else sees why there is nothing here."""
    if access.active_membership(request) is not None:
        return redirect("dealers:dashboard")
    return render(request, "no_access.html", status=403)
