"""The one doorway to a station's console.

Every console URL names its station (``/station/<uuid:station>/...``). The station is looked
up only among the stations where the signed-in user is a station admin, and every object the
page touches is then looked up inside that station. Another station's receiver, membership,
dealer or account therefore simply does not exist for the request (404); a signed-out visitor
is sent to the sign-in page; an operator, a dealer or another station's admin gets 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import get_object_or_404

from stations.models import MonitoringStation, StationMembership

__all__ = ["StationAdminRequiredMixin", "admin_stations", "get_in_station_or_404"]


def admin_stations(user) -> QuerySet[MonitoringStation]:
    """The active stations this user runs as a station admin (none for anyone else)."""
    if not user.is_authenticated:
        return MonitoringStation.objects.none()
    return MonitoringStation.objects.filter(
        is_active=True,
        memberships__user=user,
        memberships__role=StationMembership.Role.STATION_ADMIN,
    ).order_by("name")


def get_in_station_or_404(
    queryset: QuerySet, station: MonitoringStation, *, path: str = "station", **lookup: Any
) -> Model:
    """One object of this station (``path`` leads from the object to its station)."""
    return get_object_or_404(queryset.filter(**{path: station}), **lookup)


class StationAdminRequiredMixin(LoginRequiredMixin):
    """A console page of the station named by the URL's ``station`` code."""

    station: MonitoringStation

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.station = get_object_or_404(admin_stations(request.user), code=kwargs["station"])
        # Objects the URL names are found (or 404) before anything else, the method included.
        self.resolve_objects()
        return super().dispatch(request, *args, **kwargs)

    def resolve_objects(self) -> None:
        """Look up the objects the URL names, inside ``self.station``."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["station"] = self.station
        return context
