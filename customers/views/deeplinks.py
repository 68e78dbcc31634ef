"""The dealer's deep-link page: the URL templates each of its stations pastes into its
automation software, with a worked example from the dealer's own accounts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.views.generic import TemplateView

from customers import selectors
from dealers.access import DealerRequiredMixin
from stations.models import DealerStation, MonitoringStation


class DeepLinkTemplatesView(DealerRequiredMixin, TemplateView):
    template_name = "customers/deep_links.html"
    http_method_names = ["get", "head", "options"]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        station_ids = DealerStation.objects.for_dealer(self.dealer).values("station_id")
        stations = list(MonitoringStation.objects.filter(pk__in=station_ids).order_by("name"))
        examples = selectors.link_examples(stations, dealer=self.dealer)
        context["guides"] = [
            (
                station,
                station.deep_link_guide(
                    base_url=settings.PORTAL_BASE_URL, example=examples.get(station.pk)
                ),
            )
            for station in stations
        ]
        return context
