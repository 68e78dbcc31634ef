"""Shared set-up for benchmarks: a throw-away test database and a timing loop.

Benchmarks print figures; they assert nothing. Each compares what it measures with a floor
measured in the same run, so the ratio means something on any machine.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings_test")


@contextmanager
def test_database() -> Iterator[None]:
    """Django set up against a fresh test database (DATABASE_URL picks the engine)."""
    import django
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    django.setup()
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def timed(fn: Callable[[], object], *, repeat: int, warmup: int = 3) -> list[float]:
    """Seconds per call, after a few calls that warm caches and connections."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p99_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def report(label: str, samples: list[float], floor: list[float] | None = None) -> None:
    line = f"{label:<40} median {median_ms(samples):8.2f} ms   p99 {p99_ms(samples):8.2f} ms"
    if floor is not None:
        line += f"   ratio to floor {median_ms(samples) / median_ms(floor):5.2f}x"
    print(line, flush=True)
