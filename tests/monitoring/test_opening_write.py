"""Recording an opening: off the operator's path, never lost once the page was served.

These tests commit for real (``transaction=True``): the opening is written on a connection of
its own, which sees only committed rows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import DatabaseError, connection, transaction

from customers.models import MonitoringAccount
from monitoring import services
from monitoring.models import SiteOpening
from tests.factories import (
    BridgeFactory,
    CameraFactory,
    CustomerFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    ReceiverFactory,
    StationMembershipFactory,
    ZoneFactory,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="writes off the path on PostgreSQL only"
    ),
]

URL = "/monitoring"


@pytest.fixture
def site(customer, record):
    bridge = BridgeFactory(customer=customer)
    camera = CameraFactory(bridge=bridge, channel=1, name="Door")
    ZoneFactory(customer=customer, number=17).cameras.add(camera)
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")
    return customer


@contextmanager
def openings_locked() -> Iterator[threading.Event]:
    """Another session holds a lock that makes every INSERT into the openings wait; set the
    yielded event to let them through."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("LOCK TABLE monitoring_siteopening IN SHARE MODE")
                locked.set()
                release.wait(20)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        yield release
    finally:
        release.set()
        holder.join(20)


def test_the_write_runs_beside_the_caller_and_wait_returns_it_committed(site, operator, station):
    with openings_locked() as release:
        start = time.monotonic()
        pending = services.opening_record_started(
            user=operator, customer=site, station=station, zone=17, parameters={"act": "3444"}
        )
        # The caller goes on at once, although the INSERT cannot complete yet.
        assert time.monotonic() - start < 1
        assert not SiteOpening.objects.exists()
        threading.Timer(0.5, release.set).start()
        opening = pending.wait()
    assert time.monotonic() - start >= 0.5
    stored = SiteOpening.objects.get()
    assert stored.pk == opening.pk
    assert (stored.user, stored.customer, stored.station, stored.zone, stored.reported_at) == (
        operator,
        site,
        station,
        17,
        None,
    )


def test_the_page_is_served_only_once_its_opening_is_committed(client, operator, site):
    client.force_login(operator)
    result = {}

    def open_site() -> None:
        try:
            result["response"] = client.get(URL, {"act": "3444", "zone": "17"})
        finally:
            connection.close()

    with openings_locked() as release:
        request = threading.Thread(target=open_site)
        request.start()
        request.join(1.5)
        # The page is ready, but it is not served while its opening cannot be committed.
        assert request.is_alive()
        assert "response" not in result
        release.set()
        request.join(20)
    assert result["response"].status_code == 200
    assert SiteOpening.objects.filter(customer=site, user=operator, zone=17).count() == 1


@pytest.fixture
def openings_refused():
    """The database refuses every opening (as when it runs out of disk)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_opening() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'no openings today'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_opening BEFORE INSERT ON monitoring_siteopening "
            "FOR EACH ROW EXECUTE FUNCTION refuse_opening()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse_opening ON monitoring_siteopening")
        cursor.execute("DROP FUNCTION refuse_opening()")


def test_a_page_whose_opening_was_not_recorded_is_not_served(
    client, operator, site, openings_refused
):
    client.force_login(operator)
    response = client.get(URL, {"act": "3444", "zone": "17"})
    assert response.status_code == 503
    assert "could not record that you opened this site" in response.text
    assert "Door" not in response.text
    assert not SiteOpening.objects.exists()


# --- which links record an opening ------------------------------------------------------------


@pytest.fixture
def second_station(dealer, operator):
    """Another station the operator works at, with a record of the dealer's."""
    record_two = DealerStationFactory(dealer=dealer, receiver=ReceiverFactory(station__name="Two"))
    StationMembershipFactory(station=record_two.station, user=operator)
    return record_two


def test_a_link_to_one_site_at_two_of_the_operators_stations_records_it_at_the_first(
    client, operator, site, second_station
):
    MonitoringAccountFactory(customer=site, station_record=second_station, account_number="3444")
    client.force_login(operator)
    response = client.get(URL, {"act": "3444"})
    assert response.status_code == 200
    (opening,) = SiteOpening.objects.all()
    # The page's station: the first of the site's stations by name, as the page shows it.
    assert opening.station == response.context["match"].station
    assert (opening.customer, opening.user) == (site, operator)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"act": "3444"}, 200),  # the chooser
        ({"act": "NOSUCH"}, 404),
        ({"act": "3444", "uid": "R9"}, 409),
    ],
    ids=["chooser", "unknown", "disagree"],
)
def test_a_link_that_shows_no_site_records_nothing(
    client, operator, site, second_station, params, status
):
    # 3444 names a site at each of the operator's stations: the chooser.
    MonitoringAccountFactory(
        customer=CustomerFactory(dealer=site.dealer),
        station_record=second_station,
        account_number="3444",
    )
    MonitoringAccountFactory(
        customer=CustomerFactory(dealer=site.dealer),
        station_record=second_station,
        account_number="9999",
        reference_id="R9",
    )
    client.force_login(operator)
    response = client.get(URL, params)
    assert response.status_code == status
    assert "site" not in response.context
    assert not SiteOpening.objects.exists()


def test_a_link_whose_number_also_names_another_site_is_still_recorded(
    client, operator, site, second_station
):
    # 3444 also names another site at the operator's second station; the reference ID picks
    # this one, and it is this one's opening that is recorded.
    MonitoringAccount.objects.filter(customer=site).update(reference_id="R1")
    MonitoringAccountFactory(
        customer=CustomerFactory(dealer=site.dealer),
        station_record=second_station,
        account_number="3444",
    )
    client.force_login(operator)
    response = client.get(URL, {"act": "3444", "uid": "R1", "zone": "17"})
    assert response.status_code == 200
    assert response.context["site"] == site
    (opening,) = SiteOpening.objects.all()
    assert (opening.customer, opening.user, opening.zone) == (site, operator, 17)


def test_a_link_with_one_identifier_unmatched_records_nothing(client, operator, site):
    client.force_login(operator)
    response = client.get(URL, {"act": "3444", "uid": "NOPE"})
    assert response.status_code == 404
    assert not SiteOpening.objects.exists()


# --- the connections openings are written on -------------------------------------------------


def _kept() -> list[int]:
    """The server process of each connection kept for openings."""
    return [side.connection.pgconn.backend_pid for side in _kept_sides()]


def _kept_sides() -> list:
    return [side for side, _ in services._side_connections()._idle]


def _record(site, operator, station) -> SiteOpening:
    return services.opening_record_started(
        user=operator, customer=site, station=station, zone=None, parameters={}
    ).wait()


@pytest.fixture
def kept_connections(settings):
    """As in production: the connection is kept between writes."""
    settings.OPENING_WRITER_IDLE_SECONDS = 30
    services.opening_connections_release()
    yield
    services.opening_connections_release()


def test_one_write_after_another_uses_the_same_connection(
    kept_connections, site, operator, station
):
    _record(site, operator, station)
    (first,) = _kept()
    _record(site, operator, station)
    assert _kept() == [first]
    assert SiteOpening.objects.count() == 2


def test_a_connection_whose_write_failed_is_never_used_again(
    kept_connections, site, operator, station, openings_refused
):
    with pytest.raises(DatabaseError, match="no openings today"):
        _record(site, operator, station)
    assert _kept() == []


def test_a_kept_connection_the_server_closed_is_replaced_without_losing_the_opening(
    kept_connections, site, operator, station
):
    _record(site, operator, station)
    (first,) = _kept()
    # As when the database restarts between two deep links.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
    for _ in range(50):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [first])
            if cursor.fetchone()[0] == 0:
                break
        time.sleep(0.05)
    opening = _record(site, operator, station)
    assert SiteOpening.objects.filter(pk=opening.pk).exists()
    (second,) = _kept()
    assert second != first


def test_an_idle_connection_goes_back_without_another_deep_link(
    kept_connections, settings, site, operator, station
):
    settings.OPENING_WRITER_IDLE_SECONDS = 0.2
    services.opening_connections_release()  # the reaper takes the new idle time
    _record(site, operator, station)
    (first,) = _kept_sides()
    for _ in range(40):
        if not _kept_sides():
            break
        time.sleep(0.05)
    assert _kept_sides() == []
    assert first.connection is None  # given back
    # Without an idle time (the test settings), it goes back after every write.
    settings.OPENING_WRITER_IDLE_SECONDS = 0
    _record(site, operator, station)
    assert _kept() == []


def test_a_write_refused_at_its_commit_is_not_an_opening(kept_connections, operator, station):
    """The row came back from the INSERT, but its transaction did not commit (a foreign key is
    checked at commit): the page must not be served."""
    gone = CustomerFactory()
    gone_pk = gone.pk
    gone.delete()
    gone.pk = gone_pk
    with pytest.raises(DatabaseError, match="foreign key"):
        _record(gone, operator, station)
    assert not SiteOpening.objects.exists()
    assert _kept() == []


def test_a_write_that_cannot_commit_in_time_fails_the_page(
    kept_connections, monkeypatch, site, operator, station
):
    monkeypatch.setattr(services, "WRITE_DEADLINE_SECONDS", 0.5)
    with openings_locked():
        pending = services.opening_record_started(
            user=operator, customer=site, station=station, zone=None, parameters={}
        )
        with pytest.raises(DatabaseError, match=r"within 0\.5 s"):
            pending.wait()
        assert _kept() == []
    # Called off: it does not land once the table is free again.
    time.sleep(0.3)
    assert not SiteOpening.objects.exists()


def test_a_page_that_fails_still_gives_its_openings_connection_back(
    kept_connections, client, operator, site, monkeypatch
):
    from monitoring import views

    def broken(*args, **kwargs):
        raise RuntimeError("the page broke")

    monkeypatch.setattr(views, "_site_response", broken)
    client.force_login(operator)
    with pytest.raises(RuntimeError, match="the page broke"):
        client.get(URL, {"act": "3444", "zone": "17"})
    # Its write was collected: the connection is kept for the next deep link, not lost.
    assert len(_kept()) == 1
    assert SiteOpening.objects.filter(customer=site, user=operator).count() == 1


def test_no_connection_to_write_the_opening_on_is_a_503_not_an_error(
    kept_connections, client, operator, site, monkeypatch
):
    def pool_dry(*args, **kwargs):
        raise DatabaseError("couldn't get a connection after 10.00 sec")

    monkeypatch.setattr(services._side_connections(), "take", pool_dry)
    client.force_login(operator)
    response = client.get(URL, {"act": "3444", "zone": "17"})
    assert response.status_code == 503
    assert "could not record that you opened this site" in response.text
