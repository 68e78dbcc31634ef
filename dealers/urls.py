from django.urls import path

from dealers import views

app_name = "dealers"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("switch/", views.SwitchView.as_view(), name="switch"),
    path("settings/", views.DealerSettingsView.as_view(), name="settings"),
    path("team/", views.MemberListView.as_view(), name="member-list"),
    path("team/invite/", views.InviteView.as_view(), name="invite"),
    path(
        "team/invitations/<uuid:code>/withdraw/",
        views.InvitationRevokeView.as_view(),
        name="invitation-revoke",
    ),
    path("team/<uuid:code>/", views.MemberDetailView.as_view(), name="member-detail"),
    path("team/<uuid:code>/role/", views.MemberRoleView.as_view(), name="member-update"),
    path("team/<uuid:code>/remove/", views.MemberRemoveView.as_view(), name="member-delete"),
    path("security/", views.SecurityView.as_view(), name="security"),
    path("notifications/", views.RecipientListView.as_view(), name="recipient-list"),
    path("notifications/add/", views.RecipientCreateView.as_view(), name="recipient-create"),
    path(
        "notifications/<uuid:code>/edit/",
        views.RecipientUpdateView.as_view(),
        name="recipient-update",
    ),
    path(
        "notifications/<uuid:code>/delete/",
        views.RecipientDeleteView.as_view(),
        name="recipient-delete",
    ),
]

# The e-mailed invitation link, for every kind of invitation (mounted at /invitations/).
invitation_urlpatterns = (
    [path("<str:token>/", views.InvitationAcceptView.as_view(), name="accept")],
    "invitations",
)
