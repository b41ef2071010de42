"""Cost findings as the desk works them: the filtered list (pages, API and CSV share it), the totals
of a filtered set, and the desk's decision on a finding (confirm, dismiss with a reason, reopen).

A decision is kept on the finding, in `details["decisions"]` (state before and after, who, when and
the reason), newest last. A confirmed or dismissed finding keeps its state when the checks run
again and is not raised again (`costs_check` keeps decided findings' keys); a reopened one is open
again, so the next run of its month replaces it like any open finding.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

import django_filters
from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from costs.models import CostFinding, FeeType
from partners.models import Partner
from payhealth.forms import FilterSet
from payhealth.pan import card_number_error, contains_card_number

CHANGE = "costs.change_costfinding"
DECISIONS = {
    CostFinding.State.CONFIRMED: (CostFinding.State.OPEN,),
    CostFinding.State.DISMISSED: (CostFinding.State.OPEN, CostFinding.State.CONFIRMED),
    CostFinding.State.OPEN: (CostFinding.State.CONFIRMED, CostFinding.State.DISMISSED),
}
MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")


def cost_findings_visible_to(*, user):
    """Every desk role sees every finding (`costs.view_costfinding`); nobody else sees any."""
    if not user.has_perm("costs.view_costfinding"):
        return CostFinding.objects.none()
    return CostFinding.objects.select_related("partner")


def parse_month(value) -> date | None:
    """`YYYY-MM` (or a date in the month) → the month's first day; anything else → None."""
    if isinstance(value, date):
        return value.replace(day=1)
    match = MONTH.match(str(value or "").strip())
    if not match:
        return None
    year, month = int(match[1]), int(match[2])
    if not (1 <= month <= 12 and 1900 <= year <= 9999):
        return None
    if match[3] and not 1 <= int(match[3]) <= calendar.monthrange(year, month)[1]:
        return None
    return date(year, month, 1)


class MonthField(forms.CharField):
    """A month typed as `YYYY-MM` (what `<input type="month">` sends), cleaned to its first day."""

    widget = forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"})

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        month = parse_month(value)
        if month is None:
            raise ValidationError(_("Give a month as YYYY-MM."), code="invalid")
        return month


class MonthFilter(django_filters.Filter):
    field_class = MonthField


SORTS = (
    ("period", "period"),
    ("amount", "amount"),
    ("severity", "severity"),
    ("kind", "kind"),
    ("partner__name", "partner"),
    ("count", "count"),
    ("created_at", "created"),
)


class CostFindingFilterSet(FilterSet):
    """The findings list's filters, the same for the page, its CSV and the API."""

    partner = django_filters.ModelChoiceFilter(
        queryset=Partner.objects.order_by("name"),
        to_field_name="code",
        label=gettext_lazy("Partner"),
        help_text="A partner's code.",
    )
    kind = django_filters.ChoiceFilter(choices=CostFinding.Kind.choices, label=gettext_lazy("Kind"))
    severity = django_filters.ChoiceFilter(choices=CostFinding.Severity.choices, label=gettext_lazy("Severity"))
    state = django_filters.ChoiceFilter(choices=CostFinding.State.choices, label=gettext_lazy("State"))
    period_from = MonthFilter(
        field_name="period", lookup_expr="gte", label=gettext_lazy("From month"), help_text="YYYY-MM, inclusive."
    )
    period_to = MonthFilter(
        field_name="period", lookup_expr="lte", label=gettext_lazy("To month"), help_text="YYYY-MM, inclusive."
    )
    fee_type = django_filters.ChoiceFilter(choices=FeeType.choices, label=gettext_lazy("Fee type"))
    amount_min = django_filters.NumberFilter(
        field_name="amount",
        lookup_expr="gte",
        label=gettext_lazy("Amount at stake ≥"),
        help_text="Findings whose amount at stake is at least this.",
    )
    sort = django_filters.OrderingFilter(
        fields=SORTS,
        label=gettext_lazy("Sort"),
        help_text="period, amount, severity, kind, partner, count or created; a leading - for descending.",
    )

    class Meta:
        model = CostFinding
        fields = ["partner", "kind", "severity", "state", "period_from", "period_to", "fee_type", "amount_min"]

    def filter_queryset(self, queryset):
        rows = super().filter_queryset(queryset)
        ordering = rows.query.order_by
        if ordering:  # a stable order: ties broken by the default order, then the id
            return rows.order_by(*ordering, "-period", "-amount", "-id")
        return rows.order_by("-period", "-amount", "-id")


def cost_findings_filtered(*, user, data) -> tuple[CostFindingFilterSet, object]:
    """The filter set bound to `data` and the findings it selects (every finding when it is invalid)."""
    filters = CostFindingFilterSet(data or None, queryset=cost_findings_visible_to(user=user))
    rows = filters.qs if filters.is_valid() else filters.queryset.order_by("-period", "-amount", "-id")
    return filters, rows


def cost_findings_totals(findings) -> list[dict]:
    """The amount at stake and the number of findings of a filtered set, by currency (one query)."""
    return list(
        findings.order_by().values("currency").annotate(amount=Sum("amount"), findings=Count("id")).order_by("currency")
    )


@transaction.atomic
def cost_finding_decide(*, finding: CostFinding, state: str, actor, reason: str = "") -> CostFinding:
    """Confirm a finding, dismiss it (a reason is required) or reopen a confirmed or dismissed one.

    Needs `costs.change_costfinding`. The decision is appended to `details["decisions"]` with who,
    when and why; a reopened finding whose key is open again (a re-check raised it) is refused."""
    if actor is None or not actor.has_perm(CHANGE):
        raise PermissionDenied(_("You may not decide cost findings."))
    reason = (reason or "").strip()
    if state not in DECISIONS:
        raise ValidationError({"state": _("Confirm, dismiss or reopen.")})
    locked = CostFinding.objects.select_for_update().get(pk=finding.pk)
    if locked.state not in DECISIONS[state]:
        raise ValidationError(
            {
                "state": _("A finding that is %(current)s cannot become %(state)s.")
                % {"current": locked.get_state_display(), "state": CostFinding.State(state).label}
            }
        )
    if state == CostFinding.State.DISMISSED and not reason:
        raise ValidationError({"reason": _("Say why the finding is dismissed.")})
    if contains_card_number(reason):
        raise ValidationError({"reason": card_number_error()})
    if len(reason) > 1000:
        raise ValidationError({"reason": _("Keep the reason under 1,000 characters.")})
    details = dict(locked.details or {})
    decisions = list(details.get("decisions") or [])
    decisions.append(
        {
            "from": locked.state,
            "to": state,
            "by": actor.pk,
            "by_name": actor.get_full_name() or actor.get_username(),
            "at": timezone.now().isoformat(timespec="seconds"),
            "reason": reason,
        }
    )
    details["decisions"] = decisions
    locked.state = state
    locked.details = details
    try:
        with transaction.atomic():
            locked.save(update_fields=["state", "details"])
    except IntegrityError:
        raise ValidationError(
            {"state": _("The checks raised this finding again since: decide the open one instead.")}
        ) from None
    return locked


def finding_decisions(finding: CostFinding) -> list[dict]:
    """The decisions on a finding as pages show them (states as labels, the time as a datetime)."""
    from django.utils.dateparse import parse_datetime

    labels = dict(CostFinding.State.choices)
    rows = []
    for item in (finding.details or {}).get("decisions") or []:
        if not isinstance(item, dict):
            continue
        rows.append(
            {
                "from": labels.get(item.get("from"), item.get("from")),
                "to": labels.get(item.get("to"), item.get("to")),
                "by": item.get("by_name", ""),
                "at": parse_datetime(item.get("at") or ""),
                "reason": item.get("reason", ""),
            }
        )
    return rows
