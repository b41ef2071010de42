"""Filters of the partner lists: one FilterSet for the HTML page and the API."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from partners.models import Partner
from partners.selectors import partner_search
from payhealth.forms import FilterSet
from payhealth.i18n import Language


class PartnerFilterSet(FilterSet):
    """Search and filters of the partner list; invalid values are reported and ignored.

    The HTML list and the API list share it; the API adds the language.
    """

    q = django_filters.CharFilter(method="filter_search", label=_("Search"))
    kind = django_filters.ChoiceFilter(choices=Partner.Kind.choices, label=_("Kind"), empty_label=_("All kinds"))
    country = django_filters.ChoiceFilter(label=_("Country"), empty_label=_("All countries"))
    active = django_filters.BooleanFilter(
        label=_("Active"),
        widget=django_filters.widgets.BooleanWidget,
    )

    class Meta:
        model = Partner
        fields = ["q", "kind", "country", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(self.filters["country"], django_filters.ChoiceFilter):
            countries = Partner.objects.order_by("country").values_list("country", flat=True).distinct()
            self.filters["country"].extra["choices"] = [(code, code) for code in countries]
        self.form.fields["q"].widget.attrs.update(
            {"type": "search", "placeholder": _("Name, code or contact"), "autocomplete": "off"}
        )
        # BooleanWidget's own labels read "Unknown / Yes / No"; on a filter "unknown" means "any".
        self.form.fields["active"].widget.choices = (
            ("", _("Active and inactive")),
            ("true", _("Active")),
            ("false", _("Inactive")),
        )

    def filter_search(self, queryset, name, value):
        return partner_search(queryset, value)


class PartnerApiFilterSet(PartnerFilterSet):
    """The page's filters plus the language; a country is any code (the page offers the known ones)."""

    country = django_filters.CharFilter(field_name="country", lookup_expr="iexact", label=_("Country"))
    language = django_filters.ChoiceFilter(choices=Language.choices, label=_("Language"))

    class Meta(PartnerFilterSet.Meta):
        fields = [*PartnerFilterSet.Meta.fields, "language"]
