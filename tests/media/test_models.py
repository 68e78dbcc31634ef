"""The media models' rules: constraints, files deleted with their rows, requests."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from media import services
from media.models import MediaItem, MediaRequest
from tests.factories import CameraFactory, CustomerFactory, MediaItemFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_stored_item_has_its_file_under_the_site_and_its_own_code():
    item = MediaItemFactory()
    assert item.file.name.startswith(f"{item.customer.code}/")
    assert item.file.name.endswith(f"{item.code}.jpg")
    assert item.file.storage.exists(item.file.name)
    assert item.size == item.file.storage.size(item.file.name)


def test_deleting_a_row_deletes_its_file_once_committed():
    item = MediaItemFactory()
    storage, name, pk = item.file.storage, item.file.name, item.pk
    with pytest.raises(RuntimeError), transaction.atomic():
        item.delete()
        raise RuntimeError("roll back")
    assert storage.exists(name), "a rolled back deletion keeps the file"
    MediaItem.objects.get(pk=pk).delete()
    assert not storage.exists(name)


def test_deleting_the_site_deletes_its_files():
    item = MediaItemFactory()
    storage, name = item.file.storage, item.file.name
    item.customer.delete()
    assert not storage.exists(name)


def test_one_upload_id_per_bridge():
    item = MediaItemFactory(upload_id="up-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        MediaItemFactory(camera=item.camera, upload_id="up-1")
    MediaItemFactory(camera=item.camera, upload_id="")
    MediaItemFactory(camera=item.camera, upload_id="")  # no id: no rule


def test_a_snapshot_is_a_jpeg():
    with pytest.raises(IntegrityError), transaction.atomic():
        MediaItemFactory(content_type="video/mp4")


def test_request_create_asks_the_cameras_bridge():
    camera = CameraFactory(channel=3)
    request = services.media_request_create(
        customer=camera.bridge.customer, camera=camera, zone_number=17
    )
    assert request.state == MediaRequest.State.PENDING
    assert (request.bridge, request.channel, request.seconds) == (camera.bridge, 3, 120)


def test_request_create_refuses_another_sites_camera():
    camera = CameraFactory()
    with pytest.raises(ValidationError):
        services.media_request_create(customer=CustomerFactory(), camera=camera)
    assert not MediaRequest.objects.exists()


def test_owners_set_when_a_bridge_is_offline_and_how_long_media_is_kept(owner_client, dealer):
    from django.urls import reverse

    url = reverse("dealers:settings")
    data = {"name": dealer.name, "time_zone": dealer.time_zone}
    response = owner_client.post(
        url, {**data, "bridge_offline_minutes": 5, "media_retention_days": 7}
    )
    assert response.status_code == 302
    dealer.refresh_from_db()
    assert (dealer.bridge_offline_minutes, dealer.media_retention_days) == (5, 7)
    response = owner_client.post(
        url, {**data, "bridge_offline_minutes": 1, "media_retention_days": 0}
    )
    errors = response.context["form"].errors
    assert "bridge_offline_minutes" in errors and "media_retention_days" in errors
