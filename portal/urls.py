"""Root URLs: the apps' namespaces, sign-in, and the Django admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dealers import urls as dealers_urls
from portal import two_factor
from portal import views as portal_views
from portal.forms import AdminSignInForm, SignInForm

admin.site.site_header = "Dealer portal administration"
admin.site.site_title = "Dealer portal admin"
admin.site.login_form = AdminSignInForm

# The database being away answers 503 with Retry-After, not 500 (portal/views.py).
handler500 = portal_views.server_error

urlpatterns = [
    path("", portal_views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=SignInForm
        ),
        name="login",
    ),
    path("accounts/two-factor/", two_factor.setup, name="two-factor-setup"),
    path("accounts/two-factor/verify/", two_factor.verify, name="two-factor-verify"),
    path("accounts/two-factor/disable/", two_factor.disable, name="two-factor-disable"),
    path(
        "accounts/two-factor/recovery-codes/",
        two_factor.recovery_codes,
        name="two-factor-recovery-codes",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("dealer/", include("dealers.urls")),
    path("invitations/", include(dealers_urls.invitation_urlpatterns)),
    path("dealer/stations/", include("stations.urls")),
    path("customers/", include("customers.urls")),
    path("", include("monitoring.urls")),
    path("admin/", admin.site.urls),
    path("", include("signals.urls")),
    path("", include("media.urls")),
]
