"""Forms for dealer settings: who is told when signals are in trouble."""

from __future__ import annotations

from typing import Any

from django import forms

from dealers.models import Dealer, NotificationRecipient


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
        ]
        labels = {
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
