"""CSV cells a spreadsheet would run as formulas are written as text, and read back as they
were (the customer export and import, the station console's account list)."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dealers.lib import csv_text, csv_value


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("'=1", "''=1"),  # an apostrophe the user typed survives the way back
        ("'quoted", "'quoted"),
        ("Corner Store", "Corner Store"),
        ("", ""),
    ],
)
def test_a_cell_that_would_run_as_a_formula_is_text(value, cell):
    assert csv_text(value) == cell
    assert csv_value(cell) == value


@given(st.text())
def test_every_value_reads_back_as_written(value):
    assert csv_value(csv_text(value)) == value
    assert csv_text(value)[:1] not in {"=", "+", "-", "@", "\t", "\r"}


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_a_row_survives_the_csv_module(values):
    buffer = io.StringIO()
    csv.writer(buffer).writerow([csv_text(v) for v in values])
    (row,) = csv.reader(io.StringIO(buffer.getvalue(), newline=""))
    assert [csv_value(c) for c in row] == values
