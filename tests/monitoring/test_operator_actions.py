"""What an operator does is signalled to their own station: opening a site from a deep link
(cameras viewed, E606) and each verdict (E139 verified real, E406 false alarm, E610 unable to
verify). The request writes one row; the task turns it into an event and signals, once."""

from __future__ import annotations

import threading

import lxml.html
import pytest
from django.db import connection
from django.test import Client

from monitoring import services
from monitoring.models import SiteOpening, Verdict
from monitoring.tasks import report_operator_actions
from signals.lib import EventKind
from signals.models import AlarmEvent, Signal
from tests.factories import (
    AlarmEventFactory,
    BridgeFactory,
    CameraFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    ReceiverFactory,
    StationMembershipFactory,
    UserFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

URL = "/monitoring"


@pytest.fixture
def site(customer, record, dealer):
    """Corner Store, monitored by two stations: the operator's (3444) and station Two (5555)."""
    bridge = BridgeFactory(customer=customer)
    camera = CameraFactory(bridge=bridge, channel=3, name="Stock room")
    ZoneFactory(customer=customer, number=17, name="Stock motion").cameras.add(camera)
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")
    two = ReceiverFactory(station__name="Station Two").station
    record_two = DealerStationFactory(dealer=dealer, receiver=ReceiverFactory(station=two))
    MonitoringAccountFactory(customer=customer, station_record=record_two, account_number="5555")
    customer.station_two = two
    return customer


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def alarm(site):
    return AlarmEventFactory(customer=site, kind="alarm", zone_number=17, description="PIR")


def _signals_of(kind: str) -> list[Signal]:
    return list(Signal.objects.filter(event__kind=kind).order_by("id"))


# --- openings -------------------------------------------------------------------------------


def test_an_opening_goes_to_the_operators_station_only(operator_client, site, station):
    operator_client.get(URL, {"act": "3444", "zone": "017"})
    opening = SiteOpening.objects.get()
    # The request wrote the opening and nothing else.
    assert opening.reported_at is None
    assert not AlarmEvent.objects.filter(kind=EventKind.CAMERAS_VIEWED).exists()

    assert report_operator_actions() == 1

    event = AlarmEvent.objects.get(kind=EventKind.CAMERAS_VIEWED)
    assert event.source == AlarmEvent.Source.OPERATOR
    assert event.zone_number == 17
    assert event.occurred_at == opening.opened_at
    assert "operator" in event.description
    signals = _signals_of(EventKind.CAMERAS_VIEWED)
    assert [(s.station, s.account_number, s.qualifier, s.event_code, s.zone) for s in signals] == [
        (station, "3444", "E", "606", 17)
    ]
    opening.refresh_from_db()
    assert opening.reported_at is not None


def test_reporting_twice_signals_once(operator_client, site):
    operator_client.get(URL, {"act": "3444"})
    operator_client.get(URL, {"act": "3444", "zone": "17"})
    assert report_operator_actions() == 2
    assert report_operator_actions() == 0
    assert len(_signals_of(EventKind.CAMERAS_VIEWED)) == 2


def test_a_failure_mid_way_loses_nothing_and_doubles_nothing(operator_client, site, monkeypatch):
    for _ in range(3):
        operator_client.get(URL, {"act": "3444"})
    real = services.event_record
    calls = {"n": 0}

    def fails_on_the_second(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(services, "event_record", fails_on_the_second)
    with pytest.raises(RuntimeError):
        report_operator_actions()
    # The first is signalled; the second rolled back with its event; the third untouched.
    assert SiteOpening.objects.filter(reported_at__isnull=True).count() == 2
    assert len(_signals_of(EventKind.CAMERAS_VIEWED)) == 1

    monkeypatch.setattr(services, "event_record", real)
    assert report_operator_actions() == 2
    assert len(_signals_of(EventKind.CAMERAS_VIEWED)) == 3
    assert AlarmEvent.objects.filter(kind=EventKind.CAMERAS_VIEWED).count() == 3


@pytest.mark.django_db(transaction=True)
def test_workers_running_at_once_signal_each_opening_once(site, operator, station):
    if connection.vendor != "postgresql":
        pytest.skip("row locks (SKIP LOCKED) need PostgreSQL")
    for zone in range(1, 31):
        SiteOpening.objects.create(user=operator, customer=site, station=station, zone=zone)
    barrier = threading.Barrier(3)
    errors = []

    def worker() -> None:
        try:
            barrier.wait()
            report_operator_actions()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert not SiteOpening.objects.filter(reported_at__isnull=True).exists()
    zones = sorted(s.zone for s in _signals_of(EventKind.CAMERAS_VIEWED))
    assert zones == list(range(1, 31))


# --- verdicts -------------------------------------------------------------------------------


def _verdict_url(event) -> str:
    return f"/operator/events/{event.code}/verdict/"


@pytest.mark.parametrize(
    ("outcome", "kind", "code"),
    [
        ("real", EventKind.VERDICT_REAL, "139"),
        ("false_alarm", EventKind.VERDICT_FALSE_ALARM, "406"),
        ("unverified", EventKind.VERDICT_UNVERIFIED, "610"),
    ],
)
def test_a_verdict_is_recorded_and_signalled_to_the_station_only(
    operator_client,
    site,
    station,
    operator,
    alarm,
    outcome,
    kind,
    code,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            _verdict_url(alarm),
            {"outcome": outcome, "note": "Person at the stock room door", "station": station.code},
            HTTP_HX_REQUEST="true",
        )
    assert response.status_code == 200
    assert 'data-testid="verdict-box"' in response.text
    verdict = Verdict.objects.get()
    assert (verdict.event, verdict.station, verdict.user, verdict.outcome) == (
        alarm,
        station,
        operator,
        outcome,
    )
    # The task ran at once (the engine runs tasks inline in tests) and signalled it.
    verdict.refresh_from_db()
    assert verdict.reported_at is not None
    assert verdict.signal_event.kind == kind
    assert "Person at the stock room door" in verdict.signal_event.description
    signals = _signals_of(kind)
    assert [(s.station, s.account_number, s.event_code, s.zone) for s in signals] == [
        (station, "3444", code, 17)
    ]
    assert report_operator_actions() == 0


def test_without_htmx_a_verdict_returns_to_the_site(operator_client, site, alarm):
    response = operator_client.post(_verdict_url(alarm), {"outcome": "false_alarm"})
    assert response.status_code == 302
    assert response["Location"] == f"/operator/sites/{site.code}/"
    page = operator_client.get(response["Location"])
    assert page.status_code == 200
    assert "False alarm" in page.text
    assert "Verdict recorded" in page.text


def test_a_verdict_form_shows_its_errors(operator_client, site, alarm):
    response = operator_client.post(
        _verdict_url(alarm), {"outcome": "maybe"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200  # htmx swaps only 2xx answers
    assert "Select a valid choice" in response.text
    response = operator_client.post(_verdict_url(alarm), {"note": "x" * 3000})
    assert response.status_code == 400
    assert "This field is required" in response.text
    assert "at most 2000 characters" in response.text
    assert not Verdict.objects.exists()


def test_an_operator_of_two_stations_must_say_which(client, site, operator, alarm):
    StationMembershipFactory(station=site.station_two, user=operator)
    client.force_login(operator)
    response = client.post(_verdict_url(alarm), {"outcome": "real"})
    assert response.status_code == 400
    assert "Say for which of your stations" in response.text
    response = client.post(
        _verdict_url(alarm), {"outcome": "real", "station": site.station_two.code}
    )
    assert response.status_code == 302
    assert Verdict.objects.get().station == site.station_two


def test_a_verdict_for_a_station_one_does_not_work_at_is_refused(
    operator_client, site, alarm, other_operator
):
    other = other_operator.station_memberships.get().station
    response = operator_client.post(_verdict_url(alarm), {"outcome": "real", "station": other.code})
    assert response.status_code == 400
    assert not Verdict.objects.exists()


@pytest.mark.parametrize("who", ["other_operator", "owner", "outsider"])
def test_nobody_else_records_a_verdict(client, site, alarm, who, request):
    user = request.getfixturevalue(who)
    client.force_login(user)
    response = client.post(_verdict_url(alarm), {"outcome": "real"})
    assert response.status_code in (403, 404)
    assert not Verdict.objects.exists()


def test_a_verdict_needs_a_signed_in_post(client, operator_client, site, alarm):
    response = Client().post(_verdict_url(alarm), {"outcome": "real"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert operator_client.get(_verdict_url(alarm)).status_code == 405


def test_the_page_shows_the_alarm_first_with_the_verdicts_of_this_station_only(
    client, site, station, operator, alarm
):
    operator_two = StationMembershipFactory(
        station=site.station_two, user=UserFactory(username="op-two")
    ).user
    services.verdict_record(
        event=alarm, station=site.station_two, user=operator_two, outcome="real", note="two"
    )
    services.verdict_record(
        event=alarm, station=station, user=operator, outcome="false_alarm", note="Cat"
    )
    client.force_login(operator)
    response = client.get(URL, {"act": "3444", "zone": "017"})
    featured = response.text.split('data-testid="featured-alarm"')[1].split("</section>")[0]
    assert "Alarm · zone 017 Stock motion" in featured
    assert "(America/New_York)" in featured
    assert "False alarm" in featured and "Cat" in featured
    # Station Two's verdict is Station Two's business.
    assert featured.count('data-testid="verdict"') == 1
    assert "op-two" not in response.text and "two" not in featured.split("Cat")[1]


def test_each_stations_operator_gets_the_verdict_form_of_their_own_station(
    client, site, station, operator, alarm
):
    """The page's verdict form is rendered once per station and kept: each station's own."""
    operator_two = StationMembershipFactory(station=site.station_two).user
    for user, account, mine in ((operator, "3444", station), (operator_two, "5555", None)):
        mine = mine or site.station_two
        client.force_login(user)
        page = lxml.html.fromstring(client.get(URL, {"act": account, "zone": "017"}).content)
        (form,) = page.xpath('//form[@data-testid="verdict-form"]')
        (hidden,) = form.xpath('.//input[@name="station"]')
        assert hidden.get("value") == str(mine.code)
        assert form.xpath('.//input[@name="outcome"]/@value') == [
            "real",
            "false_alarm",
            "unverified",
        ]
        # Sent as the page has it, the verdict is recorded for that station.
        response = client.post(
            form.get("action"), {"outcome": "real", "station": hidden.get("value")}
        )
        assert response.status_code == 302
        assert Verdict.objects.filter(station=mine, user=user).count() == 1


def test_a_zone_without_an_alarm_features_nothing(operator_client, site):
    AlarmEventFactory(customer=site, kind="alarm", zone_number=3)
    response = operator_client.get(URL, {"act": "3444", "zone": "17"})
    assert response.context["featured"] is None
    assert 'data-testid="featured-alarm"' not in response.text


def test_the_site_page_by_code_records_no_opening(operator_client, site, other_operator):
    response = operator_client.get(f"/operator/sites/{site.code}/")
    assert response.status_code == 200
    assert not SiteOpening.objects.exists()
    client = Client()
    client.force_login(other_operator)
    assert client.get(f"/operator/sites/{site.code}/").status_code == 404


def test_the_admin_lists_verdicts_and_openings(admin_client, site, station, operator, alarm):
    services.verdict_record(event=alarm, station=station, user=operator, outcome="real", note="")
    SiteOpening.objects.create(user=operator, customer=site, station=station)
    assert admin_client.get("/admin/monitoring/verdict/").status_code == 200
    verdict = Verdict.objects.get()
    page = admin_client.get(f"/admin/monitoring/verdict/{verdict.pk}/change/")
    assert page.status_code == 200 and "Verified real" in page.text
    assert admin_client.get("/admin/monitoring/siteopening/").status_code == 200
