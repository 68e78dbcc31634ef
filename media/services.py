"""Writes of the media app: "last two minutes" requests, storing uploaded media, bridges'
heartbeats and the watchdog, and retention."""

from __future__ import annotations

import logging

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from customers.models import Camera, Customer
from media.models import REQUEST_SECONDS_DEFAULT, MediaRequest

logger = logging.getLogger(__name__)


def media_request_create(
    *,
    customer: Customer,
    camera: Camera,
    zone_number: int | None = None,
    requested_by: AbstractBaseUser | None = None,
    seconds: int = REQUEST_SECONDS_DEFAULT,
) -> MediaRequest:
    """Ask the camera's bridge for its last ``seconds`` of video. The bridge picks the request
    up when it next polls for commands and answers with an upload naming the request.

    The caller has scoped the site (an operator of one of its stations, or its dealer); the
    camera must be one of that site's.
    """
    if camera.bridge.customer_id != customer.pk:
        raise ValidationError({"camera": "Choose one of this site's cameras."})
    request = MediaRequest(
        customer=customer,
        bridge=camera.bridge,
        camera=camera,
        channel=camera.channel,
        zone_number=zone_number,
        requested_by=requested_by,
        seconds=seconds,
        requested_at=timezone.now(),
    )
    request.full_clean(exclude=["customer", "bridge", "camera", "requested_by"])
    with transaction.atomic():
        request.save()
    return request
