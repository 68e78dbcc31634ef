"""The customer page's panels: an extension point the apps above register into.

The customer page is the customers app's (``customers:detail``), but some of what it shows
belongs to apps above it: the media app shows each bridge's connection state and the site's
recent events with their snapshots and clips. Such an app registers a ``SitePanel`` in its
``AppConfig.ready()``: a template of its own and a function that reads what the template shows
for one site in a fixed number of queries. The customers app never imports them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from customers.models import Customer
from dealers.models import Membership


@dataclass(frozen=True)
class SitePanel:
    name: str
    template: str
    # (customer, membership) -> the template's context; a fixed number of queries.
    context: Callable[[Customer, Membership], dict[str, Any]]
    order: int = 100  # smaller first


_PANELS: dict[str, SitePanel] = {}


def register(panel: SitePanel) -> None:
    _PANELS[panel.name] = panel


def panels_for(customer: Customer, membership: Membership) -> list[tuple[str, dict[str, Any]]]:
    """Each registered panel's template and context, in order."""
    panels = sorted(_PANELS.values(), key=lambda p: (p.order, p.name))
    return [(p.template, p.context(customer, membership)) for p in panels]
