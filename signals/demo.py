"""Demo data for signals: the demo dealer's alarm library, filled with the built-in codes."""

from __future__ import annotations

from dealers.models import Dealer
from signals.models import EventCode
from signals.services import library_defaults_create


def seed(dealer: Dealer) -> list[EventCode]:
    """Safe to run again: entries the dealer already has are left as they are."""
    library_defaults_create(dealer=dealer)
    return list(EventCode.objects.for_dealer(dealer).filter(customer__isnull=True))
