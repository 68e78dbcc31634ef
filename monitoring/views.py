"""The operator side: deep links from automation software, straight onto the right camera."""

from __future__ import annotations

import logging

from django.contrib.auth.views import redirect_to_login
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from monitoring import selectors, services
from monitoring.access import admin_stations
from monitoring.lib import DeepLink, DeepLinkError, parse

TEMPLATE_PROBLEM = "monitoring/problem.html"

logger = logging.getLogger(__name__)


def _problem(request: HttpRequest, status: int, title: str, detail: str, **extra) -> HttpResponse:
    """A page an operator understands at a glance, with the right status code."""
    context = {"title": title, "detail": detail, "status": status, **extra}
    return render(request, TEMPLATE_PROBLEM, context, status=status)


def _not_an_operator(request: HttpRequest) -> HttpResponse:
    return _problem(
        request,
        403,
        "For monitoring station operators",
        "This page opens sites for operators of a monitoring station. Your account is not an "
        "operator at any station; ask your station admin to add you.",
    )


def _refuse(request: HttpRequest, status: int, title: str, detail: str) -> HttpResponse:
    """A problem with the link itself; a user who is no operator hears that first."""
    stations = selectors.operator_stations(request.user)
    if not stations:
        return _not_an_operator(request)
    return _problem(request, status, title, detail, stations=stations)


def _describe(link: DeepLink) -> str:
    parts = []
    if link.account_number:
        parts.append(f"account number {link.account_number}")
    if link.reference_id:
        parts.append(f"reference ID {link.reference_id}")
    if link.site_id:
        parts.append(f"site ID {link.site_id}")
    return " and ".join(parts)


@require_safe
def deep_link(request: HttpRequest) -> HttpResponse:
    """``/monitoring?act=3444&zone=017`` and its aliases: resolve inside the operator's stations."""
    if not request.user.is_authenticated:
        # Back to this exact link, every parameter intact, after signing in.
        return redirect_to_login(request.get_full_path())
    try:
        link = parse(request.GET)
    except DeepLinkError as exc:
        return _refuse(request, 400, "This link cannot be read", exc.detail)
    if not link.has_identifier:
        return _refuse(
            request,
            400,
            "No account in this link",
            "The link names no account number (act, csid, txid), reference ID (uid, massite, "
            "serialno) or site ID (site). Check the action step in your automation software.",
        )

    # Resolution only ever looks inside the user's stations; when it finds a site the user
    # is an operator, so the station list is fetched only to explain a miss.
    resolution = selectors.resolve(link, request.user)
    if resolution.unmatched:
        stations = selectors.operator_stations(request.user)
        if not stations:
            return _not_an_operator(request)
        names = ", ".join(station.name for station in stations)
        return _problem(
            request,
            404,
            "No site found",
            f"No site with {_describe(link)} is monitored by {names}. Check the number in "
            "your automation software, or ask the dealer to confirm it.",
            stations=stations,
        )
    if resolution.disagree:
        return _refuse(
            request,
            409,
            "The link points at different sites",
            f"The {_describe(link)} in this link belong to different sites, so the portal "
            "cannot tell which one you need. Open the site by one identifier only, and have "
            "the account corrected in the automation software or by the dealer.",
        )
    if len(resolution.matches) > 1:
        return render(
            request,
            "monitoring/choose.html",
            {"matches": resolution.matches, "link": link, "described": _describe(link)},
        )

    match = resolution.matches[0]
    # The opening's commit (a WAL flush) runs on a connection of its own while the page is
    # read and rendered; the page leaves only once the opening is on disk (services' docstring).
    opening = services.opening_record_started(
        user=request.user,
        customer=match.customer,
        station=match.station,
        zone=link.zone,
        parameters=link.raw,
    )
    page = selectors.site_page(
        match.customer, zone=link.zone, user=request.user, station=match.station
    )
    response = render(
        request,
        "monitoring/site.html",
        {
            "site": match.customer,
            "match": match,
            "link": link,
            "page": page,
            "directions": page.directions,
        },
    )
    try:
        opening.wait()
    except DatabaseError:
        logger.exception("Could not record the opening of site %s", match.customer.site_id)
        return _problem(
            request,
            503,
            "The site could not be opened",
            "The portal could not record that you opened this site, so it is not shown. "
            "Reload the page in a moment.",
        )
    return response


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """An operator's start page: their stations, and a box to open a site by number."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    stations = selectors.operator_stations(request.user)
    if not stations:
        return _not_an_operator(request)
    consoles = list(admin_stations(request.user))
    return render(request, "monitoring/home.html", {"stations": stations, "consoles": consoles})
