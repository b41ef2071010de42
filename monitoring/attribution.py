"""Which slices and decline codes explain a finding's excess declines (Adtributor-style), and
whether the drop is real or a mix shift. docs/attribution.md explains the method.

In short, for a finding on a segment over its window, against the same hours of the previous
`baseline_weeks` weeks:

1. the children of the segment are read with their window and baseline sums in one query (the
   decline codes summed by PostgreSQL), never one query per slice;
2. the parent's rate change is split into a rate effect (the slices' own rates moved) and a mix
   effect (volume moved between slices whose rates did not); a drop carried by the mix, with a
   rate effect within noise, is a mix shift;
3. for each dimension (issuer, route, BIN prefix, network, country, funding, entry mode) the
   children are grouped by their value; each value's excess declines, explanatory power (its share
   of the dimension's excess) and surprise (Jensen–Shannon divergence of its outcome mix) are
   computed; values with EP ≥ 10 % are kept, most surprising first, until 80 % is explained, and
   the dimension that explains it most succinctly and surprisingly wins;
4. each kept row is drilled into decline codes: which codes carry its excess declines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext
from scipy.spatial.distance import jensenshannon

from cases.models.incident import CardNetwork
from monitoring.detection.config import detector_config
from monitoring.models import (
    AttributionKind,
    AuthBucket,
    EntryMode,
    Finding,
    Funding,
    Segment,
    SegmentMonitor,
    Suppression,
)

MIN_EXPLAINED = 0.10  # a slice explaining less than this is never kept (Adtributor's EP threshold)
TARGET_EXPLAINED = 0.80  # keep slices until this share of the excess is explained
MIX_SHARE = 2 / 3  # a mix shift: the mix effect carries at least this share of the drop …
NOISE_Z = 3.0  # … and the rate effect is within this many standard errors of zero
DOMINANT_BIN = 0.80  # an issuer or route row names its BIN prefix when one BIN carries this much
LABEL_MAX = 120

# Dimension → the Segment field holding its value; in the order a tie is broken.
DIMENSIONS: tuple[tuple[str, str], ...] = (
    ("issuer", "issuer_id"),
    ("route", "route_id"),
    ("bin_prefix", "bin_prefix"),
    ("network", "network"),
    ("country", "country"),
    ("funding", "funding"),
    ("entry_mode", "entry_mode"),
)
PARTNER_DIMENSIONS = frozenset({"issuer", "route"})
_CHOICES = {"network": CardNetwork, "funding": Funding, "entry_mode": EntryMode}


@dataclass(frozen=True)
class AttributionRow:
    dimension: str  # "issuer", "route", "bin_prefix", "network", "country", "funding", "entry_mode", "decline_code"
    key: str  # the slice's value: a partner id, a BIN prefix, a choice value, a code
    label: str  # as people read it: "BBVA México", "BIN 415231", "Visa", "91"
    explained: float  # share of the finding's excess declines this slice explains (0–1)
    surprise: float  # Jensen–Shannon divergence of the slice's decline mix, baseline vs window
    excess_declines: int
    partner_id: int | None = None
    bin_prefix: str = ""
    codes: list[dict] = field(default_factory=list)  # [{"code": "91", "explained": 0.9}]
    share_change: float = 0.0  # the slice's share of the attempts, window − baseline (0.15 = +15 pp)
    rate_change: float = 0.0  # the slice's approval rate, window − baseline (−0.15 = −15 pp)


@dataclass(frozen=True)
class Attribution:
    kind: str  # AttributionKind value ("drop" or "mix_shift"), "" when nothing could be said
    excess_declines: int
    rows: list[AttributionRow] = field(default_factory=list)


# --- Reading the slices ------------------------------------------------------------------------


@dataclass
class Counts:
    """Sums of a slice (or a group of slices) over the window or the baseline."""

    attempts: int = 0
    approvals: int = 0
    errors: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    buckets: int = 0

    @property
    def failures(self) -> int:
        """Attempts not approved: what the finding's excess declines count."""
        return self.attempts - self.approvals

    def rate(self, default: float) -> float:
        return self.approvals / self.attempts if self.attempts else default

    def add(self, other: Counts) -> None:
        self.attempts += other.attempts
        self.approvals += other.approvals
        self.errors += other.errors
        self.buckets += other.buckets
        for code, count in other.codes.items():
            self.codes[code] = self.codes.get(code, 0) + count

    def outcome_mix(self) -> dict[tuple[str, str], int]:
        """Approvals, errors, declines by code and declines without a code: every attempt once."""
        coded = sum(self.codes.values())
        declines = self.attempts - self.approvals - self.errors
        mix = {("approved", ""): self.approvals, ("error", ""): self.errors, ("declined", ""): max(0, declines - coded)}
        mix.update({("code", code): count for code, count in self.codes.items()})
        return mix


@dataclass
class Slice:
    segment: Segment
    base: Counts = field(default_factory=Counts)
    window: Counts = field(default_factory=Counts)

    @property
    def dispersion(self) -> float | None:
        """The over-dispersion the detector estimated for this slice, if any."""
        try:
            return self.segment.monitor.dispersion
        except SegmentMonitor.DoesNotExist:
            return None


def baseline_ranges(finding: Finding, weeks: int) -> list[tuple]:
    """The window shifted back by 1 … `weeks` weeks: the same hour-of-week slots."""
    return [
        (finding.window_start - timedelta(weeks=week), finding.window_end - timedelta(weeks=week))
        for week in range(1, weeks + 1)
    ]


_SLICES_SQL = """
WITH b AS (
    SELECT b.segment_id, b.bucket_start >= %(window_start)s AS in_window,
           b.attempts, b.approvals, b.errors, b.decline_codes
    FROM {buckets} b JOIN {segments} s ON s.id = b.segment_id
    WHERE s.{match} = %(parent)s
      AND ({ranges})
      AND (b.bucket_start >= %(window_start)s OR NOT EXISTS (
            SELECT 1 FROM {suppressions} x
            WHERE x.segment_id IN (b.segment_id, s.parent_id)
              AND x.start <= b.bucket_start AND x."end" > b.bucket_start))
)
SELECT segment_id, in_window, NULL AS code, SUM(attempts), SUM(approvals), SUM(errors), COUNT(*) FROM b GROUP BY 1, 2
UNION ALL
SELECT b.segment_id, b.in_window, c.key,
       SUM(CASE WHEN jsonb_typeof(c.value) = 'number' THEN (c.value)::text::numeric ELSE 0 END), 0, 0, 0
FROM b CROSS JOIN LATERAL jsonb_each(b.decline_codes) c GROUP BY 1, 2, 3
"""


def _slices(finding: Finding, ranges: list[tuple], *, own: bool = False) -> list[Slice]:
    """The finding's segment's children with their sums over the window and the baseline (the
    baseline leaves out suppressed buckets): two queries whatever the number of slices. `own`:
    the finding's segment itself instead (a segment without children)."""
    wanted = {"pk": finding.segment_id} if own else {"parent_id": finding.segment_id}
    children = {
        segment.id: Slice(segment)
        for segment in Segment.objects.filter(**wanted).select_related("issuer", "route", "monitor")
    }
    if not children:
        return []
    params = {"parent": finding.segment_id, "window_start": finding.window_start, "window_end": finding.window_end}
    clauses = ["(b.bucket_start >= %(window_start)s AND b.bucket_start < %(window_end)s)"]
    for index, (start, end) in enumerate(ranges):
        params[f"start_{index}"], params[f"end_{index}"] = start, end
        clauses.append(f"(b.bucket_start >= %(start_{index})s AND b.bucket_start < %(end_{index})s)")
    sql = _SLICES_SQL.format(
        match="id" if own else "parent_id",
        buckets=AuthBucket._meta.db_table,
        segments=Segment._meta.db_table,
        suppressions=Suppression._meta.db_table,
        ranges=" OR ".join(clauses),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for segment_id, in_window, code, attempts, approvals, errors, buckets in cursor.fetchall():
            counts = children[segment_id].window if in_window else children[segment_id].base
            if code is None:
                counts.attempts, counts.approvals, counts.errors = int(attempts), int(approvals), int(errors)
                counts.buckets = int(buckets)
            elif attempts:
                counts.codes[code] = int(attempts)
    return list(children.values())


# --- Statistics --------------------------------------------------------------------------------


def surprise(before: dict, after: dict) -> float:
    """Jensen–Shannon divergence (base 2, so between 0 and 1) of two count mixes: the square of
    scipy's Jensen–Shannon distance. 0 when either side is empty."""
    keys = sorted(set(before) | set(after))
    p = [max(0, before.get(key, 0)) for key in keys]
    q = [max(0, after.get(key, 0)) for key in keys]
    if not sum(p) or not sum(q):
        return 0.0
    distance = float(jensenshannon(p, q, base=2))
    return 0.0 if math.isnan(distance) else distance * distance


@dataclass(frozen=True)
class MixDecomposition:
    drop: float  # baseline rate − window rate of the parent, from its slices
    rate_effect: float  # Σ w_window · (r_window − r_base): negative when the slices' rates fell
    mix_effect: float  # Σ (w_window − w_base) · r_base: negative when volume moved to weaker slices
    rate_error: float  # standard error of the rate effect (binomial)

    @property
    def is_mix_shift(self) -> bool:
        return (
            self.drop > 0
            and -self.mix_effect >= MIX_SHARE * self.drop
            and abs(self.rate_effect) <= NOISE_Z * self.rate_error
        )


def _variance(rate: float, counts: Counts, dispersion: float) -> float:
    """Variance of a rate over `counts`' buckets: binomial, times the beta-binomial design effect
    1 + (attempts per bucket − 1) · dispersion."""
    per_bucket = counts.attempts / counts.buckets if counts.buckets else counts.attempts
    return rate * (1 - rate) / counts.attempts * (1 + max(0.0, per_bucket - 1) * dispersion)


def decompose(
    slices: Iterable[tuple[Counts, Counts]], *, default_rate: float, dispersions: Iterable[float] | None = None
) -> MixDecomposition:
    """The parent's rate change split over (baseline, window) counts of its slices; `dispersions`
    (one per slice, 0 without) widens the noise of the rate effect."""
    pairs = list(slices)
    spreads = list(dispersions) if dispersions is not None else [0.0] * len(pairs)
    total_base = sum(base.attempts for base, _window in pairs)
    total_window = sum(window.attempts for _base, window in pairs)
    if not total_base or not total_window:
        return MixDecomposition(0.0, 0.0, 0.0, 0.0)
    rate_effect = mix_effect = variance = 0.0
    for (base, window), dispersion in zip(pairs, spreads, strict=True):
        w_base, w_window = base.attempts / total_base, window.attempts / total_window
        r_base = base.rate(default_rate)
        r_window = window.rate(r_base)
        rate_effect += w_window * (r_window - r_base)
        mix_effect += (w_window - w_base) * r_base
        if window.attempts:
            spread = _variance(r_window, window, dispersion)
            if base.attempts:
                spread += _variance(r_base, base, dispersion)
            variance += w_window * w_window * spread
    parent_base = sum(base.approvals for base, _window in pairs) / total_base
    parent_window = sum(window.approvals for _base, window in pairs) / total_window
    return MixDecomposition(parent_base - parent_window, rate_effect, mix_effect, math.sqrt(variance))


# --- Grouping by dimension ---------------------------------------------------------------------


@dataclass
class Group:
    key: str
    segment: Segment  # one of its slices, for the label
    base: Counts = field(default_factory=Counts)
    window: Counts = field(default_factory=Counts)
    members: list[Slice] = field(default_factory=list)


def _groups(slices: list[Slice], attribute: str) -> dict[str, Group]:
    """The slices grouped by their value of one dimension ("" for the slices without it)."""
    groups: dict[str, Group] = {}
    for item in slices:
        value = getattr(item.segment, attribute)
        key = "" if value is None else str(value)
        group = groups.setdefault(key, Group(key, item.segment))
        group.base.add(item.base)
        group.window.add(item.window)
        group.members.append(item)
    return groups


def _excess(base: Counts, window: Counts, *, default_rate: float, code: str) -> float:
    """Window failures (or the code's count) above what the baseline rate expects."""
    if code:
        expected = window.attempts * (base.codes.get(code, 0) / base.attempts) if base.attempts else 0.0
        return window.codes.get(code, 0) - expected
    return window.failures - window.attempts * (1 - base.rate(default_rate))


def _label(dimension: str, segment: Segment, key: str) -> str:
    if dimension in PARTNER_DIMENSIONS:
        partner = segment.issuer if dimension == "issuer" else segment.route
        return str(partner)[:LABEL_MAX]
    return choice_label(dimension, key)


def choice_label(dimension: str, key: str) -> str:
    """A BIN prefix, country or choice value as people read it (in the active language)."""
    if dimension == "bin_prefix":
        return _("BIN %(prefix)s") % {"prefix": key}
    choices = _CHOICES.get(dimension)
    if choices is not None:
        return str(dict(choices.choices).get(key, key))[:LABEL_MAX]
    return key[:LABEL_MAX]


@dataclass(frozen=True)
class Candidate:
    dimension: str
    rows: list[AttributionRow]
    explained: float

    def rank(self, order: int) -> tuple:
        """Reaching the target first, then fewer rows, then more surprise, then the dimension order."""
        mean_surprise = sum(row.surprise for row in self.rows) / len(self.rows)
        return (self.explained < TARGET_EXPLAINED, len(self.rows), -round(mean_surprise, 12), order)


def _keep(scored: list[tuple[float, float, Group]]) -> tuple[list[tuple[float, float, Group]], float]:
    """Adtributor's selection: EP ≥ 10 %, most surprising first, until 80 % is explained."""
    kept, explained = [], 0.0
    for ep, score, group in sorted(scored, key=lambda item: (-item[1], -item[0], item[2].key)):
        if ep < MIN_EXPLAINED:
            continue
        kept.append((ep, score, group))
        explained += ep
        if explained >= TARGET_EXPLAINED:
            break
    return kept, explained


def _codes(group: Group, excess: float) -> list[dict]:
    """The decline codes carrying a row's excess declines: count in the window − the count the
    baseline's code shares expect; EP of each code against the row's excess."""
    if excess <= 0:
        return []
    codes = []
    for code in sorted(set(group.window.codes) | set(group.base.codes)):
        code_excess = _excess(group.base, group.window, default_rate=0.0, code=code)
        explained = code_excess / excess
        if explained >= MIN_EXPLAINED:
            codes.append(
                {"code": code, "explained": round(min(explained, 1.0), 4), "excess_declines": round(code_excess)}
            )
    return sorted(codes, key=lambda item: (-item["explained"], item["code"]))


def _dominant_bin(group: Group, *, default_rate: float, code: str) -> str:
    excess = {
        item.segment.bin_prefix: _excess(item.base, item.window, default_rate=default_rate, code=code)
        for item in group.members
        if item.segment.bin_prefix
    }
    total = _excess(group.base, group.window, default_rate=default_rate, code=code)
    if not excess or total <= 0:
        return ""
    prefix, largest = max(excess.items(), key=lambda item: (item[1], item[0]))
    return prefix if largest >= DOMINANT_BIN * total else ""


def _drop_candidate(dimension, attribute, slices, *, default_rate, code, excess_floor) -> Candidate | None:
    """The values whose own rate fell. EP is against the dimension's total excess, or the
    finding's own figure when that is larger, so noise never explains a large share of little."""
    groups = _groups(slices, attribute)
    if len([key for key in groups if key]) < 2 and "" not in groups:
        return None  # one value for every slice explains nothing
    excess = {key: _excess(g.base, g.window, default_rate=default_rate, code=code) for key, g in groups.items()}
    total = max(sum(excess.values()), excess_floor)
    if total <= 0:
        return None
    scored = [
        (excess[key] / total, surprise(group.base.outcome_mix(), group.window.outcome_mix()), group)
        for key, group in groups.items()
        if key
    ]
    kept, explained = _keep(scored)
    if not kept:
        return None
    rows = []
    for ep, score, group in kept:
        partner = dimension in PARTNER_DIMENSIONS
        base_rate = group.base.rate(default_rate)
        rows.append(
            AttributionRow(
                dimension=dimension,
                key=group.key,
                label=_label(dimension, group.segment, group.key),
                explained=round(min(ep, 1.0), 4),  # other slices' noise can push EP past 1
                surprise=round(score, 6),
                excess_declines=round(excess[group.key]),
                partner_id=int(group.key) if partner else None,
                bin_prefix=group.key
                if dimension == "bin_prefix"
                else _dominant_bin(group, default_rate=default_rate, code=code),
                codes=[] if code else _codes(group, excess[group.key]),
                share_change=round(_share(group.window, slices, "window") - _share(group.base, slices, "base"), 4),
                rate_change=round(group.window.rate(base_rate) - base_rate, 4),
            )
        )
    return Candidate(dimension, _most_explanatory_first(rows), explained)


def _share(counts: Counts, slices: list[Slice], side: str) -> float:
    total = sum(getattr(item, side).attempts for item in slices)
    return counts.attempts / total if total else 0.0


def _mix_candidate(dimension, attribute, slices, *, default_rate) -> Candidate | None:
    """The values whose volume moved: each one's part of the mix effect in excess declines,
    −N_window · (w_window − w_base) · (r_base − R_base), which add up to the mix effect."""
    groups = _groups(slices, attribute)
    if len([key for key in groups if key]) < 2 and "" not in groups:
        return None
    total_base = sum(item.base.attempts for item in slices)
    total_window = sum(item.window.attempts for item in slices)
    parent_rate = sum(item.base.approvals for item in slices) / total_base
    moved = {}
    for key, group in groups.items():
        w_base, w_window = group.base.attempts / total_base, group.window.attempts / total_window
        moved[key] = (
            w_base,
            w_window,
            -total_window * (w_window - w_base) * (group.base.rate(default_rate) - parent_rate),
        )
    total = sum(excess for _wb, _ww, excess in moved.values())
    if total <= 0:
        return None
    scored = []
    for key, group in groups.items():
        w_base, w_window, _excess_value = moved[key]
        if key and w_window > w_base:  # the values volume moved to
            score = surprise({"in": w_base, "out": 1 - w_base}, {"in": w_window, "out": 1 - w_window})
            scored.append((moved[key][2] / total, score, group))
    kept, explained = _keep(scored)
    if not kept:
        return None
    rows = []
    for ep, score, group in kept:
        w_base, w_window, excess = moved[group.key]
        base_rate = group.base.rate(default_rate)
        rows.append(
            AttributionRow(
                dimension=dimension,
                key=group.key,
                label=_label(dimension, group.segment, group.key),
                explained=round(min(ep, 1.0), 4),  # other slices' noise can push EP past 1
                surprise=round(score, 6),
                excess_declines=round(excess),
                partner_id=None,  # a mix shift engages no partner: its rate did not drop
                bin_prefix=group.key if dimension == "bin_prefix" else "",
                share_change=round(w_window - w_base, 4),
                rate_change=round(group.window.rate(base_rate) - base_rate, 4),
            )
        )
    return Candidate(dimension, _most_explanatory_first(rows), explained)


def _most_explanatory_first(rows: list[AttributionRow]) -> list[AttributionRow]:
    return sorted(rows, key=lambda row: (-row.explained, -row.surprise, row.key))


def _best(candidates: list[tuple[int, Candidate | None]]) -> Candidate | None:
    found = [(candidate.rank(order), candidate) for order, candidate in candidates if candidate is not None]
    return min(found, key=lambda item: item[0])[1] if found else None


# --- The interface -----------------------------------------------------------------------------


def finding_attribution(finding: Finding) -> Attribution:
    """The attribution of the finding's window against its baseline.

    Four queries whatever the number of slices: the merchant's settings, the children, and their
    sums (counts and decline codes) over the window and the baseline; two more for a segment
    without children, whose one row is the segment itself (its route, issuer or BIN prefix).
    `kind` is "" when nothing can be said: no excess declines, or no attempts in the window.
    """
    if finding.excess_declines <= 0:
        return Attribution(kind="", excess_declines=finding.excess_declines)
    if Finding.segment.is_cached(finding):
        merchant_id = finding.segment.merchant_id
    else:
        merchant_id = Segment.objects.filter(pk=finding.segment_id).values_list("merchant_id", flat=True).first()
    if merchant_id is None:
        return Attribution(kind="", excess_declines=finding.excess_declines)
    config = detector_config(merchant_id)
    ranges = baseline_ranges(finding, config.baseline_weeks)
    slices = _slices(finding, ranges)
    default_rate = float(finding.baseline_rate)
    code = finding.decline_code
    if not slices:  # a leaf: the slice itself carries the whole drop, its partner and its codes
        return _own_attribution(finding, _slices(finding, ranges, own=True), default_rate=default_rate, code=code)
    if not any(item.window.attempts for item in slices):
        return Attribution(kind="", excess_declines=finding.excess_declines)
    if not code and any(item.base.attempts for item in slices):
        floor = float(config.dispersion_floor)
        mix = decompose(
            [(item.base, item.window) for item in slices],
            default_rate=default_rate,
            dispersions=[max(item.dispersion or 0.0, floor) for item in slices],
        )
        if mix.is_mix_shift:
            best = _best(
                [
                    (order, _mix_candidate(dimension, attribute, slices, default_rate=default_rate))
                    for order, (dimension, attribute) in enumerate(DIMENSIONS)
                ]
            )
            return Attribution(
                kind=AttributionKind.MIX_SHIFT.value,
                excess_declines=finding.excess_declines,
                rows=best.rows if best else [],
            )
    best = _best(
        [
            (
                order,
                _drop_candidate(
                    dimension,
                    attribute,
                    slices,
                    default_rate=default_rate,
                    code=code,
                    excess_floor=finding.excess_declines,
                ),
            )
            for order, (dimension, attribute) in enumerate(DIMENSIONS)
        ]
    )
    return Attribution(
        kind=AttributionKind.DROP.value, excess_declines=finding.excess_declines, rows=best.rows if best else []
    )


def _own_attribution(finding: Finding, own: list[Slice], *, default_rate: float, code: str) -> Attribution:
    """The attribution of a finding on a segment without children: one row for the segment
    itself, explaining all of it, with the codes that carry its excess declines. A slice has
    both an issuer and a route, so it is named by the partner that explains its parent over the
    same window when that is one of its own (a switch failing shows on every slice routed
    through it, an issuer on every slice it issues), else by its route, its issuer, its BIN."""
    if not own or not own[0].window.attempts:
        return Attribution(kind="", excess_declines=finding.excess_declines)
    item = own[0]
    segment = item.segment
    named = [
        (dimension, attribute)
        for dimension, attribute in (("route", "route_id"), ("issuer", "issuer_id"), ("bin_prefix", "bin_prefix"))
        if getattr(segment, attribute)
    ]
    if not named:
        return Attribution(kind="", excess_declines=finding.excess_declines)
    parent = _parent_partner(finding, segment)
    dimension, attribute = next((pair for pair in named if pair[0] == parent), named[0])
    group = _groups([item], attribute)[str(getattr(segment, attribute))]
    excess = _excess(group.base, group.window, default_rate=default_rate, code=code)
    base_rate = group.base.rate(default_rate)
    row = AttributionRow(
        dimension=dimension,
        key=group.key,
        label=_label(dimension, segment, group.key),
        explained=1.0,
        surprise=round(surprise(group.base.outcome_mix(), group.window.outcome_mix()), 6),
        excess_declines=round(excess),
        partner_id=int(group.key) if dimension in PARTNER_DIMENSIONS else None,
        bin_prefix=segment.bin_prefix if dimension != "bin_prefix" else group.key,
        codes=[] if code else _codes(group, excess),
        rate_change=round(group.window.rate(base_rate) - base_rate, 4),
    )
    return Attribution(kind=AttributionKind.DROP.value, excess_declines=finding.excess_declines, rows=[row])


def _parent_partner(finding: Finding, segment: Segment) -> str:
    """ "route" or "issuer" when the top row of the parent's attribution over the finding's window
    is the slice's own route or issuer; "" otherwise (no parent, a mix shift, another slice)."""
    if segment.parent_id is None:
        return ""
    parent = Finding(
        segment_id=segment.parent_id,
        kind=finding.kind,
        decline_code=finding.decline_code,
        window_start=finding.window_start,
        window_end=finding.window_end,
        baseline_rate=finding.baseline_rate,
        excess_declines=finding.excess_declines,
    )
    attribution = finding_attribution(parent)
    if attribution.kind != AttributionKind.DROP or not attribution.rows:
        return ""
    top = attribution.rows[0]
    own = {"route": segment.route_id, "issuer": segment.issuer_id}
    return (
        top.dimension
        if top.dimension in own and own[top.dimension] is not None and top.key == str(own[top.dimension])
        else ""
    )


def attribution_rows_json(attribution: Attribution) -> list[dict]:
    """The rows as `Finding.attribution` stores them."""
    return [row.__dict__ | {"codes": list(row.codes)} for row in attribution.rows]


# --- The sentence ------------------------------------------------------------------------------


def _number(value: int) -> str:
    """1,240: the grouping people read in Mexico and in English alike."""
    return f"{value:,}"


def _subject(dimension: str, label: str) -> str:
    """The slice as the subject of the sentence: "Issuer BBVA México", "El emisor BBVA México"."""
    subjects = {
        "issuer": pgettext("attribution subject", "Issuer %(label)s"),
        "route": pgettext("attribution subject", "Route %(label)s"),
        "bin_prefix": pgettext("attribution subject", "%(label)s"),
        "network": pgettext("attribution subject", "Network %(label)s"),
        "country": pgettext("attribution subject", "Country %(label)s"),
        "funding": pgettext("attribution subject", "Funding %(label)s"),
        "entry_mode": pgettext("attribution subject", "Entry mode %(label)s"),
    }
    return subjects.get(dimension, pgettext("attribution subject", "Slice %(label)s")) % {"label": label}


def _row_label(row: dict) -> str:
    dimension, key = str(row.get("dimension", "")), str(row.get("key", ""))
    if dimension in _CHOICES or dimension == "bin_prefix":
        return choice_label(dimension, key[:LABEL_MAX])  # in the sentence's language
    return str(row.get("label", "") or key)[:LABEL_MAX]


def _fraction(value) -> float:
    """A stored share as a number between −1 and 1, whatever was stored."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return max(-1.0, min(1.0, number)) if math.isfinite(number) else 0.0


def attribution_sentence(finding: Finding, *, language: str) -> str:
    """One sentence in `language` ("en" or "es") from the finding's stored attribution."""
    rows = finding.attribution if isinstance(finding.attribution, list) else []
    top = next((row for row in rows if isinstance(row, dict)), None)
    excess = finding.excess_declines
    with translation.override(language):
        if excess <= 0:
            return _("No excess declines to explain.")
        if finding.attribution_kind == AttributionKind.MIX_SHIFT:
            if top is None:
                return _(
                    "Mix shift: volume moved to weaker slices whose approval rates did not change; "
                    "no partner's rate dropped."
                )
            return _(
                "Mix shift: volume moved to %(label)s (%(change)s pp of attempts) whose approval rate did not change; "
                "no partner's rate dropped."
            ) % {"label": _row_label(top), "change": f"{round(_fraction(top.get('share_change')) * 100):+d}"}
        if top is None:
            return ngettext(
                "No slice explains the %(excess)s excess decline.",
                "No slice explains the %(excess)s excess declines.",
                excess,
            ) % {"excess": _number(excess)}
        subject = _subject(str(top.get("dimension", "")), _row_label(top))
        bin_prefix = str(top.get("bin_prefix") or "")[:8]
        if bin_prefix and top.get("dimension") != "bin_prefix":
            subject = _("%(subject)s (BIN %(prefix)s)") % {"subject": subject, "prefix": bin_prefix}
        codes = top.get("codes") if isinstance(top.get("codes"), list) else []
        code = finding.decline_code or next(
            (str(item.get("code", ""))[:8] for item in codes if isinstance(item, dict) and item.get("code")), ""
        )
        if code:
            subject = _("%(subject)s, code %(code)s,") % {"subject": subject, "code": code}
        return ngettext(
            "%(subject)s explains %(percent)s %% of %(excess)s excess decline.",
            "%(subject)s explains %(percent)s %% of %(excess)s excess declines.",
            excess,
        ) % {"subject": subject, "percent": round(_fraction(top.get("explained")) * 100), "excess": _number(excess)}
