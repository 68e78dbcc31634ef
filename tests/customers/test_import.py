"""Bulk import and export of customers: the same rules as the forms, line and column for every
error, all lines or none, and an export that imports back unchanged."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
import tablib
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DataError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers import imports, services
from customers.models import Customer, CustomerImport, MonitoringAccount, Zone
from tests.factories import (
    CustomerFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    ReceiverFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

HEADERS = ["Portal site ID", "Name", "Street address", "City", "Time zone"]


def _csv(headers: list[str], *rows: list[str]) -> tablib.Dataset:
    dataset = tablib.Dataset(headers=headers)
    for row in rows:
        dataset.append(row)
    return imports.read_file(dataset.export("csv").encode(), "csv")


def _errors(plan: imports.ImportPlan) -> dict[int, list[tuple[str, str]]]:
    return {row.line: row.errors for row in plan.rows if row.errors}


@pytest.fixture
def acct(record) -> str:
    """The header of the record's account number column."""
    return f"{record.name} account number"


# --- new sites ------------------------------------------------------------------------------


def test_a_file_of_new_sites_is_previewed_then_imported(dealer, owner, record, acct):
    dataset = _csv(
        [*HEADERS, acct, f"{record.name} reference ID", "Zones", "Status"],
        ["", "Bakery", "1 Main St", "Springfield", "America/Chicago", "5001", "", "", ""],
        ["", "Depot", "2 Side St", "Shelbyville", "Europe/Berlin", "5002", "R-7",
         "017 Front door [Entry/Exit]; 18 Back office", "archived"],
    )  # fmt: skip
    plan = imports.plan_import(dealer, dataset)
    assert plan.ok and plan.counts() == {"new": 2, "update": 0, "unchanged": 0, "error": 0}
    assert not Customer.objects.exists()  # the preview writes nothing
    imports.commit_import(dealer, dataset, actor=owner)
    bakery, depot = Customer.objects.order_by("name")
    assert (bakery.time_zone, bakery.status, bakery.dealer) == ("America/Chicago", "active", dealer)
    assert depot.status == "archived"
    account = MonitoringAccount.objects.get(customer=depot)
    assert (account.account_number, account.reference_id, account.station_id) == (
        "5002",
        "R-7",
        record.station_id,
    )
    zones = list(depot.zones.order_by("number").values_list("number", "name", "zone_type"))
    assert zones == [(17, "Front door", "entry_exit"), (18, "Back office", "instant")]
    # Every write is in the history, with who made it.
    assert {h.history_user for h in Customer.history.all()} == {owner}
    assert MonitoringAccount.history.get(account_number="5002").history_user == owner
    assert Zone.history.count() == 2


def test_every_error_has_its_line_and_column_and_nothing_is_written(
    dealer, owner, record, acct, other_dealer, outsider_record
):
    theirs = CustomerFactory(dealer=other_dealer, name="Their Warehouse")
    MonitoringAccountFactory(customer=theirs, station_record=outsider_record, account_number="777")
    dataset = _csv(
        [*HEADERS, acct, "Zones"],
        ["", "Good", "", "", "America/New_York", "6001", ""],
        ["", "", "", "", "Mars/Olympus", "6002", ""],
        ["", "Bad number", "", "", "UTC", "12 34", ""],
        ["", "Taken", "", "", "UTC", "777", ""],
        ["", "Twice", "", "", "UTC", "6001", ""],
        [theirs.site_id, "Not yours", "", "", "UTC", "", ""],
        ["", "Zones", "", "", "UTC", "", "17 Front door [Garage]; abc"],
    )
    plan = imports.plan_import(dealer, dataset)
    errors = _errors(plan)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8]
    assert {c for c, _ in errors[3]} == {"Name", "Time zone"}
    assert errors[4][0][0] == acct and "not space" in errors[4][0][1]
    assert errors[5] == [(acct, MonitoringAccount.DUPLICATE_NUMBER)]
    assert errors[6] == [(acct, "Line 2 has the same account number at this monitoring station.")]
    assert errors[7] == [("Portal site ID", "None of your customers has this site ID.")]
    assert [c for c, _ in errors[8]] == ["Zones", "Zones"]
    # Nothing names the other dealer's customer.
    text = str(plan.summary())
    assert "Their Warehouse" not in text and "Rival" not in text
    with pytest.raises(imports.ImportRefused):
        imports.commit_import(dealer, dataset, actor=owner)
    assert not Customer.objects.filter(dealer=dealer).exists()
    assert not MonitoringAccount.objects.filter(account_number="6001").exists()


def test_the_account_rules_are_the_forms(dealer, owner, station):
    """Prefix, and the number the dealer types when the receiver adds the prefix itself."""
    plain = DealerStationFactory(
        dealer=dealer, name="Plain", receiver=ReceiverFactory(station=station), account_prefix="NW"
    )
    other_station_receiver = ReceiverFactory(adds_prefix=True)
    adding = DealerStationFactory(
        dealer=dealer, name="Adds", receiver=other_station_receiver, account_prefix="NW"
    )
    dataset = _csv(
        ["Name", "Time zone", "Plain account number", "Adds account number"],
        ["Right", "UTC", "NW100", "200"],
        ["Wrong prefix", "UTC", "100", ""],
    )
    plan = imports.plan_import(dealer, dataset)
    assert _errors(plan) == {
        3: [("Plain account number", _form_error(owner, plain, "100"))],
    }
    dataset = _csv(["Name", "Time zone", "Plain account number", "Adds account number"],
                   ["Right", "UTC", "NW100", "200"])  # fmt: skip
    imports.commit_import(dealer, dataset, actor=owner)
    stored = dict(MonitoringAccount.objects.values_list("station_record__name", "account_number"))
    assert stored == {"Plain": "NW100", "Adds": "NW200"}
    assert adding.receiver_adds_prefix


def _form_error(owner, record, number) -> str:
    """What the account form says about this number (the import must say the same)."""
    customer = CustomerFactory(dealer=record.dealer)
    try:
        services.account_assign(
            customer=customer, station_record=record, account_number=number, actor=owner
        )
    except ValidationError as exc:
        return exc.message_dict["account_number"][0]
    finally:
        customer.delete()
    raise AssertionError("the form accepted it")


def test_unknown_columns_are_refused_on_the_first_line(dealer, record):
    plan = imports.plan_import(dealer, _csv(["Name", "Colour", "Elsewhere account number"]))
    assert [c for c, _ in plan.header_errors] == ["B (Colour)", "C (Elsewhere account number)"]
    assert record.name in plan.header_errors[1][1]
    plan = imports.plan_import(dealer, _csv(["City"]))
    assert plan.header_errors == [("Name", "The file needs a Name column.")]


def test_files_that_are_no_table_say_so():
    with pytest.raises(imports.ImportFileError, match="UTF-8"):
        imports.read_file("Name\nCafé".encode("latin-1"), "csv")
    with pytest.raises(imports.ImportFileError, match="Excel"):
        imports.read_file(b"not a zip", "xlsx")


# --- updates and re-imports -----------------------------------------------------------------


@pytest.fixture
def book(dealer, record):
    """Three of the dealer's sites, with accounts and zones."""
    customers = []
    for i in range(3):
        customer = CustomerFactory(dealer=dealer, name=f"Site {i}", time_zone="Europe/Paris")
        MonitoringAccountFactory(
            customer=customer, station_record=record, account_number=f"90{i}", reference_id=f"R{i}"
        )
        ZoneFactory(customer=customer, number=17, name="Door", zone_type="entry_exit")
        customers.append(customer)
    return customers


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_an_export_imports_back_without_a_change(dealer, owner, book, file_format):
    everyone = Customer.objects.for_dealer(dealer).order_by("name")
    content = imports.export_file(imports.export_rows(dealer, everyone), file_format)
    dataset = imports.read_file(content, file_format)
    history = Customer.history.count(), MonitoringAccount.history.count(), Zone.history.count()
    plan = imports.plan_import(dealer, dataset)
    assert plan.ok and plan.counts() == {"new": 0, "update": 0, "unchanged": 3, "error": 0}
    imports.commit_import(dealer, dataset, actor=owner)
    after = Customer.history.count(), MonitoringAccount.history.count(), Zone.history.count()
    assert after == history  # nothing written, not even history


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_cells_that_look_like_formulas_are_text_and_import_back(dealer, owner, record, file_format):
    names = ["=1+2", "-Dash", "'=typed", "@home", "+31 Cafe"]
    for name in names:
        customer = CustomerFactory(dealer=dealer, name=name, notes='=HYPERLINK("http://x")')
        MonitoringAccountFactory(customer=customer, station_record=record)
    everyone = Customer.objects.for_dealer(dealer).order_by("name")
    content = imports.export_file(imports.export_rows(dealer, everyone), file_format)
    if file_format == "csv":
        cells = [c for line in csv.reader(io.StringIO(content.decode())) for c in line]
        assert "'=1+2" in cells and "'-Dash" in cells and "''=typed" in cells
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(content)).active
        formulas = [c.value for row in sheet.iter_rows() for c in row if c.data_type == "f"]
        assert formulas == []
        assert "=1+2" in [c.value for c in sheet["B"]]  # as text, the "=" kept
    dataset = imports.read_file(content, file_format)
    assert sorted(dataset["Name"]) == sorted(names)
    plan = imports.plan_import(dealer, dataset)
    assert plan.ok and plan.counts() == {"new": 0, "update": 0, "unchanged": 5, "error": 0}


def test_updates_match_sites_by_site_id(dealer, owner, book, record, acct):
    site = book[0]
    dataset = _csv(
        [*HEADERS, acct, "Zones"],
        [site.site_id, "Renamed", "9 New Road", "Ogdenville", "Europe/Paris", "950",
         "017 Door [Entry/Exit]; 020 Garage [Instant]"],
    )  # fmt: skip
    plan = imports.plan_import(dealer, dataset)
    assert plan.rows[0].action == "update"
    assert set(plan.rows[0].changes) == {"Name", "Street address", "City", acct, "Zones"}
    imports.commit_import(dealer, dataset, actor=owner)
    site.refresh_from_db()
    assert (site.name, site.city, site.status) == ("Renamed", "Ogdenville", "active")
    account = site.accounts.get()
    assert (account.account_number, account.reference_id) == ("950", "R0")  # no column: kept
    assert sorted(site.zones.values_list("number", flat=True)) == [17, 20]
    assert Customer.objects.count() == 3
    # The same file again changes nothing.
    assert imports.plan_import(dealer, dataset).counts()["unchanged"] == 1


def test_a_line_without_site_id_updates_the_site_with_its_account(
    dealer, owner, book, record, acct
):
    dataset = _csv(["Name", "Time zone", acct], ["Site 1 again", "UTC", "901"])
    plan = imports.plan_import(dealer, dataset)
    assert plan.rows[0].action == "update" and plan.rows[0].site_id == book[1].site_id
    imports.commit_import(dealer, dataset, actor=owner)
    assert Customer.objects.get(pk=book[1].pk).name == "Site 1 again"
    assert Customer.objects.count() == 3


def test_the_import_checks_again_when_it_writes(dealer, owner, record, acct, other_dealer):
    """Between the preview and the import another dealer took the number: nothing is written."""
    dataset = _csv(["Name", "Time zone", acct], ["Fine", "UTC", "4242"], ["Other", "UTC", "4243"])
    assert imports.plan_import(dealer, dataset).ok
    their_record = DealerStationFactory(dealer=other_dealer, receiver=record.receiver)
    MonitoringAccountFactory(
        customer=CustomerFactory(dealer=other_dealer),
        station_record=their_record,
        account_number="4243",
    )
    with pytest.raises(imports.ImportRefused) as refused:
        imports.commit_import(dealer, dataset, actor=owner)
    assert _errors(refused.value.plan) == {3: [(acct, MonitoringAccount.DUPLICATE_NUMBER)]}
    assert not Customer.objects.filter(dealer=dealer).exists()


@pytest.mark.parametrize("count", [10, 300])
def test_the_preview_runs_the_same_queries_for_10_lines_as_for_300(dealer, record, acct, count):
    existing = [CustomerFactory(dealer=dealer) for _ in range(5)]
    rows = [[c.site_id, c.name, "", "", "UTC", f"7{i:04d}"] for i, c in enumerate(existing)]
    rows += [["", f"New {i}", "", "", "UTC", f"8{i:04d}"] for i in range(count)]
    dataset = _csv([*HEADERS, acct], *rows)
    with CaptureQueriesContext(connection) as queries:
        plan = imports.plan_import(dealer, dataset)
    assert plan.ok
    # records, sites by site ID (+ their accounts and zones), sites by account number,
    # uniqueness at the station, the cameras of stored sites that get an account (their names
    # against the new receiver)
    assert len(queries) == 7


# --- export ---------------------------------------------------------------------------------


def test_export_is_filtered_like_the_list_and_has_every_records_columns(
    owner_client, dealer, book, record
):
    archived = book[2]
    archived.status = "archived"
    archived.save()
    response = owner_client.get(reverse("customers:export"), {"format": "xlsx"})
    assert response["Content-Disposition"].endswith('.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.values)
    assert rows[0][:3] == ("Portal site ID", "Name", "Street address")
    assert f"{record.name} account number" in rows[0] and "Zones" in rows[0]
    assert sorted(r[1] for r in rows[1:]) == ["Site 0", "Site 1"]  # active only, as the list
    response = owner_client.get(
        reverse("customers:export"), {"format": "csv", "status": "all", "q": "Site 2"}
    )
    dataset = tablib.Dataset().load(response.content.decode(), format="csv")
    assert [r[1] for r in dataset] == ["Site 2"]
    assert dataset[0][dataset.headers.index("Zones")] == "017 Door [Entry/Exit]"


def test_the_template_has_the_columns_and_no_customers(owner_client, book):
    response = owner_client.get(reverse("customers:export"), {"format": "csv", "template": "1"})
    assert response.content.decode().strip().startswith("Portal site ID,Name")
    assert len(response.content.decode().strip().splitlines()) == 1


# --- the pages ------------------------------------------------------------------------------


def test_upload_preview_and_import(
    owner_client, dealer, record, acct, django_capture_on_commit_callbacks
):
    content = f"Name,Time zone,{acct}\nBakery,UTC,100\n,Mars/Olympus,\n".encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("customers:import"), {"file": SimpleUploadedFile("sites.csv", content)}
        )
    upload = CustomerImport.objects.get()
    assert response.url == reverse("customers:import-detail", args=[upload.code])
    page = owner_client.get(response.url)
    assert upload.file_name == "sites.csv" and page.context["upload"].state == "checked"
    text = page.content.decode()
    assert "<strong>Name</strong>: This field is required." in text
    assert "<strong>Time zone</strong>:" in text and 'data-line="3"' in text
    # A file with errors cannot be imported.
    owner_client.post(reverse("customers:import-commit", args=[upload.code]))
    assert not Customer.objects.exists()

    content = f"Name,Time zone,{acct}\nBakery,UTC,100\n".encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("customers:import"), {"file": SimpleUploadedFile("fixed.csv", content)}
        )
    upload = CustomerImport.objects.get(file_name="fixed.csv")
    assert 'data-testid="commit"' in owner_client.get(response.url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("customers:import-commit", args=[upload.code]))
    upload.refresh_from_db()
    assert upload.state == "imported" and upload.counts["new"] == 1
    assert Customer.objects.get().accounts.get().account_number == "100"
    # Importing it twice is refused: the file is done.
    owner_client.post(reverse("customers:import-commit", args=[upload.code]))
    assert Customer.objects.count() == 1


def test_a_file_that_is_no_table_is_explained(owner_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("customers:import"), {"file": SimpleUploadedFile("a.xlsx", b"nope")}
        )
    assert "cannot be read as an Excel workbook" in owner_client.get(response.url).content.decode()
    response = owner_client.post(
        reverse("customers:import"), {"file": SimpleUploadedFile("a.pdf", b"%PDF")}
    )
    assert "Upload a .csv or an .xlsx" in response.context["form"].errors["file"][0]


@pytest.mark.parametrize(
    "content",
    [
        b"Name,Portal site ID\nA,\x00\n",  # once looked up in the database, which refused it
        b"Name,Time zone,Zones\nZ1,UTC,017 Fr\x00ont [Instant]\n",  # once passed the check
        b"Name\x00\nA\n",  # once in the saved preview, which the database refused
    ],
)
def test_a_nul_byte_in_a_file_is_refused_saying_where(
    owner_client, content, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("customers:import"), {"file": SimpleUploadedFile("nul.csv", content)}
        )
    upload = CustomerImport.objects.get()
    assert upload.state == "checked", upload.state  # not stuck at "checking"
    assert "holds a NUL character" in upload.result["file_error"]
    assert "holds a NUL character" in owner_client.get(response.url).content.decode()
    assert not Customer.objects.exists()


def test_a_value_the_database_refuses_never_leaves_an_upload_stuck(
    owner_client, dealer, monkeypatch, django_capture_on_commit_callbacks
):
    def refused(*args, **kwargs):
        with connection.cursor() as cursor:
            # The database's own refusal (a data exception), inside the transaction: the upload
            # must still be written after it.
            cursor.execute("SELECT CAST('x' AS integer)")
        raise DataError("the database accepted what it should have refused")

    content = b"Name,Time zone\nA,UTC\n"
    monkeypatch.setattr(imports, "plan_import", refused)
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(
            reverse("customers:import"), {"file": SimpleUploadedFile("a.csv", content)}
        )
    upload = CustomerImport.objects.get()
    assert (upload.state, upload.result["file_error"]) == ("checked", services._UNSTORABLE)

    monkeypatch.setattr(imports, "commit_import", refused)
    upload = services.customer_import_commit(upload=upload, actor=None)
    assert (upload.state, upload.result["file_error"]) == ("refused", services._UNSTORABLE)
    assert not Customer.objects.exists()


def test_control_characters_a_form_kept_do_not_stop_the_excel_export(owner_client, book, record):
    site = book[0]
    site.notes = "gate code\x01\x0b 1234"
    site.save()
    record.name = "Central\x01One"  # a column's header
    record.save()
    response = owner_client.get(reverse("customers:export"), {"format": "xlsx"})
    assert response.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(response.content)).active.values)
    notes = rows[0].index("Notes")
    assert [r[notes] for r in rows[1:] if r[1] == site.name] == ["gate code\ufffd\ufffd 1234"]
    assert "Central\ufffdOne account number" in rows[0]


def test_viewers_export_but_do_not_import(viewer_client):
    assert viewer_client.get(reverse("customers:export")).status_code == 200
    assert viewer_client.get(reverse("customers:import")).status_code == 403
