"""Scheduled work of the signals app, run by the task engine (django-q2; see portal/schedules.py).

Alarm delivery is not here: dispatchers (``manage.py run_dispatcher``) are their own outbox.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from django_q.models import Schedule

from signals import limits
from signals.services import periodic_tests_create

logger = logging.getLogger(__name__)

SCHEDULES = [
    {
        # Each account's test lands in its own slot of its station's interval; running every
        # minute only decides how late in its slot a test may start.
        "name": "signals.periodic_tests",
        "func": "signals.tasks.create_periodic_tests",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    },
    {
        # The device API's counters of tokens and addresses that went quiet (signals.limits).
        "name": "signals.purge_request_counts",
        "func": "signals.tasks.purge_request_counts",
        "schedule_type": Schedule.MINUTES,
        "minutes": 10,
    },
]


def create_periodic_tests() -> int:
    """Queue the periodic tests that are due; returns how many."""
    events = periodic_tests_create(timezone.now())
    if events:
        logger.info("%d periodic test(s) queued", len(events))
    return len(events)


def purge_request_counts() -> int:
    """Delete the device API's counters of windows long ended; returns how many."""
    return limits.purge()
