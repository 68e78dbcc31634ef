from django.urls import path

from media import api, dealer_views, views

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
    # Signed, short-lived media URLs (media.signing): snapshots and clips (with ranges), and
    # cameras' live HLS proxied from their relay. The token and the user's access decide.
    path("media/s/<str:token>/", views.item, name="item"),
    path("media/live/<str:token>/", views.live, name="live"),
]
