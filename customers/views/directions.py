"""A site's directions for operators (approved by the monitoring station) and its call list."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView, TemplateView

from customers import selectors, services
from customers.forms.directions import ContactForm, DirectionsForm
from customers.models import Contact, Customer
from customers.views.base import EDIT_ROLES, CustomerMixin
from dealers.access import DealerRequiredMixin, get_for_dealer_or_404
from dealers.generic import ServiceFormMixin


def _directions_url(customer: Customer) -> str:
    return reverse("customers:directions", args=[customer.code])


class DirectionsView(CustomerMixin, TemplateView):
    """What the dealer wrote, its status, what operators see now, and the call list."""

    template_name = "customers/directions.html"
    http_method_names = ["get", "head", "options"]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        page = selectors.directions_page(self.customer)
        context.update(
            directions=page.directions,
            stations=page.stations,
            cameras=page.cameras,
            contacts=page.contacts,
        )
        return context


class DirectionsEditView(CustomerMixin, ServiceFormMixin, FormView):
    template_name = "customers/directions_form.html"
    form_class = DirectionsForm
    required_roles = EDIT_ROLES
    http_method_names = ["get", "post", "head", "options"]
    success_message = "Directions saved."

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        page = selectors.directions_page(self.customer)
        kwargs["cameras"] = page.cameras
        if page.directions is not None:
            kwargs["initial"] = {"note": page.directions.note}
        return kwargs

    def perform(self, form: DirectionsForm):
        directions = services.directions_save(
            customer=self.customer,
            note=form.cleaned_data["note"],
            cameras=form.camera_values(),
            actor=self.request.user,
        )
        self.success_message = (
            "Directions saved. They reach each monitoring station's operators once that "
            "station approves them; until then its operators see the last version it approved."
        )
        return directions

    def get_success_url_for(self, obj) -> str:
        return _directions_url(self.customer)


class ContactCreateView(CustomerMixin, ServiceFormMixin, FormView):
    template_name = "customers/contact_form.html"
    form_class = ContactForm
    required_roles = EDIT_ROLES
    http_method_names = ["get", "post", "head", "options"]
    success_message = "{obj.name} is on the call list."

    def get_initial(self) -> dict[str, Any]:
        return {"position": self.customer.contacts.count() + 1}

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = Contact(customer=self.customer)
        return kwargs

    def perform(self, form: ContactForm) -> Contact:
        return services.contact_save(
            contact=form.instance, passcode=form.passcode_value(), actor=self.request.user
        )

    def get_success_url_for(self, obj: Contact) -> str:
        return _directions_url(self.customer) + "#contacts"


class _ContactMixin(DealerRequiredMixin):
    required_roles = EDIT_ROLES

    @cached_property
    def contact(self) -> Contact:
        return get_for_dealer_or_404(
            Contact.objects.select_related("customer"), self.dealer, code=self.kwargs["code"]
        )

    @cached_property
    def customer(self) -> Customer:
        return self.contact.customer

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(customer=self.customer, contact=self.contact)
        return context


class ContactUpdateView(_ContactMixin, ServiceFormMixin, FormView):
    template_name = "customers/contact_form.html"
    form_class = ContactForm
    http_method_names = ["get", "post", "head", "options"]
    success_message = "{obj.name} saved."

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = Contact.objects.get(pk=self.contact.pk)
        return kwargs

    def perform(self, form: ContactForm) -> Contact:
        return services.contact_save(
            contact=form.instance, passcode=form.passcode_value(), actor=self.request.user
        )

    def get_success_url_for(self, obj: Contact) -> str:
        return _directions_url(self.customer) + "#contacts"


class ContactDeleteView(_ContactMixin, TemplateView):
    template_name = "customers/contact_confirm_delete.html"
    http_method_names = ["get", "post", "head", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        name = self.contact.name
        services.contact_delete(contact=self.contact, actor=request.user)
        messages.success(request, f"{name} is off the call list.")
        return redirect(_directions_url(self.customer) + "#contacts")
