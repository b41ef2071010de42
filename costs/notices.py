"""The billing-discrepancy notice: what a billing case adds to the partner's notice, and its file.

Registered with `cases.correspondence.extensions` by `CostsConfig.ready()` (`cases` may not import
`costs`). For an incident with a billing case, the case's partner's notices get `billing` (the
disputed findings as table rows, their totals, the rate-card versions, the amount in dispute and the
deadline) and a notice of kind `billing_discrepancy` carries a CSV of the findings' sample
references. Amounts are exact Decimals, formatted "17,500.00" (es-MX and English alike), totals
with their currency ("MXN 17,500.00"); dates are ISO. Values that come from partner files (cohort
keys, references) are made inert: one line, no table separators or markup in the text, and no
spreadsheet formula in the CSV.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import ROUND_HALF_UP, Decimal

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cases.correspondence.extensions import (
    AttachmentProvider,
    ContextProvider,
    NoticeFile,
    register_attachment_provider,
    register_context_provider,
)
from cases.models.incident import Category
from costs.explain import cohort_text
from costs.matching import expected_fee
from costs.models import FEE_COLUMNS, MATCH_KEYS, BillingCase, CostFinding, FeeRecord
from partners.models import NoticeTemplate
from partners.notices import EMPTY_BILLING
from payhealth.pan import masked

KIND = NoticeTemplate.Kind.BILLING_DISCREPANCY
CENT = Decimal("0.01")
MAX_VALUE_CHARS = 80
# Characters that mean something to a Markdown or HTML reader of a table row; escaped with "\".
_MARKUP = re.compile(r"([\\`*_\[\]<>|#])")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def money(value: Decimal | None) -> str:
    """ "17,500.00": exact, two decimals rounded half up, the same for es-MX and English."""
    if value is None:
        return ""
    return f"{Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


def with_currency(currency: str, value: Decimal | None) -> str:
    return f"{currency} {money(value)}" if value is not None else ""


def bps(value: Decimal | None) -> str:
    """Basis points with two decimals, or all four when the rate needs them: "150.00", "0.0125"."""
    if value is None:
        return ""
    value = Decimal(value)
    if value == value.quantize(CENT):
        return f"{value:,.2f}"
    return f"{value.normalize():,f}"


def inert(value) -> str:
    """A partner's value as one plain line of a text table: no line breaks, no markup, bounded."""
    text = " ".join(str(value).split())[:MAX_VALUE_CHARS]
    return _MARKUP.sub(r"\\\1", masked(text))


def _cohort_text(cohort: dict) -> str:
    return cohort_text(cohort, clean=inert)


def _ordered(cohort: dict) -> list[tuple[str, str]]:
    order = {key: n for n, key in enumerate(MATCH_KEYS)}
    return sorted(((str(k), str(v)) for k, v in (cohort or {}).items()), key=lambda kv: (order.get(kv[0], 99), kv[0]))


def _findings(case: BillingCase) -> list[CostFinding]:
    return list(
        case.findings.select_related("rate_card", "rule", "partner").order_by("period", "kind", "-amount", "id")
    )


def billing_context(case: BillingCase, language: str) -> dict:
    """`billing` of the case's partner's notices, in `language`."""
    findings = _findings(case)
    currency = case.currency
    with translation.override(language):
        rows = [
            {
                "kind": str(finding.get_kind_display()),
                "cohort": _cohort_text(finding.cohort),
                "fee_type": str(finding.get_fee_type_display()) if finding.fee_type else inert(finding.fee_code),
                "transactions": f"{finding.count:,}",
                "volume": money(finding.volume),
                "expected_bps": bps(finding.expected_bps),
                "billed_bps": bps(finding.billed_bps),
                "expected": money(finding.expected_amount),
                "billed": money(finding.billed_amount),
                "difference": money(finding.amount),
                "cause": " ".join(finding.explanation().split()),
                "rate_card_version": finding.rate_card_version or "",
            }
            for finding in findings
        ]
        cards = {finding.rate_card.pk: finding.rate_card for finding in findings if finding.rate_card_id}
    total = {
        name: sum((getattr(finding, field) or Decimal(0) for finding in findings), Decimal(0))
        for name, field in (("expected", "expected_amount"), ("billed", "billed_amount"), ("difference", "amount"))
    }
    return {
        "present": True,
        "currency": currency,
        "period": f"{case.period:%Y-%m}",
        "rows": rows,
        "rate_cards": [
            {
                "version": card.version,
                "effective_from": card.effective_from.isoformat(),
                "effective_to": card.effective_to.isoformat() if card.effective_to else "",
            }
            for card in sorted(cards.values(), key=lambda card: card.version)
        ],
        "total_expected": with_currency(currency, total["expected"]),
        "total_billed": with_currency(currency, total["billed"]),
        "total_difference": with_currency(currency, total["difference"]),
        "amount_disputed": with_currency(currency, case.amount_disputed),
        "deadline": case.dispute_deadline.isoformat(),
        "attachment": attachment_name(case, language) if _has_references(findings) else "",
    }


def _has_references(findings: list[CostFinding]) -> bool:
    return any(finding.sample_references for finding in findings)


def attachment_name(case: BillingCase, language: str) -> str:
    stem = "aclaracion-de-cobro" if language == "es" else "billing-discrepancy"
    return f"{stem}-{case.incident.reference}.csv"


def _cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: never a formula, never a card number."""
    text = masked(" ".join(str(value).split()))
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def references_csv(case: BillingCase, language: str) -> bytes:
    """The disputed findings' sample references: one line each, with the finding's kind, cohort and
    fee type, and that transaction's expected and billed fee when its fee record is on file."""
    findings = _findings(case)
    references = {reference for finding in findings for reference in finding.sample_references}
    records: dict[str, FeeRecord] = {}
    for record in FeeRecord.objects.filter(partner_id=case.partner_id, reference__in=references).order_by("id"):
        records.setdefault(record.reference, record)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    with translation.override(language):
        writer.writerow(
            [_("reference"), _("finding"), _("cohort"), _("fee type"), _("currency"), _("expected"), _("billed")]
        )
        for finding in findings:
            kind = str(finding.get_kind_display())
            cohort = "; ".join(f"{key}={value}" for key, value in _ordered(finding.cohort))
            fee_type = str(finding.get_fee_type_display()) if finding.fee_type else finding.fee_code
            for reference in finding.sample_references:
                expected, billed = _fees(finding, records.get(reference))
                writer.writerow(
                    [_cell(reference), _cell(kind), _cell(cohort), _cell(fee_type), finding.currency, expected, billed]
                )
    return out.getvalue().encode("utf-8")


def _fees(finding: CostFinding, record: FeeRecord | None) -> tuple[str, str]:
    """(expected, billed) of one transaction, "" when its record or the finding's rate is unknown."""
    if record is None or finding.fee_type not in FEE_COLUMNS:
        return "", ""
    billed = getattr(record, FEE_COLUMNS[finding.fee_type])
    if finding.rule_id is not None:
        expected = expected_fee(finding.rule, volume=record.amount, count=1)
    elif finding.expected_bps is not None:
        expected = record.amount * finding.expected_bps / Decimal(10000)
    else:
        return "", money(billed).replace(",", "")
    return money(expected).replace(",", ""), money(billed).replace(",", "")


# --- the extension points ---------------------------------------------------------------------


def _read(incident, language: str) -> dict[int, dict]:
    case = BillingCase.objects.filter(incident=incident).select_related("incident").first()
    if case is None:
        return {}
    return {case.partner_id: billing_context(case, language)}


def _files(engagement, kind: str, language: str) -> list[NoticeFile]:
    case = (
        BillingCase.objects.filter(incident_id=engagement.incident_id, partner_id=engagement.partner_id)
        .select_related("incident")
        .first()
    )
    if case is None or not _has_references(_findings(case)):
        return []
    return [NoticeFile(attachment_name(case, language), "text/csv; charset=utf-8", references_csv(case, language))]


def register() -> None:
    register_context_provider(
        ContextProvider(
            name="billing",
            read=_read,
            empty=lambda: dict(EMPTY_BILLING),
            categories=(Category.COST_RATE,),
            required_for=(KIND,),
            missing_reason=gettext_lazy("%(partner)s has no billing case on this incident."),
        )
    )
    register_attachment_provider(
        AttachmentProvider(name="billing_references", kinds=(KIND,), make=_files, categories=(Category.COST_RATE,))
    )
