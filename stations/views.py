"""Dealer settings: the dealer's monitoring station records."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from dealers.access import DealerRequiredMixin, get_for_dealer_or_404
from dealers.generic import ServiceFormMixin
from dealers.models import Membership
from stations import selectors, services
from stations.forms import DealerStationForm
from stations.models import DealerStation

# Form fields a "show receivers" refresh carries over (never the passkey).
_REFRESH_FIELDS = ("name", "station", "receiver")


class RecordListView(DealerRequiredMixin, ListView):
    template_name = "stations/record_list.html"
    context_object_name = "records"
    http_method_names = ["get", "head", "options"]

    def get_queryset(self):
        records = selectors.station_records_for(self.dealer).order_by("name")
        # Each record's receiver badge, from the dispatchers' path health (one query).
        records = selectors.records_with_receiver_health(records)
        # ?receiver=down: the dashboard's "Receivers down" card, the records it counts.
        self.troubled_only = self.request.GET.get("receiver") == "down"
        if self.troubled_only:
            records = [r for r in records if selectors.receiver_troubled(r)]
        return records

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(troubled_only=self.troubled_only, **kwargs)


class _RecordFormView(ServiceFormMixin, DealerRequiredMixin, FormView):
    """Shared by add and edit: the service decides, the form shows what it said."""

    template_name = "stations/record_form.html"
    form_class = DealerStationForm
    required_roles = Membership.MANAGE_ROLES
    success_url = reverse_lazy("stations:record-list")
    http_method_names = ["get", "post", "head", "options"]

    def get_record(self) -> DealerStation | None:
        return None

    @cached_property
    def record(self) -> DealerStation | None:
        return self.get_record()

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["dealer"] = self.dealer
        kwargs["instance"] = self.record
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["record"] = self.record
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if "refresh" in request.POST:
            # Without JavaScript, "show receivers" re-draws the form for the chosen station.
            initial = {k: v for k, v in request.POST.items() if k in _REFRESH_FIELDS}
            form = self.form_class(dealer=self.dealer, instance=self.record, initial=initial)
            return self.render_to_response(self.get_context_data(form=form))
        return super().post(request, *args, **kwargs)

    success_message = "Monitoring station record “{obj}” saved."

    def perform(self, form: DealerStationForm) -> DealerStation:
        fields = {
            name: form.cleaned_data[name] for name in ("station", "receiver", "passkey", "name")
        }
        return self.save(fields)

    def save(self, fields: dict[str, Any]) -> DealerStation:
        raise NotImplementedError


class RecordCreateView(_RecordFormView):
    def save(self, fields: dict[str, Any]) -> DealerStation:
        return services.station_record_create(dealer=self.dealer, **fields)


class RecordUpdateView(_RecordFormView):
    def get_record(self) -> DealerStation:
        return get_for_dealer_or_404(
            selectors.station_records_for(self.dealer), self.dealer, code=self.kwargs["code"]
        )

    def save(self, fields: dict[str, Any]) -> DealerStation:
        return services.station_record_update(record=self.record, **fields)


class RecordDeleteView(DealerRequiredMixin, TemplateView):
    """Confirm, then delete; a record that customers use is refused and says who uses it."""

    template_name = "stations/record_confirm_delete.html"
    required_roles = Membership.MANAGE_ROLES
    http_method_names = ["get", "post", "head", "options"]

    @cached_property
    def record(self) -> DealerStation:
        return get_for_dealer_or_404(
            selectors.station_records_for(self.dealer), self.dealer, code=self.kwargs["code"]
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["record"] = self.record
        context.setdefault("blockers", selectors.record_blockers(self.record))
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        blockers = services.station_record_delete(record=self.record)
        if blockers:
            messages.error(request, f"“{self.record}” is in use and was not deleted.")
            context = self.get_context_data(blockers=blockers)
            return self.render_to_response(context, status=409)
        messages.success(request, f"Monitoring station record “{self.record}” deleted.")
        return redirect("stations:record-list")


class ReceiverOptionsView(DealerRequiredMixin, View):
    """The receiver field for the chosen station (htmx swaps it into the form)."""

    required_roles = Membership.MANAGE_ROLES
    http_method_names = ["get", "head", "options"]

    def get(self, request: HttpRequest) -> HttpResponse:
        form = DealerStationForm(
            dealer=self.dealer, initial={"station": request.GET.get("station")}
        )
        return render(request, "stations/_receiver_field.html", {"form": form})
