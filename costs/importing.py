"""Importing partner billing: invoice lines or transaction fee records, from CSV, XLSX, Parquet or rows.

One call imports one file whole or nothing: every row is read and checked (up to MAX_ERRORS
errors are reported, each with its row number: row 1 is the first row under the header) and the
valid rows are copied (PostgreSQL COPY) in chunks inside one transaction that rolls back when any
row was bad. A card number in any cell, mapped or not, or in a column name refuses the file with
its row. A file whose SHA-256 was imported before is refused. docs/costs.md lists the columns.

A plainly good file (or rows of text) is first checked whole, column by column (costs/columnar.py),
and copied as CSV; anything that check does not settle is read row by row as above, so every
error still names its row and column.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from costs.columnar import billing_columns
from costs.models import FEE_COLUMNS, MATCH_KEYS, FeeImport, FeeType, Funding, Region
from costs.spreadsheet import XlsxUnreadable, xlsx_records
from monitoring.importing import cell_value, file_records
from monitoring.rows import holds_card_number
from payhealth.pan import CARD_NUMBER_MESSAGE

CHUNK_ROWS = 5000
COPY_ROWS = 100_000  # rows per write of a file checked by columns
UNREADABLE = (UnicodeDecodeError, csv.Error, ValueError, OSError)  # pyarrow's errors derive from the last two
MAX_ERRORS = 100
LEGACY_SPREADSHEETS = (".xls", ".xlsm", ".xlsb", ".ods")
MAX_AMOUNT = Decimal("9999999999999999.9999")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,59}$")
_BIN = re.compile(r"^[0-9]{6,8}$")
_LAST4 = re.compile(r"^[0-9]{4}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,63}$")
_PERIOD = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_MERCHANT = re.compile(r"^acct_[A-Za-z0-9_]{1,59}$")  # a merchant's account id (cases.Merchant.account_id)

INVOICE_FIELDS = (
    "period",
    "period_start",
    "period_end",
    *MATCH_KEYS,
    "fee_code",
    "count",
    "volume",
    "amount",
    "currency",
)
INVOICE_REQUIRED = ("fee_code", "amount")
RECORD_FEES = tuple(FEE_COLUMNS.values())
RECORD_FIELDS = (
    "reference",
    "date",
    "bin",
    "last4",
    *MATCH_KEYS,
    "issuer_country",
    "merchant_country",
    "merchant",
    "amount",
    "currency",
    *RECORD_FEES,
    "downgrade_reason",
)
RECORD_REQUIRED = ("reference", "date", "amount")


@dataclass(frozen=True)
class RowError:
    row: int  # 0: the file as a whole
    column: str
    message: str

    def __str__(self):
        if self.row:
            return _("Row %(row)d, %(column)s: %(message)s") % {
                "row": self.row,
                "column": self.column,
                "message": self.message,
            }
        return f"{self.column}: {self.message}" if self.column else self.message


class FeeImportRefused(Exception):
    """Nothing was imported; `errors` says why, row by row."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors[:5]))


def legacy_spreadsheet_message() -> str:
    return _("Only XLSX workbooks are read: save the sheet as .xlsx (Excel workbook) or as CSV (UTF-8).")


def _unreadable(problem: Exception) -> str:
    if isinstance(problem, XlsxUnreadable):
        return str(problem)
    return _("The file cannot be read as CSV, XLSX or Parquet.")


class _Bad(Exception):
    pass


def _text(value, *, limit: int = 120) -> str:
    if value is None:
        return ""
    text = (value if isinstance(value, str) else str(value)).strip()
    if len(text) > limit or "\x00" in text:
        raise _Bad(_("Too long, or not text."))
    return text


def _decimal(value, *, required: bool = False, signed: bool = True) -> Decimal:
    text = _text(value, limit=40).replace(",", "")
    if not text:
        if required:
            raise _Bad(_("This field is required."))
        return Decimal(0)
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise _Bad(_("Enter a number.")) from None
    if not number.is_finite() or abs(number) > MAX_AMOUNT or number.as_tuple().exponent < -4:
        raise _Bad(_("Enter a number with at most 4 decimals."))
    if not signed and number < 0:
        raise _Bad(_("Enter a number of zero or more."))
    return number


def _count(value) -> int:
    text = _text(value, limit=20)
    if not text:
        return 0
    if not text.isascii() or not text.isdigit() or int(text) > 2**62:
        raise _Bad(_("Enter a whole number of zero or more."))
    return int(text)


def _date(value) -> date:
    text = _text(value, limit=32)[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _Bad(_("Enter a date as YYYY-MM-DD.")) from None


def _pattern(value, pattern: re.Pattern, *, upper: bool = False) -> str:
    text = _text(value, limit=64)
    if upper:
        text = text.upper()
    if text and not pattern.match(text):
        raise _Bad(_("Not a valid value."))
    return text


def _choice(value, allowed) -> str:
    text = _text(value, limit=30).lower().replace("-", "_").replace(" ", "_")
    if text and text not in allowed:
        raise _Bad(_("Choose one of %(choices)s.") % {"choices": ", ".join(allowed)})
    return text


_FUNDING = tuple(Funding.values)
_REGION = tuple(Region.values)


def _key_text(value) -> str:
    return _text(value, limit=40).lower()


def _funding(value) -> str:
    return _choice(value, _FUNDING)


def _region(value) -> str:
    return _choice(value, _REGION)


_COHORT_PARSERS = tuple((key, {"funding": _funding, "region": _region}.get(key, _key_text)) for key in MATCH_KEYS)


def _cohort(get) -> dict:
    return {key: get(key, parse) for key, parse in _COHORT_PARSERS}


def _invoice_row(get, fee_codes: dict[str, str]) -> tuple:
    period = get("period", lambda v: _text(v, limit=20))
    start = get("period_start", lambda v: _date(v) if _text(v) else None)
    end = get("period_end", lambda v: _date(v) if _text(v) else None)
    if start is None and period:
        found = _PERIOD.match(period)
        try:
            day = date(int(found[1]), int(found[2]), 1) if found else _date(period).replace(day=1)
        except (_Bad, ValueError):
            raise _Bad(_("Enter the period as YYYY-MM.")) from None
        start = day
        end = end or day.replace(day=calendar.monthrange(day.year, day.month)[1])
    if start is None or end is None:
        raise _Bad(_("Give the period (YYYY-MM) or its first and last days."))
    if end < start:
        raise _Bad(_("The period ends before it starts."))
    cohort = _cohort(get)
    code = get("fee_code", lambda v: _pattern(v, _CODE)) or ""
    fee_type = fee_codes.get(code, fee_codes.get(code.lower(), code.lower() if code.lower() in FeeType.values else ""))
    return (
        start,
        end,
        *(cohort[key] for key in MATCH_KEYS),
        code,
        fee_type,
        get("count", _count),
        get("volume", lambda v: _decimal(v, signed=False)),
        get("amount", lambda v: _decimal(v, required=True)),
        get("currency", lambda v: _pattern(v, _CURRENCY, upper=True)) or "MXN",
    )


def _record_row(get) -> tuple:
    reference = get("reference", lambda v: _pattern(v, _REFERENCE))
    if reference == "":
        raise _Bad(_("This field is required."))
    cohort = _cohort(get)
    return (
        reference,
        get("date", _date),
        get("bin", lambda v: _pattern(v, _BIN)),
        get("last4", lambda v: _pattern(v, _LAST4)),
        *(cohort[key] for key in MATCH_KEYS),
        get("issuer_country", lambda v: _pattern(v, _COUNTRY, upper=True)),
        get("merchant_country", lambda v: _pattern(v, _COUNTRY, upper=True)),
        get("merchant", lambda v: _pattern(v, _MERCHANT)),
        get("amount", lambda v: _decimal(v, required=True, signed=False)),
        get("currency", lambda v: _pattern(v, _CURRENCY, upper=True)) or "MXN",
        *(get(name, _decimal) for name in RECORD_FEES),
        get("downgrade_reason", lambda v: _text(v, limit=120)),
    )


INVOICE_COLUMNS = (
    "period_start",
    "period_end",
    *MATCH_KEYS,
    "fee_code",
    "fee_type",
    "count",
    "volume",
    "amount",
    "currency",
)
RECORD_COLUMNS = (
    "reference",
    "txn_date",
    "bin_prefix",
    "last4",
    *MATCH_KEYS,
    "issuer_country",
    "merchant_country",
    "merchant",
    "amount",
    "currency",
    *RECORD_FEES,
    "downgrade_reason",
)


def _source(path_or_rows) -> tuple[str, str, list[str], Iterator[tuple[int, dict]], Callable]:
    """(sha256, file name, header, records numbered from 1, a function giving the whole table as
    Arrow for the columnar check, or None when it cannot)."""
    if isinstance(path_or_rows, str | Path):
        path = Path(path_or_rows)
        suffix = path.suffix.lower()
        if suffix in LEGACY_SPREADSHEETS:
            raise FeeImportRefused([RowError(0, "", legacy_spreadsheet_message())])
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if suffix == ".xlsx":
            header, sheet = xlsx_records(path)
            numbered = enumerate(sheet, start=1)
            return digest.hexdigest(), path.name, header, numbered, lambda: None
        kind, header, records = file_records(path)
        numbered = ((n, rec) for n, (_line, rec) in enumerate(records, start=1))
        return digest.hexdigest(), path.name, header, numbered, lambda: _file_table(path, kind, header)
    rows = list(path_or_rows)
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()
    header = list(dict.fromkeys(key for row in rows[:1] for key in row))
    numbered = ((n, {k: cell_value(v) for k, v in row.items()}) for n, row in enumerate(rows, start=1))
    return digest, "", header, numbered, lambda: _rows_table(rows, header)


def _file_table(path: Path, kind: str, header: list[str]):
    """The whole file as an Arrow table (CSV: every column as text, as the row reader reads it),
    or None when Arrow reads it differently from the row reader (the row reader decides)."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    try:
        if kind == "parquet":
            return pq.read_table(path)
        table = pa_csv.read_csv(
            path,
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, OSError, ValueError):
        return None
    return table if table.column_names == header else None


def _rows_table(rows: list, header: list[str]):
    """Rows of text (every row with the same fields) as an Arrow table, or None."""
    keys = set(header)
    if not rows or not all(isinstance(row, dict) and row.keys() == keys for row in rows):
        return None
    if not all(value is None or isinstance(value, str) for row in rows for value in row.values()):
        return None
    return pa.table({key: pa.array([row[key] for row in rows], pa.string()) for key in header})


def fee_import(
    path_or_rows: str | Path | Iterable[dict],
    *,
    partner,
    shape: str,
    mapping: dict | None = None,
    actor=None,
) -> FeeImport:
    """Import a file (CSV, XLSX or Parquet path) or an iterable of dicts, whole or not at all.

    `mapping` = {"columns": {field: column}, "fee_codes": {partner's fee code: fee type}}; a field
    the columns leave out is read from the column of its own name; a fee code not mapped (and not
    itself a fee type's name) is stored with an empty fee type, which the checks report.
    Raises FeeImportRefused listing the errors."""
    columns, fee_codes, (sha256, file_name, _header, records, whole) = _prepare(
        path_or_rows, shape=shape, mapping=mapping
    )
    if FeeImport.objects.filter(sha256=sha256).exists():
        raise FeeImportRefused([RowError(0, "", _("This file was imported before."))])
    errors: list[RowError] = []
    table_name = "costs_invoiceline" if shape == FeeImport.Shape.INVOICE else "costs_feerecord"
    names = INVOICE_COLUMNS if shape == FeeImport.Shape.INVOICE else RECORD_COLUMNS
    try:
        with transaction.atomic():
            fee_import_row = FeeImport.objects.create(
                partner=partner, sha256=sha256, shape=shape, file_name=file_name[:255], imported_by=actor
            )
            table = whole()
            checked = None if table is None else billing_columns(table, columns, shape, fee_codes)
            if checked is not None and checked.num_rows:  # every row plainly good: no row to name
                _copy_columns(table_name, names, checked, fee_import_row.pk, partner.pk)
                fee_import_row.rows = checked.num_rows
                fee_import_row.save(update_fields=["rows"])
                return fee_import_row
            del table, checked
            chunk: list[tuple] = []
            rows = 0
            for number, record in _readable(records, errors):
                rows = number
                row = _read(number, record, columns, shape, fee_codes, errors)
                if row is not None and not errors:
                    chunk.append((fee_import_row.pk, partner.pk, number, *row))
                    if len(chunk) == CHUNK_ROWS:
                        _copy(table_name, names, chunk)
                        chunk = []
                if len(errors) >= MAX_ERRORS:
                    break
            if errors:
                raise FeeImportRefused(errors)
            if rows == 0:
                raise FeeImportRefused([RowError(0, "", _("The file has no rows."))])
            if chunk:
                _copy(table_name, names, chunk)
            fee_import_row.rows = rows
            fee_import_row.save(update_fields=["rows"])
    except IntegrityError:  # the same file, imported at the same moment by someone else
        raise FeeImportRefused([RowError(0, "", _("This file was imported before."))]) from None
    return fee_import_row


def _prepare(path_or_rows, *, shape: str, mapping: dict | None):
    """The checks of the file as a whole, before any row: (columns, fee codes, source)."""
    if shape not in FeeImport.Shape.values:
        raise FeeImportRefused([RowError(0, "shape", _("Choose invoice or records."))])
    mapping = mapping or {}
    fields = INVOICE_FIELDS if shape == FeeImport.Shape.INVOICE else RECORD_FIELDS
    required = INVOICE_REQUIRED if shape == FeeImport.Shape.INVOICE else RECORD_REQUIRED
    columns = {name: name for name in fields} | dict(mapping.get("columns") or {})
    fee_codes = {str(k): v for k, v in (mapping.get("fee_codes") or {}).items() if v in FeeType.values}
    try:
        source = _source(path_or_rows)
    except UNREADABLE as problem:
        raise FeeImportRefused([RowError(0, "", _unreadable(problem))]) from None
    header = source[2]
    for column in header:
        if holds_card_number(column):
            raise FeeImportRefused([RowError(0, "", str(CARD_NUMBER_MESSAGE))])
    missing = [columns[name] for name in required if columns[name] not in header]
    if header and missing:
        raise FeeImportRefused([RowError(0, c, _("The file has no such column.")) for c in missing])
    return columns, fee_codes, source


@dataclass
class Preview:
    """What an import would read, with nothing written: the first rows as the mapping reads them
    (None for a row that has errors), the errors (as `fee_import` would report them), the rows
    read, and whether this very file was imported before."""

    shape: str
    rows: list[tuple[int, dict | None]]
    errors: list[RowError]
    total: int
    imported_before: bool

    @property
    def ok(self) -> bool:
        return not self.errors and not self.imported_before and self.total > 0

    def text_rows(self) -> list[tuple[int, dict | None]]:
        """The rows with each value written as a file carries it (ISO dates, plain decimals)."""
        return [
            (number, None if values is None else {name: _as_text(value) for name, value in values.items()})
            for number, values in self.rows
        ]


def _as_text(value) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def fee_import_preview(
    path_or_rows: str | Path | Iterable[dict],
    *,
    shape: str,
    mapping: dict | None = None,
    limit: int = 20,
) -> Preview:
    """Read a file exactly as `fee_import` would (the same parsing, row by row) and write nothing.

    Raises FeeImportRefused for a file refused as a whole (shape, unreadable, a card number in the
    header, a required column missing); row errors are returned in the preview."""
    columns, fee_codes, (sha256, _file_name, _header, records, _whole) = _prepare(
        path_or_rows, shape=shape, mapping=mapping
    )
    names = INVOICE_COLUMNS if shape == FeeImport.Shape.INVOICE else RECORD_COLUMNS
    errors: list[RowError] = []
    rows: list[tuple[int, dict | None]] = []
    total = 0
    for number, record in _readable(records, errors):
        total = number
        row = _read(number, record, columns, shape, fee_codes, errors)
        if len(rows) < limit:
            rows.append((number, None if row is None else dict(zip(names, row, strict=True))))
        if len(errors) >= MAX_ERRORS:
            break
    if total == 0 and not errors:
        errors.append(RowError(0, "", _("The file has no rows.")))
    imported_before = FeeImport.objects.filter(sha256=sha256).exists()
    return Preview(shape=shape, rows=rows, errors=errors, total=total, imported_before=imported_before)


def _readable(records, errors: list) -> Iterator[tuple[int, dict]]:
    """The records until the file stops being readable (a wrong encoding, a broken Parquet page)."""
    number = 0
    try:
        for number, record in records:
            yield number, record
    except UNREADABLE as problem:
        errors.append(RowError(number + 1, "", _unreadable(problem)))


def _read(number: int, record: dict, columns: dict, shape: str, fee_codes: dict, errors: list) -> tuple | None:
    for column, value in record.items():
        if holds_card_number(value):
            errors.append(RowError(number, column or "", str(CARD_NUMBER_MESSAGE)))
            return None
    bad = []

    def get(name, parse):
        try:
            return parse(record.get(columns[name]))
        except _Bad as problem:
            bad.append(RowError(number, columns[name], str(problem)))
            return None

    try:
        row = _invoice_row(get, fee_codes) if shape == FeeImport.Shape.INVOICE else _record_row(get)
    except _Bad as problem:
        bad.append(RowError(number, "", str(problem)))
        row = None
    errors.extend(bad)
    return None if bad else row


def _copy_columns(table: str, names: tuple[str, ...], checked, fee_import_id: int, partner_id: int) -> None:
    """The checked columns (text) copied as CSV, COPY_ROWS rows per write."""
    import pyarrow.csv as pa_csv

    rows = checked.num_rows
    checked = checked.select(list(names))
    checked = checked.add_column(0, "row", pa.array(range(1, rows + 1), pa.int64()))
    checked = checked.add_column(0, "partner_id", pa.repeat(partner_id, rows))
    checked = checked.add_column(0, "fee_import_id", pa.repeat(fee_import_id, rows))
    columns = ", ".join(checked.column_names)
    options = pa_csv.WriteOptions(include_header=False)
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
        for offset in range(0, rows, COPY_ROWS):
            buffer = io.BytesIO()
            pa_csv.write_csv(checked.slice(offset, COPY_ROWS), buffer, options)
            copy.write(buffer.getbuffer())


def _copy(table: str, names: tuple[str, ...], rows: list[tuple]) -> None:
    columns = ", ".join(("fee_import_id", "partner_id", "row", *names))
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
