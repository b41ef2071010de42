"""Masking the card numbers a database already holds.

PayHealth refuses or masks card numbers as text enters (`payhealth.pan`), but a database written
by an earlier release, or edited by hand, may still hold some. `mask_stored_card_numbers` walks
every text, JSON and text-array column of every model and masks each card number it finds
(`411111******1111`), row by row; PostgreSQL picks the candidate rows (a run of 13 or more digits)
so that only those are read into Python. It works on the live models (`manage.py
mask_card_numbers`) and on a migration's historical ones (the migration that runs it once on
upgrade), and it is idempotent: a second run finds nothing.

Django's sessions, content types and migration records are left alone: they hold no text a
person or a partner wrote, and a session's signed data must stay as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.contrib.postgres.fields import ArrayField
from django.db import connection, models, transaction
from django.db.models.functions import Cast

from payhealth.pan import mask_card_numbers

SKIPPED_APPS = frozenset({"sessions", "contenttypes", "migrations"})

# A run of 13 digits, possibly grouped by single spaces or dashes: every card number holds one.
CANDIDATE = r"[0-9]([ -]?[0-9]){12}"

_TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField)


@dataclass
class Scrubbed:
    """What one run masked: card numbers per `app_label.Model.field`, and the rows changed per model."""

    card_numbers: dict[str, int] = field(default_factory=dict)
    rows: dict[str, set] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.card_numbers.values())

    def lines(self) -> list[str]:
        return [f"{where}: {count}" for where, count in sorted(self.card_numbers.items())]


def _text_columns(model) -> list[models.Field]:
    return [
        column
        for column in model._meta.concrete_fields
        if isinstance(column, _TEXT_FIELDS)
        or (isinstance(column, ArrayField) and isinstance(column.base_field, _TEXT_FIELDS))
    ]


def _models(apps) -> Iterator[type[models.Model]]:
    """Models with text columns whose table exists (a migration may run before other apps' tables)."""
    tables = set(connection.introspection.table_names())
    for config in apps.get_app_configs():
        if config.label in SKIPPED_APPS:
            continue
        for model in config.get_models(include_auto_created=True):
            meta = model._meta
            if meta.managed and not meta.proxy and meta.db_table in tables and _text_columns(model):
                yield model


def _candidates(model, columns: list[models.Field]) -> models.QuerySet:
    """Rows where some text column holds a run of 13 digits (JSON and arrays read as their text)."""
    annotations, condition = {}, models.Q()
    for column in columns:
        if isinstance(column, models.CharField | models.TextField):
            condition |= models.Q(**{f"{column.name}__regex": CANDIDATE})
        else:
            alias = f"_scrub_{column.name}"
            annotations[alias] = Cast(column.name, models.TextField())
            condition |= models.Q(**{f"{alias}__regex": CANDIDATE})
    return model._base_manager.annotate(**annotations).filter(condition)


def mask_stored_card_numbers(apps, *, batch: int = 500) -> Scrubbed:
    """Mask every card number stored in any model of `apps` (the live registry or a migration's);
    each model's rows are changed in one transaction, with `update()` (no model hook runs)."""
    done = Scrubbed()
    for model in _models(apps):
        columns = _text_columns(model)
        label = model._meta.label
        with transaction.atomic():
            candidates = _candidates(model, columns).values_list("pk", *(column.name for column in columns))
            for pk, *values in candidates.iterator(chunk_size=batch):
                changes = {}
                for column, value in zip(columns, values, strict=True):
                    masked, count = mask_card_numbers(value)
                    if count:
                        changes[column.name] = masked
                        where = f"{label}.{column.name}"
                        done.card_numbers[where] = done.card_numbers.get(where, 0) + count
                if changes:
                    model._base_manager.filter(pk=pk).update(**changes)
                    done.rows.setdefault(label, set()).add(pk)
    return done
