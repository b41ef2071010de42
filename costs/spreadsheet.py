"""Reading a partner's billing from an Excel workbook (.xlsx): the first sheet, its first row
that holds anything as the header, streamed row by row (openpyxl's read-only mode).

Each cell is given to the import's row reader as the text a CSV export of the sheet would hold:
a date as its ISO date (`2026-06-01`; a time of day is kept after it), a number exactly as Excel
wrote it (`Decimal(str(value))`, never a float: `0.30000000000000004` stays as it is and the row
reader refuses its 17 decimals), a whole number without decimals, an empty cell as empty. A row
with nothing in it is skipped, as a blank CSV line is; a cell beyond the header is kept under its
column letter, so a card number there still refuses the file.

A workbook is a zip of XML files: before any of it is read, the zip's own directory is checked
(how many parts, how large once unpacked) so that a small hostile file cannot unpack into
gigabytes, and any failure of the reader is an `XlsxUnreadable` (a ValueError), never an error
the import does not expect.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.utils.translation import gettext as _

MAX_PARTS = 2_000  # parts of the zip
MAX_UNPACKED = 512 * 1024 * 1024  # bytes of all parts once unpacked
MAX_RATIO = 200  # unpacked size over packed size, part by part (a zip bomb packs far tighter)
MAX_COLUMNS = 200
MAX_ROWS = 1_048_576  # Excel's own limit
XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a legacy .xls (an OLE2 compound file)


class XlsxUnreadable(ValueError):
    """The workbook cannot be read; the message says why, naming no cell's value."""


def _checked_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise XlsxUnreadable(_("The file cannot be read as an XLSX workbook.")) from None
    if len(parts) > MAX_PARTS or sum(part.file_size for part in parts) > MAX_UNPACKED:
        raise XlsxUnreadable(_("The workbook unpacks to more than the upload limit allows."))
    for part in parts:
        if part.file_size > 1024 * 1024 and part.file_size > MAX_RATIO * max(part.compress_size, 1):
            raise XlsxUnreadable(_("The workbook unpacks to more than the upload limit allows."))
    if "xl/workbook.xml" not in {part.filename for part in parts}:
        raise XlsxUnreadable(_("The file cannot be read as an XLSX workbook."))


def cell_text(value) -> str | None:
    """A cell's value as the row reader takes it (module docstring)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        if not number.is_finite():
            return str(value)
        if number == number.to_integral_value() and abs(number) < Decimal(10) ** 30:
            return str(int(number))
        return format(number, "f")
    return str(value)


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _rows(path: Path) -> Iterator[tuple]:
    """The first sheet's rows that hold anything, as tuples of cell text."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except XlsxUnreadable:
        raise
    except Exception:  # a hostile or broken file fails inside the XML and zip readers in many ways
        raise XlsxUnreadable(_("The file cannot be read as an XLSX workbook.")) from None
    try:
        if not workbook.worksheets:
            raise XlsxUnreadable(_("The workbook has no sheet."))
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # the sheet's stated size is not trusted: rows are as long as they are
        read = 0
        for row in sheet.iter_rows(values_only=True):
            read += 1
            if read > MAX_ROWS:
                raise XlsxUnreadable(_("The sheet has more than %(rows)d rows.") % {"rows": MAX_ROWS})
            while row and (row[-1] is None or row[-1] == ""):
                row = row[:-1]
            if not row:
                continue
            if len(row) > MAX_COLUMNS:
                raise XlsxUnreadable(_("The sheet has more than %(columns)d columns.") % {"columns": MAX_COLUMNS})
            yield tuple(cell_text(value) for value in row)
    except XlsxUnreadable:
        raise
    except Exception:  # as above: the sheet's XML is read as the rows are
        raise XlsxUnreadable(_("The file cannot be read as an XLSX workbook.")) from None
    finally:
        workbook.close()


def xlsx_records(path: Path) -> tuple[list[str], Iterator[dict]]:
    """(header, records): each record a dict of the header's columns (and, for a cell beyond the
    header, its column letter) to cell text. Raises XlsxUnreadable."""
    _checked_zip(path)
    rows = _rows(path)
    first = next(rows, None)
    rows.close()
    names = [text or _letter(index) for index, text in enumerate(first or ())]

    def records() -> Iterator[dict]:
        body = _rows(path)
        try:
            next(body, None)  # the header
            for row in body:
                record = dict.fromkeys(names)
                for index, value in enumerate(row):
                    name = names[index] if index < len(names) else _letter(index)
                    record[name] = value
                yield record
        finally:
            body.close()

    return names, records()
