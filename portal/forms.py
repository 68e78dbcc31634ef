"""Sign-in forms for the portal and the admin: any input gets an error, never a 500."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm


class _BoundedSignIn:
    """Refuse a username no account can have before anything looks it up or records it.

    AuthenticationForm sets the field's max_length after the field is built, so no validator
    enforces it; an over-long name then reached django-axes, whose failure record holds 255
    characters, and the sign-in answered 500. A name longer than any account's is simply a
    wrong sign-in.
    """

    def clean(self):
        username = self.cleaned_data.get("username")
        limit = self.fields["username"].max_length or 150
        if username is not None and len(username) > limit:
            raise self.get_invalid_login_error()
        return super().clean()


class SignInForm(_BoundedSignIn, AuthenticationForm):
    """The portal's sign-in form."""


class AdminSignInForm(_BoundedSignIn, AdminAuthenticationForm):
    """The admin's sign-in form (staff only), with the same bound."""


class CodeForm(forms.Form):
    """A code from the authenticator app (6 digits) or a recovery code."""

    code = forms.CharField(
        label="Code",
        max_length=32,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
        help_text="The 6-digit code your authenticator app shows, or one of your recovery codes.",
    )

    def clean_code(self) -> str:
        # People type recovery codes with spaces or dashes, and in either case.
        return "".join(ch for ch in self.cleaned_data["code"] if ch.isalnum()).lower()


class TotpCodeForm(CodeForm):
    """A code from the authenticator app only (to confirm it, or to turn it off)."""

    code = forms.CharField(
        label="Code from the app",
        max_length=12,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )
