"""The Jinja2 environment of the operator's site page and the customer list's rows (settings'
second template engine).

Its templates (``templates/*/*.jinja``) render what Django's filters and tags would,
with the same functions: ``date`` (in the current time zone, or in ``tz``, as inside
``{% timezone %}``), ``linebreaksbr``, ``timesince`` and ``url`` (``reverse``). Django's safe
strings stay safe in Jinja2 (``__html__``), and everything else is escaped.
"""

from __future__ import annotations

import functools
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from django.template import defaultfilters
from django.urls import reverse
from django.utils import timezone
from jinja2 import Environment


def date(value: datetime | None, format_string: str, tz: tzinfo | str | None = None) -> str:
    """Django's ``date`` filter, after the conversion Django's engine makes first (to the
    current time zone, or to ``tz``, a zone or its name)."""
    if value is None:
        return ""
    zone = _zone(tz) if isinstance(tz, str) else tz
    return defaultfilters.date(timezone.localtime(value, zone), format_string)


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def url(name: str, *args: Any) -> str:
    """``{% url name arg ... %}``."""
    return reverse(name, args=args)


def environment(**options: Any) -> Environment:
    env = Environment(**options)
    env.filters.update(
        date=date,
        linebreaksbr=defaultfilters.linebreaksbr,
        timesince=defaultfilters.timesince_filter,
    )
    env.globals["url"] = url
    return env
