"""Read a user's file of interactions, JSON lines or CSV, one validated record at a time.

The format is detected from the first non-blank line: ``{`` starts JSON lines,
anything else is a CSV header. Every record is checked against Interaction v1
here, before anything is sent, so that errors in a user's own file come back
to them with a line number instead of landing in the dead-letter topic.
Lines are streamed: a file of any size needs memory for one record.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from enum import StrEnum
from itertools import chain
from typing import Any

from raie.errors import DataError
from schemas import MAX_EVENT_BYTES, Interaction, SchemaError
from schemas.codec import decode

CSV_COLUMNS = ("event_id", "user_id", "item_id", "rating", "ts", "source")
REQUIRED_CSV_COLUMNS = ("event_id", "user_id", "item_id", "ts", "source")
"""``rating`` may be left out: a missing rating means an implicit positive."""

UTF8_BOM = b"\xef\xbb\xbf"
"""Spreadsheet programs start CSV exports with it; it is not part of the header."""

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")

ParsedLine = tuple[int, Interaction | SchemaError]
"""(1-based line number, the record or why it is not one)."""


class InputFormat(StrEnum):
    JSON_LINES = "json-lines"
    CSV = "csv"


def detect_format(first_line: bytes) -> InputFormat:
    """JSON lines when the first non-blank line opens an object, else CSV."""
    return InputFormat.JSON_LINES if first_line.lstrip().startswith(b"{") else InputFormat.CSV


def parse_lines(lines: Iterable[bytes], name: str = "<input>") -> Iterator[ParsedLine]:
    """Validate every record of a JSON-lines or CSV input; blank lines are skipped.

    ``name`` is only used in the DataError raised for a CSV header that lacks
    required columns (a file-level problem, not a line's).
    """
    numbered = enumerate(lines, start=1)
    for line_no, raw in numbered:
        if line_no == 1:
            raw = raw.removeprefix(UTF8_BOM)
        if raw.strip():
            rest = chain([(line_no, raw)], numbered)
            if detect_format(raw) is InputFormat.JSON_LINES:
                yield from _json_lines(rest)
            else:
                yield from _csv_rows(rest, name)
            return


def _json_lines(numbered: Iterable[tuple[int, bytes]]) -> Iterator[ParsedLine]:
    for line_no, raw in numbered:
        if not raw.strip():
            continue
        try:
            yield line_no, Interaction.from_json(decode(raw.rstrip(b"\r\n"), MAX_EVENT_BYTES))
        except SchemaError as error:
            yield line_no, error


def _csv_rows(numbered: Iterable[tuple[int, bytes]], name: str) -> Iterator[ParsedLine]:
    undecodable: list[ParsedLine] = []
    first_line_no = 0

    def text_lines() -> Iterator[str]:
        # csv wants text; a line that is not UTF-8 becomes a blank line (which
        # csv skips) and its error is reported in order by the loop below.
        nonlocal first_line_no
        for line_no, raw in numbered:
            first_line_no = first_line_no or line_no
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as error:
                undecodable.append((line_no, SchemaError(f"line is not valid UTF-8 (byte {error.start})")))
                yield "\n"

    reader = csv.DictReader(text_lines())
    header = reader.fieldnames or []
    missing = [column for column in REQUIRED_CSV_COLUMNS if column not in header]
    if missing:
        raise DataError(
            name,
            f"CSV header {header} lacks column(s) {missing}",
            line=first_line_no,
            fix=f"start the file with the header {','.join(CSV_COLUMNS)}, or use JSON lines",
        )
    offset = first_line_no - 1  # reader.line_num counts from the header line
    for row in reader:
        yield from undecodable
        undecodable.clear()
        yield reader.line_num + offset, _csv_record(row)
    yield from undecodable


def _csv_record(row: dict[str | Any, Any]) -> Interaction | SchemaError:
    if None in row:  # DictReader files surplus fields under the key None
        return SchemaError(f"row has {len(row) - 1 + len(row[None])} fields, the header {len(row) - 1}")
    # A short row leaves its last columns None: drop them so the schema names the first missing one.
    record: dict[str, Any] = {key: value for key, value in row.items() if value is not None}
    if "rating" in record:
        record["rating"] = _rating(record["rating"])
    if "ts" in record and _INTEGER.fullmatch(record["ts"].strip()):
        record["ts"] = int(record["ts"])
    try:
        return Interaction.from_json(record)
    except SchemaError as error:
        return error


def _rating(text: str) -> float | str | None:
    """Empty means no rating; a number becomes one; anything else stays text, for the schema to refuse."""
    stripped = text.strip()
    if not stripped:
        return None
    return float(stripped) if _NUMBER.fullmatch(stripped) else text
