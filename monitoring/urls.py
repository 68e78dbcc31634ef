from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    # Exactly as automation software sends it: no trailing slash, no redirect hop.
    path("monitoring", views.deep_link, name="deep-link"),
    path("operator/", views.home, name="home"),
]
