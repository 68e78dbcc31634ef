"""Reads about a dealer that span models."""

from __future__ import annotations

from dealers.models import Dealer, Membership


def dealer_summary(dealer: Dealer) -> dict[str, int]:
    """Counts shown on the dashboard."""
    return {"members": Membership.objects.filter(dealer=dealer).count()}
