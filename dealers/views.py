"""Dealer pages: the dashboard, the team, and switching between dealers."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.generic import DetailView, ListView, TemplateView

from dealers import access, selectors
from dealers.models import Membership


class DashboardView(access.DealerRequiredMixin, TemplateView):
    template_name = "dealers/dashboard.html"
    http_method_names = ["get", "head", "options"]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["summary"] = selectors.dealer_summary(self.dealer)
        return context


class MemberListView(access.DealerRequiredMixin, ListView):
    template_name = "dealers/member_list.html"
    context_object_name = "members"
    http_method_names = ["get", "head", "options"]

    def get_queryset(self):
        return (
            Membership.objects.filter(dealer=self.dealer)
            .select_related("user")
            .order_by("user__username")
        )


class MemberDetailView(access.DealerRequiredMixin, DetailView):
    template_name = "dealers/member_detail.html"
    context_object_name = "member"
    http_method_names = ["get", "head", "options"]

    def get_object(self, queryset=None) -> Membership:
        return access.get_for_dealer_or_404(
            Membership.objects.select_related("user", "dealer"),
            self.dealer,
            code=self.kwargs["code"],
        )


@require_POST
@login_required
def switch(request: HttpRequest) -> HttpResponseRedirect:
    """Make another of the user's dealers the active one (the navigation bar's switcher)."""
    membership = access.switch_dealer(request, request.POST.get("dealer", ""))
    messages.success(request, f"You are now working as {membership.dealer}.")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("dealers:dashboard")
    return redirect(next_url)
