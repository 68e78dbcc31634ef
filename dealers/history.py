"""Who changed what and when: one timeline over the history of every dealer-owned model.

The models keep their history with django-simple-history; each app registers its tracked
models here (``register(HistorySource(...))`` in ``AppConfig.ready()``), saying how a row
finds its dealer and its site, how to name it, and where it is shown. ``timeline`` reads
them all, a fixed number of queries per source however long the history: the dealer's
latest changes (the dashboard) or one site's (the customer page). Nothing here imports an
app above dealers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dealers.models import Dealer

# Fields whose change is no news (bookkeeping, or kept elsewhere).
IGNORED_FIELDS = frozenset({"updated_at", "created_at", "code", "site_id", "station"})
ACTIONS = {"+": "added", "~": "changed", "-": "deleted"}


@dataclass(frozen=True)
class HistorySource:
    """A tracked model whose history belongs to its dealer's timeline."""

    kind: str  # what the thing is, for people: "Zone", "Account"
    model: type  # the tracked model (``model.history`` is its history manager)
    dealer_path: str  # lookup from a history row to the dealer, e.g. "customer__dealer"
    # Lookup from a history row to its site's id ("id" for the site itself), or None for
    # things that belong to the dealer as a whole (station records).
    customer_path: str | None
    # The row's name, from the row's own fields only (no queries).
    label: Callable[[Any], str]
    # Where the thing is shown, from the row's own fields (no queries), or None.
    url: Callable[[Any], str | None] = lambda row: None
    # Lookups the label or url need, for select_related.
    related: tuple[str, ...] = ()


_SOURCES: dict[str, HistorySource] = {}


def register(source: HistorySource) -> None:
    _SOURCES[source.model._meta.label_lower] = source


def sources() -> list[HistorySource]:
    return list(_SOURCES.values())


@dataclass
class Change:
    """One line of a timeline."""

    when: datetime
    who: Any  # the user, or None for the system (an import task, the schedule)
    kind: str
    label: str
    action: str  # "added", "changed", "deleted"
    url: str | None = None
    # (field's name for people, before, after) for a change.
    fields: list[tuple[str, str, str]] = field(default_factory=list)


def timeline(dealer: Dealer, *, customer_id: int | None = None, limit: int = 50) -> list[Change]:
    """The latest changes of the dealer (or of one of its sites), newest first: two queries
    per source (its latest rows, and the rows before the changed ones)."""
    changes: list[Change] = []
    for source in sources():
        if customer_id is not None and source.customer_path is None:
            continue
        rows = source.model.history.filter(**{source.dealer_path: dealer})
        if customer_id is not None:
            rows = rows.filter(**{source.customer_path: customer_id})
        rows = list(
            rows.select_related("history_user", *source.related).order_by(
                "-history_date", "-history_id"
            )[:limit]
        )
        previous = _previous_rows(source, rows)
        for row in rows:
            change = Change(
                when=row.history_date,
                who=row.history_user,
                kind=source.kind,
                label=source.label(row),
                action=ACTIONS.get(row.history_type, row.history_type),
                url=source.url(row),
            )
            before = previous.get(row.history_id)
            if row.history_type == "~" and before is not None:
                change.fields = _differences(source.model, before, row)
                if not change.fields:
                    continue  # saved without a change anyone would see
            changes.append(change)
    changes.sort(key=lambda c: c.when, reverse=True)
    return changes[:limit]


def _previous_rows(source: HistorySource, rows: list) -> dict[int, Any]:
    """For each changed row, the same object's row just before it: one query."""
    changed = [row for row in rows if row.history_type == "~"]
    if not changed:
        return {}
    newest = max(row.history_date for row in changed)
    candidates = source.model.history.filter(
        id__in={row.id for row in changed}, history_date__lte=newest
    )
    by_object: dict[Any, list] = {}
    for candidate in candidates.order_by("history_date", "history_id"):
        by_object.setdefault(candidate.id, []).append(candidate)
    previous: dict[int, Any] = {}
    for row in changed:
        earlier = None
        for candidate in by_object.get(row.id, []):
            if candidate.history_id == row.history_id:
                break
            earlier = candidate
        if earlier is not None:
            previous[row.history_id] = earlier
    return previous


def _differences(model: type, before: Any, after: Any) -> list[tuple[str, str, str]]:
    differences = []
    for model_field in model._meta.concrete_fields:
        if model_field.name in IGNORED_FIELDS or model_field.primary_key:
            continue
        attname = model_field.attname
        if not hasattr(after, attname):
            continue  # excluded from the history
        old, new = getattr(before, attname), getattr(after, attname)
        if old == new:
            continue
        if model_field.is_relation:  # an id means nothing to people: say that it changed
            differences.append((str(model_field.verbose_name), "", ""))
        else:
            differences.append((str(model_field.verbose_name), _shown(old), _shown(new)))
    return differences


def _shown(value: Any) -> str:
    if value in (None, ""):
        return "—"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"
