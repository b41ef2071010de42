"""Reading and checking bucket rows, whoever sends them (the API, a file, later the warehouse pull).

`rows_validate` turns raw rows (mappings of field → value; strings from a file, JSON values from
the API) into `BucketRow`s, or collects every error as (row number, field, message). Rows are
numbered from 1 in the order given: the first element of a JSON list, the first line of NDJSON
and the first data line of a file are row 1. Messages never quote a value, so a card number
sent by mistake is never echoed back. Lookups in the database (merchants, partners) come after,
in `monitoring.services`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from cases.models.incident import CardNetwork
from monitoring.models import DECLINE_CODE_MAX, EntryMode, Funding
from payhealth.pan import CARD_NUMBER_MESSAGE, contains_card_number

DIMENSION_FIELDS = ("merchant", "network", "bin_prefix", "issuer", "route", "country", "funding", "entry_mode")
COUNT_FIELDS = ("attempts", "approvals", "soft_declines", "hard_declines", "errors")
VALUE_FIELDS = ("bucket_start", *COUNT_FIELDS, "amount_attempted", "amount_approved", "currency", "decline_codes")
FIELDS = DIMENSION_FIELDS + VALUE_FIELDS
_FIELD_SET = frozenset(FIELDS)
REQUIRED = frozenset({"merchant", "bucket_start", *COUNT_FIELDS, "amount_attempted", "amount_approved", "currency"})
ROW = "row"  # the field name of errors about a row as a whole
MAX_COUNT = 2**31 - 1  # PostgreSQL's integer
MAX_AMOUNT = Decimal("9999999999999999.99")  # numeric(18, 2)
MAX_ERRORS = 100  # a batch of 5,000 bad rows answers with the first hundred errors

_ACCOUNT = re.compile(r"^acct_[A-Za-z0-9]{6,40}$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
_BIN = re.compile(r"^\d{6,8}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DECLINE_CODE = re.compile(rf"^[A-Za-z0-9]{{1,{DECLINE_CODE_MAX}}}$")
_AMOUNT = re.compile(r"^[0-9]{1,16}(\.[0-9]{1,2})?$")
_NETWORKS = frozenset(CardNetwork.values)
# Every card number (13 to 19 digits, single spaces or dashes between groups) matches this.
_MAYBE_CARD_NUMBER = re.compile(r"[0-9](?:[ -]?[0-9]){12}")
MIN_CARD_NUMBER = 10**12
_FUNDING = frozenset(Funding.values)
_ENTRY_MODES = frozenset(EntryMode.values)


@dataclass(frozen=True, slots=True)
class BucketRow:
    """One checked row: its dimensions as sent (codes, not yet rows of the database) and its figures."""

    number: int
    merchant: str
    network: str
    bin_prefix: str
    issuer: str
    route: str
    country: str
    funding: str
    entry_mode: str
    bucket_start: datetime
    attempts: int
    approvals: int
    soft_declines: int
    hard_declines: int
    errors: int
    amount_attempted: Decimal
    amount_approved: Decimal
    currency: str
    decline_codes: dict[str, int]


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    field: str
    message: str


class _Bad(Exception):
    pass


def bucket_floor(moment: datetime, minutes: int) -> datetime:
    seconds = minutes * 60
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def _text(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Bad(_("Give a text."))
    return value.strip()


def _count(value) -> int:
    if isinstance(value, bool):
        raise _Bad(_("Give a whole number."))
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and (text := value.strip()).isascii() and text.isdigit() and len(text) <= 10:
        number = int(text)
    else:
        raise _Bad(_("Give a whole number."))
    if number < 0 or number > MAX_COUNT:
        raise _Bad(_("Give a whole number from 0 to %(max)d.") % {"max": MAX_COUNT})
    return number


def _amount(value) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise _Bad(_("Give an amount such as 1234.50."))
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise _Bad(_("Give an amount such as 1234.50."))
    if not _AMOUNT.match(text):
        raise _Bad(_("Give an amount of at least 0 with at most 2 decimal places, such as 1234.50."))
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise _Bad(_("Give an amount such as 1234.50.")) from None
    if amount > MAX_AMOUNT:
        raise _Bad(_("The amount is too large."))
    return amount.quantize(Decimal("0.01"))


def _moment(value, *, minutes: int, earliest: datetime, latest: datetime) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise _Bad(str(MOMENT_MESSAGE))
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _Bad(str(MOMENT_MESSAGE)) from None
    if moment.tzinfo is None:
        raise _Bad(_("Give the bucket's start with its UTC offset (Z or +00:00)."))
    moment = moment.astimezone(UTC)
    if moment.microsecond or int(moment.timestamp()) % (minutes * 60):
        raise _Bad(_("A bucket starts on a multiple of %(minutes)d minutes in UTC.") % {"minutes": minutes})
    if moment < earliest:
        raise _Bad(_("This bucket is older than the days a late row is accepted for."))
    if moment > latest:
        raise _Bad(_("This bucket is in the future."))
    return moment


def _decline_codes(value) -> dict[str, int]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except ValueError:
                raise _Bad(_('Give the decline codes as {"code": count} or code:count;code:count.')) from None
        else:
            value = {}
            for part in text.split(";"):
                code, sep, count = part.partition(":")
                if not sep:
                    raise _Bad(_('Give the decline codes as {"code": count} or code:count;code:count.'))
                if code.strip() in value:
                    raise _Bad(_("A decline code is given twice."))
                value[code.strip()] = count.strip()
    if not isinstance(value, Mapping):
        raise _Bad(_('Give the decline codes as {"code": count} or code:count;code:count.'))
    codes = {}
    for code, count in value.items():
        if not isinstance(code, str) or not _DECLINE_CODE.match(code):
            raise _Bad(_("A decline code has 1 to %(max)d letters or digits.") % {"max": DECLINE_CODE_MAX})
        try:
            codes[code] = _count(count)
        except _Bad:
            raise _Bad(_("A decline code's count is a whole number of at least 0.")) from None
    return codes


def _choice(value, allowed: frozenset[str], message, params: dict | None = None) -> str:
    text = _text(value).lower()
    if text and text not in allowed:
        raise _Bad(str(message) % params if params else str(message))
    return text


def _pattern(value, pattern: re.Pattern, message, *, upper: bool = False) -> str:
    text = _text(value)
    if upper:
        text = text.upper()
    if text and not pattern.match(text):
        raise _Bad(str(message))
    return text


def holds_card_number(value) -> bool:
    """A card number in a value of any type: numbers are read as their digits.

    Texts without 13 digits in a row (single spaces or dashes between them allowed) cannot hold
    one and skip the detector: a C-level search instead of the detector's parse for every cell.
    """
    if isinstance(value, str):
        return _MAYBE_CARD_NUMBER.search(value) is not None and contains_card_number(value)
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= MIN_CARD_NUMBER and contains_card_number(str(value))
    if isinstance(value, float):
        return abs(value) >= MIN_CARD_NUMBER and value.is_integer() and contains_card_number(str(int(value)))
    return contains_card_number(value)


def row_validate(raw, number: int, readers: dict):
    """A `BucketRow`, or the list of this row's `RowError`s (`readers` from `_readers`)."""
    if not isinstance(raw, Mapping):
        return [RowError(number, ROW, _("A row is an object of field → value."))]
    errors: list[RowError] = []
    # A card number anywhere in the row (a known field, an unknown one, a key) refuses the row
    # without its value ever being read further or quoted.
    # One search over the row's texts (joined by a character no card number spans) tells
    # whether any of them needs the detector.
    texts = "\x00".join(value for value in raw.values() if isinstance(value, str))
    suspicious = _MAYBE_CARD_NUMBER.search(texts) is not None
    for key, value in raw.items():
        if key not in _FIELD_SET and holds_card_number(key):
            errors.append(RowError(number, ROW, str(CARD_NUMBER_MESSAGE)))
        elif (suspicious or not isinstance(value, str)) and holds_card_number(value):
            errors.append(RowError(number, key, str(CARD_NUMBER_MESSAGE)))
        elif key not in _FIELD_SET:
            errors.append(RowError(number, str(key)[:40], _("Unknown field.")))
    if errors:
        return errors
    values: dict = {}
    for field, read in readers.items():
        value = raw.get(field)
        if field in REQUIRED and (value is None or (isinstance(value, str) and not value.strip())):
            errors.append(RowError(number, field, _("This field is required.")))
            continue
        try:
            values[field] = read(value)
        except _Bad as bad:
            errors.append(RowError(number, field, str(bad)))
    if errors:
        return errors
    outcomes = values["approvals"] + values["soft_declines"] + values["hard_declines"] + values["errors"]
    if outcomes != values["attempts"]:
        errors.append(
            RowError(number, "attempts", _("Approvals, soft and hard declines and errors add up to the attempts."))
        )
    if values["amount_approved"] > values["amount_attempted"]:
        errors.append(RowError(number, "amount_approved", _("No more is approved than attempted.")))
    if sum(values["decline_codes"].values()) > values["soft_declines"] + values["hard_declines"]:
        errors.append(RowError(number, "decline_codes", _("The decline codes count more declines than the row has.")))
    if errors:
        return errors
    return BucketRow(number=number, **values)


MOMENT_MESSAGE = _lazy(
    "Give the bucket's start as an ISO 8601 date and time with its offset, e.g. 2026-05-04T10:15:00Z."
)
MERCHANT_MESSAGE = _lazy("Give the merchant's account id, like acct_1Nv0FGQ9RKHgCVdK.")
NETWORK_MESSAGE = _lazy("Give a card network: %(choices)s.")
BIN_MESSAGE = _lazy("A BIN prefix has 6 to 8 digits.")
PARTNER_MESSAGE = _lazy("Give a partner's code.")
COUNTRY_MESSAGE = _lazy("Use a two-letter ISO 3166 country code such as MX.")
FUNDING_MESSAGE = _lazy("Give credit, debit or prepaid.")
ENTRY_MODE_MESSAGE = _lazy("Give card_present, ecommerce or 3ds.")
CURRENCY_MESSAGE = _lazy("Use a three-letter ISO 4217 currency code such as MXN.")


def _readers(*, minutes: int, earliest: datetime, latest: datetime) -> dict:
    """Field → the function that reads and checks its value (messages are translated only when
    one is raised)."""
    networks = {"choices": ", ".join(sorted(_NETWORKS))}
    return {
        "merchant": lambda v: _pattern(v, _ACCOUNT, MERCHANT_MESSAGE),
        "network": lambda v: _choice(v, _NETWORKS, NETWORK_MESSAGE, networks),
        "bin_prefix": lambda v: _pattern(v, _BIN, BIN_MESSAGE),
        "issuer": _partner,
        "route": _partner,
        "country": lambda v: _pattern(v, _COUNTRY, COUNTRY_MESSAGE, upper=True),
        "funding": lambda v: _choice(v, _FUNDING, FUNDING_MESSAGE),
        "entry_mode": lambda v: _choice(v, _ENTRY_MODES, ENTRY_MODE_MESSAGE),
        "bucket_start": lambda v: _moment(v, minutes=minutes, earliest=earliest, latest=latest),
        **dict.fromkeys(COUNT_FIELDS, _count),
        "amount_attempted": _amount,
        "amount_approved": _amount,
        "currency": lambda v: _pattern(v, _CURRENCY, CURRENCY_MESSAGE, upper=True),
        "decline_codes": _decline_codes,
    }


def _partner(value) -> str:
    return _pattern(value.lower() if isinstance(value, str) else value, _CODE, PARTNER_MESSAGE)


def bucket_bounds(*, now: datetime, minutes: int, late_days: int) -> tuple[datetime, datetime]:
    """The earliest and the latest bucket start accepted at `now`."""
    return now - timedelta(days=late_days), bucket_floor(now, minutes) + timedelta(minutes=minutes)


def rows_validate(
    raws: Iterable, *, minutes: int, late_days: int, now: datetime, first_number: int = 1
) -> tuple[list[BucketRow], list[RowError]]:
    """Every row checked: the good ones and every error."""
    earliest, latest = bucket_bounds(now=now, minutes=minutes, late_days=late_days)
    readers = _readers(minutes=minutes, earliest=earliest, latest=latest)
    rows: list[BucketRow] = []
    errors: list[RowError] = []
    for number, raw in enumerate(raws, start=first_number):
        checked = row_validate(raw, number, readers)
        if isinstance(checked, BucketRow):
            rows.append(checked)
        else:
            errors.extend(checked)
    return rows, errors
