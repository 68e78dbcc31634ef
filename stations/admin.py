import zoneinfo

from django import forms
from django.contrib import admin
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from stations.forms import ProtocolSettingsMixin, with_protocol_settings
from stations.models import (
    DealerStation,
    MonitoringStation,
    PathHealth,
    Receiver,
    ReceiverPath,
    StationMembership,
)


class MonitoringStationAdminForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        choices=[(name, name) for name in sorted(zoneinfo.available_timezones())]
    )

    class Meta:
        model = MonitoringStation
        fields = [
            "name",
            "platform",
            "requires_reference_id",
            "reference_id_label",
            "account_macro",
            "reference_macro",
            "zone_macro",
            "time_zone",
            "periodic_test_interval",
            "listed_dealers",
            "is_active",
        ]


class ReceiverInline(admin.TabularInline):
    model = Receiver
    extra = 0
    fields = ["name", "protocol", "visibility", "is_active"]
    show_change_link = True
    can_delete = False
    # Receivers are created on their own page, where the passkey is set.
    max_num = 0


class StationMembershipInline(admin.TabularInline):
    model = StationMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(MonitoringStation)
class MonitoringStationAdmin(SimpleHistoryAdmin):
    form = MonitoringStationAdminForm
    list_display = [
        "name",
        "platform",
        "requires_reference_id",
        "time_zone",
        "periodic_test_interval",
        "is_active",
    ]
    list_filter = ["platform", "requires_reference_id", "is_active"]
    search_fields = ["name"]
    filter_horizontal = ["listed_dealers"]
    inlines = [ReceiverInline, StationMembershipInline]


class ReceiverAdminForm(ProtocolSettingsMixin, forms.ModelForm):
    """The station sets the passkey here (only its salted hash is stored), the protocol's own
    settings and its secret (write-only)."""

    passkey = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Hand this to the dealers you accept. Stored only as a salted hash; "
        "leave empty to keep the current passkey.",
    )

    class Meta:
        model = Receiver
        fields = [
            "station",
            "name",
            "description",
            "protocol",
            "visibility",
            "receiver_number",
            "line_number",
            "adds_prefix",
            "is_active",
        ]

    def clean_passkey(self) -> str:
        passkey = self.cleaned_data["passkey"]
        if not self.instance.pk and not passkey:
            raise forms.ValidationError("A new receiver needs a passkey.")
        if passkey and len(passkey) < 8:
            raise forms.ValidationError("Use at least 8 characters.")
        return passkey

    def save(self, commit: bool = True) -> Receiver:
        receiver = super().save(commit=False)
        if self.cleaned_data["passkey"]:
            receiver.set_passkey(self.cleaned_data["passkey"])
        if commit:
            receiver.save()
        return receiver


class ReceiverPathAdminForm(forms.ModelForm):
    """Transport and URL path may be left empty: a TCP path at "/" is what most stations use."""

    class Meta:
        model = ReceiverPath
        fields = [
            "role",
            "transport",
            "host",
            "port",
            "use_tls",
            "url_path",
            "connect_timeout",
            "reply_timeout",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["transport"].required = False
        self.fields["url_path"].required = False

    def clean_transport(self) -> str:
        return self.cleaned_data["transport"] or ReceiverPath.Transport.TCP

    def clean_url_path(self) -> str:
        return self.cleaned_data["url_path"] or "/"


class ReceiverPathInline(admin.TabularInline):
    model = ReceiverPath
    form = ReceiverPathAdminForm
    extra = 0
    max_num = 2
    fields = [*ReceiverPathAdminForm.Meta.fields, "path_health"]
    readonly_fields = ["path_health"]

    def get_queryset(self, request):
        # ``health`` is the path's PathHealth, kept by the dispatchers.
        return super().get_queryset(request).select_related("health")

    @admin.display(description="health (from the dispatchers)")
    def path_health(self, obj: ReceiverPath) -> str:
        health = getattr(obj, "health", None)
        if health is None:
            return "No delivery tried yet"
        return format_html(
            "<strong>{}</strong> since {}<br>last success: {}<br>last failure: {}{}",
            health.get_state_display(),
            _when(health.changed_at),
            _when(health.last_success_at),
            _when(health.last_failure_at),
            format_html("<br>last error: {}", health.last_error) if health.last_error else "",
        )


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S %Z}" if value else "never"


@admin.register(Receiver)
class ReceiverAdmin(SimpleHistoryAdmin):
    form = ReceiverAdminForm

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The protocols' settings fields exist once the protocols have registered.
        kwargs["form"] = with_protocol_settings(self.form)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        form_class = with_protocol_settings(self.form)
        groups = form_class.protocol_fields()
        settings_names = {name for names in groups.values() for name in names}
        base = [
            *form_class._meta.fields,
            *(n for n in form_class.declared_fields if n not in settings_names),
        ]
        return [
            (None, {"fields": base}),
            *(
                (f"{label} settings (used when the protocol is {label})", {"fields": names})
                for label, names in groups.items()
            ),
        ]

    list_display = ["name", "station", "protocol", "visibility", "is_active"]
    list_filter = ["protocol", "visibility", "is_active", "station"]
    search_fields = ["name", "station__name", "receiver_number"]
    list_select_related = ["station"]
    autocomplete_fields = ["station"]
    inlines = [ReceiverPathInline]


@admin.register(StationMembership)
class StationMembershipAdmin(SimpleHistoryAdmin):
    list_display = ["user", "station", "role", "created_at"]
    list_filter = ["role", "station"]
    search_fields = ["user__username", "user__email", "station__name"]
    autocomplete_fields = ["user", "station"]
    list_select_related = ["user", "station"]


@admin.register(DealerStation)
class DealerStationAdmin(SimpleHistoryAdmin):
    """Read-mostly: dealers create these with the receiver's passkey in their settings."""

    list_display = ["name", "dealer", "station", "receiver", "account_prefix", "updated_at"]
    list_filter = ["station"]
    search_fields = ["name", "dealer__name", "station__name", "receiver__name"]
    list_select_related = ["dealer", "station", "receiver__station"]
    readonly_fields = ["code", "dealer", "station", "receiver", "created_at", "updated_at"]
    fields = [
        "code",
        "dealer",
        "name",
        "station",
        "receiver",
        "account_prefix",
        "created_at",
        "updated_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(PathHealth)
class PathHealthAdmin(admin.ModelAdmin):
    """Every receiver path's health at a glance; the dispatchers write it, nobody edits it."""

    list_display = [
        "path",
        "receiver",
        "state",
        "changed_at",
        "last_success_at",
        "last_failure_at",
        "last_heartbeat_at",
        "last_error",
    ]
    list_filter = ["state"]
    search_fields = ["path__host", "path__receiver__name", "path__receiver__station__name"]
    list_select_related = ["path__receiver__station"]
    readonly_fields = [
        "path",
        "state",
        "changed_at",
        "last_success_at",
        "last_failure_at",
        "last_error",
        "consecutive_failures",
        "sequence",
        "heartbeat_due_at",
        "heartbeat_seconds",
        "last_heartbeat_at",
        "last_heartbeat_answer",
        "updated_at",
    ]
    fields = readonly_fields

    @admin.display(description="receiver", ordering="path__receiver__name")
    def receiver(self, obj: PathHealth) -> str:
        return str(obj.path.receiver)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
