from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from simple_history.admin import SimpleHistoryAdmin

from customers.models import Bridge, Camera, Customer, MonitoringAccount, Zone
from customers.services import account_validate, name_validate
from dealers import history


class MonitoringAccountAdminForm(forms.ModelForm):
    """Admin edits meet the same rules as the dealer's form, as field errors.

    The station is derived from the record and not on the form, so Django's own constraint
    validation would skip the per-station rules; the service's validation covers them.
    """

    class Meta:
        model = MonitoringAccount
        fields = ["customer", "station_record", "account_number", "reference_id"]

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors or self.instance.station_record_id is None:
            return
        try:
            account_validate(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)


class NameCheckedAdminForm(forms.ModelForm):
    """Admin edits of a site's, zone's or camera's name meet the dealer's rule: a name a
    receiver the site transmits to cannot carry is a field error (``name_validate``)."""

    def _post_clean(self) -> None:
        super()._post_clean()
        if "name" in self.errors:
            return
        try:
            name_validate(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)


class MonitoringAccountInline(admin.TabularInline):
    model = MonitoringAccount
    form = MonitoringAccountAdminForm
    extra = 0
    fields = ["station_record", "account_number", "reference_id"]
    autocomplete_fields = ["station_record"]


class BridgeInline(admin.TabularInline):
    model = Bridge
    extra = 0
    fields = ["serial", "model", "name"]
    show_change_link = True


class ZoneInline(admin.TabularInline):
    model = Zone
    form = NameCheckedAdminForm
    extra = 0
    fields = ["number", "name", "zone_type"]


@admin.register(Customer)
class CustomerAdmin(SimpleHistoryAdmin):
    form = NameCheckedAdminForm
    list_display = ["name", "dealer", "city", "site_id", "status", "created_at"]
    list_filter = ["status", "dealer"]
    search_fields = [
        "name",
        "address",
        "city",
        "site_id",
        "accounts__account_number",
        "accounts__reference_id",
        "dealer__name",
    ]
    list_select_related = ["dealer"]
    readonly_fields = ["code", "site_id", "created_at", "updated_at", "timeline"]
    autocomplete_fields = ["dealer"]
    inlines = [MonitoringAccountInline, BridgeInline, ZoneInline]

    @admin.display(description="timeline")
    def timeline(self, obj: Customer) -> str:
        """The site's one timeline (dealers.history): the site, its devices, zones, accounts
        and alarm codes, as on the customer page."""
        if obj.pk is None:
            return "—"
        changes = history.timeline(obj.dealer, customer_id=obj.pk)
        return render_to_string("_timeline.html", {"changes": changes})


class CameraInline(admin.TabularInline):
    model = Camera
    form = NameCheckedAdminForm
    extra = 0
    fields = ["channel", "name", "stream_url"]


@admin.register(Bridge)
class BridgeAdmin(SimpleHistoryAdmin):
    list_display = ["serial", "model", "customer"]
    list_filter = ["model"]
    search_fields = ["serial", "name", "customer__name"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    inlines = [CameraInline]


@admin.register(MonitoringAccount)
class MonitoringAccountAdmin(SimpleHistoryAdmin):
    form = MonitoringAccountAdminForm
    list_display = ["account_number", "reference_id", "station", "customer", "station_record"]
    list_filter = ["station"]
    search_fields = [
        "account_number",
        "reference_id",
        "customer__name",
        "station__name",
        "customer__dealer__name",
    ]
    list_select_related = ["station", "customer", "station_record"]
    autocomplete_fields = ["customer", "station_record"]
    history_list_display = ["account_number", "reference_id", "station_record"]
