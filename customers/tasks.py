"""Background work of the customers app, run by the task engine (django-q2): directions
notifications, and checking and importing uploaded customer files (large files take longer than
a web request should)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.urls import reverse

from customers import selectors, services
from customers.models import CustomerImport, SiteDirections
from dealers.models import NotificationRecipient
from stations.models import MonitoringStation

logger = logging.getLogger(__name__)


def _names(stations: list) -> str:
    names = [station.name for station in stations]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def directions_status_notify(
    directions_id: int,
    status: str,
    station_ids: list[int] | None = None,
    version: int | None = None,
) -> int:
    """E-mail the dealer's directions subscribers that a site's directions are now ``status``
    at the stations ``station_ids`` (None: every station of the site), with where they stand
    at each station; returns how many messages went out. A mail server that is down is logged,
    never raised."""
    directions = (
        SiteDirections.objects.select_related("customer__dealer").filter(pk=directions_id).first()
    )
    if directions is None:
        return 0
    customer = directions.customer
    recipients = NotificationRecipient.objects.for_dealer(customer.dealer).subscribed_to(
        NotificationRecipient.Kind.DIRECTIONS_STATUS
    )
    rows = selectors.directions_by_station(directions)
    if station_ids is None:
        station_ids = [row.station.pk for row in rows]
    changed = list(MonitoringStation.objects.filter(pk__in=station_ids).order_by("name", "pk"))
    version = version or directions.version
    what = f"the directions for operators at {customer.name} (version {version})"
    if status == SiteDirections.Status.APPROVED and changed:
        subject = f"Operator directions approved by {_names(changed)}: {customer.name}"
        lines = [
            f"{_names(changed)} approved {what}.",
            "Its operators see them from now on, with the site's call list.",
        ]
    elif status == SiteDirections.Status.REJECTED and changed:
        approvals = {row.station.pk: row.approval for row in rows}
        notes = [
            f"{station.name} sent them back: {approvals[station.pk].note}"
            for station in changed
            if approvals.get(station.pk)
        ]
        subject = f"Operator directions sent back by {_names(changed)}: {customer.name}"
        lines = [
            f"{_names(changed)} sent back {what}.",
            *notes,
            "Its operators keep seeing the last version it approved.",
        ]
    else:
        subject = f"Operator directions waiting for approval: {customer.name}"
        where = f" at {_names(changed)}" if changed else ""
        lines = [
            f"{what[0].upper()}{what[1:]} are waiting for approval{where}.",
            "A station admin of each monitoring station reviews them for its own operators; "
            "until then each station's operators keep seeing the last version it approved.",
        ]
    lines += ["", "Where they stand at each monitoring station:"]
    for row in rows:
        sees = f"version {row.operators_see}" if row.operators_see else "no directions"
        lines.append(f"- {row.station.name}: {row.status_label.lower()} (its operators see {sees})")
    if not rows:
        lines.append("- none: the site has no account at a monitoring station yet")
    url = reverse("customers:directions", args=[customer.code])
    lines += ["", f"Directions: {settings.PORTAL_BASE_URL}{url}"]
    messages = [EmailMessage(subject, "\n".join(lines), to=[r.email]) for r in recipients]
    if not messages:
        return 0
    try:
        return get_connection().send_messages(messages) or 0
    except Exception:
        logger.exception("could not send %d directions e-mail(s)", len(messages))
        return 0


def import_check(upload_pk: int) -> str:
    upload = CustomerImport.objects.select_related("dealer").get(pk=upload_pk)
    return services.customer_import_check(upload=upload).state


def import_commit(upload_pk: int, actor_pk: int | None) -> str:
    upload = CustomerImport.objects.select_related("dealer").get(pk=upload_pk)
    if upload.state != CustomerImport.State.IMPORTING:
        return upload.state  # a retried task whose first run finished
    actor = get_user_model().objects.filter(pk=actor_pk).first()
    return services.customer_import_commit(upload=upload, actor=actor).state
