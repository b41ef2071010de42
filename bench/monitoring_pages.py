"""Pages with payment-data charts, on the demo's 35 days of 15-minute buckets. Printed, never asserted.

    export DATABASE_URL=postgresql://…/payhealth
    .venv/bin/python manage.py migrate
    .venv/bin/python manage.py seed_demo        # users, the desk, 35 days of buckets for 4 merchants
    .venv/bin/python bench/monitoring_pages.py [--requests 20] [--user analyst]

Server time (median, p95, max) and query count, through `django.test.Client` logged in as the
demo analyst, of: the incident page and its chart panel (an incident of the busiest demo
merchant over the Prosa outage two days back, created by the script the first time, fingerprint
`bench:charts`), the merchant page and its 30-day chart, and the merchant-level segment page
(24 hours broken down by issuer, 7 days by route). The panels load with htmx after their page:
a person waits for the page, then the panel, so both are printed and summed. Target: p95 under
300 ms for each page with its panel on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.local")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.figures import measure  # noqa: E402
from cases.models import AffectedMerchant, Incident  # noqa: E402
from monitoring.models import AuthBucket, Segment  # noqa: E402

FINGERPRINT = "bench:charts"


def bench_incident(segment: Segment) -> Incident:
    incident = Incident.objects.filter(fingerprint=FINGERPRINT).first()
    if incident is None:
        start = (timezone.now() - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
        incident = Incident.objects.create(
            reference="PH-2026-999001",
            title="Benchmark: charts over an outage",
            category="auth_rate",
            fingerprint=FINGERPRINT,
            started_at=start,
            detected_at=start,
            resolved_at=start + timedelta(minutes=90),
        )
        AffectedMerchant.objects.create(incident=incident, merchant=segment.merchant)
    return incident


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--user", default="analyst")
    options = parser.parse_args()

    segment = (
        Segment.objects.filter(parent__isnull=True)
        .annotate(slices=Count("children"))
        .order_by("-slices", "id")
        .select_related("merchant")
        .first()
    )
    if segment is None:
        raise SystemExit("No payment data: run `manage.py seed_demo` first.")
    buckets = AuthBucket.objects.filter(segment__merchant=segment.merchant).count()
    first = AuthBucket.objects.filter(segment=segment).order_by("bucket_start").values_list("bucket_start", flat=True)
    days = (timezone.now() - first.first()).days if first.exists() else 0
    print(f"merchant {segment.merchant.account_id}: {segment.slices} slices, {buckets:,} buckets over {days} days")
    incident = bench_incident(segment)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username=options.user))
    account = segment.merchant.account_id
    pages = [
        ("incident page", reverse("cases:incident_detail", args=[incident.reference])),
        ("incident charts panel", reverse("monitoring:incident_charts", args=[incident.reference])),
        ("merchant page", reverse("cases:merchant_detail", args=[account])),
        ("merchant 30-day chart", reverse("monitoring:merchant_chart", args=[account])),
        ("segment page, 24 h by issuer", reverse("monitoring:segment_detail", args=[segment.pk]) + "?window=24h"),
        ("segment page, 7 d by route", reverse("monitoring:segment_detail", args=[segment.pk]) + "?window=7d&by=route"),
    ]
    figures = {}
    print(f"{'page':<32}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}{'queries':>9}")
    for name, url in pages:
        figures[name] = result = measure(client, url, options.requests)
        print(f"{name:<32}{result['median']:>10.1f}{result['p95']:>9.1f}{result['max']:>9.1f}{result['queries']:>9}")
    for page, panel in (("incident page", "incident charts panel"), ("merchant page", "merchant 30-day chart")):
        total = figures[page]["p95"] + figures[panel]["p95"]
        print(f"{page} + its panel: p95 {total:.1f} ms")


if __name__ == "__main__":
    main()
