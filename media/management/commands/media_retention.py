"""Delete snapshots and clips older than each dealer's retention period, with their files.

The task engine runs the same every hour (media.tasks); this command is for a deployment that
wants to run it by hand, e.g. after lowering a dealer's retention.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from media import services


class Command(BaseCommand):
    help = "Delete media older than each dealer's retention period, rows and files together."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        if dry_run:
            count = services.media_expired().count()
            self.stdout.write(f"{count} media item(s) are past their retention period.")
            return
        deleted = services.media_retention_apply()
        self.stdout.write(f"Deleted {deleted} media item(s) and their files.")
