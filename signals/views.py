"""Dealer pages for signals: the lists, "send test signal", issuing a bridge's token, and the
alarm library (the dealer's codes, and a site's and its zones' overrides).

Every object is found through the tenant doorway: another dealer's customer or bridge answers
404. Any member may look at the lists and the library; the actions and site overrides need a
role that edits sites, the dealer's library one that manages the dealer.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, ListView

from customers.models import Bridge, Customer
from customers.views.base import CustomerMixin
from dealers.access import DealerRequiredMixin, get_for_dealer_or_404
from dealers.generic import FilteredListMixin, ServiceFormMixin
from dealers.models import Membership
from signals import forms, selectors, services
from signals.filters import SignalFilter
from signals.models import Signal

PAGE_SIZE = 25


class SignalListView(FilteredListMixin, DealerRequiredMixin, ListView):
    """The dealer's signals, newest first, with the filter bar."""

    template_name = "signals/signal_list.html"
    context_object_name = "signals"
    paginate_by = PAGE_SIZE
    http_method_names = ["get", "head", "options"]
    filterset_class = SignalFilter

    def get_customer(self) -> Customer | None:
        return None

    def get_base_queryset(self):
        return selectors.signal_list(self.dealer, customer=self.get_customer())

    def get_template_names(self) -> list[str]:
        if self.request.htmx:  # the table asking for itself while signals are pending
            return ["signals/_signal_table.html"]
        return [self.template_name]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["customer"] = self.get_customer()
        context["any_pending"] = any(s.state == Signal.State.PENDING for s in context["signals"])
        return context


class CustomerSignalListView(CustomerMixin, SignalListView):
    """One customer's signals (linked from the customer's monitoring section)."""

    def get_customer(self) -> Customer:
        return self.customer


class TestSignalSendView(CustomerMixin, View):
    """The customer's "send test signal" button: one test signal per transmitting account."""

    required_roles = Membership.EDIT_ROLES
    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        customer = self.customer
        if not selectors.transmitting_accounts(customer):
            messages.warning(
                request,
                "No test signal was sent: none of this customer's monitoring station accounts "
                "has a receiver (video only, or no account yet).",
            )
            return redirect(reverse("customers:detail", args=[customer.code]) + "#monitoring")
        event = services.test_signal_send(customer=customer, actor=request.user)
        count = event.signals.count()
        if count == 0:
            messages.warning(
                request,
                "No test signal was sent: the test signal is switched off in your alarm library "
                "for this customer.",
            )
        else:
            noun = "signal" if count == 1 else "signals"
            messages.success(
                request,
                f"{count} test {noun} queued for delivery. Follow them on the signals page.",
            )
        return redirect(reverse("customers:detail", args=[customer.code]) + "#monitoring")


@method_decorator(never_cache, name="dispatch")
class BridgeTokenIssueView(DealerRequiredMixin, View):
    """Issue a new device token for a bridge and show it once (the old one stops working)."""

    required_roles = Membership.EDIT_ROLES
    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        bridge = get_for_dealer_or_404(
            Bridge.objects.select_related("customer"), self.dealer, code=self.kwargs["code"]
        )
        token = services.bridge_token_issue(bridge=bridge)
        context = {
            "bridge": bridge,
            "customer": bridge.customer,
            "token": token,
            "endpoint": request.build_absolute_uri(reverse("signals:device-events")),
            "membership": self.membership,
        }
        return render(request, "signals/bridge_token.html", context)


class _CodeFormView(ServiceFormMixin, DealerRequiredMixin, FormView):
    """Any member reads the page; only ``write_roles`` may POST (others get 403)."""

    write_roles: frozenset[str] = Membership.MANAGE_ROLES
    http_method_names = ["get", "post", "head", "options"]
    success_message = "Alarm codes saved."

    @property
    def can_write(self) -> bool:
        return self.membership.role in self.write_roles

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.can_write:
            raise PermissionDenied("Your role at this dealer does not allow this change.")
        return super().post(request, *args, **kwargs)

    def perform(self, form) -> None:
        raise NotImplementedError

    @staticmethod
    def table(form, rows, fields: tuple[str, str]) -> list[tuple[Any, ...]]:
        """Each row with its two bound fields, for the template."""
        return [(row, *(form[f"{row.key}-{name}"] for name in fields)) for row in rows]


class CodeLibraryView(_CodeFormView):
    """The dealer's alarm library: every trigger's Contact ID code and on/off."""

    template_name = "signals/code_library.html"
    form_class = forms.CodeLibraryForm

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs.update(rows=selectors.code_library_rows(self.dealer), read_only=not self.can_write)
        return kwargs

    def perform(self, form: forms.CodeLibraryForm) -> None:
        services.code_library_save(dealer=self.dealer, entries=form.entries())

    def get_success_url(self) -> str:
        return reverse("signals:code-library")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = context["form"]
        context.update(
            can_write=self.can_write, rows=self.table(form, form.rows, ("code", "enabled"))
        )
        return context


class SiteCodesView(CustomerMixin, _CodeFormView):
    """A site's alarm codes: what each trigger sends there, with site and zone overrides."""

    template_name = "signals/site_codes.html"
    form_class = forms.SiteCodesForm
    write_roles = Membership.EDIT_ROLES
    success_message = "Alarm codes for this site saved."

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        site_rows, zone_rows = selectors.site_code_rows(self.customer)
        kwargs.update(site_rows=site_rows, zone_rows=zone_rows, read_only=not self.can_write)
        return kwargs

    def perform(self, form: forms.SiteCodesForm) -> None:
        services.site_codes_save(
            customer=self.customer, site=form.site_entries(), zones=form.zone_entries()
        )

    def get_success_url(self) -> str:
        return reverse("signals:site-codes", args=[self.customer.code])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        form = context["form"]
        context.update(
            can_write=self.can_write,
            site_rows=self.table(form, form.site_rows, ("state", "code")),
            zone_rows=self.table(form, form.zone_rows, ("state", "code")),
        )
        return context
