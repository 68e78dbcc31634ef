"""The media app's dealer pages: the bridges that are offline (the dashboard card links here).
(The signed media URLs and the operators' pages are in media/views.py.)"""

from __future__ import annotations

from typing import Any

from django.views.generic import ListView

from dealers.access import DealerRequiredMixin
from media import selectors


class OfflineBridgeListView(DealerRequiredMixin, ListView):
    """The dealer's bridges the watchdog found silent, longest silent first."""

    template_name = "media/offline_bridges.html"
    context_object_name = "statuses"
    paginate_by = 50
    http_method_names = ["get", "head", "options"]

    def get_queryset(self):
        return selectors.offline_bridges(self.dealer)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["offline_after"] = self.dealer.bridge_offline_minutes
        return context
