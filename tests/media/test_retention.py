"""Retention: media older than its dealer's period goes, rows and files together."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from media import services, tasks
from media.models import MediaItem
from media.storage import media_storage
from tests.factories import CameraFactory, MediaItemFactory

pytestmark = pytest.mark.django_db(transaction=True)


def aged(camera, days: float) -> MediaItem:
    return MediaItemFactory(camera=camera, created_at=timezone.now() - timedelta(days=days))


def exists(item: MediaItem) -> bool:
    return item.file.storage.exists(item.file.name)


def test_expired_media_and_its_files_go_together_and_the_rest_stays(dealer, customer):
    camera = CameraFactory(bridge__customer=customer)
    old = [aged(camera, 31), aged(camera, 45)]
    kept = aged(camera, 29)
    assert tasks.media_retention() == 2
    assert list(MediaItem.objects.all()) == [kept]
    assert not any(exists(item) for item in old)
    assert exists(kept)


def test_each_dealer_has_its_own_period(dealer, customer, other_dealer, outsider_customer):
    dealer.media_retention_days = 7
    dealer.save(update_fields=["media_retention_days"])
    ours = aged(CameraFactory(bridge__customer=customer), 8)
    theirs = aged(CameraFactory(bridge__customer=outsider_customer), 8)
    assert services.media_retention_apply() == 1
    assert list(MediaItem.objects.all()) == [theirs]
    assert not exists(ours) and exists(theirs)


def test_batches_delete_everything(customer):
    camera = CameraFactory(bridge__customer=customer)
    items = [aged(camera, 40) for _ in range(5)]
    assert services.media_retention_apply(batch=2) == 5
    assert not MediaItem.objects.exists()
    assert not any(exists(item) for item in items)


def test_a_file_that_cannot_be_deleted_is_logged_and_the_row_still_goes(
    customer, monkeypatch, caplog
):
    item = aged(CameraFactory(bridge__customer=customer), 40)

    def broken(name):
        raise OSError("storage down")

    monkeypatch.setattr(item.file.storage, "delete", broken)
    assert services.media_retention_apply() == 1
    assert "could not delete media file" in caplog.text


def test_the_command_deletes_and_its_dry_run_only_counts(customer, capsys):
    item = aged(CameraFactory(bridge__customer=customer), 40)
    call_command("media_retention", "--dry-run")
    assert "1 media item(s)" in capsys.readouterr().out
    assert MediaItem.objects.exists() and exists(item)
    call_command("media_retention")
    assert "Deleted 1" in capsys.readouterr().out
    assert not MediaItem.objects.exists() and not exists(item)


def _stray(name: str, *, hours_old: float) -> str:
    storage = media_storage()
    stored = storage.save(name, ContentFile(b"\xff\xd8\xff stray"))
    when = time.time() - hours_old * 3600
    os.utime(storage.path(stored), (when, when))
    return stored


def test_the_orphan_sweep_deletes_old_files_without_a_row_and_nothing_else(customer, capsys):
    item = aged(CameraFactory(bridge__customer=customer), 1)
    os.utime(item.file.path, (time.time() - 7200, time.time() - 7200))
    old = _stray("stray/old.jpg", hours_old=2)
    fresh = _stray("stray/fresh.jpg", hours_old=0.1)
    storage = media_storage()
    call_command("media_retention", "--orphans", "--dry-run")
    assert "1 file(s) without a media row would be deleted" in capsys.readouterr().out
    assert storage.exists(old)
    call_command("media_retention", "--orphans")
    assert not storage.exists(old)
    assert storage.exists(fresh), "a file younger than the grace may be about to get its row"
    assert exists(item) and MediaItem.objects.filter(pk=item.pk).exists()
    storage.delete(fresh)
