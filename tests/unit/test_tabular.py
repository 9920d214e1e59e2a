"""Text, CSV and JSON rendering of Arrow tables."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pyarrow as pa
import pytest

from raie.tabular import FORMATS, format_rows, format_text_table

pytestmark = pytest.mark.unit

WHEN = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def sample() -> pa.Table:
    return pa.table(
        {
            "method": ["raie", "lora"],
            "k": pa.array([10, 5], pa.int32()),
            "value": [0.012345678, 0.00001234],
            "note": [None, "x"],
            "created_at": pa.array([WHEN, WHEN], pa.timestamp("ms", tz="UTC")),
        }
    )


def test_table_aligns_columns_and_rounds_floats() -> None:
    text = format_rows(sample(), "table")
    assert text.splitlines() == [
        "method   k      value  note  created_at",
        "------  --  ---------  ----  -------------------------",
        "raie    10     0.0123  NULL  2024-05-01T12:00:00+00:00",
        "lora     5  1.234e-05  x     2024-05-01T12:00:00+00:00",
    ]


def test_csv_keeps_full_precision_and_empty_nulls() -> None:
    rows = list(csv.reader(io.StringIO(format_rows(sample(), "csv"))))
    assert rows[0] == ["method", "k", "value", "note", "created_at"]
    assert rows[1] == ["raie", "10", "0.012345678", "", "2024-05-01T12:00:00+00:00"]
    assert len(rows) == 3


def test_json_is_an_array_of_objects_with_iso_timestamps() -> None:
    records = json.loads(format_rows(sample(), "json"))
    assert records[0] == {
        "method": "raie",
        "k": 10,
        "value": 0.012345678,
        "note": None,
        "created_at": "2024-05-01T12:00:00+00:00",
    }


def test_json_turns_nan_into_null() -> None:
    table = pa.table({"v": [float("nan"), 1.0]})
    assert json.loads(format_rows(table, "json")) == [{"v": None}, {"v": 1.0}]


def test_empty_table_renders_header_only() -> None:
    table = sample().slice(0, 0)
    assert len(format_rows(table, "table").splitlines()) == 2
    assert format_rows(table, "csv").splitlines() == [",".join(table.column_names)]
    assert json.loads(format_rows(table, "json")) == []


def test_unknown_format_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="table, csv, json"):
        format_rows(sample(), "xml")
    assert FORMATS == ("table", "csv", "json")


def test_text_table_detects_numeric_columns() -> None:
    text = format_text_table(["name", "n"], [["a", "1"], ["bbbb", "100"]])
    assert text.splitlines() == ["name    n", "----  ---", "a       1", "bbbb  100"]


def test_text_table_rejects_ragged_rows() -> None:
    with pytest.raises(ValueError, match="row 1 has 1 cells, expected 2"):
        format_text_table(["a", "b"], [["1", "2"], ["3"]])


def test_lists_render_as_json_in_text() -> None:
    table = pa.table({"cats": pa.array([["a", "b"]], pa.list_(pa.string()))})
    assert format_rows(table, "csv").splitlines()[1] == '"[""a"", ""b""]"'
    assert json.loads(format_rows(table, "json")) == [{"cats": ["a", "b"]}]


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_has_no_trailing_newline(fmt: str) -> None:
    assert not format_rows(sample(), fmt).endswith("\n")
