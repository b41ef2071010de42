"""The card-number detector (payhealth/pan.py): what it takes for a card number, what it masks."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from payhealth.pan import (
    CARD_NUMBER_MESSAGE,
    card_network,
    contains_card_number,
    find_card_numbers,
    is_card_number,
    luhn_valid,
    mask_card_numbers,
    mask_text,
    validate_no_card_number,
)

PAN = "4111111111111111"


def card(prefix: str, length: int = 16) -> str:
    """A Luhn-valid number of `length` digits starting with `prefix`."""
    body = prefix + "0" * (length - len(prefix) - 1)
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")


@pytest.mark.parametrize(
    ("prefix", "network"),
    [
        ("4", "Visa"),
        ("51", "Mastercard"),
        ("55", "Mastercard"),
        ("2221", "Mastercard"),
        ("2720", "Mastercard"),
        ("34", "American Express"),
        ("37", "American Express"),
        ("6011", "Discover"),
        ("644", "Discover"),
        ("649", "Discover"),
        ("65", "Discover"),
        ("3528", "JCB"),
        ("3589", "JCB"),
        ("300", "Diners Club"),
        ("305", "Diners Club"),
        ("3095", "Diners Club"),
        ("36", "Diners Club"),
        ("38", "Diners Club"),
        ("39", "Diners Club"),
        ("62", "UnionPay"),
        ("50", "Maestro"),
        ("506199", "Maestro"),  # Carnet, Mexico's domestic network
        ("56", "Maestro"),
        ("69", "Maestro"),
    ],
)
def test_every_issuer_range_accepted_is_caught_at_every_length(prefix, network):
    assert card_network(card(prefix)) == network
    for length in range(13, 20):
        number = card(prefix, length)
        assert is_card_number(number), number
        assert [found.digits for found in find_card_numbers(f"card {number} declined")] == [number]


@pytest.mark.parametrize("prefix", ["1", "7", "8", "9", "0", "2220", "2721", "3527", "3590", "306", "3094", "35"])
def test_numbers_outside_every_issuer_range_are_not_card_numbers(prefix):
    number = card(prefix)
    assert luhn_valid(number)
    assert not is_card_number(number)
    assert not find_card_numbers(number)


def test_luhn_decides():
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert is_card_number(PAN)
    assert not is_card_number("4111111111111112")


@pytest.mark.parametrize("length", [12, 20])
def test_fewer_than_13_or_more_than_19_digits_are_no_card_number(length):
    assert not find_card_numbers(card("4", length))


@pytest.mark.parametrize(
    "text",
    [
        PAN,
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111 1111-1111 1111",
        "41 11 11 11 11 11 11 11",
        "card4111111111111111x",
        "«4111111111111111»",
        "pan=4111111111111111&exp=12",
    ],
)
def test_a_card_number_is_found_plain_spaced_dashed_or_glued_to_letters(text):
    [found] = find_card_numbers(text)
    assert found.digits == PAN
    assert text[found.start : found.end].replace(" ", "").replace("-", "") == PAN


@pytest.mark.parametrize(
    "text",
    [
        "order 41111111111111110000",  # a 20-digit order id: one number, no card number inside it
        "4111111111111111" + "1111",
        "4111  1111  1111  1111",  # two spaces: separate numbers
        "4111.1111.1111.1111",
        "rate 0.4111111111111111",  # a fraction
        "id " + "a" * 20 + PAN + "b" * 20,  # inside a digest written in hexadecimal
        "event 41111111-1111-1111-aaaa-bbbbbbbbbbbb",  # a UUID
        "PH-2026-000123, BIN 411111, 14:30 on 2026-01-15",
    ],
)
def test_longer_runs_fractions_identifiers_and_everyday_numbers_are_not_card_numbers(text):
    assert find_card_numbers(text) == []


def test_a_card_number_among_other_grouped_digits_is_found_and_masked_whole():
    text = "ref 12 4111 1111 1111 1111 2024, also 5555555555554444."
    masked, count = mask_text(text)
    assert count == 2
    assert masked == "ref 12 411111******1111 2024, also 555555******4444."


def test_masking_keeps_the_first_6_and_the_last_4_digits():
    assert mask_text("Amex 378282246310005 declined") == ("Amex 378282*****0005 declined", 1)
    assert mask_text("nothing here 411111") == ("nothing here 411111", 0)
    assert not contains_card_number(mask_text(PAN)[0])


def test_json_values_are_read_and_masked_everywhere_keys_included():
    value = {"q": ["x", {"deep": "4111-1111-1111-1111"}], PAN: 1, "n": 4111111111111111, "ok": "411111"}
    assert contains_card_number(value)
    masked, count = mask_card_numbers(value)
    assert count == 2
    assert masked == {
        "q": ["x", {"deep": "411111******1111"}],
        "411111******1111": 1,
        "n": 4111111111111111,
        "ok": "411111",
    }
    assert not contains_card_number(masked)
    assert not contains_card_number(["411111", None, 3, {"a": "b"}])


def test_the_validator_refuses_with_the_one_message_and_never_quotes_the_number():
    with pytest.raises(ValidationError) as error:
        validate_no_card_number(["fine", "4111 1111 1111 1111"])
    assert error.value.code == "card_number"
    assert error.value.messages == [str(CARD_NUMBER_MESSAGE)]
    validate_no_card_number("BIN 411111, last four 1111")
