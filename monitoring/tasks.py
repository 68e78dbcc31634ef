"""Scheduled work of the operator side, run by the task engine (django-q2; portal/schedules.py).

Operators' openings and verdicts are written in the request without signalling; this turns
them into events and signals for the operator's station. A verdict also asks for a run at once.
"""

from __future__ import annotations

import logging

from django_q.models import Schedule

from monitoring.services import operator_actions_report

logger = logging.getLogger(__name__)

SCHEDULES = [
    {
        "name": "monitoring.report_operator_actions",
        "func": "monitoring.tasks.report_operator_actions",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    },
]


def report_operator_actions() -> int:
    """Signal the openings and verdicts not yet signalled; returns how many."""
    count = operator_actions_report()
    if count:
        logger.info("%d operator action(s) signalled", count)
    return count
