"""The list filter of every dealer list that can be narrowed to one monitoring station record."""

from __future__ import annotations

from typing import Any

import django_filters
from django_filters.fields import ModelChoiceField, ModelChoiceIterator

from stations.models import DealerStation


class _RecordChoices(ModelChoiceIterator):
    """The choices, read with one plain query. Django reads a choice field's queryset with
    ``iterator()``, which on PostgreSQL opens a server-side cursor (DECLARE, FETCH, CLOSE:
    three round trips on every list page) to spare memory that a dealer's handful of station
    records never needs."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for record in self.queryset.all():
            yield self.choice(record)


class _RecordChoiceField(ModelChoiceField):
    iterator = _RecordChoices


class StationRecordFilter(django_filters.ModelChoiceFilter):
    """``?station=<record code>``: one of the dealer's own station records (another dealer's
    record is not a choice, so it filters nothing). ``field_name`` is the path from the listed
    model to the record, e.g. ``accounts__station_record``."""

    field_class = _RecordChoiceField

    def __init__(self, *, field_name: str, **kwargs: Any) -> None:
        kwargs.setdefault("label", "Monitoring station")
        kwargs.setdefault("empty_label", "Any monitoring station")
        super().__init__(
            field_name=field_name,
            queryset=DealerStation.objects.none(),
            to_field_name="code",
            **kwargs,
        )

    def get_queryset(self, request: Any):
        return DealerStation.objects.for_dealer(self.parent.dealer).order_by("name")
