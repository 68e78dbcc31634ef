"""Forms for dealer settings: who is told when signals are in trouble, and the team."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from dealers.lib import time_zone_choices, time_zone_names
from dealers.models import Dealer, Membership, NotificationRecipient


class TimeZoneField(forms.ChoiceField):
    """A time zone from the list; checked against a set, not the 600 choices one by one
    (the bulk import checks thousands)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("choices", time_zone_choices)
        super().__init__(**kwargs)

    def valid_value(self, value: Any) -> bool:
        return str(value) in time_zone_names()


class NotificationRecipientForm(forms.ModelForm):
    """An address and what it wants to hear about, unique per dealer (case-insensitively)."""

    class Meta:
        model = NotificationRecipient
        fields = [
            "email",
            "name",
            "phone",
            "receiver_notifications",
            "signal_failure_notifications",
            "directions_notifications",
        ]
        labels = {
            "directions_notifications": "Operator directions approved, sent back or pending",
            "receiver_notifications": "Receiver paths going down or coming back",
            "signal_failure_notifications": "Signals that could not be delivered",
        }

    def __init__(self, *args: Any, dealer: Dealer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dealer = dealer
        # Model validation (the unique constraint) runs against this dealer's recipients.
        self.instance.dealer = dealer

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        taken = (
            NotificationRecipient.objects.for_dealer(self.dealer)
            .filter(email__iexact=email)
            .exclude(pk=self.instance.pk)
        )
        if taken.exists():
            raise forms.ValidationError("This address already receives your notifications.")
        return email


# --- the team -------------------------------------------------------------------------------


def _role_choices(actor_role: str) -> list[tuple[str, str]]:
    """Owners give any role; admins every role but owner."""
    choices = Membership.Role.choices
    if actor_role != Membership.Role.OWNER:
        choices = [(value, label) for value, label in choices if value != Membership.Role.OWNER]
    return choices


ROLE_HELP = (
    "Owners and admins manage the team and the dealer's settings; technicians set up sites; "
    "viewers only look."
)


class InviteForm(forms.Form):
    """Who to invite (an e-mail address) and with which role."""

    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(help_text=ROLE_HELP)

    def __init__(self, *args: Any, actor_role: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(actor_role)
        self.fields["role"].initial = Membership.Role.TECHNICIAN


class RoleForm(forms.Form):
    role = forms.ChoiceField(help_text=ROLE_HELP)

    def __init__(self, *args: Any, actor_role: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(actor_role)


class SignUpForm(UserCreationForm):
    """A new sign-in for someone who accepts an invitation; the address is the invitation's."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ["username", "first_name", "last_name"]

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance.email = email


class DealerSettingsForm(forms.ModelForm):
    """The dealer's name, the time zone its pages show times in, when a silent bridge counts
    as offline, and how long media is kept."""

    time_zone = TimeZoneField(
        help_text="Times on your pages are shown in it; a site's pages use the site's own."
    )

    class Meta:
        model = Dealer
        fields = ["name", "time_zone", "bridge_offline_minutes", "media_retention_days"]
