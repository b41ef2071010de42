"""Filtering the API shares: a FilterSet narrows a list, never a detail."""

from __future__ import annotations


class ListFiltersOnly:
    """Apply the view's FilterSet to the list alone: a detail URL finds its object whatever the
    query string says (the incident FilterSet, say, lists only open incidents without a status)."""

    def filter_queryset(self, queryset):
        if getattr(self, "action", None) != "list":
            return queryset
        return super().filter_queryset(queryset)
