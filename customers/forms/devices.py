"""Forms for a site's devices: bridges, their cameras, and zones.

Each form takes the site (or bridge) it belongs to, sets it on the instance before validation,
and narrows every choice to it. A ModelForm skips a unique rule whose fields are not all on the
form (a zone's number per site, a camera's channel per bridge), so those are asked here; the
services ask the database again, which has the last word when two requests race.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Max

from customers.lib import ALLOWED_CHARACTERS, SERIAL_RE, normalise_identifier
from customers.models import ZONE_MAX, ZONE_MIN, Bridge, Camera, Customer, Zone

# What the database's customers_bridge_serial_normalised constraint accepts.
# Platform-wide, so it may be another dealer's bridge: say nothing about whose it is.
DUPLICATE_SERIAL = (
    "A bridge with this serial is already registered. Check the serial on the bridge's label."
)


class BridgeForm(forms.ModelForm):
    """The serial on the box's label, its model (how many channels), and a name."""

    class Meta:
        model = Bridge
        fields = ["serial", "model", "name"]
        labels = {"serial": "Serial number", "model": "Model"}
        help_texts = {
            "serial": "As printed on the bridge's label, e.g. BR-0001.",
            "name": "Optional, e.g. 'Back office'.",
        }
        error_messages = {"serial": {"unique": DUPLICATE_SERIAL}}

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.customer = customer
        if self.instance.pk is None:
            self.instance.customer = customer

    def clean_serial(self) -> str:
        serial = normalise_identifier(self.cleaned_data["serial"])
        if not SERIAL_RE.match(serial):
            raise forms.ValidationError(
                f"A serial has 4-32 characters: {ALLOWED_CHARACTERS} (no spaces), e.g. BR-0001."
            )
        return serial

    def clean_model(self) -> str:
        model = self.cleaned_data["model"]
        if self.instance.pk is not None:
            # A smaller model must not leave cameras on channels it does not have.
            highest = self.instance.cameras.aggregate(highest=Max("channel"))["highest"]
            channels = Bridge.CHANNELS[Bridge.Model(model)]
            if highest is not None and highest > channels:
                raise forms.ValidationError(
                    f"This model has channels 1 to {channels}, but a camera uses channel "
                    f"{highest}. Move or delete the cameras above channel {channels} first."
                )
        return model


class CameraForm(forms.ModelForm):
    """A camera on one of the bridge's free channels."""

    channel = forms.TypedChoiceField(coerce=int, choices=())

    class Meta:
        model = Camera
        fields = ["channel", "name", "stream_url"]
        labels = {"stream_url": "Stream URL"}
        help_texts = {"stream_url": "Optional, e.g. rtsp://192.0.2.10/stream1."}

    def __init__(self, *args: Any, bridge: Bridge, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bridge = bridge
        if self.instance.pk is None:
            self.instance.bridge = bridge
        taken = set(bridge.cameras.exclude(pk=self.instance.pk).values_list("channel", flat=True))
        free = [n for n in range(1, bridge.channel_count + 1) if n not in taken]
        field = self.fields["channel"]
        field.choices = [(n, f"Channel {n}") for n in free]
        in_use = ", ".join(str(n) for n in sorted(taken)) or "none"
        field.error_messages["invalid_choice"] = (
            f"Channel %(value)s is not free: this bridge has channels 1 to "
            f"{bridge.channel_count}, and these already have a camera: {in_use}."
        )
        if not free:
            field.help_text = "Every channel of this bridge has a camera."


class CameraChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Camera) -> str:
        return f"{obj.bridge} / channel {obj.channel}: {obj.name}"


class ZoneForm(forms.ModelForm):
    """A zone's number (what signals and deep links carry), name, type and cameras."""

    number = forms.IntegerField(
        min_value=ZONE_MIN,
        max_value=ZONE_MAX,
        help_text=f"{ZONE_MIN} to {ZONE_MAX}; shown to the monitoring station as three digits, "
        "e.g. 017.",
    )
    cameras = CameraChoiceField(
        queryset=Camera.objects.none(),
        to_field_name="code",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The cameras an operator sees when this zone reports an alarm.",
    )

    class Meta:
        model = Zone
        fields = ["number", "name", "zone_type", "cameras"]
        labels = {"zone_type": "Type"}

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.customer = customer
        if self.instance.pk is None:
            self.instance.customer = customer
        self.fields["cameras"].queryset = (
            Camera.objects.filter(bridge__customer=customer)
            .select_related("bridge")
            .order_by("bridge__serial", "channel")
        )

    def clean_number(self) -> int:
        number = self.cleaned_data["number"]
        others = Zone.objects.filter(customer=self.customer, number=number)
        if others.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(
                f"This site already has a zone {number:03d}. Choose another number."
            )
        return number
