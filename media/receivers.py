"""Django signal receivers of the media app (never ``signals.py``: that is an app's name here).

A media row and its file go together: however the row is deleted (retention, a site removed
with its events, the admin), its file is deleted once the deletion has committed. A rolled
back deletion keeps both.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from media.models import MediaItem

logger = logging.getLogger(__name__)


def file_delete(storage, name: str) -> None:
    """Delete a stored file; a storage that fails is logged (retention finds no row for it
    again, so the log is where an operator learns of the leftover)."""
    try:
        storage.delete(name)
    except Exception:
        logger.exception("could not delete media file %s", name)


@receiver(post_delete, sender=MediaItem, dispatch_uid="media_item_file_delete")
def media_item_file_delete(sender, instance: MediaItem, using: str, **kwargs) -> None:
    if instance.file and instance.file.name:
        storage, name = instance.file.storage, instance.file.name
        transaction.on_commit(lambda: file_delete(storage, name), using=using)
