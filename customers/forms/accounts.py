"""The monitoring account form: station record, account number, reference ID."""

from __future__ import annotations

from typing import Any

from django import forms

from customers.lib import normalise_identifier
from customers.models import Customer, MonitoringAccount
from stations.models import DealerStation


class AccountForm(forms.Form):
    """Rules that need the database (uniqueness per station) are the service's to check."""

    station_record = forms.ModelChoiceField(
        queryset=DealerStation.objects.none(),
        to_field_name="code",
        label="Monitoring station",
        empty_label=None,
    )
    account_number = forms.CharField(
        max_length=40,
        help_text="The number the station's automation software knows this site by "
        "(a.k.a. transmitter number, CSID). Every signal carries it.",
    )
    reference_id = forms.CharField(
        max_length=40,
        required=False,
        label="Reference ID",
        help_text="Never transmitted; lets the station's software open the right site.",
    )

    def __init__(
        self,
        *args: Any,
        customer: Customer,
        account: MonitoringAccount | None = None,
        **kwargs: Any,
    ) -> None:
        if account is not None:
            stored = {
                "station_record": account.station_record.code,
                "account_number": account.account_number,
                "reference_id": account.reference_id,
            }
            kwargs["initial"] = {**stored, **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        records = DealerStation.objects.for_dealer(customer.dealer).select_related("station")
        field = self.fields["station_record"]
        field.queryset = records.order_by("name")
        field.label_from_instance = lambda r: f"{r.name} ({r.station})"
        self._label_reference_id(list(field.queryset), account)

    def _label_reference_id(
        self, records: list[DealerStation], account: MonitoringAccount | None
    ) -> None:
        """Use the station software's own name for the reference ID where there is one."""
        field = self.fields["reference_id"]
        if account is not None or len(records) == 1:
            station = account.station_record.station if account else records[0].station
            field.label = station.reference_id_label
            if station.requires_reference_id:
                field.help_text = f"{station} requires it. " + field.help_text
            return
        required = [
            f"{r.station}: “{r.station.reference_id_label}”"
            for r in records
            if r.station.requires_reference_id
        ]
        if required:
            field.help_text += " Required by " + "; ".join(sorted(set(required))) + "."

    def clean_account_number(self) -> str:
        return normalise_identifier(self.cleaned_data["account_number"])

    def clean_reference_id(self) -> str:
        return normalise_identifier(self.cleaned_data["reference_id"])
