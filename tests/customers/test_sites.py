"""Customer pages: list with search and filters, detail sections, add, edit, archive."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from customers.models import Customer
from tests.factories import (
    BridgeFactory,
    CameraFactory,
    CustomerFactory,
    MonitoringAccountFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

LIST = reverse("customers:list")
CREATE = reverse("customers:create")


def _detail(c):
    return reverse("customers:detail", args=[c.code])


def _update(c):
    return reverse("customers:update", args=[c.code])


def _archive(c):
    return reverse("customers:archive", args=[c.code])


def _data(**overrides):
    data = {
        "name": "New Bakery",
        "address": "5 Baker Street",
        "city": "Springfield",
        "region": "IL",
        "postal_code": "62701",
        "country": "United States",
        "time_zone": "America/Chicago",
        "notes": "",
    }
    return {**data, **overrides}


# --- access ---------------------------------------------------------------------------------


def test_pages_require_sign_in(client, customer):
    for url in (LIST, CREATE, _detail(customer), _update(customer)):
        assert client.get(url).status_code == 302
    assert client.post(_archive(customer)).status_code == 302


def test_pages_refuse_wrong_methods(owner_client, customer):
    assert owner_client.post(LIST).status_code == 405
    assert owner_client.post(_detail(customer)).status_code == 405
    assert owner_client.put(CREATE).status_code == 405
    assert owner_client.put(_update(customer)).status_code == 405
    assert owner_client.get(_archive(customer)).status_code == 405


def test_viewer_reads_but_gets_403_on_every_write(viewer_client, customer):
    assert viewer_client.get(LIST).status_code == 200
    assert viewer_client.get(_detail(customer)).status_code == 200
    assert viewer_client.get(CREATE).status_code == 403
    assert viewer_client.post(CREATE, _data()).status_code == 403
    assert viewer_client.get(_update(customer)).status_code == 403
    assert viewer_client.post(_update(customer), _data()).status_code == 403
    assert viewer_client.post(_archive(customer)).status_code == 403
    customer.refresh_from_db()
    assert (customer.name, customer.status) == ("Corner Store", "active")
    assert Customer.objects.count() == 1


def test_outsider_gets_404_on_our_customer(outsider_client, customer):
    assert outsider_client.get(_detail(customer)).status_code == 404
    assert outsider_client.get(_update(customer)).status_code == 404
    assert outsider_client.post(_update(customer), _data()).status_code == 404
    assert outsider_client.post(_archive(customer)).status_code == 404
    customer.refresh_from_db()
    assert (customer.name, customer.status) == ("Corner Store", "active")


# --- list -----------------------------------------------------------------------------------


def test_list_shows_only_this_dealers_active_customers(owner_client, customer, outsider_customer):
    archived = CustomerFactory(dealer=customer.dealer, status="archived")
    response = owner_client.get(LIST)
    assert list(response.context["customers"]) == [customer]
    assert "Their Warehouse" not in response.text
    everything = owner_client.get(LIST, {"status": "all"}).context["customers"]
    assert set(everything) == {customer, archived}


def test_the_lists_rows_show_dealer_typed_text_as_text(owner_client, dealer, record):
    """The rows are Jinja2 (customers/_customer_rows.jinja): a name or an address with markup
    in it reaches the page as text, and each row shows its accounts and its status's label."""
    import lxml.html

    hostile = '<img src=x onerror="alert(1)">'
    site = CustomerFactory(dealer=dealer, name=f"Shop {hostile}", address=f"1 {hostile} Road")
    MonitoringAccountFactory(customer=site, station_record=record, account_number="3444")
    CustomerFactory(dealer=dealer, name="Closed", address="9 Oak Lane", status="archived")

    response = owner_client.get(LIST, {"status": "all"})
    assert hostile not in response.text
    page = lxml.html.fromstring(response.content)
    assert not page.xpath("//img[@onerror]")
    rows = [
        [cell.text_content() for cell in row.xpath("td")]
        for row in page.xpath('//table[@data-testid="customer-list"]/tbody/tr')
    ]
    assert rows == [
        ["Closed", "9 Oak Lane, Springfield", "—", "Archived"],
        [f"Shop {hostile}", f"1 {hostile} Road, Springfield", "3444", "Active"],
    ]


def test_search_by_name_address_account_and_site_id(owner_client, dealer, customer, record):
    other = CustomerFactory(dealer=dealer, name="Bakery", address="2 Rye Lane")
    MonitoringAccountFactory(customer=other, station_record=record, account_number="ABC123")
    for term, expected in [
        ("corner", [customer]),
        ("rye lane", [other]),
        ("abc1", [other]),
        (other.site_id.lower(), [other]),
        ("nothing-like-it", []),
    ]:
        found = list(owner_client.get(LIST, {"q": term}).context["customers"])
        assert found == expected, term


def test_search_never_finds_another_dealers_accounts(
    owner_client, outsider_customer, outsider_record
):
    MonitoringAccountFactory(
        customer=outsider_customer, station_record=outsider_record, account_number="777"
    )
    assert list(owner_client.get(LIST, {"q": "777"}).context["customers"]) == []


def test_filter_by_station_record(owner_client, dealer, customer, record):
    MonitoringAccountFactory(customer=customer, station_record=record)
    CustomerFactory(dealer=dealer, name="Unmonitored")
    found = owner_client.get(LIST, {"station": str(record.code)}).context["customers"]
    assert list(found) == [customer]


def test_list_paginates(owner_client, dealer):
    CustomerFactory.create_batch(60, dealer=dealer)
    first = owner_client.get(LIST)
    assert len(first.context["customers"]) == 50
    assert first.context["paginator"].count == 60
    assert "Page 1 of 2 · 60 customers" in first.text
    assert "&amp;page=2" in first.text or "&page=2" in first.text
    assert len(owner_client.get(LIST, {"page": 2}).context["customers"]) == 10
    assert owner_client.get(LIST, {"page": 99}).status_code == 404


@pytest.mark.parametrize("count", [10, 1000])
@pytest.mark.parametrize(
    "params",
    [{}, {"page": "last"}, {"q": "site"}, {"q": "A-1"}, {"status": "all", "page": "last"}],
    ids=["first page", "last page", "search by name", "search by account", "all, last page"],
)
def test_list_query_count_does_not_grow(
    owner, dealer, record, count, params, client, django_assert_num_queries
):
    customers = CustomerFactory.create_batch(count, dealer=dealer, name="Site")
    for i, c in enumerate(customers):
        MonitoringAccountFactory(customer=c, station_record=record, account_number=f"A-{i}")
    # An account left behind by a prefix change shows its station's name: still no query.
    record.account_prefix = "P"
    record.save(update_fields=["account_prefix"])
    client.force_login(owner)
    if params.get("page") == "last":
        params = {**params, "page": (count + 49) // 50}
    # session, user, memberships, station records (filter), count, page, accounts
    with django_assert_num_queries(7):
        response = client.get(LIST, params)
    assert response.status_code == 200


def test_the_last_page_lists_the_last_customers_in_order(owner_client, dealer):
    for i in range(120):
        CustomerFactory(dealer=dealer, name=f"Site {i % 7}")
    everyone = list(Customer.objects.for_dealer(dealer).order_by("name", "id"))
    pages = [list(owner_client.get(LIST, {"page": n}).context["customers"]) for n in (1, 2, 3)]
    assert pages == [everyone[:50], everyone[50:100], everyone[100:]]


def test_search_finds_a_customer_once_however_many_ways_it_matches(owner_client, dealer, record):
    # Every address is given: the factory's ("142 Main Street" ...) numbers its sites by a
    # counter shared with every test that ran before, and could contain the term.
    both = CustomerFactory(dealer=dealer, name="North 42", address="42 North Road")
    MonitoringAccountFactory(customer=both, station_record=record, account_number="42")
    by_account = CustomerFactory(dealer=dealer, name="Elsewhere", address="7 Elm Street")
    MonitoringAccountFactory(customer=by_account, station_record=record, account_number="4217")
    CustomerFactory(dealer=dealer, name="Unrelated", address="9 Oak Road")

    found = list(owner_client.get(LIST, {"q": "42"}).context["customers"])

    assert found == [by_account, both]  # by name, each once


def test_search_with_spaces_or_symbols_still_finds_names(owner_client, dealer, customer):
    # Not an account number or site ID: only names, addresses and cities are searched.
    other = CustomerFactory(dealer=dealer, name="Smith & Sons, Ltd.")
    assert list(owner_client.get(LIST, {"q": "& sons,"}).context["customers"]) == [other]
    assert list(owner_client.get(LIST, {"q": "smith & sons"}).context["customers"]) == [other]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's indexes (CI sets DATABASE_URL)"
)
def test_postgresql_answers_searches_from_their_indexes(dealer, record):
    """The query plans, not the speed: at a size where it matters (20,000 sites), each way of
    matching is served by its index (the trigram index for names, the prefix index for
    account numbers) instead of reading every one of the dealer's sites. Breaks if the search
    stops writing SQL that the indexes can serve."""
    with connection.cursor() as cursor:
        # Seeded in SQL: 20,000 rows through the ORM would take most of a minute.
        cursor.execute(
            """
            INSERT INTO customers_customer (code, site_id, dealer_id, name, address, city,
                region, postal_code, country, time_zone, notes, status, created_at, updated_at)
            SELECT gen_random_uuid(), 'S' || i, %s, 'Site ' || lpad(i::text, 5, '0'),
                i || ' Main Street', 'Springfield', '', '', '', 'UTC', '', 'active', now(), now()
            FROM generate_series(1, 20000) AS i
            """,
            [dealer.pk],
        )
        cursor.execute(
            """
            INSERT INTO customers_monitoringaccount (code, customer_id, station_record_id,
                station_id, account_number, reference_id, created_at, updated_at)
            SELECT gen_random_uuid(), id, %s, %s, substr(site_id, 2), '', now(), now()
            FROM customers_customer WHERE dealer_id = %s
            """,
            [record.pk, record.station_id, dealer.pk],
        )
        # What autovacuum does to a table that grew: statistics, and the trigram index's list
        # of pending entries merged into the index proper.
        cursor.execute("ANALYZE customers_customer")
        cursor.execute("ANALYZE customers_monitoringaccount")
        cursor.execute("SELECT gin_clean_pending_list('customers_search_trgm')")
        for term in ("site 01999", "1234"):
            search = Customer.objects.for_dealer(dealer).search(term, dealer=dealer)
            sql, params = search.query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "customers_search_trgm" in plan, plan
            assert "Seq Scan on customers_customer" not in plan, plan
            if term == "1234":
                assert "customers_account_prefix" in plan, plan
            assert search.count() == (1 if term == "site 01999" else 12)


def test_search_keeps_the_other_filters(owner_client, dealer, record):
    active = CustomerFactory(dealer=dealer, name="Mill A")
    CustomerFactory(dealer=dealer, name="Mill B", status="archived")
    assert list(owner_client.get(LIST, {"q": "mill"}).context["customers"]) == [active]
    assert len(owner_client.get(LIST, {"q": "mill", "status": "all"}).context["customers"]) == 2


# --- create, edit, archive ------------------------------------------------------------------


def test_create_customer(owner_client, dealer):
    response = owner_client.post(CREATE, _data())
    customer = Customer.objects.get(name="New Bakery")
    assert response.url == _detail(customer)
    assert customer.dealer == dealer
    assert len(customer.site_id) == 10


def test_create_customer_field_errors(owner_client):
    response = owner_client.post(CREATE, _data(name="", time_zone="Mars/Olympus"))
    errors = response.context["form"].errors
    assert {"name", "time_zone"} <= set(errors)
    assert not Customer.objects.exists()


def test_technician_may_edit(technician_client, customer):
    response = technician_client.post(_update(customer), _data(name="Renamed"))
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "Renamed"


def test_archive_and_restore(owner_client, customer):
    owner_client.post(_archive(customer), {"archived": "1"})
    customer.refresh_from_db()
    assert customer.is_archived
    owner_client.post(_archive(customer), {"archived": "0"})
    customer.refresh_from_db()
    assert not customer.is_archived


# --- detail ---------------------------------------------------------------------------------


def test_detail_shows_sections_and_the_deep_link(owner_client, customer, record):
    bridge = BridgeFactory(customer=customer)
    camera = CameraFactory(bridge=bridge, channel=3, name="Stock room")
    ZoneFactory(customer=customer, number=17).cameras.add(camera)
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")
    response = owner_client.get(_detail(customer))
    text = response.text
    assert f"/monitoring?site={customer.site_id}&amp;zone=" in text
    assert 'id="devices"' in text and 'id="monitoring"' in text
    assert "Stock room" in text and "017" in text
    assert "3444" in text and record.name in text


def test_detail_query_count_does_not_grow_with_devices(
    owner_client, customer, record, django_assert_max_num_queries
):
    for _ in range(3):
        bridge = BridgeFactory(customer=customer)
        for channel in range(1, 5):
            CameraFactory(bridge=bridge, channel=channel)
    with django_assert_max_num_queries(14):
        assert owner_client.get(_detail(customer)).status_code == 200


def test_search_with_control_characters_is_no_error(owner_client, customer):
    response = owner_client.get(LIST, {"q": "Cor\x00ner"})
    assert response.status_code == 200
    assert list(response.context["customers"]) == [customer]
