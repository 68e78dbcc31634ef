"""The portal's URLs plus two broken pages, for the test of the URL walker itself."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path
from django.views.generic import TemplateView

from customers.models import Customer
from dealers.access import DealerRequiredMixin
from portal.urls import urlpatterns as portal_urlpatterns


class LeakyCustomerView(DealerRequiredMixin, TemplateView):
    """Finds the customer without the dealer (no tenancy) and takes POSTs from any role."""

    template_name = "customers/customer_detail.html"
    http_method_names = ["get", "post"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["customer"] = get_object_or_404(Customer, code=self.kwargs["code"])
        return context

    def post(self, request, *args, **kwargs):
        return self.get(request, *args, **kwargs)


def unguarded(request, code):
    return HttpResponse("no access check at all")


urlpatterns = [
    path("leaky/<uuid:code>/", LeakyCustomerView.as_view(), name="leaky"),
    path("unguarded/<uuid:code>/", unguarded, name="unguarded"),
    *portal_urlpatterns,
]
