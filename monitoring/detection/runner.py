"""The detector against the database: `detection_run` (every few minutes, on beat) and
`dispersion_estimate` (nightly). Each loads what it needs with a fixed number of set-based
queries, hands arrays to the core (`monitoring.detection.core`) and writes back the segments'
monitors, the findings and one `DetectorRun`. docs/detection.md explains the method.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from monitoring import findings as hooks
from monitoring.attribution import attribution_rows_json, finding_attribution
from monitoring.detection import core
from monitoring.detection.config import DetectorConfig, detector_configs
from monitoring.detection.matrix import Series, dispersion
from monitoring.models import (
    ACTIVE_FINDING_STATES,
    DetectorRun,
    Finding,
    Segment,
    SegmentMonitor,
    SegmentState,
)

_LOCK_KEY = 0x50484454  # one detection run at a time (advisory, transaction-scoped)
_RATE = Decimal("0.000001")


def _step() -> int:
    return settings.PAYHEALTH_METRICS_BUCKET_MINUTES * 60


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(seconds: int | None) -> datetime | None:
    return None if seconds is None or seconds < 0 else datetime.fromtimestamp(int(seconds), UTC)


def _rate(value: float) -> Decimal:
    return Decimal(repr(float(min(max(value, 0.0), 1.0)))).quantize(_RATE, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Calendar:
    zone: ZoneInfo
    holidays: frozenset[date]


def desk_calendar() -> Calendar:
    """The calendar named by PAYHEALTH_MONITORING_CALENDAR: its zone and holidays (none if absent)."""
    from partners.models import BusinessCalendar, Holiday

    calendar = BusinessCalendar.objects.filter(code=settings.PAYHEALTH_MONITORING_CALENDAR).first()
    if calendar is None:
        return Calendar(ZoneInfo("UTC"), frozenset())
    days = frozenset(Holiday.objects.filter(calendar=calendar).values_list("date", flat=True))
    return Calendar(ZoneInfo(calendar.timezone), days)


# The buckets of a run and their hour context, with the values, holiday and suppression flags.
_VALUES_SQL = """
WITH wanted AS (
    SELECT * FROM unnest(%(seg)s::bigint[], %(start)s::timestamptz[], %(tested)s::boolean[])
        AS w(segment_id, bucket_start, tested)
)
SELECT w.segment_id, w.bucket_start, w.tested, b.attempts, b.approvals, b.decline_codes,
       (timezone(%(zone)s, w.bucket_start))::date = ANY(%(holidays)s::date[]) AS holiday,
       EXISTS (
           SELECT 1 FROM monitoring_suppression s
           WHERE s.segment_id IN (g.id, g.parent_id)
             AND s.start < w.bucket_start + %(step)s * interval '1 second' AND s."end" > w.bucket_start
       ) AS suppressed
FROM wanted w
JOIN monitoring_authbucket b ON b.segment_id = w.segment_id AND b.bucket_start = w.bucket_start
JOIN monitoring_segment g ON g.id = w.segment_id
"""

# Baseline sums per (segment, bucket, offset) and per (segment, bucket, code): the same slot
# ± radius buckets in each of the last weeks, without suppressed windows (of the segment or its
# merchant-level parent), windows of findings other than false positives, and holidays.
_BASELINE_SQL = """
WITH wanted AS (
    SELECT * FROM unnest(%(seg)s::bigint[], %(start)s::timestamptz[], %(weeks)s::int[], %(radius)s::int[])
        AS w(segment_id, bucket_start, weeks, radius)
),
slots AS (
    SELECT w.segment_id, w.bucket_start, j.j,
           w.bucket_start - make_interval(weeks => k.k) + j.j * %(step)s * interval '1 second' AS slot
    FROM wanted w
    CROSS JOIN LATERAL generate_series(1, w.weeks) AS k(k)
    CROSS JOIN LATERAL generate_series(-w.radius, w.radius) AS j(j)
),
kept AS MATERIALIZED (
    SELECT s.segment_id, s.bucket_start, s.j, b.attempts, b.approvals, b.decline_codes
    FROM slots s
    JOIN monitoring_authbucket b ON b.segment_id = s.segment_id AND b.bucket_start = s.slot
    JOIN monitoring_segment g ON g.id = s.segment_id
    WHERE NOT ((timezone(%(zone)s, s.slot))::date = ANY(%(holidays)s::date[]))
      AND NOT EXISTS (
          SELECT 1 FROM monitoring_suppression p
          WHERE p.segment_id IN (g.id, g.parent_id)
            AND p.start < s.slot + %(step)s * interval '1 second' AND p."end" > s.slot
      )
      AND NOT EXISTS (
          SELECT 1 FROM monitoring_finding f
          WHERE f.segment_id = s.segment_id AND f.state <> 'false_positive'
            AND f.window_start < s.slot + %(step)s * interval '1 second' AND f.window_end > s.slot
      )
)
SELECT segment_id, bucket_start, j, NULL::text, sum(attempts)::float8, sum(approvals)::float8
FROM kept GROUP BY 1, 2, 3
UNION ALL
SELECT k.segment_id, k.bucket_start, NULL::int, c.key, sum(c.value::int)::float8, NULL::float8
FROM kept k CROSS JOIN LATERAL jsonb_each_text(k.decline_codes) AS c(key, value)
GROUP BY 1, 2, 4
"""


def _changed(watermark: datetime | None, *, now: datetime, settle_seconds: int) -> list[tuple[int, datetime, datetime]]:
    """(segment, bucket start, updated at) of every bucket inserted or changed since the watermark,
    within the late days, and settled: a batch stamps its rows with the time it started, so rows
    younger than PAYHEALTH_DETECTION_SETTLE_SECONDS may belong to a batch still committing, whose
    earlier stamps a watermark past them would skip for ever. They wait for the next run."""
    oldest = now - timedelta(days=settings.PAYHEALTH_METRICS_LATE_DAYS)
    settled = now - timedelta(seconds=settle_seconds)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT segment_id, bucket_start, updated_at FROM monitoring_authbucket "
            "WHERE bucket_start >= %s AND bucket_start <= %s AND updated_at <= %s "
            "AND (%s::timestamptz IS NULL OR updated_at > %s) "
            "ORDER BY bucket_start, segment_id",
            [oldest, now, settled, watermark, watermark],
        )
        return cursor.fetchall()


def _configs(segment_ids: list[int]) -> tuple[dict[int, int], dict[int, int | None], dict[int, DetectorConfig]]:
    merchants: dict[int, int] = {}
    parents: dict[int, int | None] = {}
    for segment_id, merchant_id, parent_id in Segment.objects.filter(pk__in=segment_ids).values_list(
        "pk", "merchant_id", "parent_id"
    ):
        merchants[segment_id] = merchant_id
        parents[segment_id] = parent_id
    return merchants, parents, detector_configs(set(merchants.values()))


def evaluate_buckets(
    changed: list[tuple[int, datetime]], *, now: datetime, calendar: Calendar | None = None
) -> tuple[core.Results, dict]:
    """Evaluate these (segment, bucket start) pairs and write the outcome; returns the core's
    results and the counts the run records. Runs inside the caller's transaction."""
    step = _step()
    calendar = calendar or desk_calendar()
    segment_ids = sorted({segment_id for segment_id, _ in changed})
    merchants, _, configs = _configs(segment_ids)
    per_hour = max(1, 3600 // step)
    wanted: dict[tuple[int, datetime], bool] = {}
    for segment_id, start in changed:
        wanted[(segment_id, start)] = True
        hour_start = start - timedelta(seconds=_epoch(start) % 3600)
        for offset in range(per_hour):  # the earlier buckets of its clock hour: the hour test's context
            moment = hour_start + timedelta(seconds=offset * step)
            if moment < start:
                wanted.setdefault((segment_id, moment), False)
    keys = sorted(wanted, key=lambda key: (key[1], key[0]))
    params = {
        "seg": [key[0] for key in keys],
        "start": [key[1] for key in keys],
        "tested": [wanted[key] for key in keys],
        "zone": str(calendar.zone),
        "holidays": sorted(calendar.holidays),
        "step": step,
    }
    with connection.cursor() as cursor:
        cursor.execute(_VALUES_SQL, params)
        values = [
            (*row[:5], json.loads(row[5]) if isinstance(row[5], str) else (row[5] or {}), *row[6:])
            for row in cursor.fetchall()
        ]
    values.sort(key=lambda row: (row[1], row[0]))
    with connection.cursor() as cursor:
        cursor.execute(
            _BASELINE_SQL,
            {
                "seg": [row[0] for row in values],
                "start": [row[1] for row in values],
                "weeks": [configs[merchants[row[0]]].baseline_weeks for row in values],
                "radius": [configs[merchants[row[0]]].baseline_slot_radius for row in values],
                "zone": str(calendar.zone),
                "holidays": sorted(calendar.holidays),
                "step": step,
            },
        )
        baseline = cursor.fetchall()

    # Arrays for the core.
    index = {segment_id: position for position, segment_id in enumerate(segment_ids)}
    row_of = {(row[0], row[1]): position for position, row in enumerate(values)}
    radius = max([configs[m].baseline_slot_radius for m in set(merchants.values())] or [0])
    code_names = sorted(
        {code for row in values for code in (row[5] or {})} | {row[3] for row in baseline if row[3] is not None}
    )
    code_index = {code: k for k, code in enumerate(code_names)}
    size = len(values)
    base_n = np.zeros((size, 2 * radius + 1))
    base_x = np.zeros((size, 2 * radius + 1))
    base_codes = np.zeros((size, len(code_names)))
    for segment_id, start, offset, code, attempts, approvals in baseline:
        position = row_of[(segment_id, start)]
        if code is None:
            base_n[position, offset + radius] = attempts
            base_x[position, offset + radius] = approvals
        else:
            base_codes[position, code_index[code]] = attempts
    codes = np.zeros((size, len(code_names)), dtype=np.int64)
    for position, row in enumerate(values):
        for code, count in (row[5] or {}).items():
            codes[position, code_index[code]] = count
    rows = core.Rows(
        seg=np.array([index[row[0]] for row in values], dtype=np.int64),
        t=np.array([_epoch(row[1]) for row in values], dtype=np.int64),
        tested=np.array([row[2] for row in values], dtype=bool),
        skip=np.array([row[6] or row[7] for row in values], dtype=bool),
        n=np.array([row[3] for row in values], dtype=np.int64),
        x=np.array([row[4] for row in values], dtype=np.int64),
        base_n=base_n,
        base_x=base_x,
        codes=codes,
        base_codes=base_codes,
        code_names=code_names,
    )
    monitors = {monitor.segment_id: monitor for monitor in SegmentMonitor.objects.filter(segment_id__in=segment_ids)}
    floors = np.array([float(configs[merchants[s]].dispersion_floor) for s in segment_ids])
    segments = core.Segments(
        rho=np.array(
            [
                max(monitors[s].dispersion or 0.0, floors[i]) if s in monitors else floors[i]
                for i, s in enumerate(segment_ids)
            ]
        ),
        params=np.array([core.parameters_from_config(configs[merchants[s]]) for s in segment_ids]).reshape(
            len(segment_ids), len(core.PARAMETERS)
        ),
    )
    state = core.State.empty(len(segment_ids))
    for s, i in index.items():
        monitor = monitors.get(s)
        if monitor is None:
            continue
        state.cusum[i] = monitor.cusum
        state.cusum_zero_at[i] = _epoch(monitor.cusum_zero_at) if monitor.cusum_zero_at else -1
        state.alert_run[i] = monitor.rejecting_in_a_row
        state.healthy_run[i] = monitor.healthy_in_a_row
        state.last_t[i] = _epoch(monitor.last_bucket_start) if monitor.last_bucket_start else -1
    open_findings = {
        finding.pk: finding
        for finding in Finding.objects.filter(segment_id__in=segment_ids, state__in=ACTIVE_FINDING_STATES)
    }
    for finding in open_findings.values():
        state.active[(index[finding.segment_id], finding.kind, finding.decline_code)] = _active(
            finding, index[finding.segment_id]
        )
    state.low_volume = np.array(
        [monitors[s].state == SegmentState.LOW_VOLUME if s in monitors else False for s in segment_ids]
    )
    state.baseline_rate = np.full(len(segment_ids), np.nan)
    state.observed_rate = np.full(len(segment_ids), np.nan)

    results = core.evaluate(rows, segments, state, step=step)

    _save_monitors(segment_ids, state, results, monitors, now=now)
    counts = _save_findings(segment_ids, state, open_findings, now=now)
    return results, counts


def _active(finding: Finding, seg: int) -> core.Active:
    baseline = float(finding.baseline_rate)
    code = finding.kind == core.SPIKE
    return core.Active(
        seg=seg,
        kind=finding.kind,
        code=finding.decline_code,
        state=finding.state,
        test=finding.test,
        window_start=_epoch(finding.window_start),
        window_end=_epoch(finding.window_end),
        started_at=_epoch(finding.started_at) if finding.started_at else None,
        attempts=finding.attempts,
        approvals=finding.approvals,
        expected_approvals=baseline * finding.attempts,
        count=(finding.attempts - finding.approvals) if not code else 0,
        expected_count=(finding.attempts - baseline * finding.attempts) if not code else -finding.excess_declines,
        p_value=finding.p_value,
        q_value=finding.q_value,
        rejecting_in_a_row=finding.rejecting_in_a_row,
        alerted_at=_epoch(finding.alerted_at) if finding.alerted_at else None,
        id=finding.pk,
    )


def _save_monitors(segment_ids, state: core.State, results: core.Results, monitors: dict, *, now: datetime) -> None:
    rows = []
    for i, s in enumerate(segment_ids):
        if i not in results.touched and s in monitors and monitors[s].state == state.segment_state(i):
            continue
        monitor = monitors.get(s) or SegmentMonitor(segment_id=s)
        monitor.state = state.segment_state(i)
        monitor.cusum = float(state.cusum[i])
        monitor.cusum_zero_at = _moment(state.cusum_zero_at[i])
        monitor.rejecting_in_a_row = int(min(state.alert_run[i], 32767))
        monitor.healthy_in_a_row = int(min(state.healthy_run[i], 32767))
        monitor.last_bucket_start = _moment(state.last_t[i])
        if np.isfinite(state.baseline_rate[i]):
            monitor.baseline_rate = _rate(state.baseline_rate[i])
        if np.isfinite(state.observed_rate[i]):
            monitor.observed_rate = _rate(state.observed_rate[i])
        monitor.updated_at = now
        rows.append(monitor)
    if rows:
        SegmentMonitor.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["segment"],
            update_fields=[
                "state",
                "cusum",
                "cusum_zero_at",
                "rejecting_in_a_row",
                "healthy_in_a_row",
                "last_bucket_start",
                "baseline_rate",
                "observed_rate",
                "updated_at",
            ],
        )


def _save_findings(segment_ids, state: core.State, open_findings: dict[int, Finding], *, now: datetime) -> dict:
    counts = {"opened": 0, "updated": 0, "recovered": 0}
    for active in [*state.active.values(), *state.closed]:
        if not active.changed:
            continue
        finding = open_findings.get(active.id) if active.id else None
        if finding is None:
            finding = Finding(segment_id=segment_ids[active.seg], kind=active.kind, decline_code=active.code)
        before = _figures(finding) if finding.pk else None
        finding.test = active.test
        finding.state = active.state
        finding.window_start = _moment(active.window_start)
        finding.window_end = _moment(max(active.window_end, active.window_start + _step()))
        finding.started_at = _moment(active.started_at) if active.started_at is not None else finding.window_start
        finding.baseline_rate = _rate(active.baseline_rate)
        finding.observed_rate = _rate(active.observed_rate)
        finding.attempts = active.attempts
        finding.approvals = active.approvals
        finding.excess_declines = active.excess_declines
        finding.p_value = float(active.p_value)
        finding.q_value = float(active.q_value)
        finding.rejecting_in_a_row = min(active.rejecting_in_a_row, 32767)
        if active.alerted_at and not finding.alerted_at:
            finding.alerted_at = now
        if active.recovered_at and not finding.recovered_at:
            finding.recovered_at = now
        if before is not None and before == _figures(finding) and not active.events:
            continue
        if {"opened", "escalated"} & set(active.events):  # what explains it, for the queue and the incident
            attribution = finding_attribution(finding)
            finding.attribution = attribution_rows_json(attribution)
            finding.attribution_kind = attribution.kind
        finding.save()
        if "opened" in active.events:
            counts["opened"] += 1
            hooks.finding_opened(finding)
        elif active.events:
            counts["updated"] += 1
        if "escalated" in active.events:
            hooks.finding_escalated(finding)
        if "refreshed" in active.events and "opened" not in active.events:
            hooks.finding_refreshed(finding)
        if "recovered" in active.events:
            counts["recovered"] += 1
            hooks.finding_recovered(finding)
    return counts


def _figures(finding: Finding) -> tuple:
    return (
        finding.state,
        finding.window_start,
        finding.window_end,
        finding.baseline_rate,
        finding.observed_rate,
        finding.attempts,
        finding.approvals,
        finding.excess_declines,
        finding.rejecting_in_a_row,
    )


def detection_run(*, now: datetime | None = None, settle_seconds: int | None = None) -> DetectorRun | None:
    """One run: every bucket inserted or changed since the last run's watermark (within the late
    days) is tested, findings opened, updated or recovered, and a DetectorRun recorded. None when
    another run holds the lock (runs never overlap). `settle_seconds` (default
    PAYHEALTH_DETECTION_SETTLE_SECONDS): 0 for a caller whose own load has committed, the only
    one writing buckets."""
    now = now or timezone.now()
    settle = settings.PAYHEALTH_DETECTION_SETTLE_SECONDS if settle_seconds is None else settle_seconds
    try:
        return _detection_run(now, settle)
    except Exception as error:
        # The run's transaction is rolled back; its row says why (the first line only).
        DetectorRun.objects.create(
            started_at=now,
            finished_at=timezone.now(),
            error=(str(error).splitlines() or [type(error).__name__])[0][:500],
        )
        raise


def _detection_run(now: datetime, settle_seconds: int) -> DetectorRun | None:
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_LOCK_KEY])
            if not cursor.fetchone()[0]:
                return None
        last = DetectorRun.objects.filter(watermark__isnull=False).order_by("-watermark").first()
        watermark = last.watermark if last else None
        changed = _changed(watermark, now=now, settle_seconds=settle_seconds)
        run = DetectorRun(started_at=now, watermark=watermark)
        if changed:
            results, counts = evaluate_buckets([(s, start) for s, start, _ in changed], now=now)
            run.watermark = max(updated for _, _, updated in changed)
            run.segments = len({s for s, _, _ in changed})
            run.buckets = int(((results.test == core.BUCKET) | (results.test == core.HOUR)).sum())
            run.tests = results.tests
            run.rejected = results.rejected
            run.findings_opened = counts["opened"]
            run.findings_updated = counts["updated"]
            run.findings_recovered = counts["recovered"]
        run.finished_at = max(now, timezone.now())
        run.save()
        return run


def dispersion_estimate(*, now: datetime | None = None, chunk: int = 500) -> int:
    """Re-estimate every segment's over-dispersion (rho) by the method of moments over its last
    baseline weeks, each bucket against its own baseline, floored; returns the segments updated.
    Loads the series `chunk` segments at a time (one query each)."""
    now = now or timezone.now()
    step = _step()
    calendar = desk_calendar()
    end = datetime.fromtimestamp(_epoch(now) - _epoch(now) % step, UTC)
    segment_ids = list(Segment.objects.order_by("pk").values_list("pk", flat=True))
    merchants, _, configs = _configs(segment_ids)
    weeks = max([c.baseline_weeks for c in configs.values()] or [4])
    radius = max([c.baseline_slot_radius for c in configs.values()] or [2])
    start = end - timedelta(weeks=2 * weeks)  # each bucket of the last weeks needs its own baseline weeks
    total = (_epoch(end) - _epoch(start)) // step
    updated = 0
    for first in range(0, len(segment_ids), chunk):
        ids = segment_ids[first : first + chunk]
        position = {s: i for i, s in enumerate(ids)}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT b.segment_id, b.bucket_start, b.attempts, b.approvals, "
                "(timezone(%(zone)s, b.bucket_start))::date = ANY(%(holidays)s::date[]) "
                "OR EXISTS (SELECT 1 FROM monitoring_suppression p WHERE p.segment_id IN (g.id, g.parent_id) "
                "  AND p.start < b.bucket_start + %(step)s * interval '1 second' AND p.\"end\" > b.bucket_start) "
                "OR EXISTS (SELECT 1 FROM monitoring_finding f WHERE f.segment_id = b.segment_id "
                "  AND f.state <> 'false_positive' "
                "  AND f.window_start < b.bucket_start + %(step)s * interval '1 second' "
                "  AND f.window_end > b.bucket_start) "
                "FROM monitoring_authbucket b JOIN monitoring_segment g ON g.id = b.segment_id "
                "WHERE b.segment_id = ANY(%(ids)s) AND b.bucket_start >= %(start)s AND b.bucket_start < %(end)s",
                {
                    "ids": ids,
                    "start": start,
                    "end": end,
                    "zone": str(calendar.zone),
                    "holidays": sorted(calendar.holidays),
                    "step": step,
                },
            )
            found = cursor.fetchall()
        n = np.zeros((len(ids), total), np.int64)
        x = np.zeros((len(ids), total), np.int64)
        excluded = np.zeros((len(ids), total), bool)
        for segment_id, bucket_start, attempts, approvals, out in found:
            t = (_epoch(bucket_start) - _epoch(start)) // step
            n[position[segment_id], t] = attempts
            x[position[segment_id], t] = approvals
            excluded[position[segment_id], t] = out
        series = Series(_epoch(start), step, n, x, np.zeros((len(ids), total, 0), np.int32), [], excluded, excluded)
        floors = np.array([float(configs[merchants[s]].dispersion_floor) for s in ids])
        rho = dispersion(series, weeks=weeks, radius=radius, floor=floors)
        SegmentMonitor.objects.bulk_create(
            [
                SegmentMonitor(segment_id=s, dispersion=float(rho[i]), dispersion_estimated_at=now, updated_at=now)
                for i, s in enumerate(ids)
            ],
            update_conflicts=True,
            unique_fields=["segment"],
            update_fields=["dispersion", "dispersion_estimated_at", "updated_at"],
        )
        updated += len(ids)
    return updated


def replay(start: datetime, end: datetime) -> list[DetectorRun]:
    """Evaluate [start, end) bucket by bucket, as runs at each bucket's end would have (for tests
    and the benchmark; the live watermark is left alone)."""
    step = _step()
    runs = []
    moment = datetime.fromtimestamp(_epoch(start) - _epoch(start) % step, UTC)
    while moment < end:
        with transaction.atomic():
            pairs = list(Segment.objects.filter(buckets__bucket_start=moment).values_list("pk", flat=True).distinct())
            run = DetectorRun(started_at=moment + timedelta(seconds=step))
            if pairs:
                results, counts = evaluate_buckets([(s, moment) for s in pairs], now=run.started_at)
                run.segments = len(pairs)
                run.buckets = int(((results.test == core.BUCKET) | (results.test == core.HOUR)).sum())
                run.tests = results.tests
                run.rejected = results.rejected
                run.findings_opened = counts["opened"]
                run.findings_updated = counts["updated"]
                run.findings_recovered = counts["recovered"]
            run.finished_at = timezone.now()
            run.save()
            runs.append(run)
        moment += timedelta(seconds=step)
    return runs
