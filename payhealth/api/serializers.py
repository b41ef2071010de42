"""What every app's API input shares: no field takes a card number.

Every serializer of the API derives from `CardNumberFreeSerializer` (through `Serializer` and
`ModelSerializer` here), so a new field is covered the day it is added. The request is refused
before any field is read, so no field's own message (which may quote the value, "No such
object: …") can echo the number; the 400 names each field that held one, nested fields by
their dotted path (`segment.merchant`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from django.db import models
from django.utils.functional import cached_property
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils.serializer_helpers import BindingDict

from payhealth.api.fields import DateTimeField
from payhealth.pan import CARD_NUMBER_CODE, CARD_NUMBER_MESSAGE, contains_card_number


def card_number_errors(fields, data) -> dict:
    """{field: [message]} for each writable field of `fields` whose value in `data` holds a card
    number; a nested serializer's fields are named inside it."""
    errors = {}
    if not isinstance(data, Mapping):
        return errors
    for name, field in fields.items():
        if field.read_only:
            continue
        value = field.get_value(data)
        if value is empty or not contains_card_number(value):
            continue
        if isinstance(field, serializers.Serializer) and isinstance(value, Mapping):
            errors[name] = card_number_errors(field.fields, value) or [CARD_NUMBER_MESSAGE]
        else:
            errors[name] = [CARD_NUMBER_MESSAGE]
    return errors


def text_errors(fields, data) -> dict:
    """{field: [message]} for each text field whose value as sent is not text, or is longer than
    its max_length.

    DRF takes a number for a text field (it writes it as text) and trims surrounding whitespace
    before it measures, so `-122826` and "\f" with 80 characters passed fields that the schema
    (`type: string`, `maxLength: 80`) says refuse them; the schema is the contract.
    """
    errors = {}
    if not isinstance(data, Mapping):
        return errors
    for name, field in fields.items():
        if field.read_only or not isinstance(field, serializers.CharField):
            continue
        value = field.get_value(data)
        if isinstance(value, int | float) and not isinstance(value, bool):
            errors[name] = [str(field.error_messages["invalid"])]
        elif isinstance(value, str) and field.max_length is not None and len(value) > field.max_length:
            errors[name] = [field.error_messages["max_length"].format(max_length=field.max_length)]
    return errors


class CardNumberFreeSerializer:
    """A serializer mixin that refuses input holding a card number in any of its fields (and text
    longer than its field takes, as sent).

    `refuses_card_numbers = False` is for the one input that masks them instead: what a monitor
    sends (a machine cannot be asked to type again), which the alert services mask or refuse
    field by field, alert by alert."""

    refuses_card_numbers = True

    def to_internal_value(self, data):
        errors = card_number_errors(self.fields, data) if self.refuses_card_numbers else {}
        if errors:
            raise serializers.ValidationError(errors, code=CARD_NUMBER_CODE)
        errors = text_errors(self.fields, data)
        if errors:
            raise serializers.ValidationError(errors, code="invalid")
        return super().to_internal_value(data)


class Serializer(CardNumberFreeSerializer, serializers.Serializer):
    """The API's plain serializer."""


class ModelSerializer(CardNumberFreeSerializer, serializers.ModelSerializer):
    """The API's model serializer: instants as valid RFC 3339 (`payhealth.api.fields.DateTimeField`)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: DateTimeField,
    }


_built_fields = threading.local()


class FieldsBuiltOnce:
    """A serializer mixin: its fields are built once per class and thread, not for every instance.

    DRF gives each serializer instance a deep copy of the class's declared fields, and a copy
    re-runs every field's constructor (and builds its validators again); a nested serializer is
    copied with the rest and copies its own fields when it first validates. For the alert payload
    (five serializers, some twenty fields) that was three quarters of validating one alert, on
    every request. A serializer with this mixin takes over the fields its class last built in this
    thread: they are bound to it again (a field keeps nothing of its serializer but `parent`).

    Only for serializers that nobody changes per instance (no field added or altered in
    `__init__`), and that a thread uses one at a time, as validation does: another instance of
    the same class in the same thread takes the fields over from the first.
    """

    @cached_property
    def fields(self):
        built = _built_fields.__dict__.setdefault("by_class", {})
        fields = built.get(type(self))
        if fields is None:
            fields = built[type(self)] = BindingDict(self)
            for name, field in self.get_fields().items():
                fields[name] = field  # binds it: name, label, source, parent
        else:
            fields.serializer = self
            for field in fields.values():
                field.parent = self
        return fields
