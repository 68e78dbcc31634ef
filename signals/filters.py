"""The signal lists' filters: search, state, monitoring station record, and a date range."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone

from customers.lib import normalise_identifier
from dealers.generic import DealerFilterSet
from signals.models import Signal
from stations.filters import StationRecordFilter

SEARCH_MAX = 100
# ?since=: the latest hour, day or week (the dashboard links to the last 24 hours).
PERIODS = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
}


class SignalFilter(DealerFilterSet):
    """``q`` finds an account number (from its start), a signal reference, or a customer name;
    the dates are days in the time zone the page shows (the dealer's, or the site's)."""

    q = django_filters.CharFilter(
        label="Search",
        method="filter_search",
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Account number, reference or customer"}
        ),
    )
    state = django_filters.ChoiceFilter(
        label="State", choices=Signal.State.choices, empty_label="Any state"
    )
    station = StationRecordFilter(field_name="station_record")
    since = django_filters.ChoiceFilter(
        label="Period",
        choices=[(key, label) for key, (label, _) in PERIODS.items()],
        empty_label="Any time",
        method="filter_since",
    )
    date_from = django_filters.DateFilter(
        label="From",
        field_name="created_at",
        lookup_expr="date__gte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = django_filters.DateFilter(
        label="To",
        field_name="created_at",
        lookup_expr="date__lte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = Signal
        fields: list[str] = []

    def filter_since(self, queryset, name: str, value: str):
        return queryset.filter(created_at__gte=timezone.now() - PERIODS[value][1])

    def filter_search(self, queryset, name: str, value: str):
        # Control characters match nothing, and PostgreSQL refuses NUL bytes outright.
        term = "".join(ch for ch in value[:SEARCH_MAX] if ch.isprintable()).strip()
        if not term:
            return queryset
        number = normalise_identifier(term)
        return queryset.filter(
            Q(account_number__startswith=number)
            | Q(reference=term)
            | Q(customer__name__icontains=term)
        )
