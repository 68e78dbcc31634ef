"""Forms for a site's directions for operators and its call list."""

from __future__ import annotations

from typing import Any

from django import forms

from customers.models import Camera, CameraDirection, Contact


class DirectionsForm(forms.Form):
    """The site-wide note, then a note and a threat level for each of the site's cameras."""

    note = forms.CharField(
        label="Site-wide note",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Shown at the top of every page an operator opens for this site, once the "
        "monitoring station approved it.",
    )

    def __init__(self, *args: Any, cameras: list[Camera], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cameras = cameras
        for camera in cameras:
            direction = getattr(camera, "direction", None)
            self.fields[f"camera-{camera.code}-note"] = forms.CharField(
                label=f"{camera.name} (channel {camera.channel})",
                required=False,
                max_length=2000,
                initial=direction.note if direction else "",
                widget=forms.Textarea(attrs={"rows": 2}),
            )
            self.fields[f"camera-{camera.code}-threat"] = forms.ChoiceField(
                label=f"Threat level for {camera.name}",
                choices=CameraDirection.ThreatLevel.choices,
                initial=direction.threat_level if direction else CameraDirection.ThreatLevel.MEDIUM,
            )

    def camera_rows(self) -> list[tuple[Camera, forms.BoundField, forms.BoundField]]:
        return [
            (camera, self[f"camera-{camera.code}-note"], self[f"camera-{camera.code}-threat"])
            for camera in self.cameras
        ]

    def camera_values(self) -> list[tuple[Camera, str, str]]:
        return [
            (
                camera,
                self.cleaned_data[f"camera-{camera.code}-note"],
                self.cleaned_data[f"camera-{camera.code}-threat"],
            )
            for camera in self.cameras
        ]


class ContactForm(forms.ModelForm):
    """Someone operators call, in order. The passcode can be set or cleared, never read."""

    passcode = forms.CharField(
        label="Verbal passcode",
        required=False,
        max_length=50,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Operators ask for it on the phone. Only operators see it; leave empty to "
        "keep the current one.",
    )
    clear_passcode = forms.BooleanField(label="Remove the passcode", required=False)

    class Meta:
        model = Contact
        fields = ["name", "phone", "phone_alt", "position", "notes"]

    def passcode_value(self) -> str | None:
        """What to store: None keeps the stored passcode, '' clears it."""
        if self.cleaned_data.get("clear_passcode"):
            return ""
        return self.cleaned_data.get("passcode") or None
