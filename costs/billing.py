"""Billing cases: disputing with a partner what its findings say it overbilled, and what it credits back.

One service per action, each in one transaction and each on the incident's timeline with who and
when: `billing_case_open`, `credit_note_record`, `billing_case_amend`. docs/costs.md ("Billing
cases") describes the flow; the incident's SLA clocks follow through the existing hooks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cases import timeline
from cases.models import Incident, PartnerEngagement
from cases.models.incident import Category, Severity
from cases.services.impact import engagement_update
from cases.services.incidents import incident_open
from cases.timeline.events import BillingCaseAmended, BillingCaseOpened, CreditNoteRecorded
from costs.checks import month_bounds, severity_of
from costs.models import BillingCase, CostFinding, CostThresholds, CreditNote
from payhealth.i18n import desk_zone

CENT = Decimal("0.01")
DEFAULT_DISPUTE_WINDOW_DAYS = 60
MAX_AMOUNT = Decimal("999999999999999999.99")  # max_digits=20, decimal_places=2
# The finding's severity (amount at stake) → the incident's severity.
SEVERITY_OF_FINDINGS = {
    CostFinding.Severity.HIGH: Severity.SEV2,
    CostFinding.Severity.MEDIUM: Severity.SEV3,
    CostFinding.Severity.LOW: Severity.SEV4,
}
DISPUTABLE_STATES = (CostFinding.State.OPEN, CostFinding.State.CONFIRMED)
# At most this many findings' explanations are written into the incident's summary.
SUMMARY_FINDINGS = 20


def _require(actor, permission: str) -> None:
    if actor is None or not actor.has_perm(permission):
        raise PermissionDenied(_("You are not allowed to do this."))


def money(value, *, field: str) -> Decimal:
    """A positive-or-zero amount with at most two decimals, from a Decimal, int or string."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError({field: _("Enter an amount such as 1250.50.")}, code="invalid") from None
    if not amount.is_finite():
        raise ValidationError({field: _("Enter an amount such as 1250.50.")}, code="invalid")
    if abs(amount) > MAX_AMOUNT:
        raise ValidationError({field: _("This amount is too large.")}, code="too_large")
    if amount != amount.quantize(CENT):
        raise ValidationError({field: _("Use at most two decimals.")}, code="decimals")
    return amount.quantize(CENT)


def dispute_window_days(partner) -> int:
    days = CostThresholds.objects.filter(partner=partner).values_list("dispute_window_days", flat=True).first()
    return DEFAULT_DISPUTE_WINDOW_DAYS if days is None else days


def default_deadline(*, partner, period: dt.date) -> dt.date:
    """The last day of the partner's dispute window: its days counted from the end of the month billed."""
    return month_bounds(period)[1] + dt.timedelta(days=dispute_window_days(partner))


def _texts(findings: list[CostFinding], *, partner, period: dt.date, currency: str, amount: Decimal, language: str):
    with translation.override(language):
        title = _("Billing dispute with %(partner)s for %(period)s: %(currency)s %(amount)s") % {
            "partner": partner.name,
            "period": f"{period:%Y-%m}",
            "currency": currency,
            "amount": f"{amount:,.2f}",
        }
        lines = [f"- {finding.explanation()}" for finding in findings[:SUMMARY_FINDINGS]]
        if len(findings) > SUMMARY_FINDINGS:
            lines.append(_("- and %(count)s more findings.") % {"count": len(findings) - SUMMARY_FINDINGS})
        heading = _("Findings disputed with %(partner)s (%(period)s):") % {
            "partner": partner.name,
            "period": f"{period:%Y-%m}",
        }
    return title, "\n".join([heading, "", *lines])


def _finding_ids(findings: Iterable) -> list[int]:
    ids = []
    for finding in findings:
        value = getattr(finding, "pk", finding)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationError({"findings": _("Each finding must be a finding's id.")}, code="invalid") from None
        if not 0 < number < 2**63:
            raise ValidationError({"findings": _("Some of these findings do not exist.")}, code="not_found")
        ids.append(number)
    return list(dict.fromkeys(ids))


@transaction.atomic
def billing_case_open(*, findings, actor, dispute_deadline: dt.date | None = None) -> BillingCase:
    """Open a billing case with one partner over its findings of one month and one currency.

    The findings must be open or confirmed and on no case yet. An incident of category cost-rate
    regression is opened (severity from the total: high → SEV2, medium → SEV3, low → SEV4) with
    the findings' explanations in English and Spanish, and the partner engaged on it; the findings
    become confirmed and point at the case. The deadline defaults to the partner's dispute window.
    """
    _require(actor, "costs.add_billingcase")
    ids = _finding_ids(findings)
    if not ids:
        raise ValidationError({"findings": _("Choose at least one finding to dispute.")}, code="required")
    rows = list(
        CostFinding.objects.select_for_update(of=("self",))
        .select_related("partner", "rule")
        .filter(pk__in=ids)
        .order_by("-amount", "pk")
    )
    if len(rows) != len(ids):
        raise ValidationError({"findings": _("Some of these findings do not exist.")}, code="not_found")
    if len({row.partner_id for row in rows}) > 1:
        raise ValidationError({"findings": _("A billing case disputes the findings of one partner.")}, code="partners")
    if len({row.currency for row in rows}) > 1:
        raise ValidationError({"findings": _("A billing case disputes findings of one currency.")}, code="currencies")
    if len({row.period for row in rows}) > 1:
        raise ValidationError({"findings": _("A billing case disputes findings of one month billed.")}, code="months")
    on_case = [row for row in rows if row.billing_case_id is not None]
    if on_case:
        raise ValidationError(
            {"findings": _("%(count)s of these findings are already on a billing case.") % {"count": len(on_case)}},
            code="on_case",
        )
    undecided = [row for row in rows if row.state not in DISPUTABLE_STATES]
    if undecided:
        raise ValidationError(
            {
                "findings": _("Only open or confirmed findings can be disputed; %(count)s are not.")
                % {"count": len(undecided)}
            },
            code="state",
        )
    if any(row.amount <= 0 for row in rows):
        raise ValidationError(
            {"findings": _("Only findings where the partner billed more than expected can be disputed.")},
            code="not_overbilled",
        )
    first = rows[0]
    partner, period, currency = first.partner, first.period, first.currency
    amount = sum((row.amount for row in rows), Decimal(0)).quantize(CENT)
    if dispute_deadline is None:
        dispute_deadline = default_deadline(partner=partner, period=period)
    elif dispute_deadline < period:
        raise ValidationError(
            {"dispute_deadline": _("The deadline cannot come before the month billed.")}, code="deadline"
        )
    title, summary_en = _texts(rows, partner=partner, period=period, currency=currency, amount=amount, language="en")
    title_es, summary_es = _texts(rows, partner=partner, period=period, currency=currency, amount=amount, language="es")
    active = translation.get_language() or "en"
    incident = incident_open(
        actor=actor,
        title=(title_es if active.startswith("es") else title)[:200],
        category=Category.COST_RATE,
        severity=SEVERITY_OF_FINDINGS[severity_of(amount)],
        summary=f"{summary_en}\n\n---\n\n{summary_es}",
        country=partner.country if len(partner.country or "") == 2 else "",
        partners=[partner],
    )
    case = BillingCase(
        incident=incident,
        partner=partner,
        period=period,
        currency=currency,
        amount_disputed=amount,
        dispute_deadline=dispute_deadline,
        opened_by=actor,
    )
    case.full_clean()
    case.save()
    CostFinding.objects.filter(pk__in=ids).update(billing_case=case, state=CostFinding.State.CONFIRMED)
    opened = BillingCaseOpened(
        billing_case=case.pk,
        partner=partner.name,
        code=partner.code,
        period=f"{period:%Y-%m}",
        amount=str(amount),
        currency=currency,
        deadline=dispute_deadline.isoformat(),
        findings=sorted(ids),
    )
    timeline.record(opened, incident=incident, actor=actor)
    return case


def _locked_case(billing_case: BillingCase) -> BillingCase:
    """The case locked, after its incident (the order the incident's own services lock in)."""
    list(Incident.objects.select_for_update().filter(pk=billing_case.incident_id).values_list("pk", flat=True))
    return (
        BillingCase.objects.select_for_update(of=("self",))
        .select_related("partner", "incident")
        .get(pk=billing_case.pk)
    )


def credited_total(billing_case: BillingCase) -> Decimal:
    total = CreditNote.objects.filter(billing_case=billing_case).aggregate(total=Sum("amount"))["total"]
    return (total or Decimal(0)).quantize(CENT)


@transaction.atomic
def credit_note_record(
    *,
    billing_case: BillingCase,
    reference: str,
    amount,
    issued_on: dt.date,
    actor,
    note: str = "",
    final: bool = False,
) -> CreditNote:
    """Record what the partner credited back. When the credited total reaches the amount in dispute,
    or the note is `final`, the case is settled: the partner is marked resolved on the incident (its
    resolve clock stops through the SLA hooks) and the case's findings are resolved."""
    _require(actor, "costs.add_creditnote")
    case = _locked_case(billing_case)
    reference = (reference or "").strip()
    if not reference:
        raise ValidationError({"reference": _("Give the credit note's number.")}, code="required")
    if len(reference) > 80:
        raise ValidationError({"reference": _("At most 80 characters.")}, code="max_length")
    amount = money(amount, field="amount")
    if amount <= 0:
        raise ValidationError({"amount": _("A credit note credits an amount greater than zero.")}, code="positive")
    if not isinstance(issued_on, dt.date):
        raise ValidationError({"issued_on": _("Enter the date the credit note was issued.")}, code="required")
    if issued_on > timezone.localtime(timezone.now(), desk_zone()).date():
        raise ValidationError({"issued_on": _("A credit note cannot be issued in the future.")}, code="future")
    if CreditNote.objects.filter(billing_case=case, reference__iexact=reference).exists():
        raise ValidationError(
            {"reference": _("Credit note %(reference)s is already recorded on this case.") % {"reference": reference}},
            code="duplicate",
        )
    credit = CreditNote(
        billing_case=case,
        reference=reference,
        amount=amount,
        currency=case.currency,
        issued_on=issued_on,
        note=(note or "").strip(),
        final=bool(final),
        recorded_by=actor,
    )
    credit.full_clean(validate_constraints=False)
    credit.save()
    credited = credited_total(case)
    settling = case.settled_at is None and (credited >= case.amount_disputed or credit.final)
    recorded = CreditNoteRecorded(
        billing_case=case.pk,
        credit_note=credit.pk,
        partner=case.partner.name,
        reference=reference,
        amount=str(amount),
        currency=case.currency,
        issued_on=issued_on.isoformat(),
        credited=str(credited),
        disputed=str(case.amount_disputed),
        settled=settling,
    )
    timeline.record(recorded, incident=case.incident, actor=actor)
    if settling:
        _settle(case, actor=actor)
    return credit


def _settle(case: BillingCase, *, actor) -> None:
    case.settled_at = timezone.now()
    case.save(update_fields=["settled_at"])
    engagement = PartnerEngagement.objects.filter(incident_id=case.incident_id, partner_id=case.partner_id).first()
    if engagement is not None and engagement.partner_status != PartnerEngagement.PartnerStatus.RESOLVED:
        changes = {"partner_status": PartnerEngagement.PartnerStatus.RESOLVED}
        if engagement.acknowledged_at is None and engagement.first_notified_at is not None:
            changes["acknowledged_at"] = case.settled_at  # a credit note answers the dispute
        engagement_update(engagement=engagement, actor=actor, **changes)
    case.findings.exclude(state=CostFinding.State.RESOLVED).update(state=CostFinding.State.RESOLVED)


@transaction.atomic
def billing_case_amend(
    *, billing_case: BillingCase, amount_disputed=None, dispute_deadline: dt.date | None = None, actor
) -> BillingCase:
    """Correct the amount in dispute or the deadline; the timeline keeps both values of each change."""
    _require(actor, "costs.change_billingcase")
    case = _locked_case(billing_case)
    changes: dict[str, dict] = {}
    if amount_disputed is not None:
        amount = money(amount_disputed, field="amount_disputed")
        if amount < 0:
            raise ValidationError({"amount_disputed": _("The amount in dispute cannot be negative.")}, code="negative")
        if amount != case.amount_disputed:
            changes["amount_disputed"] = {"from": str(case.amount_disputed), "to": str(amount)}
            case.amount_disputed = amount
    if dispute_deadline is not None:
        if not isinstance(dispute_deadline, dt.date):
            raise ValidationError({"dispute_deadline": _("Enter a date.")}, code="invalid")
        if dispute_deadline < case.period:
            raise ValidationError(
                {"dispute_deadline": _("The deadline cannot come before the month billed.")}, code="deadline"
            )
        if dispute_deadline != case.dispute_deadline:
            changes["dispute_deadline"] = {
                "from": case.dispute_deadline.isoformat(),
                "to": dispute_deadline.isoformat(),
            }
            case.dispute_deadline = dispute_deadline
    if not changes:
        return case
    case.full_clean()
    case.save(update_fields=[*changes])
    amended = BillingCaseAmended(billing_case=case.pk, currency=case.currency, changes=changes)
    timeline.record(amended, incident=case.incident, actor=actor)
    return case
