"""A site's devices: add, edit and delete its bridges, their cameras, and its zones.

Every object is found through the tenant doorway (another dealer's answers 404) and every view
here writes, so only the roles that edit sites may open it (a viewer gets 403). The services
validate and save; the forms never save themselves.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView, TemplateView

from customers import services
from customers.forms.devices import BridgeForm, CameraForm, ZoneForm
from customers.models import Bridge, Camera, Customer, Zone
from customers.views.base import EDIT_ROLES, CustomerMixin
from dealers.access import DealerRequiredMixin, get_for_dealer_or_404
from dealers.generic import ServiceFormMixin
from dealers.models import Dealer


def _devices_url(customer: Customer) -> str:
    return reverse("customers:detail", args=[customer.code]) + "#devices"


def _bridge(dealer: Dealer, code: UUID) -> Bridge:
    return get_for_dealer_or_404(Bridge.objects.select_related("customer"), dealer, code=code)


def _camera(dealer: Dealer, code: UUID) -> Camera:
    queryset = Camera.objects.select_related("bridge__customer")
    return get_for_dealer_or_404(queryset, dealer, code=code)


def _zone(dealer: Dealer, code: UUID) -> Zone:
    return get_for_dealer_or_404(Zone.objects.select_related("customer"), dealer, code=code)


class _DeviceFormView(ServiceFormMixin, DealerRequiredMixin, FormView):
    """Shared by every add and edit page: one template, the service saves.

    A subclass says which site the device belongs to (``customer``); an edit page also says
    which device it edits (``get_instance``).
    """

    template_name = "customers/device_form.html"
    required_roles = EDIT_ROLES
    http_method_names = ["get", "post", "head", "options"]
    title = ""

    @cached_property
    def customer(self) -> Customer:
        raise NotImplementedError

    def get_instance(self) -> Model | None:
        """The device being edited; None on an add page."""
        return None

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = self.get_instance()
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["customer"] = self.customer
        context["title"] = self.title
        return context

    def get_success_url_for(self, obj: Model) -> str:
        return _devices_url(self.customer)


class _DeviceDeleteView(DealerRequiredMixin, TemplateView):
    """GET asks for confirmation, POST deletes and goes back to the site's devices."""

    template_name = "customers/device_confirm_delete.html"
    required_roles = EDIT_ROLES
    http_method_names = ["get", "post", "head", "options"]
    kind = ""

    @cached_property
    def device(self) -> Model:
        raise NotImplementedError

    @cached_property
    def customer(self) -> Customer:
        raise NotImplementedError

    def get_warning(self) -> str:
        return ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["customer"] = self.customer
        context["device"] = self.device
        context["title"] = f"Delete {self.kind} “{self.device}”"
        context["warning"] = self.get_warning()
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        device, customer = self.device, self.customer
        label = str(device)
        device.delete()
        messages.success(request, f"{self.kind.capitalize()} “{label}” deleted.")
        return redirect(_devices_url(customer))


# --- bridges --------------------------------------------------------------------------------


class BridgeCreateView(CustomerMixin, _DeviceFormView):
    form_class = BridgeForm
    title = "Add a bridge"
    success_message = "Bridge “{obj}” added."

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "customer": self.customer}

    def perform(self, form: BridgeForm) -> Bridge:
        return services.bridge_save(bridge=form.instance)


class BridgeUpdateView(BridgeCreateView):
    title = "Edit bridge"
    success_message = "Bridge “{obj}” saved."

    @cached_property
    def bridge(self) -> Bridge:
        return _bridge(self.dealer, self.kwargs["code"])

    @cached_property
    def customer(self) -> Customer:
        return self.bridge.customer

    def get_instance(self) -> Bridge:
        return self.bridge


class BridgeDeleteView(_DeviceDeleteView):
    kind = "bridge"

    @cached_property
    def device(self) -> Bridge:
        return _bridge(self.dealer, self.kwargs["code"])

    @cached_property
    def customer(self) -> Customer:
        return self.device.customer

    def get_warning(self) -> str:
        count = self.device.cameras.count()
        if count == 0:
            return ""
        if count == 1:
            return "Its camera will be deleted too, and taken off any zone that shows it."
        return f"Its {count} cameras will be deleted too, and taken off the zones that show them."


# --- cameras --------------------------------------------------------------------------------


class CameraCreateView(_DeviceFormView):
    form_class = CameraForm
    title = "Add a camera"
    success_message = "Camera “{obj}” added."

    @cached_property
    def bridge(self) -> Bridge:
        return _bridge(self.dealer, self.kwargs["code"])

    @cached_property
    def customer(self) -> Customer:
        return self.bridge.customer

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "bridge": self.bridge}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["bridge"] = self.bridge
        return context

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._when_full() or super().get(request, *args, **kwargs)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._when_full() or super().post(request, *args, **kwargs)

    def _when_full(self) -> HttpResponse | None:
        """A new camera on a bridge whose every channel has one: say so, offer no form."""
        if self.get_instance() is not None or self.bridge.has_free_channel:
            return None
        messages.warning(
            self.request,
            f"Every channel of {self.bridge} has a camera: edit or delete one, or change the "
            "bridge to a model with more channels.",
        )
        return redirect(self.get_success_url_for(self.bridge))

    def perform(self, form: CameraForm) -> Camera:
        return services.camera_save(camera=form.instance)


class CameraUpdateView(CameraCreateView):
    title = "Edit camera"
    success_message = "Camera “{obj}” saved."

    @cached_property
    def camera(self) -> Camera:
        return _camera(self.dealer, self.kwargs["code"])

    @cached_property
    def bridge(self) -> Bridge:
        return self.camera.bridge

    def get_instance(self) -> Camera:
        return self.camera


class CameraDeleteView(_DeviceDeleteView):
    kind = "camera"

    @cached_property
    def device(self) -> Camera:
        return _camera(self.dealer, self.kwargs["code"])

    @cached_property
    def customer(self) -> Customer:
        return self.device.bridge.customer

    def get_warning(self) -> str:
        if self.device.zones.exists():
            return "It will be removed from the zones that show it."
        return ""


# --- zones ----------------------------------------------------------------------------------


class ZoneCreateView(CustomerMixin, _DeviceFormView):
    form_class = ZoneForm
    title = "Add a zone"
    success_message = "{obj} added."

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "customer": self.customer}

    def perform(self, form: ZoneForm) -> Zone:
        cameras = list(form.cleaned_data["cameras"])
        return services.zone_save(zone=form.instance, cameras=cameras)


class ZoneUpdateView(ZoneCreateView):
    title = "Edit zone"
    success_message = "{obj} saved."

    @cached_property
    def zone(self) -> Zone:
        return _zone(self.dealer, self.kwargs["code"])

    @cached_property
    def customer(self) -> Customer:
        return self.zone.customer

    def get_instance(self) -> Zone:
        return self.zone


class ZoneDeleteView(_DeviceDeleteView):
    kind = "zone"

    @cached_property
    def device(self) -> Zone:
        return _zone(self.dealer, self.kwargs["code"])

    @cached_property
    def customer(self) -> Customer:
        return self.device.customer

    def get_warning(self) -> str:
        return (
            "Signals that carry this zone number will no longer show its cameras to the "
            "monitoring station's operator."
        )
