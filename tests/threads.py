"""Work started in several threads at once, for the race tests (they run on PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections


def at_once(work: Callable[[int], object], count: int = 2, *, timeout: float = 30) -> list[object]:
    """What ``work(i)`` returned, or the exception it raised, in each of ``count`` threads
    started one right after another (``i`` from 0; work that must meet at one point waits on
    a barrier of its own), each on database connections of its own, closed as it ends. A
    thread still running after ``timeout`` seconds leaves None."""
    outcomes: list[object] = [None] * count

    def run(i: int) -> None:
        try:
            outcomes[i] = work(i)
        except Exception as exc:  # pragma: no cover - reported by the caller's assertion
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return outcomes
