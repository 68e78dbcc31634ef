"""The customer (site) form."""

from __future__ import annotations

from django import forms

from customers.models import Customer
from dealers.forms import TimeZoneField


class CustomerForm(forms.ModelForm):
    time_zone = TimeZoneField(initial="America/New_York")

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
