"""The device API for media, heartbeats and commands, beside the events API (signals/api.py)
and authenticated, limited and logged the same way: ``Authorization: Bearer <token>`` with the
bridge's serial, the limits of signals/limits.py asked before anything is read, every refusal
logged with its reason, and nothing a device sends answering 500.

``POST /api/devices/media?serial=...&kind=snapshot&channel=2&event_id=42&time=...&upload_id=...``
    The body is the file itself (any Content-Type: the portal decides what it is from its
    bytes). See docs/device-api-media.md for every parameter and answer.
``POST /api/devices/heartbeat`` JSON ``{"serial": ..., "lost_channels": [3]}``
``POST /api/devices/commands`` JSON ``{"serial": ...}``: the bridge's open requests.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from customers.models import Bridge
from media import content, selectors, services
from media.models import UPLOAD_ID_MAX, MediaItem, MediaRequest
from signals import selectors as event_selectors
from signals.api import (
    DeviceInputError,
    authenticate_bridge,
    declared_length,
    device_time,
    error_response,
    json_body,
    limited,
    logs_refusals,
    parse_number,
)
from signals.models import AlarmEvent

logger = logging.getLogger(__name__)

MAX_JSON_BYTES = 16 * 1024
UPLOAD_ID_RE = re.compile(rf"[A-Za-z0-9._:-]{{1,{UPLOAD_ID_MAX}}}")
DEVICE_EVENT_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
LOST_CHANNELS_MAX = 16
STORAGE_RETRY_SECONDS = 30


def _method_not_allowed() -> JsonResponse:
    response = error_response(405, "Use POST.")
    response["Allow"] = "POST"
    return response


def _json_request(request: HttpRequest) -> tuple[Bridge, dict[str, Any]] | JsonResponse:
    """The authenticated bridge of a JSON request with the request's data, or the answer
    refusing it."""
    if request.method != "POST":
        return _method_not_allowed()
    token, refusal = limited(request)
    if refusal is not None:
        return refusal
    data = json_body(request, MAX_JSON_BYTES)
    if isinstance(data, JsonResponse):
        return data
    try:
        bridge = authenticate_bridge(data, token)
    except DeviceInputError as exc:
        return error_response(400, str(exc))
    if bridge is None:
        return error_response(401, "Unknown bridge serial or wrong token.")
    return bridge, data


# --- media uploads --------------------------------------------------------------------------


def _text(params, name: str, pattern: re.Pattern[str], hint: str, *, required: bool) -> str:
    value = params.get(name, "")
    if not value:
        if required:
            raise DeviceInputError(f"{name} is required: {hint}")
        return ""
    if not pattern.fullmatch(value):
        raise DeviceInputError(f"{name} is not valid: {hint}")
    return value


def _media_answer(item: MediaItem, *, created: bool) -> JsonResponse:
    body = {
        "media": str(item.code),
        "kind": item.kind,
        "content_type": item.content_type,
        "size": item.size,
        "sha256": item.sha256,
    }
    return JsonResponse(body, status=201 if created else 200)


def _event_for(bridge: Bridge, params) -> AlarmEvent | None:
    event_id = _text(
        params,
        "event_id",
        DEVICE_EVENT_ID_RE,
        "the bridge's own id of the event, as sent to /api/devices/events.",
        required=False,
    )
    event_code = params.get("event", "")
    if event_id and event_code:
        raise DeviceInputError("Name the event by event_id or by event, not both.")
    if event_id:
        # Of the bridge's site: its old site's events must not take this site's footage.
        event = event_selectors.device_event(bridge, event_id)
        if event is None:
            raise LookupError("This bridge sent no event with this event_id: send the event first.")
        return event
    if event_code:
        try:
            code = uuid.UUID(event_code)
        except ValueError:
            raise DeviceInputError("event must be the event's id the portal answered.") from None
        event = AlarmEvent.objects.filter(customer_id=bridge.customer_id, code=code).first()
        if event is None:
            raise LookupError("No event of this bridge's site has this id.")
        return event
    return None


def _request_for(bridge: Bridge, params) -> MediaRequest | None:
    value = params.get("request", "")
    if not value:
        return None
    try:
        code = uuid.UUID(value)
    except ValueError:
        raise DeviceInputError("request must be the id the commands answer gave.") from None
    # Of the bridge's site: a bridge moved elsewhere answers none of its old site's requests.
    request = MediaRequest.objects.filter(
        bridge=bridge, customer_id=bridge.customer_id, code=code
    ).first()
    if request is None:
        raise LookupError("This bridge has no request with this id.")
    return request


def same_upload(
    stored: MediaItem,
    *,
    kind: str,
    channel: int,
    phase: str,
    event: AlarmEvent | None,
    request: MediaRequest | None,
) -> bool:
    """Whether an upload with the id of one the bridge made already is that upload sent again
    (its answer was lost), rather than other media: the same kind, channel and phase, for the
    same event or request. A new alarm's footage names the new event (its id, reused too, is
    the new event's: ``signals.services.event_record``'s ``supersedes``)."""
    return (
        stored.kind == kind
        and stored.channel == channel
        and stored.phase == phase
        and stored.event_id == (event.pk if event else None)
        and stored.request_id == (request.pk if request else None)
    )


@csrf_exempt
@never_cache
@logs_refusals
def device_media(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return _method_not_allowed()
    token, refusal = limited(request)
    if refusal is not None:
        return refusal
    params = request.GET
    try:
        bridge = authenticate_bridge({"serial": params.get("serial")}, token)
        if bridge is None:
            return error_response(401, "Unknown bridge serial or wrong token.")
        kind = params.get("kind", "")
        if kind not in MediaItem.Kind.values:
            raise DeviceInputError("kind must be snapshot or clip.")
        limit = (
            settings.MEDIA_SNAPSHOT_MAX_BYTES
            if kind == MediaItem.Kind.SNAPSHOT
            else settings.MEDIA_CLIP_MAX_BYTES
        )
        declared = declared_length(request)
        if declared > limit:
            return error_response(413, f"A {kind} may be at most {limit} bytes.")
        upload_id = _text(
            params,
            "upload_id",
            UPLOAD_ID_RE,
            f"the bridge's own id for this upload, 1-{UPLOAD_ID_MAX} letters, digits, "
            "'.', '_', ':' or '-' (the same id again is the same upload).",
            required=True,
        )
        channel = parse_number(params, "channel", 1, bridge.channel_count)
        if channel is None:
            raise DeviceInputError(f"channel is required: 1 to {bridge.channel_count}.")
        phase = params.get("phase", "")
        if phase not in MediaItem.Phase.values:
            raise DeviceInputError("phase must be pre or post (or left out).")
        event = _event_for(bridge, params)
        media_request = _request_for(bridge, params)
        if event is None and media_request is None:
            raise DeviceInputError("Name what the media is for: event_id (or event), or request.")
        # "+01:00" sent without URL-encoding arrives as " 01:00": read it as meant.
        captured_at, wrong_clock = device_time(
            {"time": (params.get("time") or "").replace(" ", "+") or None}
        )
        if wrong_clock:
            logger.warning(
                "bridge %s: a %s said it was taken at %r; kept with the time received",
                bridge.serial,
                kind,
                wrong_clock,
            )
        # The same upload sent again answers as the first time did, before its body is read.
        # An upload id used again for other media (a bridge reset counts from 1 again) is a
        # new upload: footage of a new alarm is never taken for an old upload.
        existing = selectors.stored_upload(bridge, upload_id)
        if existing is not None and same_upload(
            existing, kind=kind, channel=channel, phase=phase, event=event, request=media_request
        ):
            return _media_answer(existing, created=False)
    except DeviceInputError as exc:
        return error_response(400, str(exc))
    except LookupError as exc:
        return error_response(404, str(exc))
    data = request.read(limit + 1)
    if len(data) > limit:
        return error_response(413, f"A {kind} may be at most {limit} bytes.")
    try:
        inspected = content.inspect(
            data,
            kind=kind,
            max_pixels=settings.MEDIA_IMAGE_MAX_PIXELS,
            max_seconds=settings.MEDIA_CLIP_MAX_SECONDS,
        )
    except content.MediaRefused as exc:
        return error_response(415 if exc.wrong_type else 422, str(exc))
    try:
        item = services.media_store(
            bridge=bridge,
            channel=channel,
            kind=kind,
            phase=phase,
            event=event,
            media_request=media_request,
            captured_at=captured_at,
            upload_id=upload_id,
            data=data,
            inspected=inspected,
            supersedes=existing,
        )
    except services.UploadConflict as exc:
        return error_response(409, str(exc))
    except services.StorageUnavailable:
        # The bridge keeps the file and sends it again; nothing was kept here.
        response = error_response(503, "Media storage is unavailable: send again later.")
        response["Retry-After"] = str(STORAGE_RETRY_SECONDS)
        return response
    return _media_answer(item, created=item.is_new)


# --- heartbeats and commands ----------------------------------------------------------------


def _lost_channels(data: dict[str, Any], bridge: Bridge) -> list[int]:
    value = data.get("lost_channels", [])
    if not isinstance(value, list) or len(value) > LOST_CHANNELS_MAX:
        raise DeviceInputError("lost_channels must be a list of camera channels.")
    channels = []
    for channel in value:
        if (
            isinstance(channel, bool)
            or not isinstance(channel, int)
            or not 1 <= channel <= bridge.channel_count
        ):
            raise DeviceInputError(
                f"lost_channels holds camera channels from 1 to {bridge.channel_count}."
            )
        channels.append(channel)
    return sorted(set(channels))


@csrf_exempt
@never_cache
@logs_refusals
def device_heartbeat(request: HttpRequest) -> JsonResponse:
    authenticated = _json_request(request)
    if isinstance(authenticated, JsonResponse):
        return authenticated
    bridge, data = authenticated
    try:
        lost = _lost_channels(data, bridge)
    except DeviceInputError as exc:
        return error_response(400, str(exc))
    result = services.bridge_heartbeat(bridge=bridge, lost_channels=lost)
    return JsonResponse(
        {
            "state": result.state,
            "lost_channels": result.lost_channels,
            "commands": result.open_requests,
        }
    )


@csrf_exempt
@never_cache
@logs_refusals
def device_commands(request: HttpRequest) -> JsonResponse:
    authenticated = _json_request(request)
    if isinstance(authenticated, JsonResponse):
        return authenticated
    bridge, _ = authenticated
    requests = services.media_requests_pick(bridge=bridge)
    commands = [
        {
            "type": "upload_recent",
            "request": str(r.code),
            "channel": r.channel,
            "seconds": r.seconds,
            "requested_at": r.requested_at.isoformat(),
        }
        for r in requests
    ]
    return JsonResponse({"commands": commands})
