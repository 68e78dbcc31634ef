"""Bulk import and export of a dealer's customers (sites), as CSV or Excel through tablib.

One row per site: its address, time zone and notes, for each of the dealer's monitoring
station records an account number and a reference ID, and optionally its zones. The export
writes the same columns, so what is exported imports back; importing it unchanged changes
nothing. No exported cell runs as a spreadsheet formula: CSV cells get the apostrophe of
``dealers.lib.csv_text`` (which the CSV import takes off again), Excel cells are all text.

Two steps. ``plan_import`` reads the whole file and checks every row with the rules of the
forms, changing nothing: the customer form's fields, the account rules of
``customers.services`` (the number's form, the station's prefix, the receiver protocol's
limits, a reference ID the station requires) and the uniqueness of account numbers and
reference IDs at each station across all dealers, asked in batches (``account_conflicts``: a
duplicate never says whose it is). ``commit_import`` plans again, since the world may have
moved since the preview, and writes every row or none in one transaction, in bulk, with
history.

A row finds its site by portal site ID, among the dealer's own sites only; a row without one
updates the site that already has one of its account numbers at this dealer, else creates a
site. Empty cells leave things as they are: an empty account number leaves that station
record's account, an empty Zones cell leaves the zones. The import never deletes anything.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import tablib
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from customers import services
from customers.forms.sites import CustomerForm
from customers.lib import normalise_identifier
from customers.models import ZONE_MAX, ZONE_MIN, Camera, Customer, MonitoringAccount, Zone
from dealers.lib import csv_text, csv_value
from dealers.models import Dealer
from stations import protocols
from stations.models import DealerStation

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
MAX_FILE_BYTES = 20 * 1024 * 1024
CHUNK = 500  # rows per batch of look-ups and writes

# The customer form's fields, in the file's order, with their headers.
CUSTOMER_FIELDS = [
    ("name", "Name"),
    ("address", "Street address"),
    ("city", "City"),
    ("region", "State / region"),
    ("postal_code", "Postal code"),
    ("country", "Country"),
    ("time_zone", "Time zone"),
    ("notes", "Notes"),
]
SITE_ID = "Portal site ID"
STATUS = "Status"
ZONES = "Zones"
ACCOUNT_SUFFIX = " account number"
REFERENCE_SUFFIX = " reference ID"

# A zone in the Zones cell: "017 Front door [Entry/Exit]"; zones are separated by ";".
ZONE_RE = re.compile(
    r"^\s*(?P<number>\d{1,3})\s+(?P<name>[^\[\];]+?)\s*(?:\[(?P<type>[^\]]*)\])?\s*$"
)
ZONE_TYPES = {
    **{value.casefold(): value for value in Zone.Type.values},
    **{label.casefold(): value for value, label in Zone.Type.choices},
}
STATUSES = {
    **{value.casefold(): value for value in Customer.Status.values},
    **{label.casefold(): value for value, label in Customer.Status.choices},
}


class ImportFileError(Exception):
    """The file cannot be read as a table at all (its rows are never looked at)."""


# --- columns --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of the file: a customer field, the status, the zones, or a station record's
    account number or reference ID."""

    key: str  # "site_id", a customer field, "status", "zones", "account", "reference"
    header: str
    record: DealerStation | None = None


def columns_for(records: Sequence[DealerStation]) -> list[Column]:
    """Every column the dealer's file has, in order (the export writes them all)."""
    columns = [Column("site_id", SITE_ID)]
    columns += [Column(name, header) for name, header in CUSTOMER_FIELDS]
    columns.append(Column("status", STATUS))
    for record in records:
        columns.append(Column("account", record.name + ACCOUNT_SUFFIX, record))
        columns.append(Column("reference", record.name + REFERENCE_SUFFIX, record))
    columns.append(Column("zones", ZONES))
    return columns


def _folded(header: Any) -> str:
    return " ".join(str(header or "").split()).casefold()


def _match_columns(
    headers: Sequence[Any], records: Sequence[DealerStation]
) -> tuple[list[Column | None], list[tuple[str, str]]]:
    """The column each header names (None: an empty header over an empty column), and the
    header's errors as (column, message)."""
    known: dict[str, Column] = {}
    for column in columns_for(records):
        known[_folded(column.header)] = column
        if column.record is None:
            known[column.key] = column  # "site_id", "postal_code" ... also name them
    known["site id"] = known["site_id"]
    matched: list[Column | None] = []
    errors: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for index, header in enumerate(headers):
        letter = get_column_letter(index + 1)
        folded = _folded(header)
        column = known.get(folded)
        if not folded:
            matched.append(None)
            continue
        if column is None:
            errors.append((f"{letter} ({header})", _unknown_header(str(header), records)))
        elif column.header in seen:
            errors.append(
                (
                    f"{letter} ({header})",
                    f"Column {seen[column.header]} is already {column.header}.",
                )
            )
        else:
            seen[column.header] = letter
        matched.append(column if column is not None and seen[column.header] == letter else None)
    if "Name" not in seen:
        errors.append(("Name", "The file needs a Name column."))
    return matched, errors


def _unknown_header(header: str, records: Sequence[DealerStation]) -> str:
    folded = _folded(header)
    if folded.endswith((_folded(ACCOUNT_SUFFIX), _folded(REFERENCE_SUFFIX))):
        names = ", ".join(f"“{r.name}”" for r in records) or "none yet"
        return (
            "No monitoring station record of yours has this name (yours: "
            f"{names}). Name the column after one of them, e.g. “Central account number”."
        )
    expected = ", ".join(c.header for c in columns_for([]))
    return f"Unknown column. The columns are: {expected}, and two per station record."


# --- reading and writing files ----------------------------------------------------------------


def read_file(content: bytes, file_format: str) -> tablib.Dataset:
    """The file as a table (its first line the headers); ImportFileError if it is none."""
    if len(content) > MAX_FILE_BYTES:
        raise ImportFileError(f"The file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB.")
    try:
        if file_format == "csv":
            try:
                text = content.decode("utf-8-sig")
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    "The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again."
                ) from exc
            return _without_nul(_csv_values(tablib.Dataset().load(text, format="csv")))
        if file_format == "xlsx":
            return _without_nul(tablib.Dataset().load(io.BytesIO(content), format="xlsx"))
    except ImportFileError:
        raise
    except tablib.InvalidDimensions as exc:
        raise ImportFileError(
            "A line has more cells than the first line has headers: check the separators."
        ) from exc
    except Exception as exc:  # openpyxl and csv raise many kinds for a damaged file
        kind = "an Excel workbook (.xlsx)" if file_format == "xlsx" else "a CSV file"
        raise ImportFileError(f"The file cannot be read as {kind}.") from exc
    raise ImportFileError("Upload a .csv or an .xlsx file.")


def _without_nul(dataset: tablib.Dataset) -> tablib.Dataset:
    """The table, unless a cell holds a NUL byte: no text column of the database can store
    one, nor the check's saved preview, so the file is refused at once, saying where."""
    for number, row in enumerate([dataset.headers or [], *dataset], start=1):
        for column, value in enumerate(row, start=1):
            if isinstance(value, str) and "\x00" in value:
                raise ImportFileError(
                    f"Line {number}, column {column} holds a NUL character (byte 0), which no "
                    "field can store: remove it and upload the file again."
                )
    return dataset


def _cell(value: Any) -> str:
    """A cell as text: Excel hands back numbers for cells that look like them."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def zones_text(zones: Iterable[Zone]) -> str:
    return "; ".join(
        f"{zone.number:03d} {zone.name} [{zone.get_zone_type_display()}]" for zone in zones
    )


def export_rows(dealer: Dealer, customers) -> tablib.Dataset:
    """The customers as the import reads them (the same columns): three queries."""
    records = list(records_for(dealer))
    columns = columns_for(records)
    accounts = MonitoringAccount.objects.select_related("station_record__receiver")
    customers = customers.prefetch_related(
        Prefetch("accounts", accounts), Prefetch("zones", Zone.objects.order_by("number"))
    )
    dataset = tablib.Dataset(headers=[c.header for c in columns], title="Customers")
    for customer in customers:
        by_record = {a.station_record_id: a for a in customer.accounts.all()}
        row = []
        for column in columns:
            if column.key == "site_id":
                row.append(customer.site_id)
            elif column.key == "status":
                row.append(customer.status)
            elif column.key == "zones":
                row.append(zones_text(customer.zones.all()))
            elif column.record is not None:
                account = by_record.get(column.record.pk)
                if account is None:
                    row.append("")
                elif column.key == "account":
                    row.append(account.entered_number)
                else:
                    row.append(account.reference_id)
            else:
                row.append(getattr(customer, column.key))
        dataset.append(row)
    return dataset


def export_file(dataset: tablib.Dataset, file_format: str) -> bytes:
    """The dataset as a file that a spreadsheet opens without running any cell as a formula,
    and that imports back unchanged."""
    if file_format == "xlsx":
        return _xlsx(dataset)
    guarded = tablib.Dataset(headers=[csv_text(h) for h in dataset.headers or []])
    for row in dataset:
        guarded.append([csv_text(v) if isinstance(v, str) else v for v in row])
    return guarded.export("csv").encode("utf-8")


def _csv_values(dataset: tablib.Dataset) -> tablib.Dataset:
    """Undo the export's formula guard (``csv_text``) on every cell of a CSV file."""
    values = tablib.Dataset(headers=[csv_value(h) for h in dataset.headers or []] or None)
    for row in dataset:
        values.append([csv_value(v) for v in row])
    return values


def _workbook_text(value: Any) -> Any:
    """A workbook cannot hold most control characters (forms keep them, in a note or a station
    record's name): each becomes U+FFFD, as in the alarm packages, rather than the export
    failing. Such a cell is the one thing that does not import back unchanged."""
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value


def _xlsx(dataset: tablib.Dataset) -> bytes:
    """An Excel workbook whose cells are all values: a cell starting with "=" is stored as
    text, not as a formula. (tablib's ``escape`` drops the "=" instead, which would change
    the value on the way back in.)"""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = dataset.title or "Sheet"
    sheet.append([_workbook_text(h) for h in dataset.headers or []])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    widths = [len(str(h)) for h in dataset.headers or []]
    for row in dataset:
        sheet.append([_workbook_text(v) for v in row])
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":  # openpyxl reads "=..." as a formula: keep it text
                cell.data_type = "s"
        widths = [max(w, len(str(v or ""))) for w, v in zip(widths, row, strict=True)]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(width + 2, 60)
    stream = io.BytesIO()
    workbook.save(stream)
    return stream.getvalue()


# --- planning -------------------------------------------------------------------------------

NEW, UPDATE, UNCHANGED, ERROR = "new", "update", "unchanged", "error"


@dataclass
class RowPlan:
    """What one line of the file does, and what is wrong with it."""

    line: int
    name: str
    site_id: str = ""
    action: str = NEW
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column, message)
    changes: list[str] = field(default_factory=list)  # the columns that change
    customer: Customer | None = None
    customer_fields: list[str] = field(default_factory=list)  # to update on an existing site
    accounts_new: list[MonitoringAccount] = field(default_factory=list)
    accounts_changed: list[MonitoringAccount] = field(default_factory=list)
    zones_new: list[Zone] = field(default_factory=list)
    zones_changed: list[Zone] = field(default_factory=list)

    def error(self, column: str, message: str) -> None:
        self.errors.append((column, message))

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "name": self.name,
            "site_id": self.site_id,
            "action": self.action,
            "errors": [list(e) for e in self.errors],
            "changes": self.changes,
        }


@dataclass
class ImportPlan:
    header_errors: list[tuple[str, str]] = field(default_factory=list)
    rows: list[RowPlan] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.header_errors and not any(row.errors for row in self.rows)

    def counts(self) -> dict[str, int]:
        counts = {NEW: 0, UPDATE: 0, UNCHANGED: 0, ERROR: 0}
        for row in self.rows:
            counts[row.action] += 1
        return counts

    def summary(self) -> dict[str, Any]:
        """What the preview page shows: the counts, and every row that does something or is
        wrong (unchanged rows only counted)."""
        return {
            "header_errors": [list(e) for e in self.header_errors],
            "counts": self.counts(),
            "rows": [row.as_dict() for row in self.rows if row.action != UNCHANGED],
        }


def records_for(dealer: Dealer):
    """The dealer's station records, each with two columns in the file."""
    return (
        DealerStation.objects.for_dealer(dealer)
        .select_related("station", "receiver")
        .order_by("name")
    )


def plan_import(dealer: Dealer, dataset: tablib.Dataset) -> ImportPlan:
    """Check every row of the file against the forms' rules; change nothing."""
    records = list(records_for(dealer))
    columns, header_errors = _match_columns(dataset.headers or [], records)
    plan = ImportPlan(header_errors=header_errors)
    if header_errors:
        return plan
    lines = []
    for index, raw in enumerate(dataset, start=2):  # line 1 is the headers
        values = [_cell(v) for v in raw]
        if any(values):
            lines.append((index, dict(zip(range(len(values)), values, strict=True))))
    _Planner(dealer, records, columns, plan).run(lines)
    return plan


class _Planner:
    """Plans the rows of one file in batches of look-ups (a fixed number per CHUNK rows)."""

    def __init__(
        self,
        dealer: Dealer,
        records: list[DealerStation],
        columns: list[Column | None],
        plan: ImportPlan,
    ) -> None:
        self.dealer = dealer
        self.records = records
        self.columns = columns
        self.plan = plan
        self.header = {c.key: c.header for c in columns if c is not None and c.record is None}
        self.account_header: dict[tuple[int, str], str] = {
            (c.record.pk, c.key): c.header for c in columns if c is not None and c.record
        }

    def run(self, lines: list[tuple[int, dict[int, str]]]) -> None:
        rows = [self._values(line, cells) for line, cells in lines]
        existing = self._existing_customers(rows)
        claimed: dict[int, int] = {}  # customer pk -> the line that updates it
        planned: list[tuple[RowPlan, MonitoringAccount]] = []
        for values in rows:
            row = RowPlan(line=values["line"], name=values.get("name", ""))
            self.plan.rows.append(row)
            customer = self._find_customer(row, values, existing)
            if customer is not None and customer.pk in claimed:
                row.error(
                    SITE_ID if values.get("site_id") else "Name",
                    f"Line {claimed[customer.pk]} already imports this site.",
                )
                continue
            if customer is not None:
                claimed[customer.pk] = row.line
            self._plan_customer(row, values, customer)
            if row.customer is None:
                continue
            planned += [(row, a) for a in self._plan_accounts(row, values)]
            self._plan_zones(row, values)
        self._check_accounts(planned)
        self._check_names()
        for row in self.plan.rows:
            if row.errors:
                row.action = ERROR
            elif row.action == UPDATE and not row.changes:
                row.action = UNCHANGED

    # --- reading a line

    def _values(self, line: int, cells: dict[int, str]) -> dict[str, Any]:
        values: dict[str, Any] = {"line": line, "accounts": {}}
        for index, column in enumerate(self.columns):
            if column is None:
                continue
            value = cells.get(index, "")
            if column.record is not None:
                values["accounts"].setdefault(column.record.pk, {})[column.key] = value
            else:
                values[column.key] = value
        return values

    # --- finding the site

    def _existing_customers(self, rows: list[dict[str, Any]]) -> dict[str, dict]:
        """The dealer's sites the file may update: by site ID, and by (station, account
        number) for lines without one. A fixed number of queries per CHUNK lines."""
        site_ids = {normalise_identifier(r["site_id"]) for r in rows if r.get("site_id")}
        numbers: set[str] = set()
        for r in rows:
            if r.get("site_id"):
                continue
            for record_pk, cells in r["accounts"].items():
                if cells.get("account"):
                    numbers.add(self._number(record_pk, cells["account"]))
        by_site: dict[str, Customer] = {}
        for chunk in _chunks(sorted(site_ids)):
            for customer in self._customers().filter(site_id__in=chunk):
                by_site[customer.site_id] = customer
        by_number: dict[tuple[int, str], Customer] = {}
        stations = {r.station_id for r in self.records}
        for chunk in _chunks(sorted(numbers)):
            owners = MonitoringAccount.objects.filter(
                customer__dealer=self.dealer, station_id__in=stations, account_number__in=chunk
            ).values_list("station_id", "account_number", "customer_id")
            owner_ids = {customer_id for _, _, customer_id in owners}
            customers = {c.pk: c for c in self._customers().filter(pk__in=owner_ids)}
            for station_id, number, customer_id in owners:
                by_number[(station_id, number)] = customers[customer_id]
        return {"site": by_site, "number": by_number}

    def _customers(self):
        accounts = MonitoringAccount.objects.select_related("station_record")
        return Customer.objects.for_dealer(self.dealer).prefetch_related(
            Prefetch("accounts", accounts), Prefetch("zones", Zone.objects.order_by("number"))
        )

    def _record(self, pk: int) -> DealerStation:
        return next(r for r in self.records if r.pk == pk)

    def _number(self, record_pk: int, typed: str) -> str:
        return services.account_number_for(self._record(record_pk), typed)

    def _find_customer(
        self, row: RowPlan, values: dict[str, Any], existing: dict[str, dict]
    ) -> Customer | None:
        site_id = normalise_identifier(values.get("site_id", ""))
        if site_id:
            customer = existing["site"].get(site_id)
            if customer is None:
                # Another dealer's site ID reads exactly like one that does not exist.
                row.error(SITE_ID, "None of your customers has this site ID.")
            return customer
        found = set()
        for record_pk, cells in values["accounts"].items():
            if cells.get("account"):
                station_id = self._record(record_pk).station_id
                number = self._number(record_pk, cells["account"])
                if (customer := existing["number"].get((station_id, number))) is not None:
                    found.add(customer)
        if len(found) > 1:
            row.error(
                "Account numbers",
                "These account numbers belong to different sites of yours: add the portal "
                "site ID of the site to update.",
            )
            return None
        return found.pop() if found else None

    # --- the site itself

    def _plan_customer(self, row: RowPlan, values: dict[str, Any], customer: Customer | None):
        present = [name for name, _ in CUSTOMER_FIELDS if name in values]
        if customer is None:
            data = {name: values.get(name, "") for name, _ in CUSTOMER_FIELDS}
            if "country" not in values:
                data["country"] = Customer._meta.get_field("country").default
        else:
            data = {name: getattr(customer, name) for name, _ in CUSTOMER_FIELDS}
            data.update({name: values[name] for name in present})
        form = CustomerForm(data=data)
        status = values.get("status", "")
        if status and status.casefold() not in STATUSES:
            choices = ", ".join(Customer.Status.values)
            row.error(STATUS, f"Use one of: {choices}.")
        if not form.is_valid():
            for name, errors in form.errors.items():
                column = self.header.get(name, dict(CUSTOMER_FIELDS).get(name, name))
                for message in errors:
                    row.error(column, message)
        if row.errors:
            # The line's accounts and zones are still checked, so that every error shows.
            row.customer = customer or Customer(dealer=self.dealer)
            return
        cleaned = form.cleaned_data
        if customer is None:
            row.action = NEW
            row.customer = Customer(dealer=self.dealer, **cleaned)
            if status:
                row.customer.status = STATUSES[status.casefold()]
            row.changes = [self.header.get(name, name) for name in present]
            return
        row.action = UPDATE
        row.site_id = customer.site_id
        row.customer = customer
        new_values = dict(cleaned)
        if status:
            new_values["status"] = STATUSES[status.casefold()]
        for name, value in new_values.items():
            if getattr(customer, name) != value:
                setattr(customer, name, value)
                row.customer_fields.append(name)
                row.changes.append(self.header.get(name, STATUS))

    # --- accounts

    def _plan_accounts(self, row: RowPlan, values: dict[str, Any]) -> list[MonitoringAccount]:
        """The accounts the line adds or changes, checked against every rule that needs no
        other row; returns them for the uniqueness check."""
        customer = row.customer
        by_station = {}
        if customer.pk is not None:
            by_station = {a.station_id: a for a in customer.accounts.all()}
        touched = []
        stations: dict[int, str] = {}  # station -> the column that gives its account
        for record_pk, cells in values["accounts"].items():
            record = self._record(record_pk)
            account_column = self.account_header.get((record_pk, "account"), "")
            reference_column = self.account_header.get((record_pk, "reference"), "")
            typed_number = cells.get("account", "")
            if not typed_number:
                if cells.get("reference"):
                    row.error(reference_column, "Enter the account number too.")
                continue
            if record.station_id in stations:
                row.error(
                    account_column,
                    f"{stations[record.station_id]} is at the same monitoring station: a site "
                    "has one account per station.",
                )
                continue
            stations[record.station_id] = account_column
            number = services.account_number_for(record, typed_number)
            reference = normalise_identifier(cells.get("reference", ""))
            if "reference" not in cells and (account := by_station.get(record.station_id)):
                reference = account.reference_id  # no column: the reference ID stays
            account = by_station.get(record.station_id)
            if account is None:
                account = MonitoringAccount(customer=customer, station_record=record)
                account.station_id = record.station_id
                fresh = True
            else:
                fresh = False
                unchanged = (
                    account.station_record_id == record.pk
                    and account.account_number == number
                    and account.reference_id == reference
                )
                if unchanged:
                    continue
            account.station_record = record
            account.account_number = number
            account.reference_id = reference
            errors = services.account_rule_errors(account)
            columns = {
                "account_number": account_column,
                "reference_id": reference_column or account_column,
                "station_record": account_column,
            }
            for name, messages in errors.items():
                for message in messages:
                    row.error(columns.get(name, account_column), message)
            if errors:
                continue
            (row.accounts_new if fresh else row.accounts_changed).append(account)
            row.changes.append(account_column)
            touched.append(account)
        return touched

    def _check_accounts(self, planned: list[tuple[RowPlan, MonitoringAccount]]) -> None:
        """Uniqueness at each station: against the stored accounts (all dealers), and between
        the lines of the file."""
        conflicts = services.account_conflicts([account for _, account in planned])
        first_line: dict[tuple[str, int, str], int] = {}
        for (row, account), errors in zip(planned, conflicts, strict=True):
            record_pk = account.station_record.pk
            account_column = self.account_header[(record_pk, "account")]
            reference_column = self.account_header.get((record_pk, "reference"), account_column)
            columns = {
                "account_number": account_column,
                "reference_id": reference_column,
                "station_record": account_column,
            }
            for name, message in errors.items():
                row.error(columns[name], message)
            keys = [("account_number", account.station_id, account.account_number)]
            if account.reference_id:
                keys.append(("reference_id", account.station_id, account.reference_id))
            for key in keys:
                if key in first_line:
                    what = "account number" if key[0] == "account_number" else "reference ID"
                    row.error(
                        columns[key[0]],
                        f"Line {first_line[key]} has the same {what} at this monitoring station.",
                    )
                else:
                    first_line[key] = row.line

    # --- names the site's receivers must carry

    def _check_names(self) -> None:
        """The site's names against the receivers it will transmit to, by the forms' check
        (``services.name_problems``): a name the line writes is refused on its own column, the
        site's other names on the column of the account that adds the receiver. The cameras
        of stored sites that get an account: one query per CHUNK such sites."""
        rows = [row for row in self.plan.rows if row.customer is not None]
        adding = [r.customer.pk for r in rows if r.customer.pk and _accounts_written(r)]
        cameras: dict[int, list[Camera]] = defaultdict(list)
        for chunk in _chunks(adding):
            found = Camera.objects.filter(bridge__customer__in=chunk).select_related("bridge")
            for camera in found.order_by("bridge__serial", "channel"):
                cameras[camera.bridge.customer_id].append(camera)
        for row in rows:
            self._check_row_names(row, cameras.get(row.customer.pk, []))

    def _check_row_names(self, row: RowPlan, cameras: list[Camera]) -> None:
        customer = row.customer
        written_accounts = {a.station_id: a for a in _accounts_written(row)}
        stored = list(customer.accounts.all()) if customer.pk else []
        carriers = [
            services.Carrier.of(self._stored_record(a))
            for a in stored
            if a.station_id not in written_accounts
        ]
        added: dict[services.Carrier, str] = {}  # a receiver the line adds -> its column
        for account in written_accounts.values():
            record = account.station_record
            if carrier := services.Carrier.of(record):
                added.setdefault(carrier, self.account_header[(record.pk, "account")])
        zones = {zone.number: zone for zone in customer.zones.all()} if customer.pk else {}
        zones_written = [*row.zones_new, *row.zones_changed]
        zones.update({zone.number: zone for zone in zones_written})
        written = [services.SiteText.of(zone) for zone in zones_written]
        if row.action == NEW or "name" in row.customer_fields:
            written.insert(0, services.SiteText.of(customer))
        for problem in services.name_problems(written, [*carriers, *added]):
            if problem.name.kind == protocols.ZONE_NAME:
                row.error(ZONES, f"{problem.name.label}: {problem.on_name()}")
            else:
                row.error(self.header.get("name", "Name"), problem.on_name())
        others = [
            services.SiteText.of(customer),
            *(services.SiteText.of(zones[number]) for number in sorted(zones)),
            *(services.SiteText.of(camera) for camera in cameras),
        ]
        others = [name for name in others if name not in written]
        for carrier, column in added.items():
            for problem in services.name_problems(others, [carrier]):
                row.error(column, problem.on_account())

    def _stored_record(self, account: MonitoringAccount) -> DealerStation:
        """A stored account's record as loaded with its receiver (the dealer's records)."""
        for record in self.records:
            if record.pk == account.station_record_id:
                return record
        return account.station_record

    # --- zones

    def _plan_zones(self, row: RowPlan, values: dict[str, Any]) -> None:
        text = values.get("zones", "")
        if not text:
            return
        customer = row.customer
        existing = {z.number: z for z in customer.zones.all()} if customer.pk else {}
        seen: set[int] = set()
        changed = False
        for part in (p for p in text.split(";") if p.strip()):
            match = ZONE_RE.match(part)
            if match is None:
                row.error(ZONES, f"“{part.strip()}”: write a zone as “017 Front door [Instant]”.")
                continue
            number = int(match["number"])
            type_text = (match["type"] or "").strip()
            zone_type = ZONE_TYPES.get(type_text.casefold()) if type_text else Zone.Type.INSTANT
            if zone_type is None:
                types = ", ".join(label for _, label in Zone.Type.choices)
                row.error(ZONES, f"Zone {number:03d}: the type is one of {types}.")
                continue
            if not ZONE_MIN <= number <= ZONE_MAX:
                row.error(ZONES, f"Zone numbers run from {ZONE_MIN} to {ZONE_MAX}.")
                continue
            if number in seen:
                row.error(ZONES, f"Zone {number:03d} is listed twice.")
                continue
            seen.add(number)
            zone = existing.get(number)
            if zone is None:
                zone = Zone(
                    customer=customer, number=number, name=match["name"], zone_type=zone_type
                )
                target = row.zones_new
            elif (zone.name, zone.zone_type) == (match["name"], zone_type):
                continue
            else:
                zone.name, zone.zone_type = match["name"], zone_type
                target = row.zones_changed
            try:
                zone.full_clean(
                    exclude=["customer"], validate_unique=False, validate_constraints=False
                )
            except Exception as exc:  # a ValidationError: the name too long ...
                for message in getattr(exc, "messages", [str(exc)]):
                    row.error(ZONES, f"Zone {number:03d}: {message}")
                continue
            target.append(zone)
            changed = True
        if changed:
            row.changes.append(ZONES)


def _accounts_written(row: RowPlan) -> list[MonitoringAccount]:
    return [*row.accounts_new, *row.accounts_changed]


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- committing -----------------------------------------------------------------------------


class ImportRefused(Exception):
    """The file has errors (now): nothing was written. ``plan`` says which."""

    def __init__(self, plan: ImportPlan) -> None:
        super().__init__("The file has errors; nothing was imported.")
        self.plan = plan


def commit_import(dealer: Dealer, dataset: tablib.Dataset, *, actor: Any) -> ImportPlan:
    """Plan again and write every row, or none (ImportRefused when any row has an error)."""
    with transaction.atomic():
        plan = plan_import(dealer, dataset)
        if not plan.ok:
            raise ImportRefused(plan)
        rows = [row for row in plan.rows if row.action in (NEW, UPDATE)]
        now = timezone.now()
        new_customers = [row.customer for row in rows if row.action == NEW]
        for customer in new_customers:
            customer.created_at = customer.updated_at = now
        _create(Customer, new_customers, actor)
        changed: dict[tuple[str, ...], list[Customer]] = defaultdict(list)
        for row in rows:
            if row.action == UPDATE and row.customer_fields:
                row.customer.updated_at = now
                changed[tuple(sorted(row.customer_fields))].append(row.customer)
        for fields, customers in changed.items():
            _update(Customer, customers, [*fields, "updated_at"], actor)
        accounts_new = [a for row in rows for a in row.accounts_new]
        for account in accounts_new:
            account.created_at = account.updated_at = now
        _create(MonitoringAccount, accounts_new, actor)
        accounts_changed = [a for row in rows for a in row.accounts_changed]
        for account in accounts_changed:
            account.updated_at = now
        _lock_in_id_order(MonitoringAccount, accounts_changed)
        _update(
            MonitoringAccount,
            accounts_changed,
            ["station_record", "station", "account_number", "reference_id", "updated_at"],
            actor,
        )
        _create(Zone, [z for row in rows for z in row.zones_new], actor)
        _update(Zone, [z for row in rows for z in row.zones_changed], ["name", "zone_type"], actor)
    return plan


def _lock_in_id_order(model, objects: list) -> None:
    """Lock the rows about to be written in id order: the order in which an alarm locks its
    site's accounts (``signals.selectors.transmitting_accounts``). A bulk update locks its rows
    in whatever order its plan visits them, and an import holding a site's second account while
    waiting for the first, which an alarm holds while waiting for the second, is a deadlock:
    one of the two would be refused."""
    ids = sorted(obj.pk for obj in objects)
    for chunk in _chunks(ids):
        list(
            model.objects.filter(pk__in=chunk).order_by("pk").select_for_update().values_list("pk")
        )


def _create(model, objects: list, actor: Any) -> None:
    if objects:
        bulk_create_with_history(objects, model, batch_size=CHUNK, default_user=actor)


def _update(model, objects: list, fields: list[str], actor: Any) -> None:
    if objects:
        bulk_update_with_history(objects, model, fields, batch_size=CHUNK, default_user=actor)
