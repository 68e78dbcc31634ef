"""The customer (site) form."""

from __future__ import annotations

import zoneinfo

from django import forms

from customers.models import Customer


def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


class CustomerForm(forms.ModelForm):
    time_zone = forms.ChoiceField(choices=time_zone_choices, initial="America/New_York")

    class Meta:
        model = Customer
        fields = [
            "name",
            "address",
            "city",
            "region",
            "postal_code",
            "country",
            "time_zone",
            "notes",
        ]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}
