"""The list mechanisms of dealers.generic: ListPaginator (every page holds exactly what
Django's paginator puts on it; a page in the second half of a list is read from the end) and
code_url (row addresses without a reverse() per row)."""

from __future__ import annotations

import uuid

import pytest
from django.core.paginator import EmptyPage, Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import Customer
from dealers.generic import ListPaginator, code_url
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _pages(paginator) -> list[list[int]]:
    return [[c.pk for c in paginator.page(n).object_list] for n in paginator.page_range]


@pytest.mark.parametrize(("per_page", "orphans"), [(7, 0), (7, 3), (10, 0), (23, 0), (50, 0)])
def test_every_page_holds_what_djangos_paginator_puts_on_it(dealer, per_page, orphans):
    # Names repeat, so the order needs its tie-breaker (id) to be total.
    for i in range(23):
        CustomerFactory(dealer=dealer, name=f"Site {i % 4}")
    ordered = Customer.objects.for_dealer(dealer).order_by("name", "id")

    ours = ListPaginator(ordered, per_page, orphans=orphans)
    django = Paginator(ordered, per_page, orphans=orphans)

    assert ours.num_pages == django.num_pages
    assert _pages(ours) == _pages(django)
    assert [pk for page in _pages(ours) for pk in page] == [c.pk for c in ordered]


def test_the_last_page_is_read_from_the_end(dealer):
    CustomerFactory.create_batch(30, dealer=dealer)
    ordered = Customer.objects.for_dealer(dealer).order_by("name", "id")
    paginator = ListPaginator(ordered, 10)
    paginator.count  # noqa: B018  (counted first, as the list page does)

    with CaptureQueriesContext(connection) as first:
        list(paginator.page(1).object_list)
    with CaptureQueriesContext(connection) as last:
        rows = list(paginator.page(3).object_list)

    assert "OFFSET" not in first[0]["sql"]
    assert "DESC" in last[0]["sql"] and "OFFSET" not in last[0]["sql"]
    assert rows == list(ordered)[20:]


def test_a_list_without_a_total_order_is_paged_as_django_pages_it(dealer):
    CustomerFactory.create_batch(12, dealer=dealer)
    by_name_only = Customer.objects.for_dealer(dealer).order_by("name")
    paginator = ListPaginator(by_name_only, 5)
    paginator.count  # noqa: B018

    with CaptureQueriesContext(connection) as queries:
        list(paginator.page(3).object_list)

    assert "DESC" not in queries[0]["sql"] and "OFFSET" in queries[0]["sql"]


def test_plain_lists_and_pages_out_of_range(dealer):
    paginator = ListPaginator(list(range(25)), 10)
    assert list(paginator.page(3).object_list) == [20, 21, 22, 23, 24]
    with pytest.raises(EmptyPage):
        paginator.page(4)
    empty = ListPaginator(Customer.objects.none().order_by("name", "id"), 10)
    assert list(empty.page(1).object_list) == []


def test_code_url_builds_what_reverse_builds():
    url = code_url("customers:detail")
    for code in (uuid.uuid4(), uuid.uuid4(), uuid.UUID(int=0)):
        assert url(code) == reverse("customers:detail", args=[code])


def test_the_customer_list_links_each_row_to_its_page(owner_client, customer, dealer):
    other = CustomerFactory(dealer=dealer)
    html = owner_client.get(reverse("customers:list")).text
    for c in (customer, other):
        assert f'href="{reverse("customers:detail", args=[c.code])}"' in html
