"""Background work of the customers app, run by the task engine (django-q2): directions
notifications, and checking and importing uploaded customer files (large files take longer than
a web request should)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.urls import reverse

from customers import services
from customers.models import CustomerImport, SiteDirections
from dealers.models import NotificationRecipient

logger = logging.getLogger(__name__)

_SUBJECTS = {
    SiteDirections.Status.PENDING: "Operator directions waiting for approval",
    SiteDirections.Status.APPROVED: "Operator directions approved",
    SiteDirections.Status.REJECTED: "Operator directions sent back",
}


def directions_status_notify(directions_id: int, status: str) -> int:
    """E-mail the dealer's directions subscribers that a site's directions are now ``status``;
    returns how many messages went out. A mail server that is down is logged, never raised."""
    directions = (
        SiteDirections.objects.select_related("customer__dealer", "reviewed_station")
        .filter(pk=directions_id)
        .first()
    )
    if directions is None:
        return 0
    customer = directions.customer
    recipients = NotificationRecipient.objects.for_dealer(customer.dealer).subscribed_to(
        NotificationRecipient.Kind.DIRECTIONS_STATUS
    )
    subject = f"{_SUBJECTS.get(status, 'Operator directions changed')}: {customer.name}"
    lines = [f"The directions for operators at {customer.name} are now: "]
    lines[0] += SiteDirections.Status(status).label.lower() + "."
    if status == SiteDirections.Status.APPROVED:
        lines.append("Operators see them from now on, with the site's call list.")
    elif status == SiteDirections.Status.REJECTED:
        station = directions.reviewed_station or "The monitoring station"
        lines.append(f"{station} sent them back: {directions.review_note}")
        lines.append("Operators keep seeing the last approved version.")
    else:
        lines.append(
            "A station admin of the monitoring station reviews them; operators keep seeing the "
            "last approved version until then."
        )
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
