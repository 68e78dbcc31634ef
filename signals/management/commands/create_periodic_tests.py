"""Queue the periodic tests that are due, now. The task engine does this every minute on its
own (``signals.tasks``, run by ``manage.py qcluster``); this command is for trying it by hand.

Safe to run as often as you like: each account gets one test per interval of its station.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone

from signals.services import periodic_tests_create


class Command(BaseCommand):
    help = "Create a periodic test for every account whose station's test interval has come round."

    def handle(self, *args, **options) -> None:
        events = periodic_tests_create(timezone.now())
        self.stdout.write(f"{len(events)} periodic test(s) queued.")
