from django.urls import include, path

from monitoring import console, views

app_name = "monitoring"

console_urls = [
    path("", console.OverviewView.as_view(), name="console"),
    path("settings/", console.SettingsView.as_view(), name="console-settings"),
    path("receivers/", console.ReceiverListView.as_view(), name="console-receivers"),
    path("receivers/add/", console.ReceiverCreateView.as_view(), name="console-receiver-create"),
    path(
        "receivers/<uuid:code>/",
        console.ReceiverUpdateView.as_view(),
        name="console-receiver-update",
    ),
    path(
        "receivers/<uuid:code>/passkey/",
        console.ReceiverPasskeyView.as_view(),
        name="console-receiver-passkey",
    ),
    path(
        "receivers/<uuid:code>/rotate-secret/",
        console.ReceiverSecretRotateView.as_view(),
        name="console-receiver-rotate-secret",
    ),
    path("health/", console.HealthView.as_view(), name="console-health"),
    path("people/", console.PeopleView.as_view(), name="console-people"),
    path("people/invite/", console.InviteView.as_view(), name="console-invite"),
    path(
        "people/invitations/<uuid:code>/withdraw/",
        console.InvitationRevokeView.as_view(),
        name="console-invitation-revoke",
    ),
    path("people/<uuid:code>/role/", console.RoleView.as_view(), name="console-person-role"),
    path("people/<uuid:code>/remove/", console.RemoveView.as_view(), name="console-person-remove"),
    path("dealers/", console.DealersView.as_view(), name="console-dealers"),
    path("dealers/list/", console.DealerListView.as_view(), name="console-dealer-list"),
    path(
        "dealers/<uuid:code>/unlist/",
        console.DealerUnlistView.as_view(),
        name="console-dealer-unlist",
    ),
    path(
        "dealers/<uuid:code>/prefix/",
        console.DealerPrefixView.as_view(),
        name="console-dealer-prefix",
    ),
    path("accounts/", console.AccountsView.as_view(), name="console-accounts"),
    path("accounts.csv", console.AccountsCsvView.as_view(), name="console-accounts-csv"),
    path("deep-links/", console.DeepLinksView.as_view(), name="console-deep-links"),
    path("directions/", console.DirectionsQueueView.as_view(), name="console-directions"),
    path("activity/", console.ActivityView.as_view(), name="console-activity"),
    path(
        "directions/<uuid:code>/",
        console.DirectionsReviewView.as_view(),
        name="console-directions-review",
    ),
]

urlpatterns = [
    # Exactly as automation software sends it: no trailing slash, no redirect hop.
    path("monitoring", views.deep_link, name="deep-link"),
    path("operator/", views.home, name="home"),
    path("operator/sites/<uuid:code>/", views.site, name="site"),
    path("operator/events/<uuid:code>/verdict/", views.verdict, name="verdict"),
    path(
        "operator/sites/<uuid:code>/last-two-minutes/",
        views.request_recent,
        name="request-recent",
    ),
    path("operator/requests/<uuid:code>/", views.request_status, name="request-status"),
    # The station console: every URL names its station (monitoring.access is the doorway).
    path("station/", console.console_home, name="console-home"),
    path("station/<uuid:station>/", include(console_urls)),
]
