"""Turn rows into the message an event sends to one account, in no protocol yet (each
receiver's codec makes its bytes). Pure: the rows come from selectors, nothing is queried here
(a zone's cameras come with it)."""

from __future__ import annotations

from collections.abc import Iterable

from customers.models import Camera, Customer, MonitoringAccount, Zone
from signals.codecs.base import Message, Qualifier
from signals.models import AlarmEvent
from stations.lib import deep_link_url, zone_text

# The longest deep link a message carries; a longer one (an odd PORTAL_BASE_URL) is left out.
URL_MAX = 2000


def video_url(base_url: str, account_number: str, zone_number: int | None) -> str:
    """The deep link an operator opens: ``<base>/monitoring?act=3444&zone=017``, built by the
    same function as the address the customer page and the deep-link pages show.

    Empty when the configured base is not an http(s) URL: a missing link must not stop an
    alarm (the system check ``signals.W001`` reports the setting).
    """
    query = {"act": account_number}
    if zone_number is not None:
        query["zone"] = zone_text(zone_number)
    url = deep_link_url(base_url, query)
    return url if len(url) <= URL_MAX else ""


def camera_description(camera: Camera | None, zone_cameras: Iterable[Camera]) -> str:
    """The camera the event names, else the cameras that show the zone."""
    if camera is not None:
        return camera.name
    return ", ".join(c.name for c in zone_cameras)


def message_build(
    *,
    event: AlarmEvent,
    customer: Customer,
    account: MonitoringAccount,
    zone: Zone | None,
    zone_cameras: Iterable[Camera],
    camera: Camera | None,
    qualifier: Qualifier,
    code: str,
    priority: int,
    reference: str,
    base_url: str,
) -> Message:
    """The message for one account."""
    return Message(
        reference=reference,
        # Without the dealer's prefix when the receiver adds it; the deep link below names the
        # account as the station's software knows it (with the prefix).
        account=account.transmitted_number,
        qualifier=qualifier,
        code=code,
        partition=1,
        zone=event.zone_number or 0,
        priority=priority,
        event_time=event.occurred_at,
        site_name=customer.name or customer.site_id,
        zone_description=zone.name if zone is not None else "",
        camera_description=camera_description(camera, zone_cameras),
        video_url=video_url(base_url, account.account_number, event.zone_number),
    )
