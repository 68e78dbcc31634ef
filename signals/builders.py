"""Turn rows into alarm packages. Pure: the rows come from selectors, nothing is queried here
(a zone's cameras must be prefetched)."""

from __future__ import annotations

import logging

from customers.models import Camera, Customer, MonitoringAccount, Zone
from signals.models import AlarmEvent
from signals.xml_v1 import RECEIVER_ID_RE, URL_MAX, Package, Qualifier
from stations.lib import deep_link_url, zone_text

logger = logging.getLogger(__name__)


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


def _receiver_id(value: str, what: str) -> str:
    if value and not RECEIVER_ID_RE.fullmatch(value):
        # The station's settings carry something the protocol cannot: leave it out, loudly.
        logger.warning("Receiver %s %r is not 1-20 letters or digits; left out", what, value)
        return ""
    return value


def camera_description(zone: Zone | None, camera: Camera | None) -> str:
    """The camera the event names, else the cameras that show the zone."""
    if camera is not None:
        return camera.name
    if zone is not None:
        return ", ".join(c.name for c in zone.cameras.all())
    return ""


def package_build(
    *,
    event: AlarmEvent,
    customer: Customer,
    account: MonitoringAccount,
    zone: Zone | None,
    camera: Camera | None,
    qualifier: Qualifier,
    code: str,
    priority: int,
    reference: str,
    base_url: str,
) -> Package:
    """The package for one account. ``account.station_record.receiver`` must be selected."""
    receiver = account.station_record.receiver
    return Package(
        reference=reference,
        # Without the dealer's prefix when the receiver adds it; the deep link below names the
        # account as the station's software knows it (with the prefix).
        account=account.transmitted_number,
        receiver_number=_receiver_id(receiver.receiver_number, "number"),
        receiver_line=_receiver_id(receiver.line_number, "line"),
        qualifier=qualifier,
        code=code,
        partition=1,
        zone=event.zone_number or 0,
        priority=priority,
        event_time=event.occurred_at,
        site_name=customer.name or customer.site_id,
        zone_description=zone.name if zone is not None else "",
        camera_description=camera_description(zone, camera),
        video_url=video_url(base_url, account.account_number, event.zone_number),
    )
