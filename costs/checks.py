"""The cost checks: set-based SQL over a month of billing, in Decimal (PostgreSQL numeric).

`costs_check(partner=None, period=…)` runs every check for the month holding `period` and replaces
that month's open findings (for the partner, or for every partner): running it twice gives the
same findings, and a finding the desk already confirmed, dismissed or resolved is not raised again.
docs/costs.md gives each check's formula.

Billing facts: each fee record gives one fact per fee type it bills (a copy of a reference and fee
type already billed counts once: DUPLICATE_FEE reports the copies), each mapped invoice line one
fact over its period. Facts are priced by the rate card in force: a fact whose days span a rule's
effective date is split at that date by days, so the expected fee follows the rule of each day.
A run reads the month's records and its three previous months' once, into temporary tables that
every check of the month reads (`_run_tables`; docs/costs.md, Performance).
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
from costs.models import FEE_COLUMNS, MATCH_KEYS, CostFinding
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
WORK_MEM = "256MB"


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
# A run reads the fee records of the month and of its PREVIOUS_PERIODS predecessors (the cost
# regression's window) once, into temporary tables (`_run_tables`):
#
# costs_run_repeated: the (partner, reference) pairs billed more than once in the window.
#
# costs_run_copies: the rows of the references billed more than once in the window (a few), each
# numbered as every check numbers it, in one window pass: `ref_copy` per reference (the downgrade
# spike's), and per fee type `<fee>_window_copy` across the whole window (the cost regression's)
# and `<fee>_copy` within the month alone (the month's checks'; NULL on the earlier months' rows).
# A running count of the rows billing that fee numbers them in id order, as row_number() over the
# rows of that fee type would (ids are unique in a partition).
#
# costs_run_days: every other row (copy 1 of everything, however counted) summed per partner, day,
# cohort and currency, each fee type's transactions, volume and billed amount side by side: one
# scan and one hash aggregation of the records instead of a row per fee billed and a sort.
#
# The checks then read the days (tens of thousands of rows) and the copies (exploded per fee type,
# `COPIES`) instead of the records. Sums of numeric are exact, so summing days into the month or
# the months gives the very figures the records give (the same values and scales).
FEE_FIELDS = tuple((str(fee_type), column) for fee_type, column in FEE_COLUMNS.items())
IN_WINDOW = (
    "r.txn_date BETWEEN %(first)s AND %(end)s AND (%(partner)s::bigint IS NULL OR r.partner_id = %(partner)s::bigint)"
)
# The references billed more than once in the window, by sorting the references in the "C"
# collation and counting runs: equality is the same as the database collation's (deterministic),
# but comparing bytes sorts a million references several times faster than the locale does, and
# faster than hashing them (the sorted subquery makes the planner group the runs in order).
RUN_REPEATED = f"""
SELECT partner_id, min(reference) AS reference
FROM (
    SELECT r.partner_id, r.reference FROM costs_feerecord r
    WHERE {IN_WINDOW}
    ORDER BY r.partner_id, r.reference COLLATE "C"
) sorted
GROUP BY partner_id, reference COLLATE "C" HAVING count(*) > 1
"""
RUN_COPIES = f"""
SELECT r.*, row_number() OVER w AS ref_copy,
       {
    ", ".join(
        f"count(*) FILTER (WHERE r.{c} <> 0) OVER w AS {c}_window_copy, "
        f"CASE WHEN r.txn_date >= %(start)s "
        f"THEN count(*) FILTER (WHERE r.{c} <> 0 AND r.txn_date >= %(start)s) OVER w END AS {c}_copy"
        for _t, c in FEE_FIELDS
    )
}
FROM costs_feerecord r JOIN costs_run_repeated USING (partner_id, reference)
WHERE {IN_WINDOW}
WINDOW w AS (PARTITION BY r.partner_id, r.reference ORDER BY r.id)
"""
# Besides the fee types, each day keeps apart its downgraded rows (`downgraded`) and its rows whose
# issuer and merchant are of one country (`same_country`, else ''), with every row counted
# (`rows_n`) and its interchange summed (`interchange_all`): the downgrade spike and the
# cross-border check read the days too.
RUN_DAYS = f"""
SELECT r.partner_id, r.txn_date, {", ".join("r." + k for k in MATCH_KEYS)}, r.currency,
       r.downgrade_reason <> '' AS downgraded,
       CASE WHEN r.issuer_country <> '' AND r.issuer_country = r.merchant_country
            THEN r.issuer_country ELSE '' END AS same_country,
       count(*) AS rows_n, sum(r.interchange_fee) AS interchange_all,
       {
    ", ".join(
        f"count(*) FILTER (WHERE r.{c} <> 0) AS {c}_n, sum(r.amount) FILTER (WHERE r.{c} <> 0) AS {c}_v, "
        f"sum(r.{c}) FILTER (WHERE r.{c} <> 0) AS {c}_b"
        for _t, c in FEE_FIELDS
    )
}
FROM costs_feerecord r
WHERE {IN_WINDOW} AND NOT EXISTS (SELECT 1 FROM costs_run_copies c WHERE c.id = r.id)
GROUP BY r.partner_id, r.txn_date, {", ".join("r." + k for k in MATCH_KEYS)}, r.currency, downgraded, same_country
"""
# The days' facts, one row per fee type billed: (partner, day, cohort, currency, fee type, count, volume, billed).
DAYS = f"""
days AS (
    SELECT d.partner_id, d.txn_date, {", ".join("d." + k for k in MATCH_KEYS)}, d.currency, f.fee_type,
           f.n::numeric AS count, f.v AS volume, f.b AS billed
    FROM costs_run_days d
    CROSS JOIN LATERAL (VALUES {", ".join(f"('{t}', d.{c}_n, d.{c}_v, d.{c}_b)" for t, c in FEE_FIELDS)})
        AS f (fee_type, n, v, b)
    WHERE f.n > 0
)"""
# The copies' rows, one per fee billed, with its numbers (`copy` within the month, `window_copy`).
COPIES = f"""
copies AS (
    SELECT c.id, c.partner_id, c.reference, c.txn_date, {", ".join("c." + k for k in MATCH_KEYS)}, c.currency,
           c.amount, f.fee_type, f.fee, f.copy, f.window_copy
    FROM costs_run_copies c
    CROSS JOIN LATERAL (VALUES {", ".join(f"('{t}', c.{c}, c.{c}_copy, c.{c}_window_copy)" for t, c in FEE_FIELDS)})
        AS f (fee_type, fee, copy, window_copy)
    WHERE f.fee <> 0
)"""
# The month's billing facts as FACTS gives them: the days of the month and the copies counted
# first in the month, summed per day; and the month's invoice lines.
RUN_FACTS = f"""
WITH {DAYS}, {COPIES}
SELECT partner_id, txn_date AS d0, txn_date AS d1, {KEYS}, currency, fee_type,
       sum(count) AS count, sum(volume) AS volume, sum(billed) AS billed
FROM (
    SELECT * FROM days WHERE txn_date >= %(start)s
    UNION ALL
    SELECT partner_id, txn_date, {KEYS}, currency, fee_type, 1::numeric, amount, fee FROM copies WHERE copy = 1
) month
GROUP BY partner_id, txn_date, {KEYS}, currency, fee_type
UNION ALL
SELECT partner_id, period_start, period_end, {KEYS}, currency, fee_type, count::numeric, volume, amount
FROM costs_invoiceline
WHERE period_start BETWEEN %(start)s AND %(end)s AND fee_type <> ''
  AND (%(partner)s::bigint IS NULL OR partner_id = %(partner)s::bigint)
"""
MONTH_FACTS = "facts AS (SELECT * FROM costs_run_facts)"

# Each fact priced piece by piece: one piece per approved rate card overlapping its days, by the
# most specific matching rule of that card; volume, count and billed amount shared by days.
# The rule depends only on the partner, the cohort keys, the fee type and the card, so it is looked
# up once per distinct cohort and card (`rules`), not once per fact: a month has tens of thousands
# of facts (a cohort billed every day) but a few thousand cohorts. MATERIALIZED: inlined, the
# planner would run the lookup per fact again.
PRICED = f"""
cohorts AS (SELECT DISTINCT partner_id, {KEYS}, fee_type FROM facts),
rules AS MATERIALIZED (
    SELECT co.*, c.id AS card_id, c.version, c.effective_from, c.effective_to, rule.id AS rule_id,
           rule.rate_bps, rule.fixed_fee, rule.minimum_fee, rule.cap_fee
    FROM cohorts co
    JOIN costs_ratecard c ON c.partner_id = co.partner_id AND c.state = 'approved'
    CROSS JOIN LATERAL (
        SELECT * FROM costs_feerule fr
        WHERE fr.rate_card_id = c.id AND fr.fee_type = co.fee_type
          AND (fr.network = '' OR fr.network = co.network) AND (fr.funding = '' OR fr.funding = co.funding)
          AND (fr.product = '' OR fr.product = co.product) AND (fr.region = '' OR fr.region = co.region)
          AND (fr.giro = '' OR fr.giro = co.giro) AND (fr.entry_mode = '' OR fr.entry_mode = co.entry_mode)
          AND (fr.program_code = '' OR fr.program_code = co.program_code)
        ORDER BY fr.specificity DESC, fr.priority DESC, fr.id
        LIMIT 1
    ) rule
),
pieces AS (
    SELECT f.*, r.card_id, r.version, r.rule_id, r.rate_bps, r.fixed_fee, r.minimum_fee, r.cap_fee,
           ((LEAST(f.d1, COALESCE(r.effective_to - 1, f.d1)) - GREATEST(f.d0, r.effective_from) + 1)::numeric
             / (f.d1 - f.d0 + 1)) AS share
    FROM facts f
    JOIN rules r ON r.partner_id = f.partner_id AND r.fee_type = f.fee_type
         AND {" AND ".join(f"r.{k} = f.{k}" for k in MATCH_KEYS)}
         AND r.effective_from <= f.d1 AND (r.effective_to IS NULL OR r.effective_to > f.d0)
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


def _cost_regression(params) -> list[dict]:
    # Each cohort's months from the run's days and copies (a copy counted once across the window) and
    # invoice lines; the previous months' median and rates grouped once per cohort and joined to
    # the month's (a correlated subquery per cohort read every month of every cohort again).
    same = " AND ".join(f"p.{k} = cur.{k}" for k in ("partner_id", *MATCH_KEYS, "currency", "fee_type"))
    sql = f"""
    WITH {DAYS}, {COPIES},
    monthly AS (
        SELECT partner_id, {KEYS}, currency, fee_type, month,
               sum(count) AS count, sum(volume) AS volume, sum(billed) AS billed
        FROM (
            SELECT partner_id, {KEYS}, currency, fee_type, date_trunc('month', txn_date)::date AS month,
                   count, volume, billed
            FROM days
            UNION ALL
            SELECT partner_id, {KEYS}, currency, fee_type, date_trunc('month', txn_date)::date,
                   1::numeric, amount, fee
            FROM copies WHERE window_copy = 1
            UNION ALL
            SELECT partner_id, {KEYS}, currency, fee_type, date_trunc('month', period_start)::date,
                   count::numeric, volume, amount
            FROM costs_invoiceline
            WHERE period_start BETWEEN %(first)s AND %(end)s AND fee_type <> ''
              AND (%(partner)s::bigint IS NULL OR partner_id = %(partner)s::bigint)
        ) facts
        GROUP BY partner_id, {KEYS}, currency, fee_type, month
    ),
    previous AS (
        SELECT partner_id, {KEYS}, currency, fee_type,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY (billed / volume * 10000)::float8) AS median_bps,
               array_agg(round(billed / volume * 10000, 4) ORDER BY month) AS previous
        FROM monthly WHERE month < %(period)s AND volume > 0
        GROUP BY partner_id, {KEYS}, currency, fee_type
    ),
    g AS (
        SELECT cur.*, cur.billed / cur.volume * 10000 AS billed_bps, p.median_bps, p.previous
        FROM monthly cur JOIN previous p ON {same}
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
    for row in _rows(sql, params):
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


def _downgrade_spike(params) -> list[dict]:
    # From the run's days and the first row of each repeated reference. avg() is sum ÷ count in
    # numeric (PostgreSQL's numeric_avg divides the same way), so the averages are the same figures.
    current = "txn_date >= %(period)s"
    sql = f"""
    WITH txn AS (
        SELECT partner_id, network, funding, currency, downgraded, {current} AS current,
               rows_n AS n, interchange_all AS fee
        FROM costs_run_days
        UNION ALL
        SELECT partner_id, network, funding, currency, downgrade_reason <> '', {current}, 1, interchange_fee
        FROM costs_run_copies WHERE ref_copy = 1
    ),
    g AS (
        SELECT partner_id, network, funding, currency,
               COALESCE(sum(n) FILTER (WHERE current), 0)::bigint AS n,
               COALESCE(sum(n) FILTER (WHERE current AND downgraded), 0)::bigint AS k,
               COALESCE(sum(n) FILTER (WHERE NOT current), 0)::bigint AS n0,
               COALESCE(sum(n) FILTER (WHERE NOT current AND downgraded), 0)::bigint AS k0,
               sum(fee) FILTER (WHERE current AND downgraded) / sum(n) FILTER (WHERE current AND downgraded)
                   AS fee_down,
               sum(fee) FILTER (WHERE current AND NOT downgraded) / sum(n) FILTER (WHERE current AND NOT downgraded)
                   AS fee_up,
               sum(fee) FILTER (WHERE current) AS billed
        FROM txn
        GROUP BY partner_id, network, funding, currency
    )
    SELECT g.*, t.downgrade_pp AS t_downgrade_pp, t.downgrade_q AS t_downgrade_q
    FROM g LEFT JOIN costs_costthresholds t ON t.partner_id = g.partner_id
    WHERE g.n > 0 AND g.n0 > 0
    """
    rows = _rows(sql, params)
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
                "sample_references": _references(
                    params,
                    row,
                    "r.network = %(network)s AND r.funding = %(funding)s AND r.downgrade_reason <> ''",
                    "ref_copy",
                ),
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
    WITH {COPIES}
    SELECT partner_id, fee_type, currency, count(*) AS count, sum(fee) AS amount, sum(amount) AS volume,
           (array_agg(DISTINCT reference ORDER BY reference))[1:{SAMPLES}] AS samples,
           count(DISTINCT reference) AS refs
    FROM copies WHERE copy > 1
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
    sql = """
    WITH xb AS (
        SELECT partner_id, currency, same_country AS issuer_country, cross_border_fee_n AS n,
               cross_border_fee_v AS v, cross_border_fee_b AS b
        FROM costs_run_days WHERE txn_date >= %(start)s AND same_country <> '' AND cross_border_fee_n > 0
        UNION ALL
        SELECT partner_id, currency, issuer_country, 1, amount, cross_border_fee
        FROM costs_run_copies
        WHERE cross_border_fee_copy = 1 AND issuer_country <> '' AND issuer_country = merchant_country
    )
    SELECT partner_id, currency, issuer_country, sum(n)::bigint AS count, sum(v) AS volume, sum(b) AS amount
    FROM xb
    GROUP BY partner_id, currency, issuer_country
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
            "sample_references": _references(
                params,
                row,
                "r.cross_border_fee <> 0 AND r.issuer_country = %(issuer_country)s"
                " AND r.merchant_country = %(issuer_country)s",
                "cross_border_fee_copy",
            ),
        }
        for row in _rows(sql, params)
    ]


def _references(params: dict, row: dict, where: str, copy: str) -> list[str]:
    """The first SAMPLES references (in their order) of the month's records of the row's partner and
    currency that meet `where`, counting a repeated reference once (its row numbered 1 by `copy`)."""
    sql = f"""
    SELECT r.reference FROM costs_feerecord r
    LEFT JOIN costs_run_copies c ON c.id = r.id
    WHERE r.txn_date BETWEEN %(start)s AND %(end)s AND r.partner_id = %(partner_id)s
      AND r.currency = %(currency)s AND {where} AND (c.id IS NULL OR c.{copy} = 1)
    ORDER BY r.reference
    LIMIT {SAMPLES}
    """
    return [found["reference"] for found in _rows(sql, {**params, **row})]


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


def _run_tables(params: dict) -> None:
    """The run's repeated references, copies, days and month's facts (RUN_REPEATED, RUN_COPIES,
    RUN_DAYS, RUN_FACTS) as temporary tables dropped at the commit: computed once, read by every
    check. One round trip (a re-run inside the same transaction replaces them). The small tables are
    analyzed (the planner then looks the copies up by index); the days are only read whole."""
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TABLE IF EXISTS costs_run_facts, costs_run_days, costs_run_copies, costs_run_repeated; "
            f"CREATE TEMP TABLE costs_run_repeated ON COMMIT DROP AS {RUN_REPEATED}; "
            "ANALYZE costs_run_repeated; "
            f"CREATE TEMP TABLE costs_run_copies ON COMMIT DROP AS {RUN_COPIES}; "
            "ANALYZE costs_run_copies; "
            f"CREATE TEMP TABLE costs_run_days ON COMMIT DROP AS {RUN_DAYS}; "
            f"CREATE TEMP TABLE costs_run_facts ON COMMIT DROP AS {RUN_FACTS}; "
            "ANALYZE costs_run_facts",
            params,
        )


# Kinds about a cohort's rate, whose sample references are the cohort's transactions billed highest.
COHORT_SAMPLED = (CostFinding.Kind.RATE_DEVIATION, CostFinding.Kind.COST_REGRESSION, CostFinding.Kind.ZERO_RATED_GIRO)


def _sample_cohorts(found: list[dict], params: dict) -> None:
    """Up to SAMPLES references for each finding about a cohort's rate, from the month's fee records
    (invoice lines name none): the cohort's transactions with the highest fee for their amount."""
    keys = ", ".join("r." + k for k in MATCH_KEYS)
    values = ", ".join(["%s"] * len(MATCH_KEYS))
    with connection.cursor() as cursor:
        for item in found:
            if item["kind"] not in COHORT_SAMPLED or item.get("sample_references"):
                continue
            fee = FEE_COLUMNS[item["fee_type"]]  # a fee type's own column: never text from outside
            cursor.execute(
                f"""
                SELECT r.reference FROM costs_feerecord r
                LEFT JOIN costs_run_copies c ON c.id = r.id  -- the month's first copy of a reference
                WHERE r.txn_date BETWEEN %s AND %s AND r.partner_id = %s AND r.{fee} <> 0 AND r.currency = %s
                  AND ({keys}) = ({values}) AND (c.id IS NULL OR c.{fee}_copy = 1)
                ORDER BY r.{fee} / NULLIF(r.amount, 0) DESC NULLS LAST, r.reference
                LIMIT {SAMPLES}
                """,
                [
                    params["start"],
                    params["end"],
                    item["partner_id"],
                    item["currency"],
                    *(item["cohort"].get(k, "") for k in MATCH_KEYS),
                ],
            )
            item["sample_references"] = [row[0] for row in cursor.fetchall()]


@transaction.atomic
def costs_check(*, partner=None, period: date) -> CheckResult:
    """Run every check for the month of `period` (one partner, or all) and replace its open findings."""
    start, end = month_bounds(period)
    partner_id = getattr(partner, "pk", partner)
    with connection.cursor() as cursor:  # one run per month at a time: re-runs wait, then replace
        # The run sorts and groups a month of records: with the default work_mem (4 MB) that spills
        # to disk. set_config(…, true) is SET LOCAL: for this transaction only; same round trip.
        cursor.execute(
            "SELECT set_config('work_mem', %s, true), pg_advisory_xact_lock(hashtext('costs_check'), %s)",
            [WORK_MEM, start.year * 12 + start.month],
        )
    params = {
        "start": start,
        "end": end,
        "period": start,
        "first": months_back(start, PREVIOUS_PERIODS),
        "partner": partner_id,
    }
    _run_tables(params)
    found = [
        *_rate_deviation(params),
        *_cost_regression(params),
        *_downgrade_spike(params),
        *_cost_spike(params, end),
        *_duplicates(params),
        *_unknown_fees(params),
        *_cross_border(params),
        *_zero_rated(params),
    ]
    _sample_cohorts(found, params)
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
