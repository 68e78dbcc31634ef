"""Media goes through Django's storage API: the default folder, and an S3-compatible object
store (moto's server: a real HTTP server on loopback that these tests start themselves)."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest
from django.core.files.storage import FileSystemStorage
from django.utils import timezone
from moto.server import ThreadedMotoServer

from media import services
from media.models import MediaItem, MediaRequest
from media.storage import media_storage
from signals import services as signal_services
from tests.factories import CameraFactory, MediaItemFactory, MediaRequestFactory
from tests.media import hostile
from tests.media.test_device_api import upload

BUCKET = "portal-media-test"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, settings):
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "media": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "location": "media",
                "addressing_style": "path",
                "default_acl": None,
                "file_overwrite": False,
            },
        },
    }
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


@pytest.mark.django_db(transaction=True)
def test_the_default_is_a_folder_on_disk():
    item = MediaItemFactory()
    storage = media_storage()
    assert isinstance(storage, FileSystemStorage)
    assert (storage.path(item.file.name)).endswith(item.file.name)
    with open(storage.path(item.file.name), "rb") as stored:
        assert stored.read()[:3] == b"\xff\xd8\xff"


@pytest.mark.django_db(transaction=True)
def test_an_upload_lands_in_the_bucket_and_reads_back(s3, client, customer):
    camera = CameraFactory(bridge__customer=customer, bridge__serial="BR-0001", channel=1)
    token = signal_services.bridge_token_issue(bridge=camera.bridge)
    request = MediaRequestFactory(camera=camera)
    data = hostile.clip()
    response = upload(
        client, token, data, kind="clip", event_id=None, request=request.code, serial="BR-0001"
    )
    assert response.status_code == 201, response.content
    item = MediaItem.objects.get()
    assert keys(s3) == [f"media/{item.file.name}"]
    stored = s3.get_object(Bucket=BUCKET, Key=f"media/{item.file.name}")["Body"].read()
    assert stored == data
    with item.file.open("rb") as handle:
        assert handle.read() == data
    assert MediaRequest.objects.get().state == MediaRequest.State.DONE


@pytest.mark.django_db(transaction=True)
def test_a_refused_upload_leaves_the_bucket_empty(s3, client, customer):
    camera = CameraFactory(bridge__customer=customer, bridge__serial="BR-0001", channel=1)
    token = signal_services.bridge_token_issue(bridge=camera.bridge)
    request = MediaRequestFactory(camera=camera)
    response = upload(
        client,
        token,
        hostile.truncated_clip(),
        kind="clip",
        event_id=None,
        request=request.code,
        serial="BR-0001",
    )
    assert response.status_code == 422
    assert keys(s3) == []
    assert not MediaItem.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_retention_deletes_the_object_with_its_row(s3):
    item = MediaItemFactory(created_at=timezone.now() - timedelta(days=60))
    kept = MediaItemFactory()
    assert len(keys(s3)) == 2
    assert services.media_retention_apply() == 1
    assert keys(s3) == [f"media/{kept.file.name}"]
    assert not MediaItem.objects.filter(pk=item.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_orphan_sweep_reads_the_bucket(s3):
    kept = MediaItemFactory()
    s3.put_object(Bucket=BUCKET, Key="media/stray/left-behind.jpg", Body=b"stray")
    later = timezone.now() + timedelta(hours=2)
    assert services.media_orphans_delete(now=later) == ["stray/left-behind.jpg"]
    assert keys(s3) == [f"media/{kept.file.name}"]
