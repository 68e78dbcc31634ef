"""The dealer dashboard's panels: an extension point the apps above register into.

The dashboard is the dealers app's page (``dealers:dashboard``), but most of what it shows
belongs to the apps above: customers and accounts, signals, receivers, bridges, changes. Each
of those apps registers a ``Panel`` in its ``AppConfig.ready()``: a template of its own and a
function that reads what the template shows in a fixed number of queries (the dashboard's
total is pinned by a test). A panel's template links to its app's lists, filtered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dealers.models import Dealer, Membership


@dataclass(frozen=True)
class Panel:
    name: str
    template: str
    # (dealer, membership) -> the template's context; a fixed number of queries.
    context: Callable[[Dealer, Membership], dict[str, Any]]
    order: int = 100  # smaller first


_PANELS: dict[str, Panel] = {}


def register(panel: Panel) -> None:
    _PANELS[panel.name] = panel


def panels_for(membership: Membership) -> list[tuple[str, dict[str, Any]]]:
    """Each registered panel's template and context, in order."""
    panels = sorted(_PANELS.values(), key=lambda p: (p.order, p.name))
    return [(p.template, p.context(membership.dealer, membership)) for p in panels]
