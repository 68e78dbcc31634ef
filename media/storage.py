"""Where media files live: Django's storage named "media" (settings.STORAGES).

A folder under var/ by default (FileSystemStorage), any S3-compatible object store when
MEDIA_S3_BUCKET is set (django-storages; see README and .env.example). Models ask this module,
never a backend, so the choice stays in settings.
"""

from __future__ import annotations

from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty

STORAGE_ALIAS = "media"


class MediaStorage(LazyObject):
    """The configured media storage, looked up when first used (and again after a test
    changes STORAGES), like Django's own ``default_storage``."""

    def _setup(self) -> None:
        self._wrapped = storages[STORAGE_ALIAS]


_media_storage = MediaStorage()


def media_storage() -> MediaStorage:
    """The media storage (a callable, so migrations never name a backend)."""
    return _media_storage


@receiver(setting_changed, dispatch_uid="media_storage_changed")
def _storages_changed(*, setting: str, **kwargs) -> None:
    if setting == "STORAGES":
        _media_storage._wrapped = empty
