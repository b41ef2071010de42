"""Server time and query count of the analysts' busiest pages, printed as a table.

Run against a database seeded for benchmarks (see bench/README.md):

    python manage.py seed_demo --incidents 100000
    python bench/queue.py [--requests 30] [--user analyst]

Each page is requested in-process with django.test.Client, logged in as the demo analyst, a few
times to warm up and then `--requests` times; the time is the server's (URL routing, middleware,
view, queries, template), not the network's. "CPU ms" is the median CPU time of this process per
request: the Python part of that time (the database's own work is not in it), steadier than wall
time on a machine shared with other work. Query counts come from one extra request.
Nothing is asserted: the figures go in the issue note.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path

# Run as a script, this file's folder comes first on the path, and this module's name would
# shadow the standard library's `queue` (which Django imports): put the project root there instead.
BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(BENCH_DIR.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.local")
# Measure what production runs: no debug templates, no query log on every request.
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import NoReverseMatch, reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.figures import measure  # noqa: E402
from cases.models import AffectedMerchant, CaseEvent, Incident, InvestigationNote, Merchant  # noqa: E402
from cases.numbering import next_reference  # noqa: E402
from cases.search import refresh_search  # noqa: E402
from partners.models import Partner  # noqa: E402

TARGET_MS = 30
DETAIL_FINGERPRINT = "bench:detail-20-merchants-200-events"
DETAIL_MERCHANTS = 20
DETAIL_EVENTS = 200


def bench_incident(author, **fields) -> Incident:
    """A SEV2 approval-rate incident under investigation, owned and opened by `author`."""
    fields = {"category": "auth_rate", "severity": "sev2", "status": "investigating", **fields}
    return Incident.objects.create(
        reference=next_reference(timezone.now().year), owner=author, created_by=author, **fields
    )


def detail_incident(author) -> Incident:
    """The incident page's worst realistic case: 20 affected merchants and 200 timeline events."""
    existing = Incident.objects.filter(fingerprint=DETAIL_FINGERPRINT).first()
    if existing is not None:
        return existing
    merchants = list(Merchant.objects.order_by("id")[:DETAIL_MERCHANTS])
    if len(merchants) < DETAIL_MERCHANTS:
        raise SystemExit(f"Need {DETAIL_MERCHANTS} merchants; run `manage.py seed_demo` first.")
    now = timezone.now()
    start = now - timedelta(days=3)
    with transaction.atomic():
        incident = bench_incident(
            author,
            title="Caída de tasa de aprobación en débito (benchmark)",
            summary="Rechazos 05 y 91 en comercios de viajes y supermercados.",
            started_at=start,
            detected_at=start + timedelta(minutes=12),
            card_networks=["visa", "mastercard", "carnet"],
            decline_codes=["05", "91", "51"],
            bin_prefixes=["415231", "54801234"],
            country="MX",
            fingerprint=DETAIL_FINGERPRINT,
        )
        AffectedMerchant.objects.bulk_create(
            AffectedMerchant(
                incident=incident,
                merchant=merchant,
                baseline_rate="0.9312",
                observed_rate="0.8120",
                attempts=120_000 + index * 1_000,
                failed_attempts=22_000 + index * 150,
                volume_at_risk=f"{250_000 + index * 10_000}.00",
                currency="MXN",
            )
            for index, merchant in enumerate(merchants)
        )
        notes = InvestigationNote.objects.bulk_create(
            InvestigationNote(incident=incident, author=author, body=f"Nota {n}: **rechazos 05** siguen altos.")
            for n in range(10)
        )
        opened = {"reference": incident.reference, "severity": "sev2", "category": "auth_rate"}
        events = [CaseEvent(incident=incident, actor=author, kind="opened", data=opened)]
        events += [
            CaseEvent(incident=incident, actor=author, kind="merchant_added", data={"merchant": merchant.name})
            for merchant in merchants
        ]
        kinds = [
            ("note_added", lambda n: {"note": notes[n % len(notes)].pk}),
            ("status_changed", lambda n: {"from": "investigating", "to": "waiting_on_partner", "reason": "Prosa"}),
            ("status_changed", lambda n: {"from": "waiting_on_partner", "to": "investigating", "reason": ""}),
            ("severity_changed", lambda n: {"from": "sev2", "to": "sev2", "reason": "Revisión"}),
            ("merchant_updated", lambda n: {"merchant": merchants[n % len(merchants)].name, "changes": {}}),
        ]
        while len(events) < DETAIL_EVENTS:
            kind, data = kinds[len(events) % len(kinds)]
            events.append(CaseEvent(incident=incident, actor=author, kind=kind, data=data(len(events))))
        for offset, event in enumerate(events):
            event.created_at = start + timedelta(minutes=15 * offset)
        CaseEvent.objects.bulk_create(events)
        refresh_search(incident_ids=[incident.pk])
    return incident


LONG_FINGERPRINT = "bench:detail-2000-events"
LONG_EVENTS = 2000


def long_incident(author) -> Incident:
    """An incident a monitor updated every minute for a day and a half: 2,000 "alert received" events."""
    existing = Incident.objects.filter(fingerprint=LONG_FINGERPRINT).first()
    if existing is not None:
        return existing
    now = timezone.now()
    with transaction.atomic():
        incident = bench_incident(
            author,
            title="Caída sostenida en crédito (benchmark, 2,000 alertas)",
            summary="Un monitor actualiza el incidente cada minuto.",
            started_at=now - timedelta(minutes=LONG_EVENTS + 5),
            fingerprint=LONG_FINGERPRINT,
        )
        window = {"start": now.isoformat(), "end": now.isoformat()}
        alert = {"source": "grafana", "merchant": "Tienda", "account_id": "acct_bench", "network": "visa"}
        alert |= {"country": "MX", "bin_prefix": "415231", "window": window, "baseline_rate": "0.93"}
        alert |= {"observed_rate": "0.80", "drop_pp": "13.00", "attempts": 1000, "failed_attempts": 200}
        alert |= {"partner": "", "issuer": "", "volume_at_risk": None, "decline_codes": [], "severity_hint": ""}
        events = [CaseEvent(incident=incident, kind="alert_received", data=alert) for _ in range(LONG_EVENTS)]
        for minute, event in enumerate(events):
            event.created_at = now - timedelta(minutes=LONG_EVENTS - minute)
        CaseEvent.objects.bulk_create(events)
        refresh_search(incident_ids=[incident.pk])
    return incident


def queue_pages(user) -> list[tuple[str, str]]:
    """(label, URL) of every page measured, the incident page's worst case included (created once)."""
    codes = set(Partner.objects.values_list("code", flat=True))
    partner = "prosa" if "prosa" in codes else min(codes, default="")
    queue = reverse("cases:incident_list")
    pages = [
        ("queue, first page", queue),
        ("queue, filtered", f"{queue}?status=investigating&severity=sev1&partner={partner}"),
        ("queue, search (few matches)", f"{queue}?q=rechazos+timeout"),
        ("queue, search (many matches)", f"{queue}?q=visa"),
        ("queue, search by reference", f"{queue}?q=PH-2026-000123&status=all"),
        ("queue, card network", f"{queue}?network=visa"),
        ("queue, page 500", f"{queue}?page=500"),
        ("queue, page 500 of all × 100", f"{queue}?status=all&per_page=100&page=500"),
        ("queue, sorted by status", f"{queue}?sort=status&page=50"),
        ("queue, htmx results only", f"{queue}?severity=sev2&page=20"),
        ("queue, search (few matches), every status", f"{queue}?q=rechazos+timeout&status=all"),
        ("queue, search (one rare word), every status", f"{queue}?q=benchmark&status=all"),
        ("API list, search (few matches), every status", "/api/v1/incidents/?q=rechazos+timeout&status=all"),
        ("API list, search (one rare word), every status", "/api/v1/incidents/?q=benchmark&status=all"),
        ("overview", reverse("overview")),
    ]
    try:
        detail = reverse("cases:incident_detail", args=[detail_incident(user).reference])
        pages.append((f"incident page ({DETAIL_MERCHANTS} merchants, {DETAIL_EVENTS} events)", detail))
        pages.append((f"incident page, {DETAIL_EVENTS} events, whole feed", f"{detail}?feed=all&feed_show=all"))
        long = reverse("cases:incident_detail", args=[long_incident(user).reference])
        pages.append((f"incident page ({LONG_EVENTS:,} alert events)", long))
    except NoReverseMatch:
        print("Note: cases:incident_detail does not exist yet; the incident page is skipped.")
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="measured requests per page (default 30)")
    parser.add_argument("--user", default="analyst", help="username to log in as (default: the demo analyst)")
    parser.add_argument("--only", default="", help="measure only the pages whose label contains this text")
    options = parser.parse_args()

    user = get_user_model().objects.filter(username=options.user).first()
    if user is None:
        raise SystemExit(f"No user {options.user!r}: run `manage.py seed_demo` first.")
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    total = Incident.objects.count()
    pages = queue_pages(user)

    print(
        f"{total:,} incidents; {options.requests} requests per page as {user.username!r}; target p95 < {TARGET_MS} ms"
    )
    print(f"{'page':<50}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}{'CPU ms':>8}{'queries':>9}  target")
    for label, url in pages:
        if options.only not in label:
            continue
        if "htmx" in label:
            client.defaults["HTTP_HX_REQUEST"] = "true"
        result = measure(client, url, options.requests)
        client.defaults.pop("HTTP_HX_REQUEST", None)
        verdict = "ok" if result["p95"] < TARGET_MS else "SLOW"
        print(
            f"{label:<50}{result['median']:>10.1f}{result['p95']:>9.1f}{result['max']:>9.1f}{result['cpu']:>8.1f}"
            f"{result['queries']:>9}  {verdict}"
        )
        print(f"    {url}")


if __name__ == "__main__":
    main()
