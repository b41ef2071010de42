"""What every app's models and selectors share: PostgreSQL expressions Django does not ship, and
the guard that keeps card numbers out of every row."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db.models import Aggregate, CharField, DurationField, JSONField, TextField

from payhealth.pan import card_number_error, contains_card_number

TEXT_FIELDS = (CharField, TextField, JSONField, ArrayField)


class CardNumberFreeModel:
    """A model mixin: a row holding a card number in any text, array or JSON field is never saved.

    The last line behind the forms and the API: whatever writes the row (a service called by a
    page, the API, the admin, a command or a task), `save()` refuses a card number with a
    ValidationError naming the field, and the service's transaction rolls back. With
    `update_fields` only those fields are read. Rows written in bulk (`bulk_create`: SLA clock
    events, attachments, webhook deliveries) copy texts already checked or masked upstream.
    """

    @classmethod
    def card_number_fields(cls) -> list:
        """The fields this guard reads: every text, array and JSON field."""
        return [field for field in cls._meta.concrete_fields if isinstance(field, TEXT_FIELDS)]

    def refuse_card_numbers(self, fields=None) -> None:
        """Raise a ValidationError naming each field (of `fields`, or all) that holds a card number."""
        errors = {
            field.name: [card_number_error()]
            for field in self.card_number_fields()
            if (fields is None or field.name in fields or field.attname in fields)
            and contains_card_number(getattr(self, field.attname))
        }
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        self.refuse_card_numbers(None if update_fields is None else set(update_fields))
        return super().save(*args, **kwargs)


class Percentile(Aggregate):
    """PostgreSQL's continuous percentile, `percentile_cont(f) WITHIN GROUP (ORDER BY x)`.

    Linear interpolation between the two nearest values: of n sorted values the result is at
    position f × (n − 1) counted from 0. Works on intervals (the default output) as well as numbers;
    with `filter=` it gets a FILTER (WHERE …) clause like any Django aggregate. The median is 0.5.
    """

    function = "percentile_cont"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= float(fraction) <= 1:
            raise ValueError("A percentile is a fraction between 0 and 1.")
        extra.setdefault("output_field", DurationField())
        super().__init__(expression, fraction=repr(float(fraction)), **extra)
