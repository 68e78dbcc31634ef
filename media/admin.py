from django.contrib import admin

from media.models import BridgeStatus, CameraStatus, MediaItem, MediaRequest


@admin.register(MediaItem)
class MediaItemAdmin(admin.ModelAdmin):
    list_display = ["captured_at", "customer", "channel", "kind", "phase", "content_type", "size"]
    list_filter = ["kind", "content_type"]
    search_fields = ["customer__name", "bridge__serial", "upload_id", "code"]
    raw_id_fields = ["customer", "bridge", "camera", "event", "request"]
    readonly_fields = ["code", "sha256", "size", "content_type", "created_at"]
    date_hierarchy = "captured_at"


@admin.register(MediaRequest)
class MediaRequestAdmin(admin.ModelAdmin):
    list_display = ["requested_at", "customer", "channel", "seconds", "state", "done_at"]
    list_filter = ["state"]
    search_fields = ["customer__name", "bridge__serial", "code"]
    raw_id_fields = ["customer", "bridge", "camera", "requested_by"]


@admin.register(BridgeStatus)
class BridgeStatusAdmin(admin.ModelAdmin):
    list_display = ["bridge", "state", "last_heartbeat_at", "state_changed_at"]
    list_filter = ["state"]
    search_fields = ["bridge__serial", "bridge__customer__name"]
    raw_id_fields = ["bridge"]


@admin.register(CameraStatus)
class CameraStatusAdmin(admin.ModelAdmin):
    list_display = ["camera", "state", "state_changed_at"]
    list_filter = ["state"]
    raw_id_fields = ["camera"]
