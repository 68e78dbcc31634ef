from django.urls import path

from media import api, dealer_views

app_name = "media"

# Mounted at the root: the device API lives under api/devices/, the pages under media/.
urlpatterns = [
    path("api/devices/media", api.device_media, name="device-media"),
    path("api/devices/heartbeat", api.device_heartbeat, name="device-heartbeat"),
    path("api/devices/commands", api.device_commands, name="device-commands"),
    path(
        "media/bridges/offline/",
        dealer_views.OfflineBridgeListView.as_view(),
        name="offline-bridges",
    ),
]
