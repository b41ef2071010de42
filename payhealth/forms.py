"""What every app's HTML forms share: no field takes a card number.

Every form of the desk derives from `CardNumberFreeForm` (through `Form` and `ModelForm` here;
the admin's through `payhealth.admin_site`, the FilterSets' through `FilterSet`), so a new field
is covered the day it is added: the check reads each field's submitted value whatever its type
(text, lists, JSON, hidden or choice fields).

The browser's date pickers (`DateInput`, `DateTimeLocalInput`, `MonthInput` here) take their
value in ISO form whatever the page's language: a date localized for Spanish ("06/09/2026") in
an `<input type=date>` is an empty field. Every date field of the desk's forms uses them; dates
shown as text elsewhere stay localized.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.http import QueryDict

from payhealth.pan import card_number_error, contains_card_number, masked


class DateInput(forms.DateInput):
    """`<input type=date>` whose value is always `YYYY-MM-DD`, in English and in Spanish alike."""

    input_type = "date"
    iso_format = "%Y-%m-%d"

    def __init__(self, attrs=None, format=None):
        super().__init__(attrs, format=format or self.iso_format)


class DateTimeLocalInput(forms.DateTimeInput):
    """`<input type=datetime-local>` whose value is always `YYYY-MM-DDTHH:MM` (in the viewer's zone)."""

    input_type = "datetime-local"
    iso_format = "%Y-%m-%dT%H:%M"

    def __init__(self, attrs=None, format=None):
        super().__init__(attrs, format=format or self.iso_format)


class MonthInput(DateInput):
    """`<input type=month>` whose value is always `YYYY-MM`."""

    input_type = "month"
    iso_format = "%Y-%m"


class CardNumberFreeForm:
    """A form mixin that refuses a card number in any field, with one field error.

    The submitted data is masked as soon as the form is built, so nothing renders the number
    back, validated or not (the admin never validates a view-only inline, yet shows its data),
    and no field's own cleaning (whose messages may quote the value) nor the service a form
    dry-runs ever sees it. Each field whose submitted value held a card number gets the
    card-number error alone. Shown again, the form carries the masked text (`411111******1111`);
    a field with a `without_card_numbers(value)` method says itself what it shows instead (a
    list drops the items that held one). Password inputs are left alone: they are hashed, never
    stored or shown.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._submitted = self.data
        if self.is_bound and contains_card_number(dict(_items(self.data))):
            scrubbers = {
                self.add_prefix(name): field.without_card_numbers
                for name, field in self.fields.items()
                if hasattr(field, "without_card_numbers")
            }
            passwords = {
                self.add_prefix(name)
                for name, field in self.fields.items()
                if isinstance(field.widget, forms.PasswordInput)
            }
            self.data = _masked_data(self.data, scrubbers, passwords)

    def full_clean(self):
        refused = self._card_number_fields() if self.is_bound else []
        super().full_clean()
        for name in refused:
            self._errors.pop(name, None)
            self.add_error(name, card_number_error())

    def _card_number_fields(self) -> list[str]:
        if self._submitted is self.data:
            return []  # nothing was masked
        refused = []
        for name, field in self.fields.items():
            if field.disabled or isinstance(field.widget, forms.PasswordInput):
                continue
            value = field.widget.value_from_datadict(self._submitted, self.files, self.add_prefix(name))
            if contains_card_number(value):
                refused.append(name)
        return refused


def _items(data):
    return data.lists() if isinstance(data, QueryDict) else data.items()


def _masked_data(data, scrubbers: dict, passwords: set):
    """The submitted data with every card number masked, or scrubbed by its field's own rule."""

    def scrub(key, value):
        if key in passwords:
            return value
        return scrubbers[key](value) if key in scrubbers else masked(value)

    if isinstance(data, QueryDict):
        copy = QueryDict(mutable=True, encoding=data.encoding)
        for key, values in data.lists():
            copy.setlist(key, [scrub(key, value) for value in values])
        return copy
    return {key: scrub(key, value) for key, value in data.items()}


class Form(CardNumberFreeForm, forms.Form):
    """The desk's plain form."""


class ModelForm(CardNumberFreeForm, forms.ModelForm):
    """The desk's model form."""


def card_number_free(form_class: type) -> type:
    """`form_class` refusing card numbers: itself when it already does, else a subclass that does."""
    if issubclass(form_class, CardNumberFreeForm):
        return form_class
    wrapped = type(form_class.__name__, (CardNumberFreeForm, form_class), {"__module__": form_class.__module__})
    # The fields as built (and adjusted, e.g. disabled) for `form_class`, not built again from its Meta.
    wrapped.base_fields = form_class.base_fields
    return wrapped


class CardNumberFreeFilterSet:
    """A FilterSet mixin whose form refuses card numbers: a search for one is refused with the
    field error (the API answers 400) and the search box shows it masked."""

    def get_form_class(self):
        return card_number_free(super().get_form_class())


class FilterSet(CardNumberFreeFilterSet, django_filters.FilterSet):
    """The desk's FilterSet."""
