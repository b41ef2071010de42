"""Payment data ingest figures: rows/s through `manage.py import_buckets` (a CSV and a Parquet
file) and through `POST /api/v1/metrics/buckets/` in process.

    python bench/ingest.py [--rows 1000000] [--api-rows 200000] [--segments 1500] [--batch 5000]

The rows are `--segments` segments of bench merchants (`acct_BENCHINGEST…`, created here) ×
15-minute buckets of the last days, so every row is a new bucket the first time. The CSV file is
imported, then imported again (every row unchanged); then the same buckets of another card
network as a Parquet file, twice; then `--api-rows` buckets of a third network are posted through
the API in NDJSON batches of `--batch` rows (Bearer token, in process: Django's time, not the
network's). Each import's time includes its commit. The buckets stay in the database. Nothing is
asserted.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.local")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("PAYHEALTH_API_THROTTLE_TOKEN", "10000000/min")

import django  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

django.setup()
logging.getLogger("monitoring.services").setLevel(logging.WARNING)  # a line per batch otherwise

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.services import api_token_create, api_token_revoke  # noqa: E402
from cases.models import Merchant  # noqa: E402
from partners.models import Partner  # noqa: E402

MERCHANTS = 10
ISSUERS = ("bench-issuer-a", "bench-issuer-b", "bench-issuer-c")


def _world() -> None:
    for n in range(MERCHANTS):
        Merchant.objects.get_or_create(
            account_id=f"acct_BENCHINGEST{n:04d}",
            defaults={"name": f"Bench ingest {n}", "country": "MX", "mcc": "5411"},
        )
    for code in ISSUERS:
        Partner.objects.get_or_create(
            code=code, defaults={"name": code, "kind": Partner.Kind.ISSUER, "country": "MX", "language": "es"}
        )


def _rows(count: int, segments: int, network: str):
    now = datetime.now(UTC)
    newest = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) - timedelta(minutes=15)
    per_segment = -(-count // segments)
    made = 0
    for s in range(segments):
        for b in range(per_segment):
            if made == count:
                return
            attempts = 200 + (s * 7 + b) % 300
            approvals = attempts * 9 // 10
            soft = (attempts - approvals) // 2
            hard = attempts - approvals - soft - 1
            yield {
                "merchant": f"acct_BENCHINGEST{s % MERCHANTS:04d}",
                "network": network,
                "bin_prefix": f"{700000 + s:06d}",
                "issuer": ISSUERS[s % len(ISSUERS)],
                "country": "MX",
                "funding": "debit" if s % 2 else "credit",
                "entry_mode": "ecommerce",
                "bucket_start": (newest - timedelta(minutes=15 * b)).isoformat().replace("+00:00", "Z"),
                "attempts": attempts,
                "approvals": approvals,
                "soft_declines": soft,
                "hard_declines": hard,
                "errors": 1,
                "amount_attempted": f"{attempts * 850}.00",
                "amount_approved": f"{approvals * 850}.00",
                "currency": "MXN",
                "decline_codes": f"05:{soft};91:{hard}",
            }
            made += 1


def _import(path: Path) -> float:
    started = time.perf_counter()
    call_command("import_buckets", str(path), stdout=open(os.devnull, "w"), stderr=open(os.devnull, "w"))  # noqa: SIM115
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--api-rows", type=int, default=200_000)
    parser.add_argument("--segments", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    if max(args.rows, args.api_rows) // args.segments > 7 * 24 * 4 - 2:
        raise SystemExit("More rows per segment than 15-minute buckets in the late window: add --segments.")
    _world()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "buckets.csv"
        rows = _rows(args.rows, args.segments, "visa")
        first = next(rows)
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(first))
            writer.writeheader()
            writer.writerow(first)
            writer.writerows(rows)
        print(f"CSV: {args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB")
        seconds = _import(path)
        print(f"import_buckets CSV (new rows):          {args.rows / seconds:>10,.0f} rows/s ({seconds:.1f} s)")
        seconds = _import(path)
        print(f"import_buckets CSV (all unchanged):     {args.rows / seconds:>10,.0f} rows/s ({seconds:.1f} s)")
        parquet = Path(folder) / "buckets.parquet"
        # As a warehouse writes it: a timestamp with its zone, amounts as decimals.
        types = {"bin_prefix": pa.string(), "amount_attempted": pa.decimal128(18, 2)}
        types["amount_approved"] = types["amount_attempted"]
        table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=types))
        table = table.set_column(table.schema.get_field_index("network"), "network", pa.array(["amex"] * len(table)))
        pq.write_table(table, parquet)
        path.unlink()
        print(f"Parquet: {args.rows:,} rows, {parquet.stat().st_size / 1e6:.1f} MB")
        seconds = _import(parquet)
        print(f"import_buckets Parquet (new rows):      {args.rows / seconds:>10,.0f} rows/s ({seconds:.1f} s)")
        seconds = _import(parquet)
        print(f"import_buckets Parquet (all unchanged): {args.rows / seconds:>10,.0f} rows/s ({seconds:.1f} s)")

    user, _ = get_user_model().objects.get_or_create(username="bench-ingest")
    user.groups.set([django.contrib.auth.models.Group.objects.get(name="analyst")])
    token, plain = api_token_create(user=user, name="bench/ingest.py")
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {plain}")
    batch: list[str] = []
    posted, spent = 0, 0.0

    def post() -> None:
        nonlocal posted, spent
        body = "\n".join(batch)
        started = time.perf_counter()
        response = client.post("/api/v1/metrics/buckets/", body, content_type="application/x-ndjson")
        spent += time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"API answered {response.status_code}: {response.content[:500]!r}")
        posted += len(batch)
        batch.clear()

    for row in _rows(args.api_rows, args.segments, "mastercard"):
        batch.append(json.dumps(row))
        if len(batch) == args.batch:
            post()
    if batch:
        post()
    api_token_revoke(token=token, actor=user)
    print(f"API, NDJSON batches of {args.batch:,}:          {posted / spent:>10,.0f} rows/s ({spent:.1f} s)")


if __name__ == "__main__":
    main()
