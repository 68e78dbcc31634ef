"""Scheduled work is declared in code and kept in step with the task engine's table."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.utils.module_loading import import_string
from django_q.models import Schedule

from portal import schedules

pytestmark = pytest.mark.django_db


def test_migrate_leaves_every_declared_schedule_in_the_database():
    declared = schedules.declared()
    assert "signals.periodic_tests" in declared
    call_command("migrate", verbosity=0)
    rows = {s.name: s for s in Schedule.objects.all()}
    for name, fields in declared.items():
        assert name in rows
        assert rows[name].func == fields["func"]
        assert rows[name].schedule_type == fields["schedule_type"]


def test_every_declared_schedule_names_a_callable():
    for fields in schedules.declared().values():
        assert callable(import_string(fields["func"]))


def test_sync_is_idempotent_and_keeps_when_a_schedule_runs_next():
    schedules.sync_schedules()
    row = Schedule.objects.get(name="signals.periodic_tests")
    next_run = row.next_run
    result = schedules.sync_schedules()
    assert (result.created, result.updated, result.deleted) == ([], [], [])
    row.refresh_from_db()
    assert row.next_run == next_run


def test_sync_puts_back_what_an_admin_changed_and_creates_what_is_missing():
    schedules.sync_schedules()
    Schedule.objects.filter(name="signals.periodic_tests").update(minutes=60)
    Schedule.objects.filter(name="signals.periodic_tests").delete()
    result = schedules.sync_schedules()
    assert result.created == ["signals.periodic_tests"]
    Schedule.objects.filter(name="signals.periodic_tests").update(minutes=60)
    result = schedules.sync_schedules()
    assert result.updated == ["signals.periodic_tests"]
    assert Schedule.objects.get(name="signals.periodic_tests").minutes == 1


def test_sync_deletes_our_stale_schedules_and_leaves_others_alone():
    Schedule.objects.create(name="signals.renamed_long_ago", func="signals.tasks.gone")
    Schedule.objects.create(name="an admin's own", func="django.core.management.call_command")
    result = schedules.sync_schedules()
    assert result.deleted == ["signals.renamed_long_ago"]
    assert not Schedule.objects.filter(name="signals.renamed_long_ago").exists()
    assert Schedule.objects.filter(name="an admin's own").exists()


def test_two_schedules_with_one_name_are_refused(monkeypatch):
    import signals.tasks

    twice = [*signals.tasks.SCHEDULES, dict(signals.tasks.SCHEDULES[0])]
    monkeypatch.setattr(signals.tasks, "SCHEDULES", twice)
    with pytest.raises(ValueError, match="two schedules are named"):
        schedules.declared()
