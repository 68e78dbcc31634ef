"""Scheduled work of the media app, run by the task engine (django-q2; see portal/schedules.py):
the bridge watchdog and media retention."""

from __future__ import annotations

import logging

from django_q.models import Schedule

from media import services

logger = logging.getLogger(__name__)

SCHEDULES = [
    {
        # A bridge silent longer than its dealer allows (2 minutes at least) is offline: every
        # minute is often enough, and each run is a handful of indexed queries.
        "name": "media.bridges_watchdog",
        "func": "media.tasks.bridges_watchdog",
        "schedule_type": Schedule.MINUTES,
        "minutes": 1,
    },
    {
        # Retention is counted in days: once an hour keeps storage within an hour of it.
        "name": "media.retention",
        "func": "media.tasks.media_retention",
        "schedule_type": Schedule.HOURLY,
    },
]


def bridges_watchdog() -> int:
    """Mark silent bridges offline (a trouble to their stations) and fail requests no bridge
    answered in time; returns how many bridges went offline."""
    marked = services.bridges_watchdog()
    for status in marked:
        logger.warning("bridge %s is offline (no heartbeat)", status.bridge.serial)
    expired = services.media_requests_expire()
    if expired:
        logger.info("%d media request(s) expired unanswered", expired)
    return len(marked)


def media_retention() -> int:
    """Delete media older than each dealer's retention period, rows and files together."""
    deleted = services.media_retention_apply()
    if deleted:
        logger.info("retention deleted %d media item(s)", deleted)
    return deleted
