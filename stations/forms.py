"""Forms for a dealer's monitoring station records. The account prefix is not on them: the
station sets it (station console) and the dealer only sees it."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.urls import reverse

from dealers.models import Dealer
from stations import selectors
from stations.models import DealerStation, MonitoringStation, Receiver

PREFIX_RE = re.compile(r"^[A-Z0-9-]*$")


class DealerStationForm(forms.ModelForm):
    """Which station, which receiver (with its passkey), a name and the assigned prefix."""

    station = forms.ModelChoiceField(
        queryset=MonitoringStation.objects.none(),
        to_field_name="code",
        label="Monitoring station",
    )
    receiver = forms.ModelChoiceField(
        queryset=Receiver.objects.none(),
        to_field_name="code",
        required=False,
        label="Alarm receiver",
        empty_label="None: video only, no signals are transmitted",
    )
    passkey = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="The receiver's passkey, from the monitoring station. Needed when you choose "
        "or change the receiver.",
    )

    class Meta:
        model = DealerStation
        fields = ["name", "station", "receiver", "passkey"]
        labels = {"name": "Name"}
        help_texts = {
            "name": "Tells your station records apart, e.g. 'Central (XML)'.",
        }

    def __init__(self, *args: Any, dealer: Dealer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dealer = dealer
        if self.instance.pk:
            # The choice fields speak in codes (opaque), the model's initial data in pks.
            if self.initial.get("station") == self.instance.station_id:
                self.initial["station"] = self.instance.station.code
            if self.instance.receiver and self.initial.get("receiver") == self.instance.receiver_id:
                self.initial["receiver"] = self.instance.receiver.code
        station_field = self.fields["station"]
        station_field.queryset = MonitoringStation.objects.filter(is_active=True)
        station_field.widget.attrs.update(
            {
                "hx-get": reverse("stations:receiver-options"),
                "hx-target": "#receiver-field",
                "hx-trigger": "change",
            }
        )
        receiver_field = self.fields["receiver"]
        receiver_field.queryset = selectors.receivers_for(
            dealer=dealer, station=self._chosen_station()
        )
        # The station is chosen just above: the receiver's own name is enough here.
        receiver_field.label_from_instance = lambda receiver: receiver.name

    def _chosen_station(self) -> MonitoringStation | None:
        """The station picked in the submitted data, else the one on the record or initial."""
        code = self.data.get(self.add_prefix("station")) if self.is_bound else None
        code = code or self.initial.get("station")
        if isinstance(code, MonitoringStation):
            return code
        if code:
            try:
                return self.fields["station"].to_python(code)
            except forms.ValidationError:
                return None
        if self.instance.pk:
            return self.instance.station
        return None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        receiver = cleaned.get("receiver")
        changed = receiver is not None and receiver.pk != self.instance.receiver_id
        if changed and not cleaned.get("passkey"):
            self.add_error("passkey", "Enter the receiver's passkey from the monitoring station.")
        return cleaned
