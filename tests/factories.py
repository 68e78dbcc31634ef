"""factory-boy factories for the whole suite."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

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
