"""Writes for dealers: notification recipients, invitations (every kind), and the team."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import models, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from dealers import invitations
from dealers.models import (
    Dealer,
    DealerInvitation,
    Invitation,
    Membership,
    NotificationRecipient,
    SignInEvent,
)

RECIPIENT_FIELDS = (
    "email",
    "name",
    "phone",
    "receiver_notifications",
    "signal_failure_notifications",
    "directions_notifications",
)


def recipient_create(
    *,
    dealer: Dealer,
    email: str,
    name: str = "",
    phone: str = "",
    receiver_notifications: bool = True,
    signal_failure_notifications: bool = True,
    directions_notifications: bool = True,
) -> NotificationRecipient:
    """Add someone to be e-mailed about the dealer's receivers and failed signals."""
    recipient = NotificationRecipient(
        dealer=dealer,
        email=email.strip(),
        name=name,
        phone=phone,
        receiver_notifications=receiver_notifications,
        signal_failure_notifications=signal_failure_notifications,
        directions_notifications=directions_notifications,
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
    directions_notifications: bool = True,
) -> NotificationRecipient:
    recipient.email = email.strip()
    recipient.name = name
    recipient.phone = phone
    recipient.receiver_notifications = receiver_notifications
    recipient.signal_failure_notifications = signal_failure_notifications
    recipient.directions_notifications = directions_notifications
    with transaction.atomic():
        recipient.full_clean()
        recipient.save(update_fields=list(RECIPIENT_FIELDS))
    return recipient


def recipient_delete(*, recipient: NotificationRecipient) -> None:
    recipient.delete()


# --- invitations (every kind: see dealers.invitations) --------------------------------------


def invitation_send(*, invitation: Invitation, actor: Any) -> Invitation:
    """Store a new invitation (its target, e-mail and role set) and e-mail its link.

    It replaces any open invitation of the same address to the same target (the old link
    stops working). The e-mail leaves on commit, through the task engine: the task gets the
    invitation's id, never its token.
    """
    now = timezone.now()
    invitation.invited_by = actor
    invitation.created_at = now
    invitation.expires_at = now + settings.INVITATION_EXPIRY
    with transaction.atomic():
        invitation.siblings().filter(accepted_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=actor
        )
        invitation.full_clean()
        invitation.save()
        label, pk = invitation._meta.label_lower, invitation.pk
        transaction.on_commit(lambda: async_task("dealers.tasks.invitation_email", label, pk))
    return invitation


def invitation_revoke(*, invitation: Invitation, actor: Any) -> Invitation:
    """Withdraw an open invitation: its link stops working."""
    with transaction.atomic():
        locked = type(invitation).objects.select_for_update().get(pk=invitation.pk)
        if locked.accepted_at is not None or locked.revoked_at is not None:
            raise ValidationError("This invitation was already accepted or withdrawn.")
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor
        locked.save(update_fields=["revoked_at", "revoked_by"])
    return locked


def invitation_accept(*, invitation: Invitation, user: Any) -> models.Model:
    """The user takes up the invitation: the membership it grants, once, before it expires."""
    kind = invitations.kind_of(invitation)
    with transaction.atomic():
        locked = type(invitation).objects.select_for_update().get(pk=invitation.pk)
        if not locked.is_pending:
            raise ValidationError(INVITATION_NOT_PENDING[locked.state])
        membership = kind.grant(locked, user, user)
        locked.accepted_at = timezone.now()
        locked.accepted_by = user
        locked.save(update_fields=["accepted_at", "accepted_by"])
    return membership


INVITATION_NOT_PENDING = {
    Invitation.State.ACCEPTED: "This invitation has already been used.",
    Invitation.State.EXPIRED: "This invitation has expired. Ask for a new one.",
    Invitation.State.REVOKED: "This invitation was withdrawn. Ask for a new one.",
}


def invitation_email_send(*, invitation: Invitation) -> None:
    """E-mail the invitation's link (the task ``dealers.tasks.invitation_email`` calls this)."""
    link = settings.PORTAL_BASE_URL + reverse("invitations:accept", args=[invitation.token()])
    context = {"invitation": invitation, "link": link}
    subject = render_to_string("invitations/email_subject.txt", context).strip()
    body = render_to_string("invitations/email.txt", context)
    send_mail(subject, body, None, [invitation.email])


# --- the dealer's team ----------------------------------------------------------------------

LAST_OWNER = (
    "{user} is the last owner of {dealer}: make someone else an owner first, so that the "
    "dealer is never left without one."
)
ADMIN_NOT_OWNERS = "Only an owner may make someone an owner, or change or remove an owner."


def _check_may_set(*, actor_role: str, old_role: str | None, new_role: str | None) -> None:
    """Admins manage everyone but owners; owners manage everyone."""
    if actor_role == Membership.Role.OWNER:
        return
    if Membership.Role.OWNER in (old_role, new_role):
        raise ValidationError({"role": ADMIN_NOT_OWNERS})


def member_invite(
    *, dealer: Dealer, email: str, role: str, actor: Any, actor_role: str
) -> DealerInvitation:
    """Invite someone by e-mail to the dealer's team (owners and admins; admins not owners)."""
    _check_may_set(actor_role=actor_role, old_role=None, new_role=role)
    email = email.strip()
    if Membership.objects.filter(dealer=dealer, user__email__iexact=email).exists():
        raise ValidationError({"email": f"Someone with this address already works for {dealer}."})
    return invitation_send(
        invitation=DealerInvitation(dealer=dealer, email=email, role=role), actor=actor
    )


def member_add(*, dealer: Dealer, user: Any, role: str, actor: Any) -> Membership:
    """Give a user a role at the dealer (accepting an invitation does this)."""
    if Membership.objects.filter(dealer=dealer, user=user).exists():
        raise ValidationError(f"{user.get_username()} already works for {dealer}.")
    membership = Membership(dealer=dealer, user=user, role=role)
    membership._history_user = actor
    membership.full_clean()
    membership.save()
    return membership


def _owners_locked(dealer: Dealer) -> list[Membership]:
    # Locks every owner row of the dealer: two requests demoting the last two owners run one
    # after the other, and the second sees the first's change.
    return list(
        Membership.objects.select_for_update().filter(dealer=dealer, role=Membership.Role.OWNER)
    )


def member_role_set(
    *, membership: Membership, role: str, actor: Any, actor_role: str
) -> Membership:
    """Change a member's role; the dealer's last owner stays an owner."""
    _check_may_set(actor_role=actor_role, old_role=membership.role, new_role=role)
    with transaction.atomic():
        owners = _owners_locked(membership.dealer)
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == role:
            return membership
        if membership.role == Membership.Role.OWNER and len(owners) <= 1:
            raise ValidationError(
                {"role": LAST_OWNER.format(user=membership.user, dealer=membership.dealer)}
            )
        membership.role = role
        membership._history_user = actor
        membership.full_clean()
        membership.save(update_fields=["role"])
    return membership


def member_remove(*, membership: Membership, actor: Any, actor_role: str) -> None:
    """Take a member off the team (their sign-in stays); never the last owner."""
    _check_may_set(actor_role=actor_role, old_role=membership.role, new_role=None)
    with transaction.atomic():
        owners = _owners_locked(membership.dealer)
        membership = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership.role == Membership.Role.OWNER and len(owners) <= 1:
            raise ValidationError(LAST_OWNER.format(user=membership.user, dealer=membership.dealer))
        membership._history_user = actor
        membership.delete()


# --- sign-in audit ---------------------------------------------------------------------------


def _printable(text: str, limit: int) -> str:
    # PostgreSQL refuses NUL in text; control characters make no sense in an audit line.
    return "".join(ch for ch in str(text) if ch.isprintable())[:limit]


def signin_event_record(
    *,
    kind: str,
    request: HttpRequest | None,
    user: Any = None,
    username: str = "",
) -> SignInEvent:
    """Keep one sign-in event. A failed attempt is tied to the account its username names."""
    from django.contrib.auth import get_user_model

    from dealers.lib import client_address

    username = _printable(username or (user.get_username() if user else ""), 150)
    if user is None and username:
        user = get_user_model()._default_manager.filter(username=username).first()
    address = None
    agent = ""
    if request is not None:
        address = client_address(request) or None
        agent = _printable(request.META.get("HTTP_USER_AGENT", ""), 255)
    return SignInEvent.objects.create(
        kind=kind, user=user, username=username, ip_address=address, user_agent=agent
    )


def dealer_two_factor_set(*, dealer: Dealer, required: bool) -> Dealer:
    """The owner's switch: everyone at the dealer must use a second factor (or not)."""
    dealer.two_factor_required = required
    dealer.save(update_fields=["two_factor_required"])
    return dealer


def dealer_update(
    *,
    dealer: Dealer,
    name: str,
    time_zone: str,
    bridge_offline_minutes: int | None = None,
    media_retention_days: int | None = None,
) -> Dealer:
    """Change the dealer's general settings (dealer settings → General): its name, time zone,
    when a silent bridge counts as offline and how long media is kept (None: unchanged)."""
    dealer.name = name.strip()
    dealer.time_zone = time_zone
    if bridge_offline_minutes is not None:
        dealer.bridge_offline_minutes = bridge_offline_minutes
    if media_retention_days is not None:
        dealer.media_retention_days = media_retention_days
    dealer.full_clean()
    dealer.save(
        update_fields=["name", "time_zone", "bridge_offline_minutes", "media_retention_days"]
    )
    return dealer
