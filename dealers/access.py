"""The one doorway to dealer-owned data.

Every view that shows or changes a dealer's objects finds the signed-in user's active
membership here and narrows its lookups with ``for_dealer``. Another dealer's object then
simply does not exist for the request (404); a role that is too small gets 403.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.template.response import SimpleTemplateResponse
from django.utils import timezone

from dealers.models import Dealer, DealerOwnedQuerySet, Membership

__all__ = [
    "DealerOwnedQuerySet",
    "DealerRequiredMixin",
    "active_membership",
    "get_for_dealer_or_404",
    "memberships_for",
    "not_a_dealer",
    "switch_dealer",
]

SESSION_KEY = "active_dealer"
_CACHE_ATTR = "_dealer_memberships"


def memberships_for(request: HttpRequest) -> list[Membership]:
    """The user's dealer memberships, fetched once per request."""
    cached = getattr(request, _CACHE_ATTR, None)
    if cached is None:
        cached = list(Membership.objects.for_user(request.user).order_by("dealer__name"))
        setattr(request, _CACHE_ATTR, cached)
    return cached


def active_membership(request: HttpRequest) -> Membership | None:
    """The membership the user chose in the navigation bar, else their first one."""
    memberships = memberships_for(request)
    if not memberships:
        return None
    chosen = request.session.get(SESSION_KEY)
    for membership in memberships:
        if str(membership.dealer.code) == chosen:
            return membership
    return memberships[0]


def switch_dealer(request: HttpRequest, dealer_code: str) -> Membership:
    """Make another of the user's dealers the active one; 404 for a dealer not theirs."""
    for membership in memberships_for(request):
        if str(membership.dealer.code) == dealer_code:
            request.session[SESSION_KEY] = dealer_code
            return membership
    raise Http404("No such dealer.")


def get_for_dealer_or_404(queryset: DealerOwnedQuerySet, dealer: Dealer, **lookup: Any):
    """Fetch one object of this dealer; anything else, including other dealers', is a 404."""
    return get_object_or_404(queryset.for_dealer(dealer), **lookup)


def not_a_dealer(request: HttpRequest) -> HttpResponse:
    """The answer to a signed-in user who belongs to no dealer (an operator, say): 404, with a
    page that sends them to their own start page. Rendered here, not raised, so that it reads
    the same with DEBUG on (where Django would list the URL patterns instead)."""
    return render(request, "not_a_dealer.html", status=404)


class DealerRequiredMixin(LoginRequiredMixin):
    """A view for the people of the active dealer.

    ``required_roles`` limits the whole view (every method) to those roles: a signed-in
    member with another role gets 403. A user who belongs to no dealer gets 404, so dealer
    pages do not exist for operators of a monitoring station (``not_a_dealer``).
    """

    required_roles: frozenset[str] | None = None
    membership: Membership
    dealer: Dealer

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        membership = active_membership(request)
        if membership is None:
            return not_a_dealer(request)
        self.membership = membership
        self.dealer = membership.dealer
        if self.required_roles is not None and membership.role not in self.required_roles:
            raise PermissionDenied("Your role at this dealer does not allow this change.")
        # Times on the page are in the dealer's time zone (a site's page: the site's); the
        # response is rendered here, while that zone is active.
        with timezone.override(self.get_time_zone()):
            response = super().dispatch(request, *args, **kwargs)
            if isinstance(response, SimpleTemplateResponse) and not response.is_rendered:
                response.render()
        return response

    def get_time_zone(self) -> str:
        """The time zone the page shows times in: the dealer's."""
        return self.dealer.time_zone

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["membership"] = self.membership
        return context
