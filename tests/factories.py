"""factory-boy factories for the whole suite."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.utils import timezone

from customers.models import Bridge, Camera, Customer, MonitoringAccount, Zone
from dealers.models import Dealer, Membership
from stations.models import (
    DealerStation,
    MonitoringStation,
    Receiver,
    ReceiverPath,
    StationMembership,
)

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(PASSWORD)


class DealerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dealer

    name = factory.Sequence(lambda n: f"Dealer {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    dealer = factory.SubFactory(DealerFactory)
    role = Membership.Role.OWNER


# --- stations -------------------------------------------------------------------------------

RECEIVER_PASSKEY = "station-passkey-42"


class MonitoringStationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MonitoringStation

    name = factory.Sequence(lambda n: f"Station {n}")
    platform = MonitoringStation.Platform.MASTERMIND


class ReceiverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Receiver

    station = factory.SubFactory(MonitoringStationFactory)
    name = factory.Sequence(lambda n: f"Receiver {n}")
    receiver_number = "1"
    line_number = "1"
    passkey_hash = factory.LazyFunction(lambda: make_password(RECEIVER_PASSKEY))


class ReceiverPathFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReceiverPath

    receiver = factory.SubFactory(ReceiverFactory)
    role = ReceiverPath.Role.PRIMARY
    host = "127.0.0.1"
    port = 9100
    use_tls = False


class StationMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StationMembership

    user = factory.SubFactory(UserFactory)
    station = factory.SubFactory(MonitoringStationFactory)
    role = StationMembership.Role.OPERATOR


class DealerStationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DealerStation

    dealer = factory.SubFactory(DealerFactory)
    receiver = factory.SubFactory(ReceiverFactory)
    station = factory.LazyAttribute(lambda o: o.receiver.station)
    name = factory.Sequence(lambda n: f"Record {n}")


# --- customers ------------------------------------------------------------------------------


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    dealer = factory.SubFactory(DealerFactory)
    name = factory.Sequence(lambda n: f"Site {n:05d}")
    address = factory.Sequence(lambda n: f"{n} Main Street")
    city = "Springfield"
    time_zone = "America/New_York"


class BridgeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bridge

    customer = factory.SubFactory(CustomerFactory)
    serial = factory.Sequence(lambda n: f"BR{n:08d}")
    model = Bridge.Model.CH4


class CameraFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Camera

    bridge = factory.SubFactory(BridgeFactory)
    channel = factory.Sequence(lambda n: n % 4 + 1)
    name = factory.Sequence(lambda n: f"Camera {n}")


class ZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Zone

    customer = factory.SubFactory(CustomerFactory)
    number = factory.Sequence(lambda n: n % 999 + 1)
    name = factory.Sequence(lambda n: f"Zone {n}")
    zone_type = Zone.Type.INSTANT


class MonitoringAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MonitoringAccount

    customer = factory.SubFactory(CustomerFactory)
    station_record = factory.SubFactory(
        DealerStationFactory, dealer=factory.SelfAttribute("..customer.dealer")
    )
    account_number = factory.Sequence(lambda n: f"{n + 1000}")


# --- signals --------------------------------------------------------------------------------


class AlarmEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "signals.AlarmEvent"

    customer = factory.SubFactory(CustomerFactory)
    kind = "alarm"
    source = "device"
    zone_number = 17
    occurred_at = factory.LazyFunction(timezone.now)


def _signal_payload(signal) -> bytes:
    from signals.codecs.xml_v1 import Package, encode

    return encode(
        Package(
            reference=signal.reference,
            account=signal.account_number,
            qualifier=signal.qualifier,
            code=signal.event_code,
            partition=signal.partition,
            zone=signal.zone,
            priority=signal.priority,
            event_time=signal.event.occurred_at,
            site_name=signal.customer.name,
        )
    )


class SignalFactory(factory.django.DjangoModelFactory):
    """A pending signal with a valid XML v1 payload, for the account's receiver."""

    class Meta:
        model = "signals.Signal"

    account = factory.SubFactory(MonitoringAccountFactory)
    event = factory.SubFactory(
        AlarmEventFactory, customer=factory.SelfAttribute("..account.customer")
    )
    customer = factory.SelfAttribute("account.customer")
    dealer = factory.SelfAttribute("account.customer.dealer")
    account_number = factory.SelfAttribute("account.account_number")
    station_record = factory.SelfAttribute("account.station_record")
    station = factory.SelfAttribute("account.station")
    receiver = factory.SelfAttribute("account.station_record.receiver")
    protocol = "xml_v1"
    qualifier = "E"
    event_code = "130"
    partition = 1
    zone = 17
    priority = 3
    event_time = factory.SelfAttribute("event.occurred_at")
    site_name = factory.SelfAttribute("customer.name")
    transmitted_number = factory.SelfAttribute("account_number")
    reference = factory.LazyFunction(lambda: str(uuid.uuid4()))
    payload = factory.LazyAttribute(_signal_payload)
    deadline_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=5))


class DeliveryAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "signals.DeliveryAttempt"

    signal = factory.SubFactory(SignalFactory)
    path_role = "primary"
    dispatcher_id = "test-dispatcher"
    duration_ms = 12
    outcome = "retry"
    reply = b"<reply>busy</reply>"


class EventCodeFactory(factory.django.DjangoModelFactory):
    """A dealer-level library entry unless a customer (site) or zone is given."""

    class Meta:
        model = "signals.EventCode"

    dealer = factory.SubFactory(DealerFactory)
    trigger = "zone.instant"
    event_code = "130"
    enabled = True


class NotificationRecipientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "dealers.NotificationRecipient"

    dealer = factory.SubFactory(DealerFactory)
    email = factory.Sequence(lambda n: f"alerts{n}@example.com")


# --- media ----------------------------------------------------------------------------------


def jpeg_bytes(width: int = 32, height: int = 24, color: str = "navy") -> bytes:
    """A real JPEG (Pillow), as a bridge would upload it."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG")
    return buffer.getvalue()


def _sha256_of(content: ContentFile) -> str:
    content.seek(0)
    digest = hashlib.sha256(content.read()).hexdigest()
    content.seek(0)
    return digest


class MediaItemFactory(factory.django.DjangoModelFactory):
    """A stored snapshot (a real JPEG in the media storage) of a camera of a site."""

    class Meta:
        model = "media.MediaItem"

    camera = factory.SubFactory(CameraFactory)
    bridge = factory.SelfAttribute("camera.bridge")
    customer = factory.SelfAttribute("bridge.customer")
    channel = factory.SelfAttribute("camera.channel")
    kind = "snapshot"
    content_type = "image/jpeg"
    captured_at = factory.LazyFunction(timezone.now)
    width = 32
    height = 24
    file = factory.LazyFunction(lambda: ContentFile(jpeg_bytes(), name="snapshot.jpg"))
    size = factory.LazyAttribute(lambda item: item.file.size)
    sha256 = factory.LazyAttribute(lambda item: _sha256_of(item.file))


class MediaRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "media.MediaRequest"

    camera = factory.SubFactory(CameraFactory)
    bridge = factory.SelfAttribute("camera.bridge")
    customer = factory.SelfAttribute("bridge.customer")
    channel = factory.SelfAttribute("camera.channel")
