"""Python's cyclic garbage collector in a long-lived web process.

A full collection walks every object the collector tracks and has not been told to leave
alone, while the request that triggered it waits. Two steps keep that walk short:

1. ``freeze_startup`` (``portal/wsgi.py``, once the application is loaded): what start-up made
   lives as long as the process, so it is moved out of the collector's sight (``gc.freeze``).
2. ``settle_after``: a process's first requests still make state that lives as long as it does
   (modules imported on first use, the URL resolver's tables, compiled templates, prepared
   statements and their caches). After its first ``requests`` requests, the process collects
   once and freezes again, when the request's response has been sent (``request_finished``).
   Measured on the customer list in a benchmark's process: about 70,000 such objects made a
   full collection, once in 150 pages, hold a page 40-55 ms; after settling, the slowest page of
   600 took 14 ms (docs/deep-links.md).

An object frozen is never collected as part of a cycle, so settling collects first, and
happens once: what is alive by then is the process's own, and only the objects of the requests
in flight at that moment (one per worker thread) stay behind if they were in a cycle.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

from django.core.signals import request_finished

logger = logging.getLogger(__name__)

SETTLE_AFTER_REQUESTS = 200


def freeze_startup() -> None:
    """Leave what exists now (the loaded application) out of every later collection."""
    gc.freeze()


def settle() -> tuple[int, float]:
    """Collect, then freeze what is left: (unreachable objects collected, milliseconds)."""
    start = time.perf_counter()
    found = gc.collect()
    gc.freeze()
    return found, (time.perf_counter() - start) * 1000


class _Settler:
    """Counts finished requests; at the ``requests``-th, settles once and stops listening."""

    def __init__(self, requests: int) -> None:
        self.left = requests
        self.lock = threading.Lock()
        self.done = False

    def __call__(self, **kwargs) -> None:
        with self.lock:
            if self.done:
                return
            self.left -= 1
            if self.left > 0:
                return
            self.done = True
        request_finished.disconnect(self)
        found, took = settle()
        logger.info(
            "settled after its first requests: %d unreachable objects collected, %d frozen, "
            "in %.1f ms",
            found,
            gc.get_freeze_count(),
            took,
        )


def settle_after(requests: int = SETTLE_AFTER_REQUESTS) -> _Settler:
    """Settle once, after this process's first ``requests`` requests have finished."""
    if requests < 1:
        raise ValueError(f"requests must be at least 1, got {requests!r}")
    settler = _Settler(requests)
    # Held by the signal (not weakly): the settler has no other owner.
    request_finished.connect(settler, weak=False)
    return settler
