"""The demo's payment data: 35 days of buckets for a few demo merchants, three regressions at
recent, believable times, and the "live" buckets beat replays while `make run` is up.

Everything comes from `monitoring.generator` with its fixed seed and goes in through
`monitoring.services.buckets_upsert` (COPY and one merge per day of data).

Times are relative to the *anchor*: the moment the demo's payment data was first loaded (the
creation time of the demo merchants' segments, which the first load takes from the database's
clock). The 35 days end at the anchor and the regressions sit before it, so loading again, a day
or a month later, changes nothing: when every bucket is present the load stops at one count,
otherwise it regenerates exactly the same rows and puts back only those missing. The replay adds the
buckets finished since the last one present, including a Prosa outage shortly after the anchor
that a newcomer sees arrive.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Max, Min

from cases.models import Incident
from cases.models.incident import OPEN_STATUSES, Status
from cases.services import incident_transition
from demo.catalog import merchant_account_id
from monitoring import generator
from monitoring.detection.runner import detection_run
from monitoring.models import ACTIVE_FINDING_STATES, AuthBucket, DetectorRun, Segment
from monitoring.rows import bucket_floor
from monitoring.services import buckets_upsert
from partners.models import Partner

SOURCE = "demo"
DEMO_METRICS_DAYS = 35
SLICES_PER_MERCHANT = len(generator.MX_SLICES)  # the whole Mexican mix, long tail included
REPLAY_CATCH_UP = timedelta(days=1)  # a replay after a long pause fills at most this much
LIVE_OUTAGE = timedelta(minutes=75)  # the live Prosa outage, from the anchor
DEMO_RESOLVER = "analyst"  # the demo user who resolves the history's incidents

# (merchant name in demo.catalog, attempts per 15 minutes at the weekly peak)
DEMO_METRICS_MERCHANTS = (
    ("Aerolíneas Quetzal", 900),
    ("Almacenes Del Valle", 700),
    ("Súper Ahorro del Bajío", 500),
    ("ViajaYa.mx", 400),
)
ECOMMERCE_MERCHANTS = ("Aerolíneas Quetzal", "ViajaYa.mx")


def demo_profiles() -> list[generator.MerchantProfile]:
    """The demo merchants on the Mexican mix, with the issuers and routes the desk has."""
    issuers = Partner.objects.filter(kind=Partner.Kind.ISSUER).values_list("code", flat=True)
    routes = Partner.objects.filter(kind__in=(Partner.Kind.ACQUIRER, Partner.Kind.SWITCH)).values_list(
        "code", flat=True
    )
    issuers, routes = set(issuers), set(routes)
    return [
        generator.profile(merchant_account_id(name), peak, issuers=issuers, routes=routes, count=SLICES_PER_MERCHANT)
        for name, peak in DEMO_METRICS_MERCHANTS
    ]


def demo_regressions(anchor: datetime) -> list[generator.Regression]:
    """The demo's regressions: three in the loaded history, on days before the anchor at
    believable local times, and a Prosa outage the live replay brings in from the anchor on (its
    first buckets are the first live ones, so the detector alerts on it within about half an
    hour of the first `make run`)."""
    ecommerce = frozenset(merchant_account_id(name) for name in ECOMMERCE_MERCHANTS)
    minutes = settings.PAYHEALTH_METRICS_BUCKET_MINUTES
    today = anchor.astimezone(generator.LOCAL_TZ).date()

    def local(days_before: int, hour: int, minute: int = 0) -> datetime:
        moment = datetime.combine(today - timedelta(days=days_before), time(hour, minute), generator.LOCAL_TZ)
        return bucket_floor(moment, minutes)

    return [
        generator.ThreeDSFailure(local(9, 19, 30), local(9, 21, 15), ecommerce),
        generator.IssuerCodeSpike(local(5, 11), local(5, 14)),
        generator.RouteOutage(local(2, 13, 15), local(2, 14, 45)),
        generator.RouteOutage(anchor, anchor + LIVE_OUTAGE),
    ]


def _merchant_segments():
    accounts = [merchant_account_id(name) for name, _peak in DEMO_METRICS_MERCHANTS]
    return Segment.objects.filter(merchant__account_id__in=accounts, parent__isnull=True)


def demo_anchor() -> datetime | None:
    """When the demo's payment data was first loaded (bucket-aligned), or None before."""
    first = _merchant_segments().aggregate(first=Min("created_at"))["first"]
    return bucket_floor(first, settings.PAYHEALTH_METRICS_BUCKET_MINUTES) if first else None


def _load(profiles, *, start: datetime, end: datetime, anchor: datetime) -> int:
    """Generate and upsert [start, end) one day at a time; how many buckets changed."""
    regressions = demo_regressions(anchor)
    holidays = generator.desk_holidays()
    changed = 0
    day = timedelta(days=1)
    moment = start
    while moment < end:
        upto = min(moment + day, end)
        rows = generator.generate(profiles, start=moment, end=upto, regressions=regressions, holidays=holidays)
        result = buckets_upsert(rows, source=SOURCE)
        changed += result.inserted + result.updated
        moment = upto
    return changed


@transaction.atomic
def seed_demo_metrics(*, days: int = DEMO_METRICS_DAYS) -> int:
    """Load `days` days of buckets ending at the anchor (the first load: now); idempotent.
    Returns how many buckets were inserted or changed (0 when loaded before)."""
    anchor = demo_anchor()
    if anchor is None:
        with connection.cursor() as cursor:  # the clock that stamps the segments this load creates
            cursor.execute("SELECT now()")
            anchor = bucket_floor(cursor.fetchone()[0], settings.PAYHEALTH_METRICS_BUCKET_MINUTES)
    profiles = demo_profiles()
    start = anchor - timedelta(days=days)
    expected = sum(len(profile.slices) + 1 for profile in profiles) * len(
        generator.bucket_starts(start, anchor, settings.PAYHEALTH_METRICS_BUCKET_MINUTES)
    )
    accounts = [profile.account for profile in profiles]
    present = AuthBucket.objects.filter(
        segment__merchant__account_id__in=accounts, bucket_start__gte=start, bucket_start__lt=anchor
    ).count()
    if present == expected:  # loaded before: a quick start, and the same rows as regenerating them
        return 0
    changed = _load(profiles, start=start, end=anchor, anchor=anchor)
    with connection.cursor() as cursor:  # fresh statistics for the planner
        cursor.execute("ANALYZE monitoring_authbucket")
    return changed


@transaction.atomic
def replay_demo_metrics(*, now: datetime) -> int:
    """The buckets finished since the last one loaded (at most a day's worth), from the
    generator: the demo's live data. Nothing before the demo data is loaded; idempotent.
    Returns how many buckets were inserted or changed."""
    anchor = demo_anchor()
    if anchor is None:
        return 0
    minutes = settings.PAYHEALTH_METRICS_BUCKET_MINUTES
    end = bucket_floor(now, minutes)
    last = AuthBucket.objects.filter(segment__in=_merchant_segments()).aggregate(last=Max("bucket_start"))["last"]
    start = max(last + timedelta(minutes=minutes) if last else anchor, end - REPLAY_CATCH_UP)
    if start >= end:
        return 0
    return _load(demo_profiles(), start=start, end=end, anchor=anchor)


@transaction.atomic
def seed_demo_detection() -> DetectorRun | None:
    """The detector's first run, over the history just loaded (its last
    PAYHEALTH_METRICS_LATE_DAYS), as beat's first run would do: the findings of the recent
    regressions, and the incidents they open with the partner engaged and their resolution
    proposed. Then the desk's answer to each proposal: an incident whose findings have all
    recovered is resolved by the demo analyst, so the live outage opens an incident of its own
    instead of joining one from days ago. Nothing when the detector has run before (idempotent)."""
    if DetectorRun.objects.exists():
        return None
    run = detection_run(settle_seconds=0)  # the load above has committed; nothing else writes
    if run is None:
        return None
    analyst = get_user_model().objects.filter(username=DEMO_RESOLVER).first()
    if analyst is None:
        return run
    incidents = Incident.objects.filter(findings__isnull=False, status__in=OPEN_STATUSES).distinct()
    for incident in incidents.exclude(findings__state__in=ACTIVE_FINDING_STATES).order_by("pk"):
        incident = incident_transition(incident=incident, actor=analyst, to=Status.INVESTIGATING)
        incident_transition(incident=incident, actor=analyst, to=Status.RESOLVED)
    return run
