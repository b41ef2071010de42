"""Filtering the API shares: a FilterSet narrows a list, never a detail, and refuses card numbers."""

from __future__ import annotations

from django_filters import rest_framework as filters

from payhealth.forms import CardNumberFreeFilterSet


class CardNumberFreeRestFilterSet(CardNumberFreeFilterSet, filters.FilterSet):
    """The FilterSet a view's `filterset_fields` get built on: a card number is a 400, never echoed."""


class FilterBackend(filters.DjangoFilterBackend):
    """django-filter's backend, whose FilterSets built from `filterset_fields` refuse card numbers
    like the project's own (`payhealth.forms.FilterSet`)."""

    filterset_base = CardNumberFreeRestFilterSet


class ListFiltersOnly:
    """Apply the view's FilterSet to the list alone: a detail URL finds its object whatever the
    query string says (the incident FilterSet, say, lists only open incidents without a status)."""

    def filter_queryset(self, queryset):
        if getattr(self, "action", None) != "list":
            return queryset
        return super().filter_queryset(queryset)
