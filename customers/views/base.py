"""What every customer page shares: the tenant doorway and the roles that may edit sites."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect

from customers.models import Customer
from dealers.access import DealerRequiredMixin, get_for_dealer_or_404
from dealers.models import Membership

# Owners, admins and technicians edit sites; viewers only look.
EDIT_ROLES = Membership.EDIT_ROLES


class CustomerMixin(DealerRequiredMixin):
    """A page about one of the active dealer's customers, found by the URL's code."""

    @cached_property
    def customer(self) -> Customer:
        return get_for_dealer_or_404(Customer.objects, self.dealer, code=self.kwargs["code"])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["customer"] = self.customer
        return context


def add_service_errors(form, exc: ValidationError) -> None:
    """Put a service's errors on the form: on their field if the form has it, else on top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class ServiceFormMixin:
    """form_valid hands the cleaned data to a service; its ValidationError lands on the form."""

    success_message = "Saved."

    def form_valid(self, form) -> HttpResponse:
        try:
            obj = self.perform(form)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, self.success_message.format(obj=obj))
        return redirect(self.get_success_url_for(obj))

    def perform(self, form):
        raise NotImplementedError

    def get_success_url_for(self, obj) -> str:
        raise NotImplementedError
