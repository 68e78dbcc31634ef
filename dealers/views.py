"""Dealer pages: the dashboard, the team, switching between dealers, and the notification
recipients of the dealer's settings."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import DetailView, FormView, ListView, TemplateView

from dealers import access, selectors, services
from dealers.forms import NotificationRecipientForm
from dealers.generic import ServiceFormMixin
from dealers.models import Membership, NotificationRecipient


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


class SwitchView(access.DealerRequiredMixin, View):
    """Make another of the user's dealers the active one (the navigation bar's switcher).

    It changes only the user's session, so every role may use it."""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        membership = access.switch_dealer(request, request.POST.get("dealer", ""))
        messages.success(request, f"You are now working as {membership.dealer}.")
        next_url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("dealers:dashboard")
        return redirect(next_url)


# --- dealer settings: notification recipients -----------------------------------------------


class RecipientListView(access.DealerRequiredMixin, ListView):
    """Who is e-mailed about receiver paths and failed signals; owners and admins change it."""

    template_name = "dealers/recipient_list.html"
    context_object_name = "recipients"
    http_method_names = ["get", "head", "options"]

    def get_queryset(self):
        return NotificationRecipient.objects.for_dealer(self.dealer).order_by("email")


class _RecipientFormView(ServiceFormMixin, access.DealerRequiredMixin, FormView):
    """Shared by add and edit: the service saves, the form shows what it said."""

    template_name = "dealers/recipient_form.html"
    form_class = NotificationRecipientForm
    required_roles = Membership.MANAGE_ROLES
    success_url = reverse_lazy("dealers:recipient-list")
    http_method_names = ["get", "post", "head", "options"]

    @cached_property
    def recipient(self) -> NotificationRecipient | None:
        return None

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["dealer"] = self.dealer
        kwargs["instance"] = self.recipient
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["recipient"] = self.recipient
        return context

    success_message = "Notifications for {obj.email} saved."

    def perform(self, form: NotificationRecipientForm) -> NotificationRecipient:
        return self.save({name: form.cleaned_data[name] for name in services.RECIPIENT_FIELDS})

    def save(self, fields: dict[str, Any]) -> NotificationRecipient:
        raise NotImplementedError


class RecipientCreateView(_RecipientFormView):
    def save(self, fields: dict[str, Any]) -> NotificationRecipient:
        return services.recipient_create(dealer=self.dealer, **fields)


class RecipientUpdateView(_RecipientFormView):
    @cached_property
    def recipient(self) -> NotificationRecipient:
        return access.get_for_dealer_or_404(
            NotificationRecipient.objects, self.dealer, code=self.kwargs["code"]
        )

    def save(self, fields: dict[str, Any]) -> NotificationRecipient:
        return services.recipient_update(recipient=self.recipient, **fields)


class RecipientDeleteView(access.DealerRequiredMixin, TemplateView):
    template_name = "dealers/recipient_confirm_delete.html"
    required_roles = Membership.MANAGE_ROLES
    http_method_names = ["get", "post", "head", "options"]

    @cached_property
    def recipient(self) -> NotificationRecipient:
        return access.get_for_dealer_or_404(
            NotificationRecipient.objects, self.dealer, code=self.kwargs["code"]
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["recipient"] = self.recipient
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        email = self.recipient.email
        services.recipient_delete(recipient=self.recipient)
        messages.success(request, f"{email} no longer receives notifications.")
        return redirect("dealers:recipient-list")
