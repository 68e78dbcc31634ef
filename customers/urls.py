from django.urls import path

from customers.views import accounts, deeplinks, devices, directions, sites, transfer

app_name = "customers"

urlpatterns = [
    path("", sites.CustomerListView.as_view(), name="list"),
    path("add/", sites.CustomerCreateView.as_view(), name="create"),
    path("export/", transfer.ExportView.as_view(), name="export"),
    path("import/", transfer.ImportView.as_view(), name="import"),
    path("import/<uuid:code>/", transfer.ImportDetailView.as_view(), name="import-detail"),
    path("import/<uuid:code>/commit/", transfer.ImportCommitView.as_view(), name="import-commit"),
    path("deep-links/", deeplinks.DeepLinkTemplatesView.as_view(), name="deep-links"),
    path("<uuid:code>/", sites.CustomerDetailView.as_view(), name="detail"),
    path("<uuid:code>/edit/", sites.CustomerUpdateView.as_view(), name="update"),
    path("<uuid:code>/history/", sites.CustomerHistoryView.as_view(), name="history"),
    path("<uuid:code>/archive/", sites.CustomerArchiveView.as_view(), name="archive"),
    # Monitoring accounts
    path("<uuid:code>/accounts/add/", accounts.AccountCreateView.as_view(), name="account-create"),
    path("accounts/<uuid:code>/edit/", accounts.AccountUpdateView.as_view(), name="account-update"),
    path(
        "accounts/<uuid:code>/delete/", accounts.AccountDeleteView.as_view(), name="account-delete"
    ),
    # Directions for operators and the call list
    path("<uuid:code>/directions/", directions.DirectionsView.as_view(), name="directions"),
    path(
        "<uuid:code>/directions/edit/",
        directions.DirectionsEditView.as_view(),
        name="directions-edit",
    ),
    path(
        "<uuid:code>/contacts/add/", directions.ContactCreateView.as_view(), name="contact-create"
    ),
    path(
        "contacts/<uuid:code>/edit/", directions.ContactUpdateView.as_view(), name="contact-update"
    ),
    path(
        "contacts/<uuid:code>/delete/",
        directions.ContactDeleteView.as_view(),
        name="contact-delete",
    ),
    # Devices
    path("<uuid:code>/bridges/add/", devices.BridgeCreateView.as_view(), name="bridge-create"),
    path("bridges/<uuid:code>/edit/", devices.BridgeUpdateView.as_view(), name="bridge-update"),
    path("bridges/<uuid:code>/delete/", devices.BridgeDeleteView.as_view(), name="bridge-delete"),
    path(
        "bridges/<uuid:code>/cameras/add/",
        devices.CameraCreateView.as_view(),
        name="camera-create",
    ),
    path("cameras/<uuid:code>/edit/", devices.CameraUpdateView.as_view(), name="camera-update"),
    path("cameras/<uuid:code>/delete/", devices.CameraDeleteView.as_view(), name="camera-delete"),
    path("<uuid:code>/zones/add/", devices.ZoneCreateView.as_view(), name="zone-create"),
    path("zones/<uuid:code>/edit/", devices.ZoneUpdateView.as_view(), name="zone-update"),
    path("zones/<uuid:code>/delete/", devices.ZoneDeleteView.as_view(), name="zone-delete"),
]
