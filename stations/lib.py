"""Plain helpers for stations: a receiver's paths summed up for the dealer's badge."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# A path's state as the dispatchers record it (signals.models.PathHealth.state).
UNKNOWN, UP, DOWN = "unknown", "up", "down"
_STATE_LABELS = {UNKNOWN: "unknown", UP: "up", DOWN: "down"}


@dataclass(frozen=True)
class ReceiverHealth:
    """A receiver's paths summed up for a badge on the dealer's station records."""

    state: str  # "up", "down", "degraded" or "unknown"
    label: str
    css: str  # a Bootstrap colour name
    detail: str


def receiver_health_summary(paths: Iterable[tuple[str, str, str]]) -> ReceiverHealth:
    """Sum up ``(role label, state, url)`` of a receiver's paths.

    Up when every path that has answered or failed is up, down when all are down, degraded
    when one is down and another up, unknown before any delivery was tried.
    """
    paths = list(paths)
    detail = "; ".join(f"{role} {url}: {_STATE_LABELS[state]}" for role, state, url in paths)
    known = [state for _, state, _ in paths if state != UNKNOWN]
    if not known:
        return ReceiverHealth("unknown", "Receiver not tried yet", "secondary", detail)
    if all(state == UP for state in known):
        return ReceiverHealth("up", "Receiver up", "success", detail)
    if all(state == DOWN for state in known):
        return ReceiverHealth("down", "Receiver down", "danger", detail)
    down = [role for role, state, _ in paths if state == DOWN]
    return ReceiverHealth("degraded", f"{' and '.join(down)} path down", "warning", detail)
