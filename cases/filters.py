"""Filters of the incident list, shared by the HTML queue and the API list.

One FilterSet for both, as NetBox does (`tenancy/filtersets.py`), so a saved queue URL and an
API query mean the same thing. Relations that fan out (partners, merchants) are filtered with
`Exists`, never with a join, so an incident never appears twice.
"""

from __future__ import annotations

import datetime as dt
import re

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import AffectedMerchant, Incident, Merchant, PartnerEngagement
from cases.models.incident import OPEN_STATUSES, CardNetwork, Category, Severity, Status
from cases.search import search
from cases.selectors import incident_owner_list
from partners.models import Partner
from payhealth.forms import DateInput, FilterSet, Form

_FULL_REFERENCE = re.compile(r"^PH-\d{4}-\d{6}$", re.IGNORECASE)
STATUS_OPEN = "open"
STATUS_ALL = "all"
OWNER_ME = "me"
OWNER_NONE = "none"

# Every query-string key the queue understands: the filters below plus sorting and paging.
FILTER_PARAMS = (
    "q",
    "status",
    "severity",
    "category",
    "partner",
    "merchant",
    "owner",
    "network",
    "created_from",
    "created_to",
)


def user_label(user) -> str:
    return user.get_full_name() or user.get_username()


class IncidentFilterForm(Form):
    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("created_from"), cleaned.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", _("The end date cannot come before the start date."))
        return cleaned


class IncidentFilterSet(FilterSet):
    """Narrow the incident list. Without a status, only open incidents are listed."""

    q = django_filters.CharFilter(
        label=_("Search"),
        method="filter_search",
        max_length=200,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Reference, title, merchant, partner, notes…")}
        ),
    )
    status = django_filters.MultipleChoiceFilter(
        label=_("Status"),
        method="filter_status",
        choices=[(STATUS_OPEN, _("All open")), (STATUS_ALL, _("Any status")), *Status.choices],
        widget=forms.CheckboxSelectMultiple,
    )
    # distinct=False: these filter the incident row itself, and a DISTINCT over every column
    # (django-filter's default for multiple choices) would make each COUNT sort the whole set.
    severity = django_filters.MultipleChoiceFilter(
        label=_("Severity"), choices=Severity.choices, widget=forms.CheckboxSelectMultiple, distinct=False
    )
    category = django_filters.MultipleChoiceFilter(
        label=_("Category"), choices=Category.choices, widget=forms.CheckboxSelectMultiple, distinct=False
    )
    partner = django_filters.ModelChoiceFilter(
        label=_("Partner"),
        queryset=Partner.objects.order_by("name"),
        to_field_name="code",
        method="filter_partner",
        empty_label=_("Any partner"),
    )
    merchant = django_filters.ModelChoiceFilter(
        label=_("Merchant"),
        queryset=Merchant.objects.all(),
        to_field_name="account_id",
        method="filter_merchant",
        widget=forms.TextInput(attrs={"placeholder": "acct_…", "list": "merchant-options", "autocomplete": "off"}),
        error_messages={"invalid_choice": _("No merchant has this account id.")},
    )
    owner = django_filters.ChoiceFilter(label=_("Owner"), method="filter_owner", empty_label=_("Anyone"))
    network = django_filters.MultipleChoiceFilter(
        label=_("Card network"),
        choices=CardNetwork.choices,
        method="filter_network",
        widget=forms.CheckboxSelectMultiple,
    )
    created_from = django_filters.DateFilter(label=_("Opened from"), method="filter_created_from", widget=DateInput)
    created_to = django_filters.DateFilter(label=_("Opened until"), method="filter_created_to", widget=DateInput)

    class Meta:
        model = Incident
        fields: list[str] = []
        form = IncidentFilterForm

    def __init__(self, data=None, queryset=None, *, request=None, prefix=None, user=None):
        if data is not None and hasattr(data, "getlist") and not data.getlist("status"):
            data = data.copy()
            data.setlist("status", [STATUS_OPEN])
        super().__init__(data, queryset, request=request, prefix=prefix)
        self.user = user if user is not None else getattr(request, "user", None)
        # Kept so that other forms on the same page can offer the same people without a query.
        self.owner_choices = incident_owner_list(user=self.user) if self.user is not None else []
        self.filters["owner"].extra["choices"] = [
            (OWNER_ME, _("Me")),
            (OWNER_NONE, _("Nobody (unassigned)")),
            *((str(member.pk), user_label(member)) for member in self.owner_choices),
        ]

    def filter_search(self, queryset, name, value):
        # A whole reference is looked up on its unique index (references are stored upper case;
        # `search` compares case-insensitively, which reads every row).
        if _FULL_REFERENCE.match(value.strip()):
            return queryset.filter(reference=value.strip().upper())
        return search(queryset, value)

    def filter_status(self, queryset, name, value):
        chosen = set(value)
        if STATUS_ALL in chosen:
            return queryset
        if STATUS_OPEN in chosen:
            chosen = (chosen - {STATUS_OPEN}) | {str(status) for status in OPEN_STATUSES}
        return queryset.filter(status__in=sorted(chosen))

    def filter_partner(self, queryset, name, value):
        return queryset.filter(Exists(PartnerEngagement.objects.filter(incident=OuterRef("pk"), partner=value)))

    def filter_merchant(self, queryset, name, value):
        return queryset.filter(Exists(AffectedMerchant.objects.filter(incident=OuterRef("pk"), merchant=value)))

    def filter_owner(self, queryset, name, value):
        if value == OWNER_NONE:
            return queryset.filter(owner__isnull=True)
        if value == OWNER_ME:
            if self.user is None or not self.user.is_authenticated:
                return queryset.none()
            return queryset.filter(owner=self.user)
        return queryset.filter(owner_id=int(value))

    def filter_network(self, queryset, name, value):
        # One network: the incident's networks contain it. Several: any of them (the GIN index
        # serves both `@>` and `&&`).
        if len(value) == 1:
            return queryset.filter(card_networks__contains=list(value))
        return queryset.filter(card_networks__overlap=list(value))

    def filter_created_from(self, queryset, name, value):
        return queryset.filter(created_at__gte=_start_of_day(value))

    def filter_created_to(self, queryset, name, value):
        return queryset.filter(created_at__lt=_start_of_day(value + dt.timedelta(days=1)))


def _start_of_day(day: dt.date) -> dt.datetime:
    """Midnight of `day` in the viewer's zone (the middleware activates it), as an aware time."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())


class MerchantFilterSet(FilterSet):
    """Search and filters of the merchant list, for the page and the API alike; invalid values are
    reported and ignored."""

    q = django_filters.CharFilter(method="filter_search", label=_("Search"))
    country = django_filters.ChoiceFilter(label=_("Country"), empty_label=_("All countries"))
    segment = django_filters.ChoiceFilter(
        choices=Merchant.Segment.choices, label=_("Segment"), empty_label=_("All segments")
    )

    class Meta:
        model = Merchant
        fields = ["q", "country", "segment"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        countries = Merchant.objects.order_by("country").values_list("country", flat=True).distinct()
        self.filters["country"].extra["choices"] = [(code, code) for code in countries]
        self.form.fields["q"].widget.attrs.update(
            {"type": "search", "placeholder": _("Name or account id"), "autocomplete": "off"}
        )

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(account_id__icontains=value))
