"""The shape of an alert, as monitoring posts it to `POST /api/v1/alerts/`.

`alert_ingest` validates every payload with `AlertPayloadSerializer`, whoever calls it (the API,
the benchmark, a command), and turns its errors into a Django ValidationError keyed by the
dotted path of the bad field (`segment.bin_prefix`, `decline_codes.0.count`), which the API
answers as a 400 in its one error format. Business rules (does the merchant exist?) are checked
by the service, not here.

Rates are shares between 0 and 1 and amounts are numbers; both are rounded (to 4 and 2 decimal
places) rather than refused, since monitoring systems send floats.

Card numbers (`payhealth.pan`): the title and the BIN prefix refuse one, as the desk's own
fields do; everything else monitoring sends is masked before it is read (a monitor cannot be
asked to type again), and `masked_card_numbers` in the validated data says how many were.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import ROUND_HALF_UP, InvalidOperation

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from cases.models.incident import CardNetwork, Severity, impact_contradiction, validate_bin_prefix
from payhealth.api.fields import DateTimeField
from payhealth.api.serializers import FieldsBuiltOnce
from payhealth.pan import contains_card_number, mask_card_numbers, validate_no_card_number

# How far in the future a window may end: monitoring clocks are not exactly ours.
CLOCK_SKEW = timedelta(minutes=5)
MAX_DECLINE_CODES = 50


class RoundedDecimalField(serializers.DecimalField):
    """A decimal that is rounded to its places instead of refused for having more of them."""

    def __init__(self, **kwargs):
        kwargs.setdefault("rounding", ROUND_HALF_UP)
        kwargs.setdefault("coerce_to_string", False)
        super().__init__(**kwargs)

    def validate_precision(self, value):
        try:
            value = self.quantize(value)
        except InvalidOperation:  # too many whole digits for max_digits
            self.fail("max_whole_digits", max_whole_digits=self.max_whole_digits)
        return super().validate_precision(value)


class SegmentSerializer(FieldsBuiltOnce, serializers.Serializer):
    merchant = serializers.CharField(max_length=64, help_text="The merchant's account id, e.g. acct_1Nv0FGQ9RKHgCVdK.")
    partner = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        default="",
        help_text="Code of the partner (acquirer, processor, switch, network) in the partner directory.",
    )
    issuer = serializers.CharField(
        max_length=50,
        required=False,
        allow_blank=True,
        default="",
        help_text="Code of the issuing bank in the partner directory (a partner of kind issuer).",
    )
    network = serializers.ChoiceField(choices=CardNetwork.choices, required=False, allow_blank=True, default="")
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, default="", help_text="ISO 3166-1 alpha-2, e.g. MX."
    )
    bin_prefix = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="6 to 8 digits. A card number is refused, and never stored or echoed.",
    )

    def validate_country(self, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z]{2}", value):
            raise serializers.ValidationError(_("Use a two-letter ISO country code such as MX."))
        return value.upper()

    def validate_bin_prefix(self, value: str) -> str:
        if not value:
            return ""
        validate_bin_prefix(value)  # the incident's own rule: a card number is refused, only its BIN shown
        return re.sub(r"[\s-]", "", value)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("partner") and not attrs.get("issuer"):
            raise serializers.ValidationError({"partner": [_("Name the partner or the issuer (or both).")]})
        return attrs


class WindowSerializer(FieldsBuiltOnce, serializers.Serializer):
    start = DateTimeField(help_text="When the measured window starts (ISO 8601 with offset).")
    end = DateTimeField(help_text="When it ends: after the start, and not in the future.")

    def validate(self, attrs: dict) -> dict:
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": [_("The window must end after it starts.")]})
        if attrs["end"] > timezone.now() + CLOCK_SKEW:
            raise serializers.ValidationError({"end": [_("The window cannot end in the future.")]})
        return attrs


class VolumeSerializer(FieldsBuiltOnce, serializers.Serializer):
    amount = RoundedDecimalField(max_digits=16, decimal_places=2, min_value=0)
    currency = serializers.CharField(max_length=3, help_text="ISO 4217, e.g. MXN.")

    def validate_currency(self, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{3}", value):
            raise serializers.ValidationError(_("Use a three-letter ISO currency code such as MXN or USD."))
        return value.upper()


class DeclineCodeSerializer(FieldsBuiltOnce, serializers.Serializer):
    code = serializers.CharField(max_length=64, help_text="A response code as the network or acquirer sends it.")
    count = serializers.IntegerField(min_value=0, max_value=10**12, help_text="Declines with this code in the window.")
    count_before = serializers.IntegerField(
        min_value=0,
        max_value=10**12,
        required=False,
        allow_null=True,
        default=None,
        help_text="Declines with this code over the baseline, when the monitor measured it.",
    )


class AlertPayloadSerializer(FieldsBuiltOnce, serializers.Serializer):
    """An approval-rate alert for one segment over one window."""

    segment = SegmentSerializer()
    window = WindowSerializer()
    baseline_approval_rate = RoundedDecimalField(
        max_digits=5, decimal_places=4, min_value=0, max_value=1, help_text="Share between 0 and 1, e.g. 0.92."
    )
    observed_approval_rate = RoundedDecimalField(
        max_digits=5, decimal_places=4, min_value=0, max_value=1, help_text="Share between 0 and 1, e.g. 0.71."
    )
    attempts = serializers.IntegerField(min_value=1, max_value=10**12)
    failed_attempts = serializers.IntegerField(
        min_value=0,
        max_value=10**12,
        required=False,
        allow_null=True,
        default=None,
        help_text="Defaults to attempts × (1 − observed rate), rounded; given, it must agree with the rate.",
    )
    volume_at_risk = VolumeSerializer(required=False, allow_null=True, default=None)
    decline_codes = serializers.ListField(
        child=DeclineCodeSerializer(), required=False, default=list, max_length=MAX_DECLINE_CODES
    )
    severity_hint = serializers.ChoiceField(
        choices=Severity.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Can raise the severity the rules give, never lower it.",
    )
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    source = serializers.CharField(
        max_length=80, required=False, allow_blank=True, default="", help_text="Name of the monitor that fired."
    )

    def validate_title(self, value: str) -> str:
        validate_no_card_number(value)
        return value.strip()

    def validate(self, attrs: dict) -> dict:
        failed = attrs.get("failed_attempts")
        if failed is not None and failed > attrs["attempts"]:
            raise serializers.ValidationError({"failed_attempts": [_("Failed attempts cannot exceed attempts.")]})
        contradiction = impact_contradiction(
            attempts=attrs["attempts"], failed_attempts=failed, observed_rate=attrs["observed_approval_rate"]
        )
        if contradiction:
            raise serializers.ValidationError({"observed_approval_rate": [contradiction]})
        return attrs


def validated_payload(payload) -> dict:
    """The payload's validated data, or a ValidationError keyed by each bad field's dotted path."""
    return masked_and_validated(payload)[0]


def masked_and_validated(payload) -> tuple[dict, object]:
    """`validated_payload`'s answer, and the payload as it may be stored for later (card numbers
    masked; the title and BIN prefix, which refuse one, have none once validated)."""
    payload, masked = _without_card_numbers(payload)
    serializer = AlertPayloadSerializer(data=payload)
    if not serializer.is_valid():
        raise ValidationError(_flatten(serializer.errors))
    return {**serializer.validated_data, "masked_card_numbers": masked}, payload


def _without_card_numbers(payload) -> tuple[object, int]:
    """The payload with card numbers masked everywhere but in the title and the BIN prefix, which
    refuse them; and how many were masked. A payload without any comes back as it was sent."""
    if not isinstance(payload, Mapping) or not contains_card_number(payload):
        return payload, 0
    masked, count = mask_card_numbers({key: value for key, value in payload.items() if key != "title"})
    if "title" in payload:
        masked["title"] = payload["title"]
    segment = payload.get("segment")
    if isinstance(segment, Mapping) and "bin_prefix" in segment and isinstance(masked.get("segment"), Mapping):
        in_prefix = mask_card_numbers(segment["bin_prefix"])[1]
        masked["segment"] = {**masked["segment"], "bin_prefix": segment["bin_prefix"]}
        count -= in_prefix
    return masked, count


def _flatten(detail, path: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, inner in detail.items():
            name = str(key) if not path else f"{path}.{key}"
            if key == "non_field_errors":
                name = path or NON_FIELD_ERRORS
            for field, messages in _flatten(inner, name).items():
                out.setdefault(field, []).extend(messages)
    elif isinstance(detail, list) and all(not isinstance(item, dict | list) for item in detail):
        out.setdefault(path or NON_FIELD_ERRORS, []).extend(str(item) for item in detail)
    elif isinstance(detail, list):
        for index, inner in enumerate(detail):
            if inner:
                for field, messages in _flatten(inner, f"{path}.{index}").items():
                    out.setdefault(field, []).extend(messages)
    else:
        out.setdefault(path or NON_FIELD_ERRORS, []).append(str(detail))
    return out
