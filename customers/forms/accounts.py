"""The monitoring account form: station record, account number, reference ID."""

from __future__ import annotations

from typing import Any

from django import forms

from customers.lib import normalise_identifier, prefix_example
from customers.models import Customer, MonitoringAccount
from customers.services import account_number_for
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
                # Without the prefix when the receiver adds it: what the dealer types.
                "account_number": account.entered_number,
                "reference_id": account.reference_id,
            }
            kwargs["initial"] = {**stored, **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        records = DealerStation.objects.for_dealer(customer.dealer).select_related(
            "station", "receiver"
        )
        field = self.fields["station_record"]
        field.queryset = records.order_by("name")
        field.label_from_instance = lambda r: f"{r.name} ({r.station})"
        choices = list(field.queryset)
        self._label_reference_id(choices, account)
        self._explain_prefix(choices, account)

    def _explain_prefix(
        self, records: list[DealerStation], account: MonitoringAccount | None
    ) -> None:
        """Say, with an example, whether the number is entered with the station's prefix."""
        field = self.fields["account_number"]
        shown = [account.station_record] if account is not None else records
        rules = [
            (r, prefix_example(r.account_prefix, receiver_adds_prefix=r.receiver_adds_prefix))
            for r in shown
            if r.account_prefix
        ]
        if not rules:
            return
        if len(shown) == 1:
            field.help_text = f"{rules[0][1]} " + field.help_text
        else:
            field.help_text += " " + " ".join(f"{r.name}: {text}" for r, text in rules)

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

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        record, number = cleaned.get("station_record"), cleaned.get("account_number")
        if record is not None and number:
            # The station knows the account with the prefix its receiver puts in front.
            cleaned["account_number"] = account_number_for(record, number)
        return cleaned

    def clean_reference_id(self) -> str:
        return normalise_identifier(self.cleaned_data["reference_id"])
