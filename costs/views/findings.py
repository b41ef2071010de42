"""The cost findings' pages: the filtered list (with totals, a CSV of exactly its rows and, for one
partner, its effective-cost chart), a finding's page with the desk's decision, and the partner ×
month matrix (with its CSV). Every desk role reads them (`costs.view_costfinding`); deciding needs
`costs.change_costfinding`.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from costs.charts import series_charts
from costs.checks import months_back
from costs.effective import (
    MAX_MONTHS,
    cost_matrix,
    cost_series,
    default_range,
    merchant_series,
    month_end,
    months_between,
)
from costs.findings import (
    MonthField,
    cost_finding_decide,
    cost_findings_filtered,
    cost_findings_totals,
    cost_findings_visible_to,
    finding_decisions,
)
from costs.models import MATCH_KEYS, CostFinding
from payhealth.forms import Form
from payhealth.web import add_service_errors, desk_permission, page_of, results_only, wants_fragment

VIEW = "costs.view_costfinding"
CHANGE = "costs.change_costfinding"
PER_PAGE = 25
LIST = "costs/finding_list.html"
DETAIL = "costs/finding_detail.html"
MATRIX = "costs/matrix.html"


class DecideForm(Form):
    state = forms.ChoiceField(
        label=gettext_lazy("Decision"),
        choices=[
            (CostFinding.State.CONFIRMED, gettext_lazy("Confirm")),
            (CostFinding.State.DISMISSED, gettext_lazy("Dismiss")),
            (CostFinding.State.OPEN, gettext_lazy("Reopen")),
        ],
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), required=False, max_length=1000, widget=forms.Textarea)


class MatrixRangeForm(Form):
    first = MonthField(label=gettext_lazy("From month"), required=False)
    last = MonthField(label=gettext_lazy("To month"), required=False)

    def clean(self):
        data = super().clean()
        first, last = data.get("first"), data.get("last")
        if first and last and first > last:
            self.add_error("last", _("The last month comes after the first."))
        elif first and last and len(months_between(first, last)) > MAX_MONTHS:
            self.add_error("first", _("Show at most %(n)d months.") % {"n": MAX_MONTHS})
        return data

    def months(self) -> tuple[date, date]:
        default_first, default_last = default_range()
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        last = data.get("last") or (months_back(data["first"], -11) if data.get("first") else default_last)
        first = data.get("first") or months_back(last, 11)
        return first, last


# The list ----------------------------------------------------------------------------------------


def _partner_chart(filters) -> list[dict]:
    """One partner chosen: its billed vs expected bps over the chosen months (the last 12 by
    default), and by day when the filters hold a single month."""
    if not filters.is_valid() or not filters.form.cleaned_data.get("partner"):
        return []
    data = filters.form.cleaned_data
    partner = data["partner"]
    first, last = data.get("period_from"), data.get("period_to")
    if first and last and first == last:
        return series_charts(
            cost_series(partner=partner, first=first, last=month_end(first), by="day"), chart_id="cost-days", by="day"
        )
    last = last or (months_back(first, -11) if first else default_range()[1])
    first = first or months_back(last, 11)
    if first > last or len(months_between(first, last)) > MAX_MONTHS:
        return []
    return series_charts(cost_series(partner=partner, first=first, last=last), chart_id="cost-months", by="month")


SORT_KEYS = ("kind", "partner", "period", "count", "amount", "severity")


def _sort_links(current: str) -> dict:
    """Each sortable column's next order: descending first, ascending when it is already descending."""
    current = current if current.lstrip("-") in SORT_KEYS else ""
    return {
        "current_sort": current,
        "sorts": {key: key if current == f"-{key}" else f"-{key}" for key in SORT_KEYS},
    }


@desk_permission(VIEW)
@require_GET
def finding_list(request):
    filters, findings = cost_findings_filtered(user=request.user, data=request.GET)
    page = page_of(request, findings, PER_PAGE)
    context = {
        "filters": filters,
        "page": page,
        "totals": cost_findings_totals(findings),
        "charts": [] if results_only(request) else _partner_chart(filters),
        "can_decide": request.user.has_perm(CHANGE),
        "csv_query": request.GET.urlencode(),
        **_sort_links(request.GET.get("sort", "")),
    }
    return render(request, f"{LIST}#results" if results_only(request) else LIST, context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(lines, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _finding_csv_rows(findings, language: str):
    writer = csv.writer(_Echo())
    with translation.override(language):
        header = [
            _("Id"),
            _("Kind"),
            _("Partner"),
            _("Period"),
            *MATCH_KEYS,
            _("Country"),
            _("Merchant"),
            _("Fee type"),
            _("Fee code"),
            _("Rate card version"),
            _("Currency"),
            _("Transactions"),
            _("Volume"),
            _("Expected (bps)"),
            _("Billed (bps)"),
            _("Difference (bps)"),
            _("Expected amount"),
            _("Billed amount"),
            _("Amount at stake"),
            _("Severity"),
            _("State"),
            _("Sample references"),
        ]
        yield "\ufeff" + writer.writerow(header)
        # Labels once per export, in the requester's language (not a translation lookup per row).
        kinds = {value: str(label) for value, label in CostFinding.Kind.choices}
        severities = {value: str(label) for value, label in CostFinding.Severity.choices}
        states = {value: str(label) for value, label in CostFinding.State.choices}
        for finding in findings.iterator(chunk_size=2000):
            cohort = finding.cohort or {}
            yield writer.writerow(
                [
                    finding.pk,
                    kinds.get(finding.kind, finding.kind),
                    finding.partner.name,
                    f"{finding.period:%Y-%m}",
                    *(cohort.get(key, "") for key in MATCH_KEYS),
                    cohort.get("country", ""),
                    cohort.get("merchant", ""),
                    finding.fee_type,
                    finding.fee_code,
                    "" if finding.rate_card_version is None else finding.rate_card_version,
                    finding.currency,
                    finding.count,
                    finding.volume,
                    "" if finding.expected_bps is None else finding.expected_bps,
                    "" if finding.billed_bps is None else finding.billed_bps,
                    "" if finding.delta_bps is None else finding.delta_bps,
                    "" if finding.expected_amount is None else finding.expected_amount,
                    "" if finding.billed_amount is None else finding.billed_amount,
                    finding.amount,
                    severities.get(finding.severity, finding.severity),
                    states.get(finding.state, finding.state),
                    " ".join(finding.sample_references or []),
                ]
            )


@desk_permission(VIEW)
@require_GET
def finding_list_csv(request):
    """Exactly the rows of the list with the same filters and order, every column, all pages."""
    _filters, findings = cost_findings_filtered(user=request.user, data=request.GET)
    stamp = timezone.localdate().isoformat()
    return csv_response(_finding_csv_rows(findings, translation.get_language()), f"cost-findings-{stamp}.csv")


# A finding ---------------------------------------------------------------------------------------


def rate_card_url(rate_card_id) -> str:
    """The rate card version's page ("" for a finding that no rate card priced)."""
    return "" if rate_card_id is None else reverse("costs:ratecard_detail", kwargs={"pk": rate_card_id})


DETAIL_LABELS = {
    "downgraded": gettext_lazy("Downgraded transactions"),
    "share_pct": gettext_lazy("Downgrade share this month (%)"),
    "baseline_share_pct": gettext_lazy("Downgrade share of the previous three months (%)"),
    "baseline_transactions": gettext_lazy("Transactions of the previous three months"),
    "excess": gettext_lazy("Excess downgrades"),
    "p_value": gettext_lazy("p-value"),
    "q_value": gettext_lazy("q-value (Benjamini–Hochberg)"),
    "references": gettext_lazy("References billed more than once"),
    "lines": gettext_lazy("Invoice lines"),
    "previous_bps": gettext_lazy("Billed bps of the previous three months"),
    "rules": gettext_lazy("Fee rules applied"),
    "window_start": gettext_lazy("Last week from"),
    "window_end": gettext_lazy("Last week to"),
    "baseline_start": gettext_lazy("Baseline from"),
    "baseline_end": gettext_lazy("Baseline to"),
    "baseline_volume": gettext_lazy("Baseline volume"),
    "window_days": gettext_lazy("Days billed in the last week"),
    "baseline_days": gettext_lazy("Days billed in the baseline"),
}


def _detail_rows(finding: CostFinding) -> list[tuple[str, str]]:
    rows = []
    for key, value in (finding.details or {}).items():
        if key == "decisions":
            continue
        if key in ("p_value", "q_value") and isinstance(value, int | float):
            shown = f"{value:.3g}"
        elif isinstance(value, list):
            shown = ", ".join(str(item) for item in value)
        elif isinstance(value, dict):
            shown = json.dumps(value, sort_keys=True)
        else:
            shown = str(value)
        rows.append((str(DETAIL_LABELS.get(key, key.replace("_", " "))), shown))
    return rows


def _finding_charts(finding: CostFinding) -> dict:
    if finding.kind in (CostFinding.Kind.UNKNOWN_FEE,):
        return {"months": [], "days": []}
    cohort = {key: finding.cohort.get(key, "") for key in ("network", "funding")}
    first = months_back(finding.period, 11)
    months = series_charts(
        cost_series(partner=finding.partner, first=first, last=finding.period, **cohort),
        chart_id="finding-months",
        by="month",
    )
    merchant = (finding.cohort or {}).get("merchant", "")
    if finding.kind == CostFinding.Kind.COST_SPIKE and merchant:
        # The merchant's own days: the baseline and the week checked (billed bps only).
        start = date.fromisoformat(finding.details.get("baseline_start", finding.period.isoformat()))
        daily = merchant_series(partner=finding.partner, merchant=merchant, first=start, last=month_end(finding.period))
    else:
        daily = cost_series(
            partner=finding.partner, first=finding.period, last=month_end(finding.period), by="day", **cohort
        )
    days = series_charts(daily, chart_id="finding-days", by="day")
    return {"months": months, "days": days}


def _detail_context(request, finding: CostFinding, form: DecideForm | None = None) -> dict:
    rule = finding.rule
    return {
        "finding": finding,
        "cohort": sorted((finding.cohort or {}).items()),
        "rule_text": rule.explain(finding.cohort) if rule is not None else "",
        "rule_keys": sorted(rule.keys().items()) if rule is not None else [],
        "rate_card": finding.rate_card,
        "rate_card_url": rate_card_url(finding.rate_card_id),
        "detail_rows": _detail_rows(finding),
        "decisions": finding_decisions(finding),
        "can_decide": request.user.has_perm(CHANGE),
        "can_open_case": (
            finding.billing_case_id is None
            and finding.state in (CostFinding.State.OPEN, CostFinding.State.CONFIRMED)
            and finding.amount > 0
            and request.user.has_perm("costs.add_billingcase")
        ),
        "form": form or DecideForm(),
        "charts": _finding_charts(finding),
    }


def _finding(request, pk: int) -> CostFinding:
    return get_object_or_404(
        cost_findings_visible_to(user=request.user).select_related(
            "rule", "rate_card", "rate_card__partner", "billing_case__incident"
        ),
        pk=pk,
    )


@desk_permission(VIEW)
@require_GET
def finding_detail(request, pk: int):
    return render(request, DETAIL, _detail_context(request, _finding(request, pk)))


@desk_permission(VIEW, CHANGE)
@require_POST
def finding_decide(request, pk: int):
    """Confirm, dismiss (with a reason) or reopen; htmx gets the decision block again."""
    finding = _finding(request, pk)
    form = DecideForm(request.POST)
    if form.is_valid():
        try:
            cost_finding_decide(finding=finding, actor=request.user, **form.cleaned_data)
        except PermissionDenied:
            raise
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Decision recorded."))
            if wants_fragment(request):
                context = _detail_context(request, _finding(request, pk))
                return render(request, f"{DETAIL}#decision", context)
            return redirect(reverse("costs:finding_detail", args=[pk]))
    context = _detail_context(request, finding, form)
    if wants_fragment(request):  # htmx swaps a 200 only: the block with its errors
        return render(request, f"{DETAIL}#decision", context)
    return render(request, DETAIL, context, status=400)


# The matrix --------------------------------------------------------------------------------------


def _drill_url(partner, month) -> str:
    query = urlencode({"partner": partner.code, "period_from": f"{month:%Y-%m}", "period_to": f"{month:%Y-%m}"})
    return f"{reverse('costs:finding_list')}?{query}"


@desk_permission(VIEW)
@require_GET
def matrix(request):
    form = MatrixRangeForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, MATRIX, {"form": form, "matrix": None}, status=400)
    first, last = form.months()
    figures = cost_matrix(user=request.user, first=first, last=last)
    for row in figures.rows:
        for cell in row.cells:
            cell.url = _drill_url(row.partner, cell.month)
    return render(request, MATRIX, {"form": form, "matrix": figures, "csv_query": request.GET.urlencode()})


def _matrix_csv_rows(figures, language: str):
    writer = csv.writer(_Echo())
    with translation.override(language):
        header = [
            _("Partner"),
            _("Currency"),
            _("Month"),
            _("Billed (bps)"),
            _("Expected (bps)"),
            _("Difference (bps)"),
            _("Billed amount"),
            _("Expected amount"),
            _("Transactions"),
            _("Amount at stake"),
            _("Findings"),
        ]
        yield "\ufeff" + writer.writerow(header)
        for row in figures.rows:
            for cell in row.cells:

                def blank(value):
                    return "" if value is None else value

                yield writer.writerow(
                    [
                        row.partner.name,
                        row.currency,
                        f"{cell.month:%Y-%m}",
                        blank(cell.billed_bps),
                        blank(cell.expected_bps),
                        blank(cell.delta_bps),
                        blank(cell.billed),
                        blank(cell.expected),
                        cell.count,
                        cell.at_stake,
                        cell.findings,
                    ]
                )


@desk_permission(VIEW)
@require_GET
def matrix_csv(request):
    form = MatrixRangeForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return render(request, MATRIX, {"form": form, "matrix": None}, status=400)
    first, last = form.months()
    figures = cost_matrix(user=request.user, first=first, last=last)
    lines = _matrix_csv_rows(figures, translation.get_language())
    return csv_response(lines, f"cost-matrix-{first:%Y-%m}-{last:%Y-%m}.csv")
