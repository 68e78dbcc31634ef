"""Django signal receivers of the portal package (wired in ``PortalConfig.ready``)."""

from __future__ import annotations

import logging
from typing import Any

from portal.schedules import sync_schedules

logger = logging.getLogger(__name__)


def sync_schedules_after_migrate(sender: Any, *, using: str = "default", **kwargs: Any) -> None:
    """After ``migrate``, make the task engine's schedules match the code."""
    if getattr(sender, "name", None) != "django_q":
        return
    result = sync_schedules(using=using)
    for verb, names in (("created", result.created), ("updated", result.updated)):
        for name in names:
            logger.info("schedule %s %s", name, verb)
    for name in result.deleted:
        logger.info("schedule %s deleted: no longer declared", name)
