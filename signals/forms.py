"""Forms for signals: the dealer's alarm library and a site's overrides of it.

Both are built from the rows of ``selectors.code_library_rows`` / ``site_code_rows``: one set
of fields per row, named after the row's key (``<key>-code``, ``<key>-enabled`` or
``<key>-state``), so the page can show each row's fields next to what it inherits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from customers.models import Zone
from signals.models import event_code_validator
from signals.selectors import CodeRow

CODE_WIDGET_ATTRS = {
    "class": "form-control form-control-sm",
    "inputmode": "numeric",
    "pattern": "[0-9]{3}",
    "size": "4",
}


def _code_field(*, required: bool, initial: str, placeholder: str = "") -> forms.CharField:
    attrs = dict(CODE_WIDGET_ATTRS, placeholder=placeholder) if placeholder else CODE_WIDGET_ATTRS
    return forms.CharField(
        label="Contact ID code",
        required=required,
        max_length=3,
        initial=initial,
        validators=[event_code_validator],
        widget=forms.TextInput(attrs=attrs),
    )


class CodeLibraryForm(forms.Form):
    """The dealer's library: a code and on/off for every trigger."""

    def __init__(self, *args: Any, rows: Sequence[CodeRow], read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = list(rows)
        for row in self.rows:
            effective = row.effective
            self.fields[f"{row.key}-code"] = _code_field(
                required=True, initial=effective.event_code
            )
            self.fields[f"{row.key}-enabled"] = forms.BooleanField(
                label="On",
                required=False,
                initial=effective.enabled,
                widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
            )
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def entries(self) -> dict[str, tuple[str, bool]]:
        """trigger -> (code, on): for ``services.code_library_save``."""
        return {
            row.trigger: (
                self.cleaned_data[f"{row.key}-code"],
                self.cleaned_data[f"{row.key}-enabled"],
            )
            for row in self.rows
        }


class SiteCodesForm(forms.Form):
    """A site's overrides: per trigger, and per zone for its alarm trigger, either follow what
    is inherited (no override), send a code of its own, or send nothing."""

    INHERIT, SEND, OFF = "", "on", "off"

    def __init__(
        self,
        *args: Any,
        site_rows: Sequence[CodeRow],
        zone_rows: Sequence[CodeRow],
        read_only: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.site_rows = list(site_rows)
        self.zone_rows = list(zone_rows)
        for row in self.site_rows:
            self._add_fields(row, inherit_label="As the dealer's library")
        for row in self.zone_rows:
            self._add_fields(row, inherit_label="As the site")
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def _add_fields(self, row: CodeRow, *, inherit_label: str) -> None:
        if row.entry is None:
            state, code = self.INHERIT, ""
        else:
            state = self.SEND if row.entry.enabled else self.OFF
            code = row.entry.event_code
        self.fields[f"{row.key}-state"] = forms.ChoiceField(
            label="Override",
            required=False,
            initial=state,
            choices=[(self.INHERIT, inherit_label), (self.SEND, "Send code"), (self.OFF, "Off")],
            widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
        )
        self.fields[f"{row.key}-code"] = _code_field(
            required=False, initial=code, placeholder=row.inherited.event_code
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for row in [*self.site_rows, *self.zone_rows]:
            name = f"{row.key}-code"
            sends = cleaned.get(f"{row.key}-state") == self.SEND
            # A code that failed its own validation already has its error.
            if sends and not cleaned.get(name) and name not in self.errors:
                self.add_error(name, "Enter the code to send.")
        return cleaned

    def _entry(self, row: CodeRow) -> tuple[str, bool] | None:
        state = self.cleaned_data[f"{row.key}-state"]
        if state == self.INHERIT:
            return None
        return self.cleaned_data[f"{row.key}-code"], state == self.SEND

    def site_entries(self) -> dict[str, tuple[str, bool] | None]:
        """trigger -> (code, on), or None to clear: for ``services.site_codes_save``."""
        return {row.trigger: self._entry(row) for row in self.site_rows}

    def zone_entries(self) -> dict[Zone, tuple[str, bool] | None]:
        """zone -> (code, on), or None to clear: for ``services.site_codes_save``."""
        return {row.zone: self._entry(row) for row in self.zone_rows}
