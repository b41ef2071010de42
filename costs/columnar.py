"""Checking a whole file of partner billing at once (pyarrow.compute), column by column.

`billing_columns` reads a table (a CSV or Parquet file, or rows of text) through the import's
column mapping and returns the columns `costs.importing` copies into PostgreSQL, as text; or
None when any row is not plainly good. It accepts a strict subset of what the row reader
(`costs.importing._read`) accepts, with the same values: no surrounding spaces, numbers written
`-123.4567` (at most 4 decimals, no thousands separators), dates `YYYY-MM-DD`, an invoice period
`YYYY-MM`, cohort keys and codes in ASCII, and no cell that might hold a card number. On None the
import reads the file again row by row, which accepts the rest and names each bad row and column:
a file is checked by columns when it is good, by rows when something needs naming.
"""

from __future__ import annotations

import calendar

import pyarrow as pa
import pyarrow.compute as pc

from costs.models import FEE_COLUMNS, MATCH_KEYS, FeeImport, FeeType, Funding, Region
from monitoring.rows import MIN_CARD_NUMBER, holds_card_number

# The row reader's pre-filter for card numbers (monitoring.rows._MAYBE_CARD_NUMBER), in RE2.
_MAYBE_CARD_NUMBER = r"[0-9](?:[ -]?[0-9]){12}"
# A card number is 13–19 digits read whole, or digit groups joined by one space or dash: a text
# with neither (an ARN of 23 digits, say) cannot hold one and skips the detector.
_RUN_13_TO_19 = r"(^|[^0-9])[0-9]{13,19}([^0-9]|$)"
_JOINED_DIGITS = r"[0-9][ -][0-9]"
# What Python's str.strip() removes: a value starting or ending with it goes to the row reader.
_EDGE_SPACE = r"^[\pZ\t\n\x0b\x0c\r\x1c-\x1f\x85]|[\pZ\t\n\x0b\x0c\r\x1c-\x1f\x85]$"
_SIGNED = r"^-?[0-9]{1,16}(\.[0-9]{1,4})?$"
_UNSIGNED = r"^[0-9]{1,16}(\.[0-9]{1,4})?$"
_COUNT = r"^[0-9]{1,18}$"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_PERIOD = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
# The row reader's patterns (costs.importing), for the RE2 engine.
_CODE = r"^([A-Za-z0-9][A-Za-z0-9_.\- ]{0,59})?$"
_REFERENCE = r"^[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,63}$"
_BIN = r"^([0-9]{6,8})?$"
_LAST4 = r"^([0-9]{4})?$"
_COUNTRY = r"^([A-Z]{2})?$"
_CURRENCY = r"^([A-Z]{3})?$"
_MERCHANT = r"^(acct_[A-Za-z0-9_]{1,59})?$"
_CHOICES = {"funding": tuple(Funding.values), "region": tuple(Region.values)}
RECORD_FEES = tuple(FEE_COLUMNS.values())


class _NotPlain(Exception):
    """Some row needs the row reader (to be accepted, or to be named)."""


def _all(mask: pa.Array) -> None:
    if mask.null_count or not pc.all(mask).as_py():
        raise _NotPlain


def _none(mask: pa.Array) -> None:
    if pc.any(mask).as_py():
        raise _NotPlain


def no_card_number(column: pa.Array) -> None:
    """Raises _NotPlain when a cell of any column, mapped or not, may hold a card number."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.dictionary
        kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if not len(column) - column.null_count:
            return
        longest = pc.max(pc.binary_length(column)).as_py() or 0
        if longest < 13:
            return
        maybe = pc.match_substring_regex(column, _MAYBE_CARD_NUMBER)
        maybe = pc.and_(
            maybe,
            pc.or_(pc.match_substring_regex(column, _RUN_13_TO_19), pc.match_substring_regex(column, _JOINED_DIGITS)),
        )
        candidates = pc.unique(pc.filter(column, maybe))
        if any(holds_card_number(value) for value in candidates.to_pylist()):
            raise _NotPlain
    elif pa.types.is_integer(kind):
        if len(column) - column.null_count and pc.max(pc.abs(pc.cast(column, pa.int64()))).as_py() >= MIN_CARD_NUMBER:
            raise _NotPlain
    elif pa.types.is_decimal(kind):
        no_card_number(pc.cast(column, pa.string()))
    elif not (pa.types.is_date(kind) or pa.types.is_null(kind) or pa.types.is_boolean(kind)):
        raise _NotPlain  # floats, binaries, lists…: the row reader's own rules


def _string(values: pa.Array | None, rows: int) -> pa.Array:
    """A column as text, "" where absent or empty (as the row reader reads None)."""
    if values is None:
        return pa.array([""] * rows, pa.string()) if rows else pa.array([], pa.string())
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    if pa.types.is_null(values.type):
        return pa.array([""] * rows, pa.string())
    if not pa.types.is_string(values.type):
        raise _NotPlain
    return pc.fill_null(values, "") if values.null_count else values


def _plain(values: pa.Array, limit: int) -> pa.Array:
    """Text the row reader keeps as it is (`_text`): no surrounding spaces, no NUL, ≤ limit."""
    _none(pc.match_substring_regex(values, _EDGE_SPACE))
    _none(pc.match_substring(values, "\x00"))
    _all(pc.less_equal(pc.utf8_length(values), limit))
    return values


def _ascii(values: pa.Array, limit: int) -> pa.Array:
    values = _plain(values, limit)
    _all(pc.string_is_ascii(values))
    return values


def _pattern(values: pa.Array, pattern: str, *, upper: bool = False) -> pa.Array:
    values = _ascii(values, 64)
    if upper:
        values = pc.utf8_upper(values)
    _all(pc.match_substring_regex(values, pattern))
    return values


def _number(values: pa.Array | None, rows: int, *, required: bool = False, signed: bool = True) -> pa.Array:
    if values is not None and (pa.types.is_integer(values.type) or pa.types.is_decimal(values.type)):
        if pa.types.is_decimal(values.type) and values.type.scale > 4:
            raise _NotPlain
        values = pc.cast(values, pa.string())
    text = _string(values, rows)
    empty = pc.equal(text, "")
    if required:
        _none(empty)
    _all(pc.or_(empty, pc.match_substring_regex(text, _SIGNED if signed else _UNSIGNED)))
    return pc.if_else(empty, "0", text)


def _count(values: pa.Array | None, rows: int) -> pa.Array:
    if values is not None and pa.types.is_integer(values.type) and values.null_count == 0 and len(values):
        _all(pc.greater_equal(values, 0))
        _all(pc.less_equal(values, 2**62))
        return pc.cast(values, pa.string())
    text = _string(values, rows)
    empty = pc.equal(text, "")
    _all(pc.or_(empty, pc.match_substring_regex(text, _COUNT)))
    return pc.if_else(empty, "0", text)


def _date(values: pa.Array | None, rows: int) -> pa.Array:
    if values is not None and pa.types.is_date(values.type):
        if values.null_count:
            raise _NotPlain
        return pc.cast(pc.cast(values, pa.date32()), pa.string())
    return _distinct(_string(values, rows), _date_text)


def _date_text(text: pa.Array) -> pa.Array:
    _all(pc.match_substring_regex(text, _DATE))
    parsed = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 30 February over into March: a date that reads back differently is no date.
    _all(pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), text))
    return text


def _distinct(values: pa.Array, read) -> pa.Array:
    """`read` applied once to each distinct value: a file repeats its networks, giros, countries
    and days on every row."""
    encoded = pc.dictionary_encode(values)
    return pc.take(read(encoded.dictionary), encoded.indices)


def _choice(values: pa.Array, allowed: tuple[str, ...]) -> pa.Array:
    values = pc.utf8_lower(_ascii(values, 30))
    values = pc.replace_substring(pc.replace_substring(values, "-", "_"), " ", "_")
    _all(pc.is_in(values, pa.array(["", *allowed])))
    return values


def _cohort(column, rows: int) -> dict[str, pa.Array]:
    out = {}
    for key in MATCH_KEYS:
        values = _string(column(key), rows)
        if key in _CHOICES:
            out[key] = _distinct(values, lambda v, allowed=_CHOICES[key]: _choice(v, allowed))
        else:
            out[key] = _distinct(values, lambda v: pc.utf8_lower(_ascii(v, 40)))
    return out


def _country(values: pa.Array) -> pa.Array:
    return _pattern(values, _COUNTRY, upper=True)


def _currency(values: pa.Array) -> pa.Array:
    currency = _pattern(values, _CURRENCY, upper=True)
    return pc.if_else(pc.equal(currency, ""), "MXN", currency)


def _records(column, rows: int) -> dict[str, pa.Array]:
    reference = _pattern(_string(column("reference"), rows), _REFERENCE)
    out = {
        "reference": reference,
        "txn_date": _date(column("date"), rows),
        "bin_prefix": _distinct(_string(column("bin"), rows), lambda v: _pattern(v, _BIN)),
        "last4": _pattern(_string(column("last4"), rows), _LAST4),
        **_cohort(column, rows),
        "issuer_country": _distinct(_string(column("issuer_country"), rows), _country),
        "merchant_country": _distinct(_string(column("merchant_country"), rows), _country),
        "merchant": _distinct(_string(column("merchant"), rows), lambda v: _pattern(v, _MERCHANT)),
        "amount": _number(column("amount"), rows, required=True, signed=False),
    }
    out["currency"] = _distinct(_string(column("currency"), rows), _currency)
    for name in RECORD_FEES:
        out[name] = _number(column(name), rows)
    out["downgrade_reason"] = _distinct(_string(column("downgrade_reason"), rows), lambda v: _plain(v, 120))
    return out


def _invoice(column, rows: int, fee_codes: dict[str, str]) -> dict[str, pa.Array]:
    for name in ("period_start", "period_end"):
        _all(pc.equal(_string(column(name), rows), ""))  # first and last days: the row reader
    period = _pattern(_string(column("period"), rows), _PERIOD)
    encoded = pc.dictionary_encode(period)
    months = encoded.dictionary.to_pylist()
    if any(month.startswith("0000") for month in months):
        raise _NotPlain  # no year 0: the row reader says so
    starts = pa.array([f"{month}-01" for month in months], pa.string())
    ends = pa.array(
        [f"{month}-{calendar.monthrange(int(month[:4]), int(month[5:]))[1]:02d}" for month in months], pa.string()
    )
    code = _pattern(_string(column("fee_code"), rows), _CODE)
    _none(pc.equal(code, ""))
    codes = pc.dictionary_encode(code)
    types = []
    for value in codes.dictionary.to_pylist():
        lower = value.lower()
        types.append(fee_codes.get(value, fee_codes.get(lower, lower if lower in FeeType.values else "")))
    return {
        "period_start": pc.take(starts, encoded.indices),
        "period_end": pc.take(ends, encoded.indices),
        **_cohort(column, rows),
        "fee_code": code,
        "fee_type": pc.take(pa.array(types, pa.string()), codes.indices),
        "count": _count(column("count"), rows),
        "volume": _number(column("volume"), rows, signed=False),
        "amount": _number(column("amount"), rows, required=True),
        "currency": _distinct(_string(column("currency"), rows), _currency),
    }


def billing_columns(table: pa.Table, columns: dict[str, str], shape: str, fee_codes: dict) -> pa.Table | None:
    """The table's rows as the columns of `costs.importing.RECORD_COLUMNS` / `INVOICE_COLUMNS`,
    as text, or None when any row is not plainly good (module docstring). `columns` maps each
    field to the column that holds it."""
    try:
        return _billing_columns(table, columns, shape, fee_codes)
    except (_NotPlain, pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None


def _billing_columns(table: pa.Table, columns: dict[str, str], shape: str, fee_codes: dict) -> pa.Table:
    if len(set(table.column_names)) != len(table.column_names):
        raise _NotPlain  # the row reader keeps the last of two columns of one name
    table = table.combine_chunks()
    for name in table.column_names:
        no_card_number(table.column(name).combine_chunks())
    rows = table.num_rows

    def column(field: str) -> pa.Array | None:
        name = columns[field]
        if name not in table.column_names:
            return None
        return table.column(name).combine_chunks()

    out = _records(column, rows) if shape == FeeImport.Shape.RECORDS else _invoice(column, rows, fee_codes)
    return pa.table(out)
