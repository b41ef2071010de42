"""Checking a whole column of bucket rows at once (pyarrow.compute), for files.

`columns_check` reads a chunk of a file (an Arrow record batch, columns as the file names them)
through the import's mapping and returns the rows as normalised columns, ready for
`monitoring.services.bucket_columns_write`; or None when any row is not plainly good. It
accepts a strict subset of what `monitoring.rows` accepts (no surrounding spaces, a bucket start
written `YYYY-MM-DDTHH:MM:SSZ` or `+00:00`, decline codes as `code:count;code:count`, counts
without leading zeros, no cell that might hold a card number) with the same values, so a file
it accepts is stored exactly as the row-by-row path would store it. On None the caller reads the
file again row by row (`monitoring.rows`), which accepts the rest and names every bad row: a
file is checked by columns when it is good, by rows when something needs naming.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from monitoring.rows import _ENTRY_MODES, _FUNDING, _NETWORKS, DECLINE_CODE_MAX, MAX_COUNT, MIN_CARD_NUMBER, REQUIRED

# The row-by-row pre-filter for card numbers (monitoring.rows._MAYBE_CARD_NUMBER), in RE2.
_MAYBE_CARD_NUMBER = r"[0-9](?:[ -]?[0-9]){12}"
_MOMENT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|\+00:00)$"
_COUNT = r"^(0|[1-9][0-9]{0,9})$"
_AMOUNT = r"^[0-9]{1,16}(\.[0-9]{1,2})?$"
_CODE = rf"[A-Za-z0-9]{{1,{DECLINE_CODE_MAX}}}"
_CODE_COUNT = r"(?:0|[1-9][0-9]{0,9})"
_CODE_PAIR = f"{_CODE}:{_CODE_COUNT}"
_DECLINE_CODES = rf"^({_CODE_PAIR}(;{_CODE_PAIR})*)?$"
# field → (pattern the value must match, case folding) for the text dimensions and the currency.
_TEXTS = {
    "merchant": (r"^acct_[A-Za-z0-9]{6,40}$", None),
    "bin_prefix": (r"^([0-9]{6,8})?$", None),
    "issuer": (r"^([a-z0-9][a-z0-9_-]{0,49})?$", "lower"),
    "route": (r"^([a-z0-9][a-z0-9_-]{0,49})?$", "lower"),
    "country": (r"^([A-Z]{2})?$", "upper"),
    "currency": (r"^[A-Z]{3}$", "upper"),
}
_CHOICES = {"network": _NETWORKS, "funding": _FUNDING, "entry_mode": _ENTRY_MODES}
COUNT_FIELDS = ("attempts", "approvals", "soft_declines", "hard_declines", "errors")
DIMENSIONS = ("merchant", "network", "bin_prefix", "issuer", "route", "country", "funding", "entry_mode")


class _NotPlain(Exception):
    """Some row needs the row-by-row reader (to be accepted, or to be named)."""


def _all(mask: pa.Array) -> None:
    if mask.null_count or not pc.all(mask).as_py():
        raise _NotPlain


def _no_card_number(column: pa.Array) -> None:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        longest = pc.max(pc.binary_length(column)).as_py() or 0
        if longest >= 13 and pc.any(pc.match_substring_regex(column, _MAYBE_CARD_NUMBER)).as_py():
            raise _NotPlain
    elif pa.types.is_integer(column.type):
        if len(column) - column.null_count and pc.max(column).as_py() >= MIN_CARD_NUMBER:
            raise _NotPlain
    elif _plain_decimal(column.type):
        if pc.any(pc.match_substring_regex(pc.cast(column, pa.string()), _MAYBE_CARD_NUMBER)).as_py():
            raise _NotPlain
    elif not pa.types.is_timestamp(column.type):
        raise _NotPlain  # floats, binaries…: the row reader's own rules


def _plain_decimal(kind: pa.DataType) -> bool:
    """A decimal written with 0 to 2 places, as Python writes its values too."""
    return pa.types.is_decimal(kind) and 0 <= kind.scale <= 2


def _text(batch: pa.RecordBatch, column: str | None, field: str) -> pa.Array:
    """A text field: "" where absent or empty (optional fields only), as the row reader does."""
    if column is None:
        if field in REQUIRED:
            raise _NotPlain
        return pa.array([""] * batch.num_rows, pa.string())
    values = batch.column(column)
    if not pa.types.is_string(values.type):
        raise _NotPlain
    if values.null_count:
        values = pc.fill_null(values, "")
    if field in REQUIRED:
        _all(pc.not_equal(values, ""))
    return values


def _count(values: pa.Array) -> pa.Array:
    if values.null_count:
        raise _NotPlain
    if pa.types.is_integer(values.type):
        numbers = pc.cast(values, pa.int64())
    else:
        _all(pc.match_substring_regex(values, _COUNT))
        numbers = pc.cast(values, pa.int64())
    _all(pc.and_(pc.greater_equal(numbers, 0), pc.less_equal(numbers, MAX_COUNT)))
    return numbers


def _amount(values: pa.Array) -> pa.Array:
    if values.null_count:
        raise _NotPlain
    if pa.types.is_integer(values.type) or _plain_decimal(values.type):
        values = pc.cast(values, pa.string())
    if not pa.types.is_string(values.type):
        raise _NotPlain
    _all(pc.match_substring_regex(values, _AMOUNT))
    return values


def _moment(values: pa.Array, *, minutes: int, earliest: datetime, latest: datetime) -> pa.Array:
    """Seconds since the epoch of each bucket start (int64)."""
    if values.null_count:
        raise _NotPlain
    if pa.types.is_timestamp(values.type):
        if values.type.tz is None:
            raise _NotPlain  # a time without its offset: the row reader names it
        micros = pc.cast(pc.cast(values, pa.timestamp("us", tz="UTC")), pa.int64())
        seconds = pc.divide(micros, 1_000_000)
        _all(pc.equal(pc.multiply(seconds, 1_000_000), micros))  # no fraction of a second
    elif pa.types.is_string(values.type):
        seconds = _distinct(values, _moment_text)
    else:
        raise _NotPlain
    step = minutes * 60
    _all(pc.equal(pc.subtract(seconds, pc.multiply(pc.divide(seconds, step), step)), 0))
    _all(pc.greater_equal(seconds, int(earliest.timestamp()) + (earliest.microsecond > 0)))
    _all(pc.less_equal(seconds, int(latest.timestamp())))
    return seconds


def _moment_text(values: pa.Array) -> pa.Array:
    _all(pc.match_substring_regex(values, _MOMENT))
    text = pc.utf8_slice_codeunits(values, 0, 19)
    parsed = pc.strptime(text, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    # strptime rolls 30 February over into March: a date that reads back differently is no date.
    _all(pc.equal(pc.strftime(parsed, format="%Y-%m-%dT%H:%M:%S"), text))
    return pc.cast(parsed, pa.int64())


def _distinct(values: pa.Array, read) -> pa.Array:
    """`read` (values → values read, or _NotPlain) applied once to each distinct value: a file
    repeats its merchants, dimensions and bucket starts on every row."""
    encoded = pc.dictionary_encode(values)
    return pc.take(read(encoded.dictionary), encoded.indices)


def _decline_codes(values: pa.Array | None, declines: pa.Array) -> pa.Array:
    """`code:count;…` as JSON objects (text), checked: codes once each, counts within the declines.
    Each distinct text is read once; the sums are then compared row by row."""
    if values is None:
        return pa.array(["{}"] * len(declines), pa.string())
    if not pa.types.is_string(values.type):
        raise _NotPlain
    encoded = pc.dictionary_encode(pc.fill_null(values, "") if values.null_count else values)
    texts = encoded.dictionary
    _all(pc.match_substring_regex(texts, _DECLINE_CODES))
    parts = pc.split_pattern(texts, ";")
    flat = pc.list_flatten(parts)
    parents = pc.list_parent_indices(parts)
    given = pc.not_equal(flat, "")
    flat, parents = pc.filter(flat, given), pc.filter(parents, given)
    codes = pc.replace_substring_regex(flat, ":.*$", "")
    counts = pc.cast(pc.replace_substring_regex(flat, "^[^:]*:", ""), pa.int64()).to_numpy()
    if len(counts) and counts.max() > MAX_COUNT:
        raise _NotPlain
    if len(flat) != len(pc.unique(pc.binary_join_element_wise(pc.cast(parents, pa.string()), codes, ":"))):
        raise _NotPlain  # a code given twice in a row
    sums = np.zeros(len(texts), dtype=np.int64)
    np.add.at(sums, parents.to_numpy(), counts)
    _all(pc.less_equal(pc.take(pa.array(sums), encoded.indices), declines))
    pairs = pc.replace_substring_regex(texts, f"({_CODE}):({_CODE_COUNT})", r'"\1":\2')
    return pc.take(pc.binary_join_element_wise("{", pc.replace_substring(pairs, ";", ","), "}", ""), encoded.indices)


def _dimension(field: str, values: pa.Array) -> pa.Array:
    """A text dimension (or the currency) checked and folded to its case."""
    if field in _CHOICES:
        _all(pc.string_is_ascii(values))
        values = pc.utf8_lower(values)
        _all(pc.is_in(values, pa.array(["", *_CHOICES[field]])))
        return values
    pattern, fold = _TEXTS[field]
    if fold:
        _all(pc.string_is_ascii(values))
        values = pc.utf8_lower(values) if fold == "lower" else pc.utf8_upper(values)
    _all(pc.match_substring_regex(values, pattern))
    return values


def columns_check(
    batch: pa.RecordBatch, wanted: dict[str, str], *, minutes: int, earliest: datetime, latest: datetime
) -> pa.Table | None:
    """The batch's rows as normalised columns (dimensions as text, `bucket_start` in epoch seconds,
    counts as int64, amounts as text, decline codes as JSON text), or None if any row is not
    plainly good. `wanted` maps column → field, as the import reads it."""
    try:
        return _columns(batch, wanted, minutes=minutes, earliest=earliest, latest=latest)
    except (_NotPlain, pa.ArrowInvalid):
        return None


def _columns(batch, wanted, *, minutes, earliest, latest) -> pa.Table:
    for column in batch.schema.names:
        _no_card_number(batch.column(column))
    column_of = {field: column for column, field in wanted.items()}
    out: dict[str, pa.Array] = {}
    for field in DIMENSIONS + ("currency",):
        out[field] = _distinct(_text(batch, column_of.get(field), field), lambda values, f=field: _dimension(f, values))
    if "bucket_start" not in column_of:
        raise _NotPlain
    out["bucket_start"] = _moment(
        batch.column(column_of["bucket_start"]), minutes=minutes, earliest=earliest, latest=latest
    )
    for field in COUNT_FIELDS:
        out[field] = _count(batch.column(column_of[field]))
    outcomes = pc.add(pc.add(out["approvals"], out["soft_declines"]), pc.add(out["hard_declines"], out["errors"]))
    _all(pc.equal(outcomes, out["attempts"]))
    for field in ("amount_attempted", "amount_approved"):
        out[field] = _amount(batch.column(column_of[field]))
    decimal = pa.decimal128(18, 2)
    _all(pc.less_equal(pc.cast(out["amount_approved"], decimal), pc.cast(out["amount_attempted"], decimal)))
    declines = pc.add(out["soft_declines"], out["hard_declines"])
    codes = column_of.get("decline_codes")
    out["decline_codes"] = _decline_codes(batch.column(codes) if codes else None, declines)
    return pa.table(out)
