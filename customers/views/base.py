"""What every customer page shares: the tenant doorway and the roles that may edit sites."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from customers.models import Customer
from dealers.access import DealerRequiredMixin, get_for_dealer_or_404
from dealers.models import Membership

# Owners, admins and technicians edit sites; viewers only look.
EDIT_ROLES = Membership.EDIT_ROLES


class CustomerMixin(DealerRequiredMixin):
    """A page about one of the active dealer's customers, found by the URL's code.

    Every page about a customer (its devices, accounts, signals, alarm codes ...) finds it
    here; ``customer_queryset`` may add what the page needs alongside.
    """

    customer_queryset = Customer.objects

    @cached_property
    def customer(self) -> Customer:
        return get_for_dealer_or_404(self.customer_queryset, self.dealer, code=self.kwargs["code"])

    def get_time_zone(self) -> str:
        """A site's pages show times in the site's time zone."""
        return self.customer.time_zone

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["customer"] = self.customer
        return context
