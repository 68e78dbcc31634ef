from django.urls import path

from stations import views

app_name = "stations"

urlpatterns = [
    path("", views.RecordListView.as_view(), name="record-list"),
    path("add/", views.RecordCreateView.as_view(), name="record-create"),
    path("receivers/", views.ReceiverOptionsView.as_view(), name="receiver-options"),
    path("<uuid:code>/edit/", views.RecordUpdateView.as_view(), name="record-update"),
    path("<uuid:code>/delete/", views.RecordDeleteView.as_view(), name="record-delete"),
]
