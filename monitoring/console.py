"""The station console: a station admin runs the station's receivers, people, dealers'
prefixes and deep links, and sees its accounts and receiver health.

Every view goes through ``monitoring.access``: the station comes from the URL and must be one
the user runs; every object is looked up inside it (another station's answers 404).
"""

from __future__ import annotations

import csv
from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View
from django.views.decorators.http import require_safe
from django.views.generic import FormView, ListView, TemplateView

from customers import selectors as customer_selectors
from customers import services as customer_services
from customers.models import MonitoringAccount, SiteDirections
from dealers import services as dealer_services
from dealers.generic import add_service_errors
from dealers.lib import csv_text
from dealers.models import Dealer
from monitoring import forms
from monitoring.access import StationAdminRequiredMixin, admin_stations, get_in_station_or_404
from signals import codecs
from signals import services as signal_services
from stations import selectors as station_selectors
from stations import services as station_services
from stations.forms import with_protocol_settings
from stations.models import (
    DealerStation,
    Receiver,
    ReceiverPath,
    StationInvitation,
    StationMembership,
)

PAGE_SIZE = 50
READ = ["get", "head", "options"]
WRITE = ["get", "post", "head", "options"]


def _url(name: str, station, *args: Any) -> str:
    return reverse(f"monitoring:{name}", args=[station.code, *args])


@require_safe
def console_home(request: HttpRequest) -> HttpResponse:
    """``/station/``: straight to the user's station, or a choice of them."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    stations = list(admin_stations(request.user))
    if not stations:
        raise Http404("You are not a station admin.")
    if len(stations) == 1:
        return redirect("monitoring:console", stations[0].code)
    return render(request, "monitoring/console/choose.html", {"stations": stations})


class ConsoleView(StationAdminRequiredMixin, TemplateView):
    http_method_names = READ
    section = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["section"] = self.section
        return context


class OverviewView(ConsoleView):
    template_name = "monitoring/console/overview.html"
    section = "overview"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        accounts = MonitoringAccount.objects.filter(station=self.station)
        context.update(
            receivers=station_selectors.station_receivers(self.station),
            account_count=accounts.count(),
            off_rule_count=accounts.off_prefix_rule().count(),
            pending_directions=customer_selectors.directions_queue(self.station).count(),
            dealer_count=DealerStation.objects.filter(station=self.station)
            .values("dealer_id")
            .distinct()
            .count(),
        )
        return context


class SettingsView(StationAdminRequiredMixin, FormView):
    template_name = "monitoring/console/settings.html"
    form_class = forms.StationSettingsForm
    http_method_names = WRITE

    def get_form_kwargs(self) -> dict[str, Any]:
        kwargs = super().get_form_kwargs()
        # A copy: an invalid form must not change what the page shows as saved.
        kwargs["instance"] = type(self.station).objects.get(pk=self.station.pk)
        return kwargs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "section": "settings"}

    def form_valid(self, form: forms.StationSettingsForm) -> HttpResponse:
        fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
        try:
            station_services.station_settings_update(
                station=self.station, actor=self.request.user, **fields
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, "Station settings saved.")
        return redirect(_url("console-settings", self.station))


# --- receivers ------------------------------------------------------------------------------


class ReceiverListView(ConsoleView):
    template_name = "monitoring/console/receiver_list.html"
    section = "receivers"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        receivers = station_selectors.station_receivers(self.station)
        context["receivers"] = receivers
        # Receivers whose protocol can ask the receiver for a new secret (SOS Access).
        context["rotating"] = {
            receiver.pk
            for receiver in receivers
            if (codec := codecs.codec_for(receiver.protocol)) and codec.rotates_secret
        }
        return context


class _ReceiverFormView(StationAdminRequiredMixin, TemplateView):
    """The receiver's settings and its two paths, saved together by the service."""

    template_name = "monitoring/console/receiver_form.html"
    http_method_names = WRITE

    @cached_property
    def receiver(self) -> Receiver | None:
        return None

    def _forms(self, data=None) -> tuple[forms.ReceiverForm, forms.PathForm, forms.PathForm]:
        paths = {path.role: path for path in self.receiver.paths.all()} if self.receiver else {}
        receiver_form = with_protocol_settings(forms.ReceiverForm)
        return (
            receiver_form(data, instance=self.receiver, prefix="receiver"),
            forms.PathForm(data, instance=paths.get(ReceiverPath.Role.PRIMARY), prefix="primary"),
            forms.PathForm(
                data,
                instance=paths.get(ReceiverPath.Role.ALTERNATE),
                prefix="alternate",
                optional=True,
            ),
        )

    def _render(self, receiver_form, primary, alternate, status: int = 200) -> HttpResponse:
        # Each protocol's settings, grouped; the page shows the chosen protocol's group.
        groups = [
            (label, names[0].split("-", 1)[0], [receiver_form[name] for name in names])
            for label, names in receiver_form.protocol_fields().items()
            if names
        ]
        in_groups = {field.name for _, _, fields in groups for field in fields}
        context = self.get_context_data(
            form=receiver_form,
            receiver_fields=[
                receiver_form[name]
                for name in receiver_form.fields
                if name not in in_groups and name not in ("secret", "clear_secret")
            ],
            secret_fields=[receiver_form["secret"], receiver_form["clear_secret"]],
            protocol_groups=groups,
            primary=primary,
            alternate=alternate,
            receiver=self.receiver,
            section="receivers",
        )
        return self.render_to_response(context, status=status)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self._render(*self._forms())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        receiver_form, primary, alternate = self._forms(request.POST)
        if not all([receiver_form.is_valid(), primary.is_valid(), alternate.is_valid()]):
            return self._render(receiver_form, primary, alternate)
        fields = {name: receiver_form.cleaned_data[name] for name in receiver_form.Meta.fields}
        # Validated by the protocol's own settings form (ProtocolSettingsMixin).
        fields["protocol_settings"] = receiver_form.instance.protocol_settings
        fields["wire_credential"] = receiver_form.instance.wire_credential
        paths = {
            ReceiverPath.Role.PRIMARY: primary.values(),
            ReceiverPath.Role.ALTERNATE: alternate.values(),
        }
        try:
            receiver = self.save(receiver_form, fields, paths)
        except ValidationError as exc:
            add_service_errors(receiver_form, exc)
            return self._render(receiver_form, primary, alternate)
        messages.success(request, f"Receiver “{receiver.name}” saved.")
        return redirect(_url("console-receivers", self.station))

    def save(self, receiver_form, fields, paths) -> Receiver:
        raise NotImplementedError


class ReceiverCreateView(_ReceiverFormView):
    def save(self, receiver_form, fields, paths) -> Receiver:
        return station_services.receiver_create(
            station=self.station,
            passkey=receiver_form.cleaned_data["passkey"],
            paths=paths,
            actor=self.request.user,
            **fields,
        )


class ReceiverUpdateView(_ReceiverFormView):
    def resolve_objects(self) -> None:
        self.receiver  # noqa: B018 (found or 404)

    @cached_property
    def receiver(self) -> Receiver:
        return get_in_station_or_404(Receiver.objects, self.station, code=self.kwargs["code"])

    def save(self, receiver_form, fields, paths) -> Receiver:
        return station_services.receiver_update(
            receiver=self.receiver, paths=paths, actor=self.request.user, **fields
        )


class ReceiverPasskeyView(StationAdminRequiredMixin, FormView):
    """Rotate the passkey: new dealer records need the new one; existing records keep working."""

    template_name = "monitoring/console/passkey_form.html"
    form_class = forms.PasskeyForm
    http_method_names = WRITE

    def resolve_objects(self) -> None:
        self.receiver  # noqa: B018 (found or 404)

    @cached_property
    def receiver(self) -> Receiver:
        return get_in_station_or_404(Receiver.objects, self.station, code=self.kwargs["code"])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(receiver=self.receiver, section="receivers")
        return context

    def form_valid(self, form: forms.PasskeyForm) -> HttpResponse:
        try:
            station_services.receiver_passkey_rotate(
                receiver=self.receiver,
                passkey=form.cleaned_data["passkey"],
                actor=self.request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"New passkey for “{self.receiver.name}”: dealers adding a record from now on need "
            "it; existing records keep working.",
        )
        return redirect(_url("console-receivers", self.station))


class ReceiverSecretRotateView(StationAdminRequiredMixin, View):
    """Ask the receiver for a new protocol secret (where its protocol can: SOS Access): the new
    one is stored only once the receiver confirms it; anything less keeps the current one."""

    http_method_names = ["post", "options"]

    def resolve_objects(self) -> None:
        self.receiver = get_in_station_or_404(
            Receiver.objects, self.station, code=self.kwargs["code"]
        )

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        result = signal_services.receiver_secret_rotate(receiver=self.receiver, actor=request.user)
        say = messages.success if result.rotated else messages.error
        say(request, f"“{self.receiver.name}”: {result.message}")
        return redirect(_url("console-receivers", self.station))


class HealthView(ConsoleView):
    template_name = "monitoring/console/health.html"
    section = "health"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["receivers"] = station_selectors.station_receivers(self.station)
        return context


# --- people ---------------------------------------------------------------------------------


class PeopleView(ConsoleView):
    template_name = "monitoring/console/people.html"
    section = "people"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["people"] = station_selectors.station_people(self.station)
        context["roles"] = StationMembership.Role.choices
        context["invitations"] = StationInvitation.objects.filter(
            station=self.station
        ).select_related("invited_by")[:50]
        context["invite_form"] = kwargs.get("invite_form") or forms.InviteForm()
        return context


class InviteView(StationAdminRequiredMixin, View):
    """Invite by e-mail: a link that expires and works once (dealers.invitations)."""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = forms.InviteForm(request.POST)
        if form.is_valid():
            try:
                invitation = station_services.staff_invite(
                    station=self.station,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    actor=request.user,
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    f"Invitation sent to {invitation.email}; the link works once, until "
                    f"{invitation.expires_at:%Y-%m-%d %H:%M %Z}.",
                )
                return redirect(_url("console-people", self.station))
        view = PeopleView()
        view.setup(request, *args, **kwargs)
        view.station = self.station
        return render(
            request, view.template_name, view.get_context_data(invite_form=form), status=400
        )


class InvitationRevokeView(StationAdminRequiredMixin, View):
    http_method_names = ["post", "options"]

    def resolve_objects(self) -> None:
        self.invitation = get_in_station_or_404(
            StationInvitation.objects, self.station, code=self.kwargs["code"]
        )

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            dealer_services.invitation_revoke(invitation=self.invitation, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"The invitation of {self.invitation.email} is withdrawn.")
        return redirect(_url("console-people", self.station))


class _MembershipMixin(StationAdminRequiredMixin):
    def resolve_objects(self) -> None:
        self.membership  # noqa: B018 (found or 404)

    @cached_property
    def membership(self) -> StationMembership:
        return get_in_station_or_404(
            StationMembership.objects.select_related("user", "station"),
            self.station,
            code=self.kwargs["code"],
        )


class RoleView(_MembershipMixin, View):
    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = forms.RoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose operator or station admin.")
        else:
            try:
                station_services.membership_role_set(
                    membership=self.membership, role=form.cleaned_data["role"], actor=request.user
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(
                    request,
                    f"{self.membership.user.get_username()} is now "
                    f"{self.membership.get_role_display().lower()}.",
                )
        return redirect(_url("console-people", self.station))


class RemoveView(_MembershipMixin, TemplateView):
    template_name = "monitoring/console/person_remove.html"
    http_method_names = WRITE

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            "person": self.membership,
            "section": "people",
        }

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        name = self.membership.user.get_username()
        try:
            station_services.membership_remove(membership=self.membership, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(_url("console-people", self.station))
        messages.success(request, f"{name} no longer works at {self.station}.")
        if self.membership.user_id == request.user.pk:
            return redirect("home")
        return redirect(_url("console-people", self.station))


# --- dealers and their prefixes ----------------------------------------------------------------


class DealersView(ConsoleView):
    template_name = "monitoring/console/dealers.html"
    section = "dealers"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        rows = customer_selectors.station_dealers(self.station)
        with_records = {row.dealer.pk for row in rows}
        context.update(
            dealers=rows,
            listed_only=[
                dealer
                for dealer in self.station.listed_dealers.order_by("name")
                if dealer.pk not in with_records
            ],
            list_form=kwargs.get("list_form") or forms.ListDealerForm(),
        )
        return context


def _dealer_at_station(station, code) -> Dealer:
    """A dealer with a record at the station, or one the station lists; else 404."""
    dealers = Dealer.objects.filter(
        pk__in=DealerStation.objects.filter(station=station).values("dealer_id")
    )
    listed = station.listed_dealers.all()
    dealer = (dealers | listed).filter(code=code).first()
    if dealer is None:
        raise Http404("No such dealer at this station.")
    return dealer


class DealerListView(StationAdminRequiredMixin, View):
    """List a dealer (by the dealer ID it gave the station) for "listed dealers" receivers."""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = forms.ListDealerForm(request.POST)
        dealer = None
        if form.is_valid():
            dealer = Dealer.objects.filter(code=form.cleaned_data["dealer"], is_active=True).first()
            if dealer is None:
                form.add_error("dealer", "No dealer has this ID. Ask the dealer for it again.")
        if dealer is None:
            view = DealersView()
            view.setup(request, *args, **kwargs)
            view.station = self.station
            return render(
                request, view.template_name, view.get_context_data(list_form=form), status=400
            )
        station_services.station_dealer_list(
            station=self.station, dealer=dealer, actor=request.user
        )
        messages.success(request, f"{dealer} may now choose your listed-dealer receivers.")
        return redirect(_url("console-dealers", self.station))


class DealerUnlistView(StationAdminRequiredMixin, View):
    http_method_names = ["post", "options"]

    def resolve_objects(self) -> None:
        self.dealer = _dealer_at_station(self.station, self.kwargs["code"])

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        dealer = self.dealer
        station_services.station_dealer_unlist(
            station=self.station, dealer=dealer, actor=request.user
        )
        messages.success(
            request, f"{dealer} is no longer listed; its existing records keep working."
        )
        return redirect(_url("console-dealers", self.station))


class DealerPrefixView(StationAdminRequiredMixin, FormView):
    template_name = "monitoring/console/prefix_form.html"
    form_class = forms.PrefixForm
    http_method_names = WRITE

    def resolve_objects(self) -> None:
        self.dealer  # noqa: B018 (found or 404)

    @cached_property
    def dealer(self) -> Dealer:
        dealer = _dealer_at_station(self.station, self.kwargs["code"])
        if not DealerStation.objects.filter(station=self.station, dealer=dealer).exists():
            raise Http404("This dealer has no record at the station.")
        return dealer

    @cached_property
    def records(self) -> list[DealerStation]:
        return list(
            DealerStation.objects.filter(station=self.station, dealer=self.dealer)
            .select_related("receiver")
            .order_by("name")
        )

    def get_initial(self) -> dict[str, Any]:
        return {"prefix": self.records[0].account_prefix}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(dealer=self.dealer, records=self.records, section="dealers")
        return context

    def form_valid(self, form: forms.PrefixForm) -> HttpResponse:
        prefix = form.cleaned_data["prefix"]
        try:
            station_services.dealer_prefix_set(
                station=self.station, dealer=self.dealer, prefix=prefix, actor=self.request.user
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        off = (
            MonitoringAccount.objects.filter(station=self.station, customer__dealer=self.dealer)
            .off_prefix_rule()
            .count()
        )
        message = f"{self.dealer}'s prefix is now {prefix or 'none'}."
        if off:
            message += (
                f" {off} of its account{'s' if off > 1 else ''} no longer follow"
                f"{'' if off > 1 else 's'} it: listed under Accounts and flagged to the dealer."
            )
            messages.warning(self.request, message)
        else:
            messages.success(self.request, message)
        return redirect(_url("console-dealers", self.station))


# --- accounts at the station ------------------------------------------------------------------


class AccountsView(StationAdminRequiredMixin, ListView):
    template_name = "monitoring/console/accounts.html"
    context_object_name = "accounts"
    paginate_by = PAGE_SIZE
    http_method_names = READ

    def get_queryset(self):
        self.search = self.request.GET.get("q", "")[:100]
        self.off_rule = self.request.GET.get("rule") == "off"
        return customer_selectors.station_accounts(
            self.station, search=self.search, off_rule=self.off_rule
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        context.update(
            search=self.search,
            off_rule=self.off_rule,
            querystring=query.urlencode(),
            section="accounts",
        )
        return context


CSV_COLUMNS = [
    "dealer",
    "site",
    "site_id",
    "address",
    "city",
    "region",
    "postal_code",
    "account_number",
    "transmitted_number",
    "reference_id",
    "follows_prefix",
    "zones",
    "receiver",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


class AccountsCsvView(StationAdminRequiredMixin, View):
    """Every account at the station (the search applies), for reconciliation with the
    automation software; streamed in chunks, whatever the station's size."""

    http_method_names = READ

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        accounts = customer_selectors.station_accounts(
            self.station,
            search=request.GET.get("q", "")[:100],
            off_rule=request.GET.get("rule") == "off",
        )
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(CSV_COLUMNS)
            for account in accounts.iterator(chunk_size=500):
                customer = account.customer
                zones = "; ".join(f"{z.number:03d} {z.name}" for z in customer.zones.all())
                receiver = account.station_record.receiver
                yield writer.writerow(
                    [
                        csv_text(customer.dealer.name),
                        csv_text(customer.name),
                        customer.site_id,
                        csv_text(customer.address),
                        csv_text(customer.city),
                        csv_text(customer.region),
                        csv_text(customer.postal_code),
                        account.account_number,
                        account.transmitted_number,
                        account.reference_id,
                        "yes" if account.follows_prefix else "no",
                        csv_text(zones),
                        csv_text(receiver.name) if receiver else "",
                    ]
                )

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        filename = f"accounts-{self.station.code}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class DeepLinksView(ConsoleView):
    template_name = "monitoring/console/deep_links.html"
    section = "deep-links"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["portal_base_url"] = settings.PORTAL_BASE_URL
        context["guide"] = self.station.deep_link_guide(
            base_url=settings.PORTAL_BASE_URL,
            example=customer_selectors.link_example(self.station),
        )
        return context


# --- directions for operators: each station approves them for its own operators -------------


class DirectionsQueueView(ConsoleView):
    template_name = "monitoring/console/directions_queue.html"
    section = "directions"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["queue"] = customer_selectors.directions_queue(self.station)
        return context


class DirectionsReviewView(StationAdminRequiredMixin, TemplateView):
    """Read the dealer's version (beside what operators see now), then approve or send back."""

    template_name = "monitoring/console/directions_review.html"
    http_method_names = WRITE

    def resolve_objects(self) -> None:
        self.directions  # noqa: B018 (found or 404)

    @cached_property
    def directions(self) -> SiteDirections:
        return get_in_station_or_404(
            SiteDirections.objects.select_related("customer__dealer", "changed_by"),
            self.station,
            path="customer__accounts__station",
            code=self.kwargs["code"],
        )

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        customer = self.directions.customer
        context.update(
            directions=self.directions,
            # Only this station's review: what other stations decided is theirs.
            here=customer_selectors.station_directions(self.directions, self.station),
            customer=customer,
            cameras=customer_selectors.directions_cameras(customer),
            section="directions",
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        approve = request.POST.get("action") == "approve"
        try:
            version = int(request.POST.get("version", ""))
        except ValueError:
            version = -1
        try:
            customer_services.directions_review(
                directions=self.directions,
                station=self.station,
                version=version,
                approve=approve,
                note=request.POST.get("note", "")[:2000],
                actor=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(_url("console-directions-review", self.station, self.directions.code))
        customer = self.directions.customer
        if approve:
            messages.success(
                request, f"Directions for {customer} approved: your operators see them now."
            )
        else:
            messages.success(request, f"Directions for {customer} sent back to {customer.dealer}.")
        return redirect(_url("console-directions", self.station))


class ActivityView(ConsoleView):
    """Who changed what at the station, and when (django-simple-history)."""

    template_name = "monitoring/console/activity.html"
    section = "activity"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        changes = [
            *station_selectors.station_activity(self.station),
            *customer_selectors.directions_reviews(self.station),
        ]
        changes.sort(key=lambda change: change.at, reverse=True)
        context["changes"] = changes[:100]
        return context
