"""Reads about a dealer that span models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from dealers import history
from dealers.models import Dealer, DealerInvitation, Membership, SignInEvent


def open_invitations(dealer: Dealer) -> list[DealerInvitation]:
    """The dealer's invitations that can still be accepted, newest first."""
    return list(
        DealerInvitation.objects.for_dealer(dealer)
        .pending()
        .select_related("invited_by")
        .order_by("-created_at")
    )


@dataclass(frozen=True)
class TeamEvent:
    """One line of the team's history."""

    when: datetime
    who: Any  # the user who made the change; None for the system
    what: str


def team_history(dealer: Dealer, *, limit: int = 50) -> list[TeamEvent]:
    """Who joined, changed role, left, was invited or had an invitation withdrawn, and by
    whom, newest first: two queries."""
    rows = list(
        Membership.history.filter(dealer_id=dealer.pk)
        .select_related("history_user", "user")
        .order_by("-history_date", "-history_id")[: limit * 2]
    )
    # The role a member had before each change, from the older rows of the same membership.
    previous: dict[int, str | None] = {}
    before: dict[int, str | None] = {}
    for row in reversed(rows):
        before[row.history_id] = previous.get(row.id)
        previous[row.id] = row.role
    labels = dict(Membership.Role.choices)
    events = []
    for row in rows:
        role = labels.get(row.role, row.role)
        name = row.user.get_username() if row.user else "a removed user"
        if row.history_type == "+":
            what = f"{name} joined as {role}"
        elif row.history_type == "-":
            what = f"{name} was removed from the team"
        elif before[row.history_id] not in (None, row.role):
            what = f"{name}: {labels.get(before[row.history_id])} → {role}"
        else:
            what = f"{name}'s role set to {role}"
        events.append(TeamEvent(row.history_date, row.history_user, what))
    invitations = (
        DealerInvitation.objects.for_dealer(dealer)
        .select_related("invited_by", "revoked_by")
        .order_by("-created_at")[:limit]
    )
    for invitation in invitations:
        role = invitation.get_role_display()
        events.append(
            TeamEvent(
                invitation.created_at,
                invitation.invited_by,
                f"invited {invitation.email} as {role}",
            )
        )
        if invitation.state == DealerInvitation.State.REVOKED:
            events.append(
                TeamEvent(
                    invitation.revoked_at,
                    invitation.revoked_by,
                    f"withdrew the invitation of {invitation.email}",
                )
            )
    events.sort(key=lambda event: event.when, reverse=True)
    return events[:limit]


SIGNIN_EVENTS_SHOWN = 200


def signin_events_for_dealer(dealer: Dealer) -> list[SignInEvent]:
    """The latest sign-in events of this dealer's people (only theirs), newest first."""
    people = Membership.objects.filter(dealer=dealer).values("user_id")
    return list(
        SignInEvent.objects.filter(user_id__in=people)
        .select_related("user")
        .order_by("-created_at")[:SIGNIN_EVENTS_SHOWN]
    )


# --- the dealer dashboard's own panels ------------------------------------------------------


def dashboard_team(dealer: Dealer, membership: Membership) -> dict[str, Any]:
    """Members, and open invitations: one query."""
    counts = Dealer.objects.filter(pk=dealer.pk).aggregate(
        members=Count("memberships", distinct=True),
        invitations=Count(
            "invitations",
            filter=Q(
                invitations__accepted_at__isnull=True,
                invitations__revoked_at__isnull=True,
                invitations__expires_at__gt=timezone.now(),
            ),
            distinct=True,
        ),
    )
    return {"team": counts}


def dashboard_changes(dealer: Dealer, membership: Membership) -> dict[str, Any]:
    """The dealer's latest changes, every tracked model (dealers.history)."""
    return {"changes": history.timeline(dealer, limit=DASHBOARD_CHANGES)}


DASHBOARD_CHANGES = 10
