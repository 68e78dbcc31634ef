"""Writes for dealer settings: the dealer's notification recipients."""

from __future__ import annotations

from django.db import transaction

from dealers.models import Dealer, NotificationRecipient

RECIPIENT_FIELDS = (
    "email",
    "name",
    "phone",
    "receiver_notifications",
    "signal_failure_notifications",
)


def recipient_create(
    *,
    dealer: Dealer,
    email: str,
    name: str = "",
    phone: str = "",
    receiver_notifications: bool = True,
    signal_failure_notifications: bool = True,
) -> NotificationRecipient:
    """Add someone to be e-mailed about the dealer's receivers and failed signals."""
    recipient = NotificationRecipient(
        dealer=dealer,
        email=email.strip(),
        name=name,
        phone=phone,
        receiver_notifications=receiver_notifications,
        signal_failure_notifications=signal_failure_notifications,
    )
    with transaction.atomic():
        recipient.full_clean()
        recipient.save()
    return recipient


def recipient_update(
    *,
    recipient: NotificationRecipient,
    email: str,
    name: str = "",
    phone: str = "",
    receiver_notifications: bool = True,
    signal_failure_notifications: bool = True,
) -> NotificationRecipient:
    recipient.email = email.strip()
    recipient.name = name
    recipient.phone = phone
    recipient.receiver_notifications = receiver_notifications
    recipient.signal_failure_notifications = signal_failure_notifications
    with transaction.atomic():
        recipient.full_clean()
        recipient.save(update_fields=list(RECIPIENT_FIELDS))
    return recipient


def recipient_delete(*, recipient: NotificationRecipient) -> None:
    recipient.delete()
