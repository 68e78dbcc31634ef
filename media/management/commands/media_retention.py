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
        parser.add_argument(
            "--orphans",
            action="store_true",
            help="Also delete stored files no media row names (left by a process killed while "
            "storing an upload); lists the whole storage.",
        )

    def handle(self, *args, dry_run: bool = False, orphans: bool = False, **options) -> None:
        if orphans:
            found = services.media_orphans_delete(dry_run=dry_run)
            verb = "would be deleted" if dry_run else "deleted"
            self.stdout.write(f"{len(found)} file(s) without a media row {verb}.")
        if dry_run:
            count = services.media_expired().count()
            self.stdout.write(f"{count} media item(s) are past their retention period.")
            return
        deleted = services.media_retention_apply()
        self.stdout.write(f"Deleted {deleted} media item(s) and their files.")
