"""Customer (site) pages: the list, the detail page with its sections, add, edit, archive."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from customers import panels, selectors, services
from customers.filters import CustomerFilter
from customers.forms.sites import CustomerForm
from customers.models import Customer
from customers.views.base import EDIT_ROLES, CustomerMixin
from dealers import history
from dealers.access import DealerRequiredMixin
from dealers.generic import FilteredListMixin, ServiceFormMixin, code_url
from stations.lib import deep_link_url

PAGE_SIZE = 50
# A status's label by value, looked up once: get_status_display() builds a dictionary of every
# choice on each call, once per row.
STATUS_LABELS = dict(Customer.Status.choices)


class CustomerListView(FilteredListMixin, DealerRequiredMixin, ListView):
    template_name = "customers/customer_list.html"
    context_object_name = "customers"
    paginate_by = PAGE_SIZE
    http_method_names = ["get", "head", "options"]
    filterset_class = CustomerFilter

    def get_base_queryset(self):
        return selectors.customer_list(self.dealer)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        customers = selectors.list_accounts(context["customers"])
        detail_url = code_url("customers:detail")
        for customer in customers:
            customer.detail_url = detail_url(customer.code)
        context["customers"] = customers
        # The rows are Jinja2 (customers/_customer_rows.jinja), escaped as they rendered.
        context["rows"] = mark_safe(
            render_to_string(
                "customers/_customer_rows.jinja",
                {"customers": customers, "status_labels": STATUS_LABELS},
                self.request,
                using="jinja2",
            )
        )
        return context


class CustomerCreateView(DealerRequiredMixin, ServiceFormMixin, FormView):
    template_name = "customers/customer_form.html"
    form_class = CustomerForm
    required_roles = EDIT_ROLES
    http_method_names = ["get", "post", "head", "options"]
    success_message = "Customer “{obj}” created. Add its monitoring station account next."

    def perform(self, form: CustomerForm) -> Customer:
        return services.customer_create(dealer=self.dealer, **form.cleaned_data)

    def get_success_url_for(self, obj: Customer) -> str:
        return reverse("customers:detail", args=[obj.code])


class CustomerDetailView(CustomerMixin, TemplateView):
    template_name = "customers/customer_detail.html"
    http_method_names = ["get", "head", "options"]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        page = selectors.customer_page(self.customer)
        # From PORTAL_BASE_URL, never the request's host, and by the builder the alarm
        # packages use: what the dealer pastes is what every signal carries.
        base = settings.PORTAL_BASE_URL
        for account in page.accounts:
            account.deep_link = deep_link_url(base, {"act": account.account_number}) + "&zone="
        context.update(
            bridges=page.bridges,
            zones=page.zones,
            accounts=page.accounts,
            deep_link_base=deep_link_url(base, {"site": self.customer.site_id}) + "&zone=",
            # What the apps above show on the page (customers.panels): bridges' states, video.
            site_panels=panels.panels_for(self.customer, self.membership),
        )
        return context


class CustomerHistoryView(CustomerMixin, TemplateView):
    """The site's timeline: who changed the site, its devices, zones, accounts and alarm codes
    (``dealers.history``). The customer page loads it when it is scrolled to (htmx)."""

    template_name = "customers/customer_history.html"
    http_method_names = ["get", "head", "options"]

    def get_template_names(self) -> list[str]:
        return ["_timeline.html"] if self.request.htmx else [self.template_name]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["changes"] = history.timeline(self.dealer, customer_id=self.customer.pk)
        return context


class CustomerUpdateView(CustomerMixin, ServiceFormMixin, FormView):
    template_name = "customers/customer_form.html"
    form_class = CustomerForm
    required_roles = EDIT_ROLES
    http_method_names = ["get", "post", "head", "options"]
    success_message = "Customer “{obj}” saved."

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        # A copy: an invalid form must not change the name the page heading shows.
        kwargs["instance"] = Customer.objects.get(pk=self.customer.pk)
        return kwargs

    def perform(self, form: CustomerForm) -> Customer:
        return services.customer_update(customer=self.customer, **form.cleaned_data)

    def get_success_url_for(self, obj: Customer) -> str:
        return reverse("customers:detail", args=[obj.code])


class CustomerArchiveView(CustomerMixin, View):
    """Archive a site (it leaves the default list) or bring it back."""

    required_roles = EDIT_ROLES
    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        archived = request.POST.get("archived", "1") == "1"
        services.customer_set_archived(customer=self.customer, archived=archived)
        verb = "archived" if archived else "restored"
        messages.success(request, f"Customer “{self.customer}” {verb}.")
        return redirect("customers:detail", self.customer.code)
