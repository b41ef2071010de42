"""Filtering the API shares: a FilterSet narrows a list, never a detail, and refuses card numbers."""

from __future__ import annotations

import django_filters
from django import forms
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from django_filters import utils
from rest_framework.exceptions import ValidationError

from payhealth.forms import CardNumberFreeFilterSet

BOOLEANS = {"true", "false", "1", "0"}


def query_parameter_errors(query, names) -> dict[str, list[str]]:
    """The same rule for query parameters a view reads itself: each of `names` once, and not empty."""
    errors = {}
    for name in names:
        values = query.getlist(name)
        if len(values) > 1:
            errors[name] = [_("Give this parameter once.")]
        elif values == [""]:
            errors[name] = [_("Give a value, or leave the parameter out.")]
    return errors


def strict_query_errors(filterset) -> dict[str, list[str]]:
    """What django-filter reads as "no filter" but a client meant as one: a yes/no parameter that
    is neither (`active=-4584` listed everything) and a single-valued parameter given twice (the
    last one won). The API refuses both, naming the parameter, as its schema promises; the pages'
    forms stay forgiving."""
    errors = {}
    data = filterset.data
    if not hasattr(data, "getlist"):
        return errors
    for name, filter_ in filterset.filters.items():
        values = data.getlist(name)
        if not values:
            continue
        multiple = getattr(filter_.field.widget, "allow_multiple_selected", False) or isinstance(
            filter_.field, forms.MultipleChoiceField | forms.ModelMultipleChoiceField
        )
        if len(values) > 1 and not multiple:
            errors[name] = [_("Give this parameter once.")]
        elif "" in values and not isinstance(filter_.field, forms.CharField):
            errors[name] = [_("Give a value, or leave the parameter out.")]
        elif isinstance(filter_, django_filters.BooleanFilter) and values[-1].lower() not in BOOLEANS:
            errors[name] = [_("Give true or false.")]
    return errors


class CardNumberFreeRestFilterSet(CardNumberFreeFilterSet, filters.FilterSet):
    """The FilterSet a view's `filterset_fields` get built on: a card number is a 400, never echoed."""


class FilterBackend(filters.DjangoFilterBackend):
    """django-filter's backend, whose FilterSets built from `filterset_fields` refuse card numbers
    like the project's own (`payhealth.forms.FilterSet`)."""

    filterset_base = CardNumberFreeRestFilterSet

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        errors = strict_query_errors(filterset)
        if errors:
            raise ValidationError(errors)
        if not filterset.is_valid():
            raise utils.translate_validation(filterset.errors)
        return filterset.qs


class ListFiltersOnly:
    """Apply the view's FilterSet to the list alone: a detail URL finds its object whatever the
    query string says (the incident FilterSet, say, lists only open incidents without a status)."""

    def filter_queryset(self, queryset):
        if getattr(self, "action", None) != "list":
            return queryset
        return super().filter_queryset(queryset)
