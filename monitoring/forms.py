"""Forms of the station console (the stations services save) and the operator's verdict."""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import Any

from django import forms
from django.core.validators import MinLengthValidator
from django.forms.utils import ErrorDict
from django.template import engines
from django.utils.safestring import SafeString

from monitoring.models import NOTE_MAX, Verdict
from stations.forms import ProtocolSettingsMixin
from stations.models import MonitoringStation, Receiver, ReceiverPath, StationMembership
from stations.services import PASSKEY_MIN_LENGTH

PREFIX_RE = re.compile(r"^[A-Z0-9-]{0,10}$")
MACRO_RE = re.compile(r"^[^\s&?#=]*$")


class StationSettingsForm(forms.ModelForm):
    """The automation platform, the reference ID rule and the deep-link tokens."""

    time_zone = forms.ChoiceField(
        choices=[(name, name) for name in sorted(zoneinfo.available_timezones())]
    )

    class Meta:
        model = MonitoringStation
        fields = [
            "platform",
            "requires_reference_id",
            "reference_id_label",
            "account_macro",
            "reference_macro",
            "zone_macro",
            "time_zone",
        ]
        labels = {
            "platform": "Automation platform",
            "requires_reference_id": "Dealers must enter the reference ID on every account",
            "reference_id_label": "Name of the reference ID (generic platform only)",
            "account_macro": "Deep-link token for the account number",
            "reference_macro": "Deep-link token for the reference ID",
            "zone_macro": "Deep-link token for the zone",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        profile = self.instance.profile
        for name, default in (
            ("account_macro", profile.account_macro),
            ("reference_macro", profile.reference_macro),
            ("zone_macro", profile.zone_macro),
        ):
            self.fields[name].help_text = f"Empty: the platform's default, {default}."

    def _macro(self, name: str) -> str:
        value = self.cleaned_data[name].strip()
        if not MACRO_RE.match(value):
            raise forms.ValidationError("A token has no spaces and none of & ? # =.")
        return value

    def clean_account_macro(self) -> str:
        return self._macro("account_macro")

    def clean_reference_macro(self) -> str:
        return self._macro("reference_macro")

    def clean_zone_macro(self) -> str:
        return self._macro("zone_macro")


class ReceiverForm(ProtocolSettingsMixin, forms.ModelForm):
    """A receiver's own settings, its protocol's settings and secret (as the protocols declare
    them in ``stations.protocols``; use ``stations.forms.with_protocol_settings``); its paths
    are two PathForms beside it."""

    passkey = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Hand it to the dealers you accept. Stored only as a salted hash.",
    )

    class Meta:
        model = Receiver
        fields = [
            "name",
            "description",
            "protocol",
            "visibility",
            "adds_prefix",
            "receiver_number",
            "line_number",
            "is_active",
        ]
        labels = {"is_active": "Active (offered to dealers, signals delivered)"}
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # Rotated on its own page, so an edit never changes it by accident.
            del self.fields["passkey"]
        else:
            self.fields["passkey"].required = True
            self.fields["passkey"].validators.append(MinLengthValidator(PASSKEY_MIN_LENGTH))


class PathForm(forms.ModelForm):
    """One path of a receiver; the alternate is optional (an empty host means none)."""

    class Meta:
        model = ReceiverPath
        fields = [
            "transport",
            "host",
            "port",
            "use_tls",
            "url_path",
            "connect_timeout",
            "reply_timeout",
        ]
        labels = {"use_tls": "Use TLS"}

    def __init__(self, *args: Any, optional: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.optional = optional
        if optional:
            for field in self.fields.values():
                field.required = False

    @property
    def is_empty(self) -> bool:
        return self.optional and not (self.data.get(self.add_prefix("host")) or "").strip()

    def full_clean(self) -> None:
        if self.is_bound and self.is_empty:
            self._errors, self.cleaned_data = ErrorDict(), {}
            return
        super().full_clean()
        if self.is_bound and self.optional and not self._errors:
            for name in ("port", "connect_timeout", "reply_timeout", "transport", "url_path"):
                if self.cleaned_data.get(name) in (None, ""):
                    self.add_error(name, "This field is required for the alternate path.")

    def values(self) -> dict[str, Any] | None:
        if self.is_empty:
            return None
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class PasskeyForm(forms.Form):
    passkey = forms.CharField(
        label="New passkey",
        strip=False,
        min_length=PASSKEY_MIN_LENGTH,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    confirm = forms.CharField(
        label="New passkey again",
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("passkey") and cleaned.get("passkey") != cleaned.get("confirm"):
            self.add_error("confirm", "The two passkeys differ.")
        return cleaned


class PrefixForm(forms.Form):
    prefix = forms.CharField(
        label="Account prefix",
        required=False,
        max_length=10,
        help_text="Letters, digits and '-', e.g. NW. Empty: no prefix.",
    )

    def clean_prefix(self) -> str:
        prefix = self.cleaned_data["prefix"].strip().upper()
        if not PREFIX_RE.match(prefix):
            raise forms.ValidationError("Use up to 10 letters, digits and '-', e.g. NW.")
        return prefix


class ListDealerForm(forms.Form):
    dealer = forms.UUIDField(
        label="Dealer ID",
        help_text="The dealer finds it under Monitoring stations in its settings.",
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=StationMembership.Role.choices)


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=StationMembership.Role.choices, initial="operator")


class VerdictForm(forms.Form):
    """An operator's verdict on an event, for one of their stations that monitors the site."""

    outcome = forms.ChoiceField(
        choices=Verdict.Outcome.choices, widget=forms.RadioSelect, label="Verdict"
    )
    note = forms.CharField(
        required=False,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What you saw; it goes to the station with the verdict.",
    )
    station = forms.ModelChoiceField(
        queryset=MonitoringStation.objects.none(),
        to_field_name="code",
        required=False,
        widget=forms.HiddenInput,
    )

    def __init__(self, *args: Any, stations: list[MonitoringStation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stations = stations
        self.fields["station"].queryset = MonitoringStation.objects.filter(
            pk__in=[s.pk for s in stations]
        )

    def clean_station(self) -> MonitoringStation:
        # A page shows one station; an operator of one station need not say which.
        station = self.cleaned_data.get("station")
        if station is None:
            if len(self.stations) != 1:
                raise forms.ValidationError("Say for which of your stations you decide.")
            return self.stations[0]
        return station


def blank_verdict_form_html(station: MonitoringStation) -> SafeString:
    """The verdict form for ``station``, unbound, as the operator's site page shows it with an
    alarm. It is the same every time for a station, and crispy's layout costs more than the
    rest of the alarm's box, so it is rendered once per process and station."""
    return _blank_verdict_form_html(str(station.code))


@functools.lru_cache(maxsize=1024)
def _blank_verdict_form_html(station_code: str) -> SafeString:
    # The hidden field shows the code as given; an unbound form reads no station.
    return verdict_form_html(VerdictForm(stations=[], initial={"station": station_code}))


def verdict_form_html(form: VerdictForm) -> SafeString:
    """The verdict form's fields as crispy lays them out (a Django template filter), with the
    station's errors above them: for the verdict box (``_verdict.jinja``), a Jinja2 template."""
    return _verdict_form_template().render({"form": form})


@functools.cache
def _verdict_form_template() -> Any:
    return engines["django"].from_string(
        "{% load crispy_forms_tags %}"
        "{% for error in form.station.errors %}"
        '<div class="alert alert-danger py-1 small" role="alert">{{ error }}</div>'
        "{% endfor %}"
        "{{ form|crispy }}"
    )
