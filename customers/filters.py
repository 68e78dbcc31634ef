"""The customer list's filters (the list page and the export use the same ones)."""

from __future__ import annotations

import django_filters
from django import forms

from customers.models import Customer
from dealers.generic import DealerFilterSet
from stations.filters import StationRecordFilter

ALL = "all"
SEARCH_MAX = 100


class CustomerFilter(DealerFilterSet):
    """Search, status (active by default) and monitoring station record."""

    defaults = {"status": Customer.Status.ACTIVE}

    q = django_filters.CharFilter(
        label="Search",
        method="filter_search",
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Name, address, city, account number or site ID",
            }
        ),
    )
    status = django_filters.ChoiceFilter(
        label="Status",
        choices=[*Customer.Status.choices, (ALL, "All")],
        empty_label=None,
        method="filter_status",
    )
    station = StationRecordFilter(field_name="accounts__station_record")

    class Meta:
        model = Customer
        fields: list[str] = []

    def filter_search(self, queryset, name: str, value: str):
        return queryset.search(value[:SEARCH_MAX], dealer=self.dealer)

    def filter_status(self, queryset, name: str, value: str):
        return queryset if value == ALL else queryset.filter(status=value)
