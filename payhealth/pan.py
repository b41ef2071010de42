"""Card numbers (PANs): the one detector for every text that enters PayHealth.

PayHealth never stores a card number. Text people type is refused with
`CARD_NUMBER_MESSAGE` (forms: `payhealth.forms.CardNumberFreeForm`; API:
`payhealth.api.serializers.CardNumberFreeSerializer`; every model write:
`payhealth.db.CardNumberFreeModel`); text machines send, which PayHealth cannot refuse (inbound
mail, monitoring alerts, receivers' answers), is masked with `mask_card_numbers` before it is
stored. docs/architecture.md ("Card data") says where each is applied.

What counts as a card number:

- 13 to 19 ASCII digits, written together or in groups separated by one space or one dash
  ("4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111");
- that pass the Luhn check;
- and that start with an issuer range of a card network (`IIN_RANGES`): Visa 4; Mastercard
  51–55 and 2221–2720; American Express 34 and 37; Discover 6011, 644–649 and 65; JCB
  3528–3589; Diners Club 300–305, 3095, 36, 38 and 39; UnionPay 62; Maestro (Carnet's ranges
  among them) 50 and 56–69. Every length from 13 to 19 is accepted for every range: a network
  issuing a new length is still caught.

A number is read whole: an unbroken run of digits is one number, so a 20-digit order id is no
card number and none is looked for inside it, while a card number glued to letters
("card4111111111111111x") is one. Grouped digits are read group by group: any whole groups in a
row that add up to 13–19 digits may be a card number ("ref 12 4111 1111 1111 1111" holds one).
Digits right after a decimal point that follows a digit ("0.4111111111111111") are a fraction,
and digits inside an identifier (32 or more hexadecimal characters in a row, as digests and
UUIDs are written, or a UUID with its dashes) are part of it: neither is a card number. Masking
keeps the first 6 and the last 4 digits: `411111******1111`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

CARD_NUMBER_MESSAGE = _("Card numbers are never stored: keep the first 6–8 digits and the last 4 at most.")
CARD_NUMBER_CODE = "card_number"

MIN_DIGITS = 13
MAX_DIGITS = 19
KEEP_FIRST = 6
KEEP_LAST = 4
MASK = "*"

# (first digits from, first digits to, network); both ends have the same number of digits.
IIN_RANGES: tuple[tuple[str, str, str], ...] = (
    ("4", "4", "Visa"),
    ("51", "55", "Mastercard"),
    ("2221", "2720", "Mastercard"),
    ("34", "34", "American Express"),
    ("37", "37", "American Express"),
    ("6011", "6011", "Discover"),
    ("644", "649", "Discover"),
    ("65", "65", "Discover"),
    ("3528", "3589", "JCB"),
    ("300", "305", "Diners Club"),
    ("3095", "3095", "Diners Club"),
    ("36", "36", "Diners Club"),
    ("38", "39", "Diners Club"),
    ("62", "62", "UnionPay"),
    ("50", "50", "Maestro"),
    ("56", "69", "Maestro"),
)

# Digit groups joined by single spaces or dashes; a run is read whole, never inside a longer one.
_RUN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_GROUP = re.compile(r"[0-9]+")
_IDENTIFIER = re.compile(
    r"[0-9A-Fa-f]{32,}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f])"
)


@dataclass(frozen=True)
class Found:
    """One card number in a text: where it is (`start`, `end`) and its digits."""

    start: int
    end: int
    digits: str

    @property
    def masked(self) -> str:
        hidden = len(self.digits) - KEEP_FIRST - KEEP_LAST
        return f"{self.digits[:KEEP_FIRST]}{MASK * hidden}{self.digits[-KEEP_LAST:]}"


# ASCII digit → its value, and → the sum of the digits of its double (Luhn), as byte tables.
_VALUE = bytes.maketrans(b"0123456789", bytes(range(10)))
_DOUBLED = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every card number passes (`digits`: ASCII digits only)."""
    raw = digits.encode("ascii")
    return (sum(raw[-1::-2].translate(_VALUE)) + sum(raw[-2::-2].translate(_DOUBLED))) % 10 == 0


def card_network(digits: str) -> str | None:
    """The network whose issuer range `digits` start with, or None."""
    for low, high, network in IIN_RANGES:
        head = digits[: len(low)]
        if len(head) == len(low) and low <= head <= high:
            return network
    return None


def is_card_number(digits: str) -> bool:
    """`digits` (digits only) are a card number: 13–19 of them, a known issuer range, Luhn-valid."""
    return (
        MIN_DIGITS <= len(digits) <= MAX_DIGITS
        and digits.isascii()
        and digits.isdigit()
        and card_network(digits) is not None
        and luhn_valid(digits)
    )


def find_card_numbers(text: str) -> list[Found]:
    """Every card number in `text`, left to right, none overlapping."""
    if not isinstance(text, str):
        return []
    found: list[Found] = []
    identifiers = [match.span() for match in _IDENTIFIER.finditer(text)] if len(text) >= 32 else []
    identifier_starts = [start for start, _end in identifiers]
    for run in _RUN.finditer(text):
        if run.end() - run.start() < MIN_DIGITS:
            continue  # too short to hold 13 digits
        around = bisect_right(identifier_starts, run.start()) - 1
        if around >= 0 and run.end() <= identifiers[around][1]:
            continue  # part of a digest or a UUID
        offset = run.start()
        groups = [(offset + group.start(), group.group()) for group in _GROUP.finditer(run.group())]
        index = 0
        if offset >= 2 and text[offset - 1] == "." and "0" <= text[offset - 2] <= "9":
            index = 1  # the digits after a decimal point are a fraction
        while index < len(groups):
            best, best_last = _longest_from(groups, index)
            if best is not None:
                found.append(best)
            index = best_last + 1
    return found


def _longest_from(groups: list[tuple[int, str]], index: int) -> tuple[Found | None, int]:
    """The longest card number made of whole groups starting at `index` (so that no digit of it
    stays readable), and the index of its last group; (None, index) when there is none."""
    window = "".join(digits for _start, digits in groups[index : index + MAX_DIGITS])
    if card_network(window) is None:
        return None, index
    best, best_last, length = None, index, 0
    for last in range(index, len(groups)):
        length += len(groups[last][1])
        if length > MAX_DIGITS:
            break
        if length >= MIN_DIGITS and luhn_valid(window[:length]):
            start, end = groups[index][0], groups[last][0] + len(groups[last][1])
            best, best_last = Found(start, end, window[:length]), last
    return best, best_last


def contains_card_number(value: Any) -> bool:
    """A text, or any text inside a list or a mapping (keys too), holds a card number."""
    if isinstance(value, str):
        return bool(find_card_numbers(value))
    if isinstance(value, Mapping):
        return any(contains_card_number(key) or contains_card_number(item) for key, item in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(contains_card_number(item) for item in value)
    return False


def mask_text(text: str) -> tuple[str, int]:
    """`text` with every card number masked (`411111******1111`), and how many there were."""
    found = find_card_numbers(text)
    if not found:
        return text, 0
    parts, previous = [], 0
    for item in found:
        parts.append(text[previous : item.start])
        parts.append(item.masked)
        previous = item.end
    parts.append(text[previous:])
    return "".join(parts), len(found)


def mask_card_numbers(value: Any) -> tuple[Any, int]:
    """`value` (a text, or lists and mappings of them, as JSON holds) with every card number
    masked, and how many were masked. Other values come back as they are."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        masked, total = {}, 0
        for key, item in value.items():
            new_key, in_key = mask_card_numbers(key)
            new_item, in_item = mask_card_numbers(item)
            masked[new_key] = new_item
            total += in_key + in_item
        return masked, total
    if isinstance(value, list | tuple):
        items, total = [], 0
        for item in value:
            new_item, count = mask_card_numbers(item)
            items.append(new_item)
            total += count
        return type(value)(items) if isinstance(value, tuple) else items, total
    return value, 0


def masked(value: Any) -> Any:
    """`value` with every card number masked (see `mask_card_numbers`)."""
    return mask_card_numbers(value)[0]


def card_number_error() -> ValidationError:
    return ValidationError(CARD_NUMBER_MESSAGE, code=CARD_NUMBER_CODE)


def validate_no_card_number(value: Any) -> None:
    """A Django validator: refuses a value holding a card number anywhere (texts, lists, JSON)."""
    if contains_card_number(value):
        raise card_number_error()
