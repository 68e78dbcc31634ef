from django.urls import path

from signals import api, views

app_name = "signals"

# Mounted at the root: the device API lives under api/, the dealer pages under signals/.
urlpatterns = [
    path("api/devices/events", api.device_events, name="device-events"),
    path("signals/", views.SignalListView.as_view(), name="list"),
    path(
        "signals/customers/<uuid:code>/",
        views.CustomerSignalListView.as_view(),
        name="customer-list",
    ),
    path(
        "signals/customers/<uuid:code>/test/",
        views.TestSignalSendView.as_view(),
        name="test-send",
    ),
    path("signals/codes/", views.CodeLibraryView.as_view(), name="code-library"),
    path(
        "signals/customers/<uuid:code>/codes/",
        views.SiteCodesView.as_view(),
        name="site-codes",
    ),
    path(
        "signals/bridges/<uuid:code>/token/",
        views.BridgeTokenIssueView.as_view(),
        name="bridge-token",
    ),
]
