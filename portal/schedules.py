"""Scheduled work declared in code and kept in step with the task engine's schedule table.

Each app may have a ``tasks`` module with a ``SCHEDULES`` list of django-q2 ``Schedule`` field
values, each with a unique ``name`` (e.g. ``"signals.periodic_tests"``). After every
``migrate`` the portal writes them to the database: new ones are created, changed ones updated
(keeping when they run next), and schedules of the portal's own task modules that the code no
longer declares are deleted. Schedules an admin adds for anything else are left alone.

The portal sits on top of every app, so it may look into each of them; the apps only declare.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.apps import apps
from django.utils.module_loading import module_has_submodule

# Fields a declaration may set; anything else (next_run, the last task) belongs to the engine.
DECLARED_FIELDS = frozenset(
    {"func", "args", "kwargs", "schedule_type", "minutes", "repeats", "cron", "hook"}
)


@dataclass
class SyncResult:
    created: list[str]
    updated: list[str]
    deleted: list[str]


def task_modules() -> list[str]:
    """The dotted names of the installed project apps' ``tasks`` modules."""
    return [
        f"{config.name}.tasks"
        for config in apps.get_app_configs()
        if module_has_submodule(config.module, "tasks") and not config.name.startswith("django")
    ]


def declared() -> dict[str, dict[str, Any]]:
    """Every schedule the code declares, by name."""
    schedules: dict[str, dict[str, Any]] = {}
    for module_name in task_modules():
        for spec in getattr(import_module(module_name), "SCHEDULES", ()):
            name = spec["name"]
            if name in schedules:
                raise ValueError(f"two schedules are named {name!r}")
            unknown = set(spec) - DECLARED_FIELDS - {"name"}
            if unknown:
                raise ValueError(f"schedule {name!r} sets unknown fields: {sorted(unknown)}")
            schedules[name] = {key: value for key, value in spec.items() if key != "name"}
    return schedules


def sync_schedules(*, using: str = "default") -> SyncResult:
    """Create, update and delete schedule rows so that they match the code."""
    from django_q.models import Schedule

    result = SyncResult([], [], [])
    wanted = declared()
    existing = {s.name: s for s in Schedule.objects.using(using).filter(name__in=wanted)}
    for name, fields in wanted.items():
        schedule = existing.get(name)
        if schedule is None:
            Schedule.objects.using(using).create(name=name, **fields)
            result.created.append(name)
            continue
        changed = [key for key, value in fields.items() if getattr(schedule, key) != value]
        if changed:
            for key in changed:
                setattr(schedule, key, fields[key])
            schedule.save(using=using, update_fields=changed)
            result.updated.append(name)
    # Ours, but no longer declared: a renamed or removed schedule must not keep running.
    prefixes = tuple(f"{module}." for module in task_modules())
    for schedule in Schedule.objects.using(using).exclude(name__in=wanted):
        if schedule.func.startswith(prefixes):
            result.deleted.append(schedule.name or schedule.func)
            schedule.delete()
    return result
