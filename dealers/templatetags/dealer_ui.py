"""Template pieces every dealer page shares: ``{% load dealer_ui %}``."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

register = template.Library()


@register.inclusion_tag("_row_actions.html")
def row_actions(
    url_prefix: str, code: Any, *, edit: str = "Edit", delete: str = "Delete"
) -> dict[str, Any]:
    """A table row's last cell: its edit and delete pages, as buttons that wrap on a phone.

    ``url_prefix`` names the pair of pages, e.g. ``"customers:zone"`` for
    ``customers:zone-update`` and ``customers:zone-delete``; ``code`` is the object's code.
    """
    return {
        "actions": [
            (edit, reverse(f"{url_prefix}-update", args=[code]), "secondary"),
            (delete, reverse(f"{url_prefix}-delete", args=[code]), "danger"),
        ]
    }
