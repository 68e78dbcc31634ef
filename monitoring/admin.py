"""What operators did, for staff: openings of sites and verdicts on events (read only: both
are history, and both were signalled to the operator's station)."""

from django.contrib import admin
from django.http import HttpRequest

from monitoring.models import SiteOpening, Verdict


class _History(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Verdict)
class VerdictAdmin(_History):
    list_display = ["recorded_at", "outcome", "customer", "station", "user", "reported_at"]
    list_filter = ["outcome", "station"]
    search_fields = ["code", "customer__name", "user__username", "note"]
    list_select_related = ["customer", "station", "user"]
    date_hierarchy = "recorded_at"
    fields = [
        "code",
        "event",
        "customer",
        "station",
        "user",
        "outcome",
        "note",
        "recorded_at",
        "reported_at",
        "signal_event",
    ]
    readonly_fields = fields


@admin.register(SiteOpening)
class SiteOpeningAdmin(_History):
    list_display = ["opened_at", "customer", "station", "user", "zone", "reported_at"]
    list_filter = ["station"]
    search_fields = ["customer__name", "user__username"]
    list_select_related = ["customer", "station", "user"]
    date_hierarchy = "opened_at"
    fields = ["user", "customer", "station", "opened_at", "zone", "parameters", "reported_at"]
    readonly_fields = fields
