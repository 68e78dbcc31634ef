"""The operator side: deep links from automation software, straight onto the right camera."""

from __future__ import annotations

import logging
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST, require_safe

from media import services as media_services
from monitoring import lib, selectors, services
from monitoring.access import admin_stations
from monitoring.forms import VerdictForm, blank_verdict_form_html, verdict_form_html
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
    try:
        opening = services.opening_record_started(
            user=request.user,
            customer=match.customer,
            station=match.station,
            zone=link.zone,
            parameters=link.raw,
        )
    except DatabaseError:  # no connection to write it on (the pool ran dry, the database away)
        return _opening_not_recorded(request, match)
    try:
        response = _site_response(request, match, link)
    except BaseException:
        # The page failed; its opening's write is still collected, so that the connection it
        # went out on is given back.
        opening.abandon()
        raise
    try:
        opening.wait()
    except DatabaseError:
        return _opening_not_recorded(request, match)
    return response


def _opening_not_recorded(request: HttpRequest, match: selectors.Match) -> HttpResponse:
    logger.exception("Could not record the opening of site %s", match.customer.site_id)
    return _problem(
        request,
        503,
        "The site could not be opened",
        "The portal could not record that you opened this site, so it is not shown. "
        "Reload the page in a moment.",
    )


def _site_response(request: HttpRequest, match: selectors.Match, link: DeepLink) -> HttpResponse:
    """The operator's site page: the alarm that brought them here first, then the cameras,
    zones and recent events, each event with its verdicts."""
    page = selectors.site_page(
        match.customer, zone=link.zone, user=request.user, station=match.station
    )
    events = selectors.event_views(
        page.events,
        stations=[match.station],
        verdicts=page.verdicts,
        time_zone=match.customer.time_zone,
        zone=link.zone,
    )
    featured = selectors.featured_alarm(page.events, zone=link.zone)
    featured_view = next((view for view in events if view.event == featured), None)
    featured_zone = next(
        (row for row in page.zones if featured and row.number == featured.zone_number), None
    )
    selectors.attach_media(events, user=request.user, media=page.media)
    tiles = selectors.camera_tiles(
        page, user=request.user, featured=featured_view, zone=link.zone, events=events
    )
    context = {
        "site": match.customer,
        "match": match,
        "link": link,
        "page": page,
        "featured": featured_view,
        "featured_zone": featured_zone,
        "events": events,
        "tiles": tiles,
        "request_url": reverse("monitoring:request-recent", args=[match.customer.code]),
        # Only the alarm shown first takes a verdict here.
        "verdict_form_html": (blank_verdict_form_html(match.station) if featured_view else None),
        "directions": page.directions,
    }
    # The page is Jinja2 (monitoring/_site.jinja), inside the portal's layout (Django's).
    # Jinja2 escaped every value as it rendered (autoescape), so its HTML goes in as it is.
    content = mark_safe(
        render_to_string("monitoring/_site.jinja", context, request, using="jinja2")
    )
    # The context goes along too: what reads the page's context (tests) finds it there.
    return render(request, "monitoring/site.html", {**context, "content": content})


@require_safe
def site(request: HttpRequest, code: UUID) -> HttpResponse:
    """A site by its code, for an operator of a station that monitors it (after a verdict, or
    from a link on the page). Unlike the deep link it records no opening."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    match = selectors.site_for_operator(request.user, code)
    if match is None:
        return _site_not_found(request)
    return _site_response(request, match, DeepLink(site_id=match.customer.site_id))


def _site_not_found(request: HttpRequest) -> HttpResponse:
    stations = selectors.operator_stations(request.user)
    if not stations:
        return _not_an_operator(request)
    return _problem(
        request,
        404,
        "No site found",
        "This site is not monitored by your stations, or no longer exists.",
        stations=stations,
    )


@require_POST
def verdict(request: HttpRequest, code: UUID) -> HttpResponse:
    """Record a verdict on an event (htmx swaps the event's verdict box; without it, back to
    the site). Signalled to the operator's station by a task, outside the request."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("monitoring:home"))
    event = selectors.event_for_operator(request.user, code)
    if event is None:
        return _site_not_found(request)
    stations = selectors.stations_monitoring(request.user, event.customer)
    form = VerdictForm(request.POST, stations=stations)
    if form.is_valid():
        services.verdict_record(
            event=event,
            station=form.cleaned_data["station"],
            user=request.user,
            outcome=form.cleaned_data["outcome"],
            note=form.cleaned_data["note"],
        )
        if not request.htmx:
            messages.success(request, "Verdict recorded; it is on its way to the station.")
            return redirect("monitoring:site", code=event.customer.code)
        form = VerdictForm(stations=stations)
    shown_for = [form.cleaned_data["station"]] if form.is_valid() else stations
    view = selectors.event_views([event], stations=shown_for)[0]
    context = {
        "view": view,
        "site": event.customer,
        "verdict_form_html": verdict_form_html(form),
    }
    if request.htmx:
        # htmx swaps only 2xx answers: field errors come back as 200 with the form.
        return render(request, "monitoring/_verdict.jinja", context, using="jinja2")
    box = render_to_string("monitoring/_verdict.jinja", context, request, using="jinja2")
    # Jinja2 escaped what it rendered.
    context["verdict_box"] = mark_safe(box)
    return render(request, "monitoring/verdict_problem.html", context, status=400)


@require_POST
def request_recent(request: HttpRequest, code: UUID) -> HttpResponse:
    """ "Request the last two minutes" of a camera: the bridge picks the request up when it
    polls, uploads the clip, and the page's polling (htmx) shows it without a reload."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("monitoring:home"))
    match = selectors.site_for_operator(request.user, code)
    if match is None:
        return _site_not_found(request)
    # The camera is a field of the form (one URL for the page's every camera), looked up
    # inside the site.
    camera = _as_uuid(request.POST.get("camera", ""))
    found = selectors.camera_for_operator(request.user, match.customer, camera) if camera else None
    if found is None:
        return HttpResponse(
            "Choose one of this site's cameras.", status=400, content_type="text/plain"
        )
    zone = request.POST.get("zone", "")
    media_request = media_services.media_request_create(
        customer=match.customer,
        camera=found,
        # ASCII digits only (str.isdigit also takes "²", which int() refuses) and few of them.
        zone_number=int(zone) if lib.ZONE_RE.match(zone) and int(zone) <= 999 else None,
        requested_by=request.user,
    )
    if not request.htmx:
        messages.success(request, f"Asked {found.name} for its last two minutes.")
        return redirect("monitoring:site", code=match.customer.code)
    return _request_box(request, media_request)


@require_safe
def request_status(request: HttpRequest, code: UUID) -> HttpResponse:
    """Where a "last two minutes" request stands (polled by the page until its clip is in)."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("monitoring:home"))
    media_request = selectors.media_request_for_operator(request.user, code)
    if media_request is None:
        return _site_not_found(request)
    return _request_box(request, media_request)


def _as_uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


def _request_box(request: HttpRequest, media_request) -> HttpResponse:
    links = selectors.request_links(media_request, user=request.user)
    clips = [link for link in links if link.item.is_clip]
    return render(
        request,
        "monitoring/_media_request.html",
        {
            "media_request": media_request,
            "clip": clips[0] if clips else None,
            "site": media_request.customer,
            # Polling stops once the clip is in or the request has failed.
            "polling": not clips and media_request.is_open,
        },
    )


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
