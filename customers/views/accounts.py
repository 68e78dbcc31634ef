"""A customer's accounts at monitoring stations: add, change, remove."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView, TemplateView

from customers import services
from customers.forms.accounts import AccountForm
from customers.models import Customer, MonitoringAccount
from customers.views.base import EDIT_ROLES, CustomerMixin
from dealers.access import get_for_dealer_or_404
from dealers.generic import ServiceFormMixin


def _monitoring_section(customer: Customer) -> str:
    return reverse("customers:detail", args=[customer.code]) + "#monitoring"


class AccountMixin(CustomerMixin):
    """Pages about one account; its customer comes from the account, never the URL."""

    required_roles = EDIT_ROLES

    @cached_property
    def account(self) -> MonitoringAccount:
        accounts = MonitoringAccount.objects.select_related("customer", "station_record__station")
        return get_for_dealer_or_404(accounts, self.dealer, code=self.kwargs["code"])

    @cached_property
    def customer(self) -> Customer:
        return self.account.customer

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["account"] = self.account
        return context


class _AccountFormView(ServiceFormMixin, FormView):
    template_name = "customers/account_form.html"
    form_class = AccountForm
    http_method_names = ["get", "post", "head", "options"]

    def get_success_url_for(self, obj: MonitoringAccount) -> str:
        return _monitoring_section(obj.customer)


class AccountCreateView(CustomerMixin, _AccountFormView):
    required_roles = EDIT_ROLES
    success_message = "Account {obj.account_number} added at {obj.station_record}."

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "customer": self.customer}

    def perform(self, form: AccountForm) -> MonitoringAccount:
        return services.account_assign(
            customer=self.customer, actor=self.request.user, **form.cleaned_data
        )


class AccountUpdateView(AccountMixin, _AccountFormView):
    success_message = "Account {obj.account_number} saved."

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "customer": self.customer, "account": self.account}

    def perform(self, form: AccountForm) -> MonitoringAccount:
        return services.account_update(
            account=self.account, actor=self.request.user, **form.cleaned_data
        )


class AccountDeleteView(AccountMixin, TemplateView):
    template_name = "customers/account_confirm_delete.html"
    http_method_names = ["get", "post", "head", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        services.account_remove(account=self.account, actor=request.user)
        messages.success(
            request,
            f"Account {self.account.account_number} removed: no more signals go to "
            f"{self.account.station_record.station} for this site.",
        )
        return redirect(_monitoring_section(self.customer))
