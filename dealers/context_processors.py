"""Puts the user's dealers into every template, for the switcher in the navigation bar."""

from __future__ import annotations

from django.http import HttpRequest

from dealers.access import active_membership, memberships_for


def dealer(request: HttpRequest) -> dict:
    # Callables: the template calls them only on pages that show the navigation bar.
    return {
        "nav_memberships": lambda: memberships_for(request),
        "nav_membership": lambda: active_membership(request),
    }
