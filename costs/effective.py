"""What a partner's billing costs in basis points, billed against expected: the partner × month
matrix and the effective-bps series of the charts.

Both are one set-based query over the checks' own billing facts and pricing (`costs.checks.FACTS`
and `PRICED`): only billing a rule of an approved rate card prices counts. Per fee type, billed bps
= billed ÷ priced volume × 10⁴ and expected bps = expected ÷ priced volume × 10⁴; a bucket's figures
are the sums of its fee types' (the all-in cost of a transaction that bills interchange and a scheme
fee is both rates). Δbps = billed bps − expected bps. A fee record counts on its day, an invoice line
on the first day of its period.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count, Sum

from costs.checks import FACTS, PRICED, RECORDS, _rows, months_back
from costs.models import CostFinding

BP = Decimal("0.01")
CENT = Decimal("0.01")
MAX_MONTHS = 36
COHORT_KEYS = ("network", "funding")  # the priced charts split by these (invoice lines name no merchant)


def month_end(first: date) -> date:
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def months_between(first: date, last: date) -> list[date]:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = months_back(month, -1)
    return months


def default_range(today: date | None = None, months: int = 12) -> tuple[date, date]:
    """The last `months` months, the current one included."""
    last = (today or date.today()).replace(day=1)
    return months_back(last, months - 1), last


def _bucket_sql(bucket: str, where: str) -> str:
    return f"""
    WITH {FACTS}, {PRICED},
    by_type AS (
        SELECT partner_id, {bucket} AS bucket, currency, fee_type, sum(n) AS n, sum(v) AS v, sum(b) AS b,
               sum(e) AS e
        FROM priced
        WHERE {where}
        GROUP BY partner_id, {bucket}, currency, fee_type
    )
    SELECT partner_id, bucket, currency,
           sum(b / v * 10000) AS billed_bps, sum(e / v * 10000) AS expected_bps,
           sum(b) AS billed, sum(e) AS expected, max(n) AS count, max(v) AS volume
    FROM by_type WHERE v > 0
    GROUP BY partner_id, bucket, currency
    ORDER BY partner_id, currency, bucket
    """


def priced_buckets(
    *, start: date, end: date, partner=None, by: str = "month", network: str = "", funding: str = ""
) -> list[dict]:
    """Billed and expected bps and money of priced billing per partner, currency and month (or day),
    in [start, end]; optionally one network and/or funding cohort."""
    bucket = "date_trunc('month', d0)::date" if by == "month" else "d0"
    where = ["TRUE"]
    params = {"start": start, "end": end, "period": start, "partner": getattr(partner, "pk", partner)}
    if network:
        where.append("network = %(network)s")
        params["network"] = network
    if funding:
        where.append("funding = %(funding)s")
        params["funding"] = funding
    return _rows(_bucket_sql(bucket, " AND ".join(where)), params)


def _q(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(BP)


@dataclass
class Cell:
    month: date
    billed_bps: Decimal | None = None
    expected_bps: Decimal | None = None
    billed: Decimal | None = None
    expected: Decimal | None = None
    count: int = 0
    at_stake: Decimal = Decimal(0)
    findings: int = 0

    @property
    def delta_bps(self) -> Decimal | None:
        if self.billed_bps is None or self.expected_bps is None:
            return None
        return self.billed_bps - self.expected_bps

    @property
    def tone(self) -> str:
        """The cell's colour class by the size of Δbps: none, small (< 2), medium (< 10), large."""
        delta = self.delta_bps
        if delta is None:
            return "none"
        size = abs(delta)
        sign = "over" if delta > 0 else "under"
        if size < Decimal("0.5"):
            return "even"
        if size < 2:
            return f"{sign}-1"
        if size < 10:
            return f"{sign}-2"
        return f"{sign}-3"


@dataclass
class MatrixRow:
    partner: object
    currency: str
    cells: list[Cell] = field(default_factory=list)


@dataclass
class Matrix:
    first: date
    last: date
    months: list[date]
    rows: list[MatrixRow]


def cost_matrix(*, user, first: date, last: date) -> Matrix:
    """Rows partners (one per billing currency), columns the months from `first` to `last`; each cell
    the month's Δbps over priced billing, the amount at stake of its findings (dismissed ones left
    out) and their number. Two queries: the pricing, and the findings' sums."""
    from costs.findings import cost_findings_visible_to
    from partners.models import Partner

    months = months_between(first, last)
    priced = priced_buckets(start=first, end=month_end(last)) if user.has_perm("costs.view_costfinding") else []
    found = (
        cost_findings_visible_to(user=user)
        .filter(period__gte=first, period__lte=last)
        .exclude(state=CostFinding.State.DISMISSED)
        .order_by()
        .values("partner_id", "period", "currency")
        .annotate(amount=Sum("amount"), findings=Count("id"))
    )
    cells: dict[tuple, Cell] = {}
    for row in priced:
        cell = cells.setdefault((row["partner_id"], row["currency"], row["bucket"]), Cell(month=row["bucket"]))
        cell.billed_bps, cell.expected_bps = _q(row["billed_bps"]), _q(row["expected_bps"])
        cell.billed, cell.expected = Decimal(row["billed"]).quantize(CENT), Decimal(row["expected"]).quantize(CENT)
        cell.count = int(row["count"])
    for row in found:
        cell = cells.setdefault((row["partner_id"], row["currency"], row["period"]), Cell(month=row["period"]))
        cell.at_stake, cell.findings = row["amount"], row["findings"]
    keys = sorted({(partner_id, currency) for partner_id, currency, _month in cells})
    partners = Partner.objects.in_bulk({partner_id for partner_id, _currency in keys})
    rows = [
        MatrixRow(
            partner=partners[partner_id],
            currency=currency,
            cells=[cells.get((partner_id, currency, month)) or Cell(month=month) for month in months],
        )
        for partner_id, currency in keys
    ]
    rows.sort(key=lambda row: (row.partner.name.lower(), row.currency))
    return Matrix(first=first, last=last, months=months, rows=rows)


@dataclass
class SeriesPoint:
    at: date
    billed_bps: Decimal | None
    expected_bps: Decimal | None
    billed: Decimal | None = None
    expected: Decimal | None = None
    count: int = 0

    @property
    def delta_bps(self) -> Decimal | None:
        if self.billed_bps is None or self.expected_bps is None:
            return None
        return self.billed_bps - self.expected_bps


@dataclass
class Series:
    partner: object
    currency: str
    cohort: dict
    by: str
    points: list[SeriesPoint]


def cost_series(
    *, partner, first: date, last: date, by: str = "month", network: str = "", funding: str = ""
) -> list[Series]:
    """A partner's billed and expected bps per month from `first` to `last` (whole months) or per day
    (`by="day"`, the days of [first, last]), one series per currency; a bucket without priced billing
    is a gap."""
    end = month_end(last) if by == "month" else last
    rows = priced_buckets(start=first, end=end, partner=partner, by=by, network=network, funding=funding)
    if by == "month":
        steps = months_between(first.replace(day=1), last.replace(day=1))
    else:
        steps = [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]
    by_currency: dict[str, dict] = {}
    for row in rows:
        by_currency.setdefault(row["currency"], {})[row["bucket"]] = row
    cohort = {key: value for key, value in (("network", network), ("funding", funding)) if value}
    out = []
    for currency, buckets in sorted(by_currency.items()):
        points = []
        for step in steps:
            row = buckets.get(step)
            if row is None:
                points.append(SeriesPoint(at=step, billed_bps=None, expected_bps=None))
                continue
            points.append(
                SeriesPoint(
                    at=step,
                    billed_bps=_q(row["billed_bps"]),
                    expected_bps=_q(row["expected_bps"]),
                    billed=Decimal(row["billed"]).quantize(CENT),
                    expected=Decimal(row["expected"]).quantize(CENT),
                    count=int(row["count"]),
                )
            )
        out.append(Series(partner=partner, currency=currency, cohort=cohort, by=by, points=points))
    return out


# The daily effective cost of fee records, billed only (no pricing): per partner and currency, and per
# (partner, merchant, currency) for records that name their merchant, in one pass (GROUPING SETS).
# A transaction's billed fee is the sum of its fee types' first copies (`RECORDS`, as the checks count
# them); its volume counts once, and only when at least one of its fees is a first copy.
DAILY_BPS = f"""
WITH {RECORDS},
txn AS (
    SELECT id, partner_id, merchant, currency, txn_date, max(amount) AS amount, sum(fee) AS fee
    FROM records WHERE copy = 1
    GROUP BY id, partner_id, merchant, currency, txn_date
)
SELECT partner_id, COALESCE(merchant, '') AS merchant, GROUPING(merchant) = 1 AS whole_partner,
       currency, txn_date AS day, count(*) AS count, sum(amount) AS volume, sum(fee) AS billed
FROM txn
WHERE %(merchant)s = '' OR merchant = %(merchant)s
GROUP BY GROUPING SETS ((partner_id, currency, txn_date), (partner_id, merchant, currency, txn_date))
HAVING (GROUPING(merchant) = 1 AND %(merchant)s = '')
    OR (GROUPING(merchant) = 0 AND merchant <> '' AND (%(by_merchant)s OR merchant = %(merchant)s))
ORDER BY partner_id, merchant, currency, txn_date
"""


def daily_bps(*, start: date, end: date, partner=None, merchant: str = "", by_merchant: bool = False) -> list[dict]:
    """Billed fees, volume and transactions of fee records per day of [start, end], duplicates left out:
    one row per (partner, currency, day) with merchant "" (`whole_partner`), and, with `by_merchant`,
    one per (partner, merchant, currency, day) for records naming their merchant; with `merchant`,
    only that merchant's rows. Effective bps = billed ÷ volume × 10⁴."""
    return _rows(
        DAILY_BPS, daily_bps_params(start=start, end=end, partner=partner, merchant=merchant, by_merchant=by_merchant)
    )


def daily_bps_params(*, start: date, end: date, partner=None, merchant: str = "", by_merchant: bool = False) -> dict:
    """The parameters of `DAILY_BPS` (a check reads the query joined to its thresholds)."""
    return {
        "start": start,
        "end": end,
        "partner": getattr(partner, "pk", partner),
        "merchant": merchant or "",
        "by_merchant": bool(by_merchant),
    }


def merchant_series(*, partner, merchant: str, first: date, last: date) -> list[Series]:
    """A merchant's effective (billed) bps per day of [first, last] at a partner, one series per
    currency; fee records price nothing per merchant, so the expected bps are gaps."""
    rows = daily_bps(start=first, end=last, partner=partner, merchant=merchant)
    steps = [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]
    by_currency: dict[str, dict] = {}
    for row in rows:
        by_currency.setdefault(row["currency"], {})[row["day"]] = row
    out = []
    for currency, days in sorted(by_currency.items()):
        points = []
        for step in steps:
            row = days.get(step)
            if row is None or not row["volume"]:
                points.append(SeriesPoint(at=step, billed_bps=None, expected_bps=None))
                continue
            points.append(
                SeriesPoint(
                    at=step,
                    billed_bps=_q(row["billed"] / row["volume"] * 10000),
                    expected_bps=None,
                    billed=Decimal(row["billed"]).quantize(CENT),
                    count=int(row["count"]),
                )
            )
        out.append(Series(partner=partner, currency=currency, cohort={"merchant": merchant}, by="day", points=points))
    return out
