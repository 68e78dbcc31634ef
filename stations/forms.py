"""Forms for a dealer's monitoring station records. The account prefix is not on them: the
station sets it (station console) and the dealer only sees it."""

from __future__ import annotations

import copy
import re
from typing import Any

from django import forms
from django.urls import reverse

from dealers.models import Dealer
from stations import protocols, selectors
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


class ProtocolSettingsMixin(forms.ModelForm):
    """For any ModelForm of a ``Receiver`` (the admin's, the station console's): the settings of
    its protocol and the protocol's secret, as the protocols registered them
    (``stations.protocols``). Nothing here names a protocol.

    Use ``with_protocol_settings(YourForm)`` to get the class: it declares every registered
    protocol's settings fields, named ``<protocol>-<field>`` (``protocol_fields()`` groups them
    for a page). Only the chosen protocol's are validated (by its own settings form) and stored
    in ``protocol_settings``. The secret is write-only: never shown, kept when left empty,
    removed with ``clear_secret``.
    """

    secret = forms.CharField(
        label="Protocol secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="A key or credential the protocol itself sends (e.g. a DC-09 encryption key). "
        "Never shown again; leave empty to keep the current one.",
    )
    clear_secret = forms.BooleanField(label="Remove the stored secret", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = self.instance.protocol_settings or {}
        for spec in protocols.registered():
            values = {**spec.defaults}
            if self.instance.protocol == spec.protocol:
                values.update(stored)
            for name in spec.settings_form.base_fields if spec.settings_form else ():
                field = self.fields.get(f"{spec.protocol}-{name}")
                if field is not None and name in values:
                    field.initial = values[name]
        stored_secret = "a secret is stored" if self.instance.wire_credential else "none stored"
        self.fields["secret"].help_text = " ".join(
            [
                *(
                    f"{spec.label}: {spec.secret.label}, {spec.secret.help_text}"
                    for spec in protocols.registered()
                    if spec.secret is not None
                ),
                f"Never shown again; leave empty to keep the current one ({stored_secret}).",
            ]
        )

    @classmethod
    def protocol_fields(cls) -> dict[str, list[str]]:
        """Field names by protocol label, for a page to show each protocol's group."""
        return {
            spec.label: [f"{spec.protocol}-{name}" for name in spec.settings_form.base_fields]
            for spec in protocols.registered()
            if spec.settings_form is not None
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        protocol = cleaned.get("protocol") or self.instance.protocol
        spec = protocols.spec_for(protocol)
        settings: dict[str, Any] = {}
        if spec.settings_form is not None:
            form = spec.settings_form(data=self.data, prefix=self.add_prefix(protocol))
            if form.is_valid():
                settings = dict(form.cleaned_data)
            else:
                for name, errors in form.errors.items():
                    target = f"{protocol}-{name}" if name in form.fields else None
                    for error in errors:
                        self.add_error(target, error)
        self._settings = settings
        typed = cleaned.get("secret", "")
        if cleaned.get("clear_secret"):
            self._secret = ""
        else:
            self._secret = typed or self.instance.wire_credential
        if spec.secret is not None and self._secret:
            problem = spec.secret.check(self._secret, settings)
            if problem:
                self.add_error("secret" if typed else None, problem)
        elif spec.secret is not None and spec.secret.required:
            self.add_error("secret", f"{spec.label} needs its {spec.secret.label.lower()}.")
        return cleaned

    def _post_clean(self) -> None:
        super()._post_clean()
        if hasattr(self, "_settings"):
            self.instance.protocol_settings = self._settings
            self.instance.wire_credential = self._secret


def with_protocol_settings(form_class: type[forms.ModelForm]) -> type[forms.ModelForm]:
    """``form_class`` (a ``ProtocolSettingsMixin`` form) with every registered protocol's
    settings fields declared: made when asked, after the protocols have registered."""
    fields: dict[str, Any] = {}
    for spec in protocols.registered():
        for name, field in (spec.settings_form.base_fields if spec.settings_form else {}).items():
            copied = copy.deepcopy(field)
            copied.required = False  # the chosen protocol's own form decides in clean()
            fields[f"{spec.protocol}-{name}"] = copied
    return type(form_class.__name__, (form_class,), fields)
