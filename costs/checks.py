"""The cost checks: set-based SQL over a month of billing, in Decimal (PostgreSQL numeric).

`costs_check(partner=None, period=…)` runs every check for the month holding `period` and replaces
that month's open findings (for the partner, or for every partner): running it twice gives the
same findings, and a finding the desk already confirmed, dismissed or resolved is not raised again.
docs/costs.md gives each check's formula.

Billing facts: each fee record gives one fact per fee type it bills (a copy of a reference and fee
type already billed counts once: DUPLICATE_FEE reports the copies), each mapped invoice line one
fact over its period. Facts are priced by the rate card in force: a fact whose days span a rule's
effective date is split at that date by days, so the expected fee follows the rule of each day.
A run computes the month's facts once (temporary tables) for the checks of that month.
"""

from __future__ import annotations

import calendar
import hashlib
import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from django.db import connection, transaction

from costs.events import cost_findings_created
from costs.models import MATCH_KEYS, CostFinding
from monitoring.detection.core import bh, upper_tail_overdispersed

HIGH_FROM = Decimal(500_000)
MEDIUM_FROM = Decimal(50_000)
SAMPLES = 10
PREVIOUS_PERIODS = 3
# Month-to-month over-dispersion of a downgrade share (intra-class correlation): a share moves more
# between months than a binomial count would, and the test must not flag every small wobble.
DOWNGRADE_RHO = 0.0001
DEFAULTS = {
    "deviation_bps": Decimal(2),
    "deviation_amount": Decimal(5000),
    "deviation_count": 100,
    "regression_bps": Decimal(3),
    "downgrade_pp": Decimal(1),
    "downgrade_q": 0.001,
    "unknown_fee_amount": Decimal(1000),
    "spike_bps": Decimal(5),
}
# COST_SPIKE: the last SPIKE_WINDOW days of the month against the SPIKE_BASELINE days before them.
SPIKE_WINDOW = 7
SPIKE_BASELINE = 28
SPIKE_MIN_WINDOW_DAYS = 5  # days with billing needed in each part for the test to run
SPIKE_MIN_BASELINE_DAYS = 14
SPIKE_Q = 0.001
KEYS = ", ".join(MATCH_KEYS)


def month_bounds(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    return start, start.replace(day=calendar.monthrange(start.year, start.month)[1])


def months_back(start: date, n: int) -> date:
    month = start.year * 12 + start.month - 1 - n
    return date(month // 12, month % 12 + 1, 1)


def severity_of(amount: Decimal) -> str:
    amount = abs(amount)
    if amount >= HIGH_FROM:
        return CostFinding.Severity.HIGH
    if amount >= MEDIUM_FROM:
        return CostFinding.Severity.MEDIUM
    return CostFinding.Severity.LOW


FEE_VALUES = ", ".join(
    f"('{fee_type}', r.{column})"
    for fee_type, column in (
        ("interchange", "interchange_fee"),
        ("scheme", "scheme_fee"),
        ("markup", "markup_fee"),
        ("cross_border", "cross_border_fee"),
        ("fx", "fx_fee"),
        ("other", "other_fee"),
    )
)

# Billing facts of [start, end]: (partner, first day, last day, cohort keys, currency, fee type,
# transactions, volume, billed). Copies of a (reference, fee type) already billed are left out.
RECORDS = f"""
records AS (
    SELECT r.id, r.partner_id, r.reference, r.txn_date, {", ".join("r." + k for k in MATCH_KEYS)},
           r.merchant, r.currency, r.amount, f.fee_type, f.fee,
           row_number() OVER (PARTITION BY r.partner_id, r.reference, f.fee_type ORDER BY r.id) AS copy
    FROM costs_feerecord r
    CROSS JOIN LATERAL (VALUES {FEE_VALUES}) AS f (fee_type, fee)
    WHERE r.txn_date BETWEEN %(start)s AND %(end)s AND f.fee <> 0
      AND (%(partner)s::bigint IS NULL OR r.partner_id = %(partner)s::bigint)
)"""
FACTS_OF_RECORDS = f"""
facts AS (
    SELECT partner_id, txn_date AS d0, txn_date AS d1, {KEYS}, currency, fee_type,
           count(*)::numeric AS count, sum(amount) AS volume, sum(fee) AS billed
    FROM records WHERE copy = 1
    GROUP BY partner_id, txn_date, {KEYS}, currency, fee_type
    UNION ALL
    SELECT partner_id, period_start, period_end, {KEYS}, currency, fee_type,
           count::numeric, volume, amount
    FROM costs_invoiceline
    WHERE period_start BETWEEN %(start)s AND %(end)s AND fee_type <> ''
      AND (%(partner)s::bigint IS NULL OR partner_id = %(partner)s::bigint)
)"""
FACTS = RECORDS + "," + FACTS_OF_RECORDS
# The month's facts, computed once per run (`_month_facts`) and read by the checks of that month.
MONTH_FACTS = "records AS (SELECT * FROM costs_run_records), facts AS (SELECT * FROM costs_run_facts)"

# Each fact priced piece by piece: one piece per approved rate card overlapping its days, by the
# most specific matching rule of that card; volume, count and billed amount shared by days.
PRICED = """
pieces AS (
    SELECT f.*, c.id AS card_id, c.version, rule.id AS rule_id, rule.rate_bps, rule.fixed_fee,
           rule.minimum_fee, rule.cap_fee,
           ((LEAST(f.d1, COALESCE(c.effective_to - 1, f.d1)) - GREATEST(f.d0, c.effective_from) + 1)::numeric
             / (f.d1 - f.d0 + 1)) AS share
    FROM facts f
    JOIN costs_ratecard c ON c.partner_id = f.partner_id AND c.state = 'approved'
         AND c.effective_from <= f.d1 AND (c.effective_to IS NULL OR c.effective_to > f.d0)
    CROSS JOIN LATERAL (
        SELECT * FROM costs_feerule fr
        WHERE fr.rate_card_id = c.id AND fr.fee_type = f.fee_type
          AND (fr.network = '' OR fr.network = f.network) AND (fr.funding = '' OR fr.funding = f.funding)
          AND (fr.product = '' OR fr.product = f.product) AND (fr.region = '' OR fr.region = f.region)
          AND (fr.giro = '' OR fr.giro = f.giro) AND (fr.entry_mode = '' OR fr.entry_mode = f.entry_mode)
          AND (fr.program_code = '' OR fr.program_code = f.program_code)
        ORDER BY fr.specificity DESC, fr.priority DESC, fr.id
        LIMIT 1
    ) rule
),
priced AS (
    SELECT p.*, p.count * p.share AS n, p.volume * p.share AS v, p.billed * p.share AS b,
           LEAST(GREATEST(p.volume * p.share * p.rate_bps / 10000 + p.count * p.share * p.fixed_fee,
                          COALESCE(p.count * p.share * p.minimum_fee, 0)),
                 COALESCE(p.count * p.share * p.cap_fee, 'Infinity'::numeric)) AS e
    FROM pieces p
)"""

THRESHOLDS = """
LEFT JOIN costs_costthresholds t ON t.partner_id = g.partner_id
"""


def _rows(sql: str, params: dict) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _threshold(row: dict, name: str):
    value = row.get(f"t_{name}")
    return DEFAULTS[name] if value is None else value


@dataclass
class CheckResult:
    period: date
    findings: int  # the month's open findings this run found (kept or created)
    by_kind: dict[str, int]
    created: int = 0  # of which new (each sent as a `cost_finding.created` webhook)


def _rate_deviation(params) -> list[dict]:
    sql = f"""
    WITH {MONTH_FACTS}, {PRICED},
    g AS (
        SELECT partner_id, {KEYS}, currency, fee_type,
               sum(n) AS count, sum(v) AS volume, sum(b) AS billed, sum(e) AS expected,
               (array_agg(rule_id ORDER BY d1 DESC, rule_id))[1] AS rule_id,
               (array_agg(card_id ORDER BY d1 DESC, card_id))[1] AS card_id,
               (array_agg(version ORDER BY d1 DESC, card_id))[1] AS version,
               array_agg(DISTINCT rule_id) AS rules
        FROM priced
        WHERE NOT (fee_type = 'interchange' AND giro IN (SELECT code FROM costs_giro WHERE zero_rated))
        GROUP BY partner_id, {KEYS}, currency, fee_type
    )
    SELECT g.*, t.deviation_bps AS t_deviation_bps, t.deviation_amount AS t_deviation_amount,
           t.deviation_count AS t_deviation_count
    FROM g {THRESHOLDS}
    WHERE g.volume > 0
    """
    out = []
    for row in _rows(sql, params):
        delta = row["billed"] - row["expected"]
        billed_bps = row["billed"] / row["volume"] * 10000
        expected_bps = row["expected"] / row["volume"] * 10000
        if (
            abs(billed_bps - expected_bps) >= _threshold(row, "deviation_bps")
            and abs(delta) >= _threshold(row, "deviation_amount")
            and row["count"] >= _threshold(row, "deviation_count")
        ):
            out.append(
                {
                    "kind": CostFinding.Kind.RATE_DEVIATION,
                    **_cohort(row),
                    "rate_card_id": row["card_id"],
                    "rule_id": row["rule_id"],
                    "rate_card_version": row["version"],
                    "count": row["count"],
                    "volume": row["volume"],
                    "expected_bps": expected_bps,
                    "billed_bps": billed_bps,
                    "expected_amount": row["expected"],
                    "billed_amount": row["billed"],
                    "amount": delta,
                    "details": {"rules": sorted(row["rules"])},
                }
            )
    return out


def _cohort(row: dict) -> dict:
    return {
        "partner_id": row["partner_id"],
        "cohort": {key: row[key] for key in MATCH_KEYS if row.get(key)},
        "fee_type": row.get("fee_type") or "",
        "currency": row["currency"],
    }


def _cost_regression(params, start: date) -> list[dict]:
    first = months_back(start, PREVIOUS_PERIODS)
    sql = f"""
    WITH {FACTS},
    monthly AS (
        SELECT partner_id, {KEYS}, currency, fee_type, date_trunc('month', d0)::date AS month,
               sum(count) AS count, sum(volume) AS volume, sum(billed) AS billed
        FROM facts GROUP BY partner_id, {KEYS}, currency, fee_type, date_trunc('month', d0)
    ),
    g AS (
        SELECT cur.*, cur.billed / cur.volume * 10000 AS billed_bps,
               (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY (p.billed / p.volume * 10000)::float8)
                FROM monthly p
                WHERE p.month < %(period)s AND p.volume > 0 AND p.partner_id = cur.partner_id
                  AND p.currency = cur.currency AND p.fee_type = cur.fee_type
                  AND {" AND ".join(f"p.{k} = cur.{k}" for k in MATCH_KEYS)}) AS median_bps,
               (SELECT array_agg(round(p.billed / p.volume * 10000, 4) ORDER BY p.month)
                FROM monthly p
                WHERE p.month < %(period)s AND p.volume > 0 AND p.partner_id = cur.partner_id
                  AND p.currency = cur.currency AND p.fee_type = cur.fee_type
                  AND {" AND ".join(f"p.{k} = cur.{k}" for k in MATCH_KEYS)}) AS previous
        FROM monthly cur
        WHERE cur.month = %(period)s AND cur.volume > 0
          AND NOT EXISTS (
              SELECT 1 FROM costs_ratecard c
              WHERE c.partner_id = cur.partner_id AND c.state <> 'draft'
                AND c.effective_from > %(first)s AND c.effective_from <= %(end)s)
    )
    SELECT g.*, t.regression_bps AS t_regression_bps, t.deviation_amount AS t_deviation_amount,
           t.deviation_count AS t_deviation_count
    FROM g {THRESHOLDS}
    WHERE cardinality(g.previous) = {PREVIOUS_PERIODS}
    """
    out = []
    for row in _rows(sql, {**params, "start": first, "first": first}):
        median = Decimal(str(row["median_bps"])).quantize(Decimal("0.0001"))
        rise = row["billed_bps"] - median
        amount = (rise * row["volume"] / 10000).quantize(Decimal("0.01"))
        if (
            rise >= _threshold(row, "regression_bps")
            and amount >= _threshold(row, "deviation_amount")
            and row["count"] >= _threshold(row, "deviation_count")
        ):
            out.append(
                {
                    "kind": CostFinding.Kind.COST_REGRESSION,
                    **_cohort(row),
                    "count": row["count"],
                    "volume": row["volume"],
                    "expected_bps": median,
                    "billed_bps": row["billed_bps"],
                    "billed_amount": row["billed"],
                    "expected_amount": row["billed"] - amount,
                    "amount": amount,
                    "details": {"previous_bps": [str(v) for v in row["previous"]]},
                }
            )
    return out


def _downgrade_spike(params, start: date) -> list[dict]:
    first = months_back(start, PREVIOUS_PERIODS)
    sql = """
    WITH txn AS (
        SELECT r.partner_id, r.network, r.funding, r.currency, r.reference, r.interchange_fee,
               r.downgrade_reason <> '' AS downgraded, r.txn_date >= %(period)s AS current,
               row_number() OVER (PARTITION BY r.partner_id, r.reference ORDER BY r.id) AS copy
        FROM costs_feerecord r
        WHERE r.txn_date BETWEEN %(first)s AND %(end)s
          AND (%(partner)s::bigint IS NULL OR r.partner_id = %(partner)s::bigint)
    ),
    g AS (
        SELECT partner_id, network, funding, currency,
               count(*) FILTER (WHERE current) AS n, count(*) FILTER (WHERE current AND downgraded) AS k,
               count(*) FILTER (WHERE NOT current) AS n0, count(*) FILTER (WHERE NOT current AND downgraded) AS k0,
               avg(interchange_fee) FILTER (WHERE current AND downgraded) AS fee_down,
               avg(interchange_fee) FILTER (WHERE current AND NOT downgraded) AS fee_up,
               sum(interchange_fee) FILTER (WHERE current) AS billed,
               (array_agg(reference ORDER BY reference) FILTER (WHERE current AND downgraded))[1:10] AS samples
        FROM txn WHERE copy = 1
        GROUP BY partner_id, network, funding, currency
    )
    SELECT g.*, t.downgrade_pp AS t_downgrade_pp, t.downgrade_q AS t_downgrade_q
    FROM g LEFT JOIN costs_costthresholds t ON t.partner_id = g.partner_id
    WHERE g.n > 0 AND g.n0 > 0
    """
    rows = _rows(sql, {**params, "first": first})
    if not rows:
        return []
    n = np.array([r["n"] for r in rows], float)
    k = np.array([r["k"] for r in rows], float)
    p0 = np.array([r["k0"] / r["n0"] for r in rows], float)
    p = upper_tail_overdispersed(n, k, p0, np.full(len(rows), DOWNGRADE_RHO))
    q = bh(p, None)
    out = []
    for row, p_value, q_value in zip(rows, p, q, strict=True):
        share = Decimal(row["k"]) / Decimal(row["n"])
        base = Decimal(row["k0"]) / Decimal(row["n0"])
        rise_pp = (share - base) * 100
        if rise_pp < _threshold(row, "downgrade_pp") or q_value > _threshold(row, "downgrade_q"):
            continue
        excess = Decimal(row["k"]) - Decimal(row["n"]) * base
        step = (row["fee_down"] or Decimal(0)) - (row["fee_up"] or Decimal(0))
        amount = max(excess * step, Decimal(0)).quantize(Decimal("0.01"))
        out.append(
            {
                "kind": CostFinding.Kind.DOWNGRADE_SPIKE,
                "partner_id": row["partner_id"],
                "cohort": {key: row[key] for key in ("network", "funding") if row[key]},
                "fee_type": "interchange",
                "currency": row["currency"],
                "count": row["n"],
                "billed_amount": row["billed"],
                "amount": amount,
                "sample_references": list(row["samples"] or []),
                "details": {
                    "downgraded": row["k"],
                    "share_pct": str((share * 100).quantize(Decimal("0.001"))),
                    "baseline_share_pct": str((base * 100).quantize(Decimal("0.001"))),
                    "baseline_transactions": row["n0"],
                    "excess": str(excess.quantize(Decimal("0.1"))),
                    "p_value": float(p_value),
                    "q_value": float(q_value),
                },
            }
        )
    return out


def _cost_spike(params, end: date) -> list[dict]:
    """A sudden rise of the all-in effective bps (billed fees ÷ volume) of a partner, or of one of its
    merchants: the last week of the month against the 28 days before it (docs/costs.md). Billed only,
    so it sees a mix shift or a rate card change that every fee of the card explains."""
    from costs.effective import DAILY_BPS, daily_bps_params

    window_from = end - timedelta(days=SPIKE_WINDOW - 1)
    first = window_from - timedelta(days=SPIKE_BASELINE)
    span = SPIKE_WINDOW + SPIKE_BASELINE
    sql = f"""
    SELECT g.*, t.spike_bps AS t_spike_bps, t.deviation_amount AS t_deviation_amount
    FROM ({DAILY_BPS}) g {THRESHOLDS}
    """
    rows = _rows(sql, daily_bps_params(start=first, end=end, partner=params["partner"], by_merchant=True))
    series: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["volume"]:
            series.setdefault((row["partner_id"], row["merchant"], row["currency"]), []).append(row)
    if not series:
        return []
    keys = list(series)
    daily = np.full((len(keys), span), np.nan)
    for i, key in enumerate(keys):
        for row in series[key]:
            daily[i, (row["day"] - first).days] = float(row["billed"] / row["volume"] * 10000)
    baseline, window = daily[:, :SPIKE_BASELINE], daily[:, SPIKE_BASELINE:]
    tested = (np.sum(~np.isnan(window), axis=1) >= SPIKE_MIN_WINDOW_DAYS) & (
        np.sum(~np.isnan(baseline), axis=1) >= SPIKE_MIN_BASELINE_DAYS
    )
    p = np.ones(len(keys))
    q = np.ones(len(keys))
    if tested.any():
        p[tested] = _mann_whitney_greater(window[tested], baseline[tested])
        q[tested] = bh(p[tested], None)
    out = []
    for i, key in enumerate(keys):
        if not tested[i] or q[i] > SPIKE_Q:
            continue
        partner_id, merchant, currency = key
        before = [row for row in series[key] if row["day"] < window_from]
        after = [row for row in series[key] if row["day"] >= window_from]
        billed, volume = sum(r["billed"] for r in after), sum(r["volume"] for r in after)
        billed0, volume0 = sum(r["billed"] for r in before), sum(r["volume"] for r in before)
        bps, bps0 = billed / volume * 10000, billed0 / volume0 * 10000
        amount = (billed - billed0 * volume / volume0).quantize(CENT)  # (bps − bps₀) × volume ÷ 10⁴
        limits = series[key][0]
        if bps - bps0 < _threshold(limits, "spike_bps") or amount < _threshold(limits, "deviation_amount"):
            continue
        out.append(
            {
                "kind": CostFinding.Kind.COST_SPIKE,
                "partner_id": partner_id,
                "cohort": {"merchant": merchant} if merchant else {},
                "fee_type": "",
                "currency": currency,
                "count": sum(r["count"] for r in after),
                "volume": volume,
                "expected_bps": bps0,
                "billed_bps": bps,
                "expected_amount": billed - amount,
                "billed_amount": billed,
                "amount": amount,
                "details": {
                    "window_start": window_from.isoformat(),
                    "window_end": end.isoformat(),
                    "baseline_start": first.isoformat(),
                    "baseline_end": (window_from - timedelta(days=1)).isoformat(),
                    "baseline_volume": str(volume0.quantize(CENT)),
                    "window_days": int(np.sum(~np.isnan(window[i]))),
                    "baseline_days": int(np.sum(~np.isnan(baseline[i]))),
                    "p_value": float(p[i]),
                    "q_value": float(q[i]),
                },
            }
        )
    _sample_spikes(out, window_from, end)
    return out


def _mann_whitney_greater(window: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """One-sided Mann–Whitney U p-values of each row's window days over its baseline days (NaN: a
    day without billing). Vectorised: each row's days sorted with the gaps last, then one call per
    pair of day counts (at most 3 × 15 of them), so scipy never loops over rows."""
    from scipy.stats import mannwhitneyu

    window, baseline = np.sort(window, axis=1), np.sort(baseline, axis=1)
    n1, n2 = np.sum(~np.isnan(window), axis=1), np.sum(~np.isnan(baseline), axis=1)
    p = np.ones(len(window))
    for a, b in {(int(x), int(y)) for x, y in zip(n1, n2, strict=True)}:
        rows = (n1 == a) & (n2 == b)
        with np.errstate(all="ignore"):
            result = mannwhitneyu(window[rows, :a], baseline[rows, :b], axis=1, alternative="greater").pvalue
        p[rows] = np.nan_to_num(np.asarray(result, float), nan=1.0)
    return p


def _sample_spikes(found: list[dict], start: date, end: date) -> None:
    """Up to SAMPLES references of each sudden rise: the window's transactions of its partner (or
    merchant) whose billed fees are the highest for their amount."""
    if not found:
        return
    sql = f"""
    WITH {RECORDS}
    SELECT reference FROM records
    WHERE copy = 1 AND currency = %(currency)s AND (%(merchant)s = '' OR merchant = %(merchant)s)
    GROUP BY id, reference
    ORDER BY sum(fee) / NULLIF(max(amount), 0) DESC NULLS LAST, reference
    LIMIT {SAMPLES}
    """
    with connection.cursor() as cursor:
        for item in found:
            cursor.execute(
                sql,
                {
                    "start": start,
                    "end": end,
                    "partner": item["partner_id"],
                    "currency": item["currency"],
                    "merchant": item["cohort"].get("merchant", ""),
                },
            )
            item["sample_references"] = [row[0] for row in cursor.fetchall()]


def _duplicates(params) -> list[dict]:
    sql = f"""
    WITH {MONTH_FACTS}
    SELECT partner_id, fee_type, currency, count(*) AS count, sum(fee) AS amount, sum(amount) AS volume,
           (array_agg(DISTINCT reference ORDER BY reference))[1:{SAMPLES}] AS samples,
           count(DISTINCT reference) AS refs
    FROM records WHERE copy > 1
    GROUP BY partner_id, fee_type, currency
    """
    return [
        {
            "kind": CostFinding.Kind.DUPLICATE_FEE,
            "partner_id": row["partner_id"],
            "cohort": {},
            "fee_type": row["fee_type"],
            "currency": row["currency"],
            "count": row["count"],
            "volume": row["volume"],
            "billed_amount": row["amount"],
            "expected_amount": Decimal(0),
            "amount": row["amount"],
            "sample_references": row["samples"],
            "details": {"references": row["refs"]},
        }
        for row in _rows(sql, params)
    ]


def _unknown_fees(params) -> list[dict]:
    sql = f"""
    SELECT g.*, t.unknown_fee_amount AS t_unknown_fee_amount FROM (
        SELECT partner_id, fee_code, currency, sum(count) AS count, sum(volume) AS volume, sum(amount) AS amount,
               count(*) AS lines
        FROM costs_invoiceline
        WHERE period_start BETWEEN %(start)s AND %(end)s AND fee_type = ''
          AND (%(partner)s::bigint IS NULL OR partner_id = %(partner)s::bigint)
        GROUP BY partner_id, fee_code, currency
    ) g {THRESHOLDS}
    """
    return [
        {
            "kind": CostFinding.Kind.UNKNOWN_FEE,
            "partner_id": row["partner_id"],
            "cohort": {},
            "fee_code": row["fee_code"],
            "currency": row["currency"],
            "count": row["count"],
            "volume": row["volume"],
            "billed_amount": row["amount"],
            "amount": row["amount"],
            "details": {"lines": row["lines"]},
        }
        for row in _rows(sql, params)
        if abs(row["amount"]) >= _threshold(row, "unknown_fee_amount")
    ]


def _cross_border(params) -> list[dict]:
    sql = f"""
    WITH {MONTH_FACTS}
    SELECT r.partner_id, r.currency, f.issuer_country, count(*) AS count, sum(r.amount) AS volume,
           sum(r.fee) AS amount, (array_agg(r.reference ORDER BY r.reference))[1:{SAMPLES}] AS samples
    FROM records r JOIN costs_feerecord f ON f.id = r.id
    WHERE r.copy = 1 AND r.fee_type = 'cross_border' AND f.issuer_country <> ''
      AND f.issuer_country = f.merchant_country
    GROUP BY r.partner_id, r.currency, f.issuer_country
    """
    return [
        {
            "kind": CostFinding.Kind.CROSS_BORDER_MISCLASS,
            "partner_id": row["partner_id"],
            "cohort": {"country": row["issuer_country"]},
            "fee_type": "cross_border",
            "currency": row["currency"],
            "count": row["count"],
            "volume": row["volume"],
            "billed_amount": row["amount"],
            "expected_amount": Decimal(0),
            "amount": row["amount"],
            "sample_references": row["samples"],
        }
        for row in _rows(sql, params)
    ]


def _zero_rated(params) -> list[dict]:
    sql = f"""
    WITH {MONTH_FACTS}
    SELECT partner_id, giro, currency, sum(count) AS count, sum(volume) AS volume, sum(billed) AS billed
    FROM facts
    WHERE fee_type = 'interchange' AND billed <> 0 AND giro IN (SELECT code FROM costs_giro WHERE zero_rated)
    GROUP BY partner_id, giro, currency
    """
    out = []
    for row in _rows(sql, params):
        out.append(
            {
                "kind": CostFinding.Kind.ZERO_RATED_GIRO,
                "partner_id": row["partner_id"],
                "cohort": {"giro": row["giro"]},
                "fee_type": "interchange",
                "currency": row["currency"],
                "count": row["count"],
                "volume": row["volume"],
                "expected_bps": Decimal(0),
                "billed_bps": row["billed"] / row["volume"] * 10000 if row["volume"] else None,
                "expected_amount": Decimal(0),
                "billed_amount": row["billed"],
                "amount": row["billed"],
            }
        )
    return out


def _key(found: dict, period: date) -> str:
    identity = [
        found["kind"],
        found["partner_id"],
        period.isoformat(),
        found.get("fee_type", ""),
        found.get("fee_code", ""),
    ]
    identity.append(found["cohort"])
    identity.append(found["currency"])
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"{found['kind']}:{found['partner_id']}:{period:%Y-%m}:{digest}"


CENT = Decimal("0.01")
BP = Decimal("0.0001")


def _finding(found: dict, period: date) -> CostFinding:
    def money(value):
        return None if value is None else Decimal(value).quantize(CENT)

    def bps(value):
        return None if value is None else Decimal(value).quantize(BP)

    amount = money(found["amount"])
    return CostFinding(
        kind=found["kind"],
        partner_id=found["partner_id"],
        period=period,
        key=_key(found, period),
        cohort=found["cohort"],
        fee_type=found.get("fee_type", ""),
        fee_code=found.get("fee_code", ""),
        rate_card_id=found.get("rate_card_id"),
        rule_id=found.get("rule_id"),
        rate_card_version=found.get("rate_card_version"),
        currency=found["currency"],
        count=int(Decimal(found["count"]).to_integral_value()),
        volume=money(found.get("volume") or 0),
        expected_bps=bps(found.get("expected_bps")),
        billed_bps=bps(found.get("billed_bps")),
        expected_amount=money(found.get("expected_amount")),
        billed_amount=money(found.get("billed_amount")),
        amount=amount,
        severity=severity_of(amount),
        details=json.loads(json.dumps(found.get("details", {}), default=str)),
        sample_references=list(found.get("sample_references") or [])[:SAMPLES],
    )


def _month_facts(params: dict) -> None:
    """The month's records (one row per fee billed, numbered per reference and fee type) and its
    billing facts, as temporary tables dropped at the commit: computed once, read by four checks.
    One round trip (a re-run inside the same transaction replaces them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TABLE IF EXISTS costs_run_facts, costs_run_records; "
            f"CREATE TEMP TABLE costs_run_records ON COMMIT DROP AS WITH {RECORDS} SELECT * FROM records; "
            "CREATE TEMP TABLE costs_run_facts ON COMMIT DROP AS "
            f"WITH records AS (SELECT * FROM costs_run_records), {FACTS_OF_RECORDS} SELECT * FROM facts; "
            "ANALYZE costs_run_records; ANALYZE costs_run_facts",
            params,
        )


# Kinds about a cohort's rate, whose sample references are the cohort's transactions billed highest.
COHORT_SAMPLED = (CostFinding.Kind.RATE_DEVIATION, CostFinding.Kind.COST_REGRESSION, CostFinding.Kind.ZERO_RATED_GIRO)


def _sample_cohorts(found: list[dict]) -> None:
    """Up to SAMPLES references for each finding about a cohort's rate, from the month's fee records
    (invoice lines name none): the cohort's transactions with the highest fee for their amount."""
    keys, values = ", ".join(MATCH_KEYS), ", ".join(["%s"] * len(MATCH_KEYS))
    sql = f"""
    SELECT reference FROM costs_run_records
    WHERE copy = 1 AND partner_id = %s AND fee_type = %s AND currency = %s AND ({keys}) = ({values})
    ORDER BY fee / NULLIF(amount, 0) DESC NULLS LAST, reference
    LIMIT {SAMPLES}
    """
    with connection.cursor() as cursor:
        for item in found:
            if item["kind"] not in COHORT_SAMPLED or item.get("sample_references"):
                continue
            cohort = item["cohort"]
            cursor.execute(
                sql,
                [item["partner_id"], item["fee_type"], item["currency"], *(cohort.get(k, "") for k in MATCH_KEYS)],
            )
            item["sample_references"] = [row[0] for row in cursor.fetchall()]


@transaction.atomic
def costs_check(*, partner=None, period: date) -> CheckResult:
    """Run every check for the month of `period` (one partner, or all) and replace its open findings."""
    start, end = month_bounds(period)
    partner_id = getattr(partner, "pk", partner)
    with connection.cursor() as cursor:  # one run per month at a time: re-runs wait, then replace
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('costs_check'), %s)", [start.year * 12 + start.month])
    params = {"start": start, "end": end, "period": start, "partner": partner_id}
    _month_facts(params)
    found = [
        *_rate_deviation(params),
        *_cost_regression(params, start),
        *_downgrade_spike(params, start),
        *_cost_spike(params, end),
        *_duplicates(params),
        *_unknown_fees(params),
        *_cross_border(params),
        *_zero_rated(params),
    ]
    _sample_cohorts(found)
    stale = CostFinding.objects.filter(period=start, state=CostFinding.State.OPEN)
    decided = CostFinding.objects.filter(period=start).exclude(state=CostFinding.State.OPEN)
    if partner_id is not None:
        stale = stale.filter(partner_id=partner_id)
        decided = decided.filter(partner_id=partner_id)
    already = set(decided.values_list("key", flat=True))
    findings = [f for f in (_finding(item, start) for item in found) if f.key not in already]
    # An open finding whose figures did not change is kept as it is (its id, links and the webhook
    # already sent for it); the others are replaced.
    kept = {old.key: old for old in stale if old.key in {f.key for f in findings}}
    unchanged = {f.key for f in findings if f.key in kept and _figures(kept[f.key]) == _figures(f)}
    stale.exclude(key__in=unchanged).delete()
    created = CostFinding.objects.bulk_create([f for f in findings if f.key not in unchanged])
    cost_findings_created(created)
    by_kind: dict[str, int] = {}
    for finding in findings:
        by_kind[finding.kind] = by_kind.get(finding.kind, 0) + 1
    return CheckResult(period=start, findings=len(findings), by_kind=by_kind, created=len(created))


# What a finding says: a re-run that finds the same keeps the open finding instead of replacing it.
FIGURES = (
    "kind",
    "partner_id",
    "period",
    "key",
    "cohort",
    "fee_type",
    "fee_code",
    "rate_card_id",
    "rule_id",
    "rate_card_version",
    "currency",
    "count",
    "volume",
    "expected_bps",
    "billed_bps",
    "expected_amount",
    "billed_amount",
    "amount",
    "severity",
    "details",
    "sample_references",
)


def _figures(finding: CostFinding) -> tuple:
    return tuple(
        json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict | list) else value
        for value in (getattr(finding, name) for name in FIGURES)
    )
