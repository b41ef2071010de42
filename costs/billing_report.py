"""What billing cases recovered, by partner and month billed, and the partners' billing accuracy.

`recovery_report` is the selector of the recovered-amount page, its CSV and the API: one row per
partner, month billed and currency with

- overbilled: Σ amount at stake of the findings disputed on billing cases (by the findings' month),
- disputed: Σ amount in dispute of those cases (the desk may have corrected it),
- recovered: Σ credit notes recorded on them,
- open balance: Σ over the cases not settled yet of (amount in dispute − credited), never below 0.

`billing_accuracy` is the partner scorecard's column (registered by `costs.apps`): for the calendar
months whose first day lies in the report's range, 1 − overbilled / billed fees, where billed fees
are every fee of the partner's imported billing of those months (fee records and invoice lines).
Every sum is a PostgreSQL numeric sum.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection
from django.utils import formats
from django.utils.translation import gettext as _

from costs.checks import month_bounds

CENT = Decimal("0.01")


@dataclass(frozen=True)
class RecoveryRow:
    partner_id: int
    partner: str
    period: dt.date
    currency: str
    cases: int
    findings: int
    overbilled: Decimal
    disputed: Decimal
    recovered: Decimal
    open_balance: Decimal

    @property
    def recovered_share(self) -> Decimal | None:
        """Recovered as a percentage of disputed (one decimal); None when nothing is disputed."""
        if not self.disputed:
            return None
        return (self.recovered / self.disputed * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


RECOVERY_SQL = """
WITH cases AS (
    SELECT c.id, c.partner_id, c.period, c.currency, c.amount_disputed, c.settled_at,
           COALESCE((SELECT sum(n.amount) FROM costs_creditnote n WHERE n.billing_case_id = c.id), 0) AS credited
    FROM costs_billingcase c
    WHERE c.period BETWEEN %(start)s AND %(end)s
      AND (%(partner)s::bigint IS NULL OR c.partner_id = %(partner)s::bigint)
),
findings AS (
    SELECT f.billing_case_id, count(*) AS findings, sum(f.amount) AS overbilled
    FROM costs_costfinding f JOIN cases ON cases.id = f.billing_case_id
    GROUP BY f.billing_case_id
)
SELECT cases.partner_id, p.name AS partner, cases.period, cases.currency,
       count(*) AS cases,
       COALESCE(sum(findings.findings), 0)::bigint AS findings,
       COALESCE(sum(findings.overbilled), 0) AS overbilled,
       sum(cases.amount_disputed) AS disputed,
       sum(cases.credited) AS recovered,
       COALESCE(sum(GREATEST(cases.amount_disputed - cases.credited, 0)) FILTER (WHERE cases.settled_at IS NULL), 0)
           AS open_balance
FROM cases
JOIN partners_partner p ON p.id = cases.partner_id
LEFT JOIN findings ON findings.billing_case_id = cases.id
GROUP BY cases.partner_id, p.name, cases.period, cases.currency
ORDER BY cases.period DESC, p.name, cases.currency
"""


def recovery_report(*, start: dt.date, end: dt.date, partner=None) -> list[RecoveryRow]:
    """Rows of the months billed from `start`'s month to `end`'s month (inclusive), one partner or all."""
    params = {
        "start": start.replace(day=1),
        "end": end.replace(day=1),
        "partner": getattr(partner, "pk", partner),
    }
    with connection.cursor() as cursor:
        cursor.execute(RECOVERY_SQL, params)
        names = [column.name for column in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    money = ("overbilled", "disputed", "recovered", "open_balance")
    return [RecoveryRow(**{**row, **{name: Decimal(row[name]).quantize(CENT) for name in money}}) for row in rows]


def recovery_totals(rows: list[RecoveryRow]) -> list[dict]:
    """The rows' sums per currency (a page's footer)."""
    totals: dict[str, dict] = {}
    for row in rows:
        total = totals.setdefault(
            row.currency,
            {"currency": row.currency, "overbilled": Decimal(0), "disputed": Decimal(0), "recovered": Decimal(0)}
            | {"open_balance": Decimal(0)},
        )
        for name in ("overbilled", "disputed", "recovered", "open_balance"):
            total[name] += getattr(row, name)
    return [totals[currency] for currency in sorted(totals)]


# --- billing accuracy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accuracy:
    partner_id: int
    currency: str
    billed: Decimal
    overbilled: Decimal

    @property
    def accuracy(self) -> Decimal | None:
        """1 − overbilled / billed, as a percentage with two decimals; None without billing."""
        if not self.billed:
            return None
        return ((1 - self.overbilled / self.billed) * 100).quantize(CENT, rounding=ROUND_HALF_UP)


ACCURACY_SQL = """
WITH billed AS (
    SELECT partner_id, currency,
           sum(interchange_fee + scheme_fee + markup_fee + cross_border_fee + fx_fee + other_fee) AS billed
    FROM costs_feerecord
    WHERE txn_date BETWEEN %(start)s AND %(end)s AND partner_id = ANY(%(partners)s)
    GROUP BY partner_id, currency
    UNION ALL
    SELECT partner_id, currency, sum(amount)
    FROM costs_invoiceline
    WHERE period_start BETWEEN %(start)s AND %(end)s AND partner_id = ANY(%(partners)s)
    GROUP BY partner_id, currency
),
overbilled AS (
    SELECT partner_id, currency, sum(amount) AS overbilled
    FROM costs_costfinding
    WHERE billing_case_id IS NOT NULL AND period BETWEEN %(start)s AND %(end)s AND partner_id = ANY(%(partners)s)
    GROUP BY partner_id, currency
),
keys AS (SELECT partner_id, currency FROM billed UNION SELECT partner_id, currency FROM overbilled)
SELECT k.partner_id, k.currency,
       COALESCE((SELECT sum(b.billed) FROM billed b WHERE b.partner_id = k.partner_id AND b.currency = k.currency), 0)
           AS billed,
       COALESCE((SELECT o.overbilled FROM overbilled o
                 WHERE o.partner_id = k.partner_id AND o.currency = k.currency), 0)
           AS overbilled
FROM keys k
ORDER BY k.partner_id, k.currency
"""


def accuracy_months(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date] | None:
    """[first day, last day] of the calendar months whose first day lies in [start, end]; None if none does."""
    first = start if start.day == 1 else month_bounds(start)[1] + dt.timedelta(days=1)
    if first > end:
        return None
    return first, month_bounds(end)[1]


def billing_accuracy(*, start: dt.date, end: dt.date, partner_ids: list[int]) -> dict[int, list[Accuracy]]:
    """{partner id: [Accuracy per currency]} over the whole months starting in [start, end]."""
    months = accuracy_months(start, end)
    if months is None or not partner_ids:
        return {}
    params = {"start": months[0], "end": months[1], "partners": list(partner_ids)}
    with connection.cursor() as cursor:
        cursor.execute(ACCURACY_SQL, params)
        found: dict[int, list[Accuracy]] = {}
        for partner_id, currency, billed, overbilled in cursor.fetchall():
            found.setdefault(partner_id, []).append(
                Accuracy(partner_id=partner_id, currency=currency, billed=billed, overbilled=overbilled)
            )
    return found


def accuracy_text(item: Accuracy) -> str:
    """ "99.30 % (MXN 700.00 overbilled of 100,000.00 billed)" in the active language."""
    if item.accuracy is None:
        return "—"
    return _("%(accuracy)s %% (%(currency)s %(overbilled)s overbilled of %(billed)s billed)") % {
        "accuracy": formats.number_format(item.accuracy, 2, use_l10n=True),
        "currency": item.currency,
        "overbilled": formats.number_format(
            Decimal(item.overbilled).quantize(CENT), 2, use_l10n=True, force_grouping=True
        ),
        "billed": formats.number_format(Decimal(item.billed).quantize(CENT), 2, use_l10n=True, force_grouping=True),
    }


def billing_accuracy_column(filters, partner_ids: list[int]) -> dict[int, str]:
    """The scorecard column (`cases.sla.reports.extensions`): each partner's accuracy per currency."""
    found = billing_accuracy(start=filters.start, end=filters.end, partner_ids=partner_ids)
    return {pk: "; ".join(accuracy_text(item) for item in items) for pk, items in found.items()}
