from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from dealers.models import NotificationRecipient
from signals import codecs, wakeup
from signals.models import AlarmEvent, DeliveryAttempt, EventCode, Signal


class SignalInline(admin.TabularInline):
    model = Signal
    extra = 0
    fields = ["reference", "account_number", "qualifier", "event_code", "state", "attempts"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(AlarmEvent)
class AlarmEventAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "kind", "customer", "zone_number", "source", "received_at"]
    list_filter = ["kind", "source"]
    search_fields = ["code", "customer__name", "bridge__serial", "device_event_id"]
    list_select_related = ["customer"]
    date_hierarchy = "occurred_at"
    readonly_fields = [
        "code",
        "customer",
        "bridge",
        "kind",
        "source",
        "zone_number",
        "channel",
        "device_event_id",
        "occurred_at",
        "received_at",
        "description",
        "actor",
    ]
    fields = readonly_fields
    inlines = [SignalInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Every event and signal is kept: it is the site's alarm history.
        return False


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    fields = [
        "started_at",
        "path_role",
        "path",
        "dispatcher_id",
        "duration_ms",
        "outcome",
        "protocol",
        "sent_shown",
        "reply_shown",
        "error",
    ]
    readonly_fields = fields
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[DeliveryAttempt]:
        # An attempt sent as its signal's payload shows that payload: with the attempt, not a
        # query per row.
        return super().get_queryset(request).select_related("signal")

    @admin.display(description="sent")
    def sent_shown(self, obj: DeliveryAttempt) -> str:
        text = obj.sent_text
        return f"{text} (decrypted view: it went encrypted)" if obj.sent_was_encrypted else text

    @admin.display(description="reply")
    def reply_shown(self, obj: DeliveryAttempt) -> str:
        text, escaped = obj.reply_text, obj.reply_escaped
        return f"{text} (not plain text: odd bytes shown as \\xNN)" if escaped else text

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Signal)
class SignalAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "reference",
        "account_number",
        "station",
        "contact_id_code",
        "priority",
        "state",
        "attempts",
        "ack_status",
    ]
    list_filter = ["state", "station", "protocol", "priority"]
    search_fields = ["=reference", "account_number", "customer__name", "dealer__name"]
    list_select_related = ["station"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "code",
        "reference",
        "event",
        "dealer",
        "customer",
        "account",
        "account_number",
        "station_record",
        "station",
        "receiver",
        "protocol",
        "qualifier",
        "event_code",
        "partition",
        "zone",
        "priority",
        "event_time",
        "site_name",
        "zone_description",
        "camera_description",
        "video_url",
        "transmitted_number",
        "payload_xml",
        "state",
        "attempts",
        "next_attempt_at",
        "lease_owner",
        "lease_expires_at",
        "deadline_at",
        "delivered_at",
        "failed_at",
        "ack_status",
        "ack_reason",
        "last_error",
        "created_at",
    ]
    fields = readonly_fields
    inlines = [DeliveryAttemptInline]
    actions = ["retry_now"]

    @admin.display(description="code")
    def contact_id_code(self, obj: Signal) -> str:
        return f"{obj.qualifier}{obj.event_code}"

    @admin.display(description="payload (what the codec fixed when the signal was written)")
    def payload_xml(self, obj: Signal) -> str:
        return format_html("<pre>{}</pre>", obj.payload_text)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Retry now (never for delivered signals)", permissions=["change"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Signal]) -> None:
        """Due now, no lease, a fresh deadline; delivered signals are never sent again."""
        now = timezone.now()
        chosen = queryset.count()
        retried = (
            queryset.exclude(state=Signal.State.DELIVERED)
            .filter(receiver__protocol__in=[c.protocol for c in codecs.all_codecs()])
            .update(
                state=Signal.State.PENDING,
                next_attempt_at=now,
                lease_owner="",
                lease_expires_at=None,
                failed_at=None,
                deadline_at=now + settings.SIGNAL_DELIVERY_DEADLINE,
            )
        )
        if retried:
            wakeup.notify()
        self.message_user(request, f"{retried} signal(s) queued for delivery now.")
        if skipped := chosen - retried:
            self.message_user(
                request,
                f"{skipped} signal(s) left alone: already delivered, or for a protocol the "
                "portal cannot send.",
                level=messages.WARNING,
            )


@admin.register(EventCode)
class EventCodeAdmin(admin.ModelAdmin):
    list_display = [
        "trigger",
        "event_code",
        "enabled",
        "level_display",
        "dealer",
        "customer",
        "zone",
    ]
    list_filter = ["trigger", "enabled"]
    search_fields = ["dealer__name", "customer__name", "event_code"]
    list_select_related = ["dealer", "customer", "zone"]
    autocomplete_fields = ["dealer", "customer"]
    raw_id_fields = ["zone"]
    fields = ["dealer", "customer", "zone", "trigger", "event_code", "enabled"]

    @admin.display(description="level")
    def level_display(self, obj: EventCode) -> str:
        return obj.get_level_display()


# The model lives in dealers (lower in the import order); its admin sits with its users here.
@admin.register(NotificationRecipient)
class NotificationRecipientAdmin(admin.ModelAdmin):
    list_display = [
        "email",
        "name",
        "dealer",
        "receiver_notifications",
        "signal_failure_notifications",
    ]
    list_filter = ["receiver_notifications", "signal_failure_notifications"]
    search_fields = ["email", "name", "dealer__name"]
    list_select_related = ["dealer"]
    autocomplete_fields = ["dealer"]
    fields = [
        "dealer",
        "email",
        "name",
        "phone",
        "receiver_notifications",
        "signal_failure_notifications",
    ]
