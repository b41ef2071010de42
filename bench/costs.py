"""Partner-cost figures: `fee_import` of transaction fee records and invoice lines, then
`costs_check` over the month. Printed, never asserted.

    export DATABASE_URL=postgresql://…/payhealth   # the server to use (its database is not touched)
    .venv/bin/python bench/costs.py [--records 1000000] [--invoice-lines 10000] [--parquet] [--keep]

The script creates a database of its own next to DATABASE_URL's (its name plus `_bench_costs`,
migrated from scratch) and drops it at the end (`--keep` leaves it). In it: an acquirer with an
approved rate card of the Mexico sample figures, `--records` fee records of one month (June 2026)
spread over the sample giros, networks, funding types and entry modes with exact fees but for one
cohort billed 7 bps over its rule and 30 duplicated references, written as a CSV file (or Parquet
with `--parquet`) and imported; then `--invoice-lines` invoice lines of a switch (one with an
unmapped fee code); then the checks for June, for every partner.

Figures: import rows/s (file read, every row checked, COPY and commit), the check's time and the
findings by kind, and the process's peak memory (maximum resident set size). Targets: import
≥ 50,000 rows/s, check ≤ 10 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.local")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.csv as pa_csv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402

IMPORT_TARGET = 50_000  # rows/s
CHECK_TARGET = 10.0  # s
JUNE = date(2026, 6, 1)
SEED = 7


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _records(count: int, giros: list[dict]) -> pa.Table:
    """`count` fee records of June with fees exact to the sample rules, but one cohort 7 bps over."""
    rng = np.random.default_rng(SEED)
    weights = np.array([float(g["volume_weight"]) for g in giros if g["zero_rated"] != "true"])
    usable = [g for g in giros if g["zero_rated"] != "true"]
    giro = rng.choice(len(usable), size=count, p=weights / weights.sum())
    network = rng.choice(np.array(["visa", "mastercard", "carnet"]), size=count, p=[0.5, 0.4, 0.1])
    credit = rng.random(count) < 0.4
    entry = rng.choice(np.array(["chip", "contactless", "ecommerce"]), size=count, p=[0.5, 0.3, 0.2])
    cents = rng.integers(5_000, 500_000, size=count)  # MXN 50 to 5,000
    debit_bps = np.array([float(g["debit_bps"]) for g in usable])[giro]
    credit_bps = np.array([float(g["credit_bps"]) for g in usable])[giro]
    bps = np.where(credit, credit_bps, debit_bps)
    over = (
        (giro == [g["giro"] for g in usable].index("supermercados"))
        & (network == "visa")
        & ~credit
        & (entry == "ecommerce")
    )
    bps = bps + np.where(over, 7, 0)  # supermarkets, Visa debit e-commerce: 7 bps over
    markup = np.where(credit, 35, 20)
    interchange = np.round(cents * bps / 10_000).astype(np.int64)
    markup_cents = np.round(cents * markup / 10_000).astype(np.int64) + 50
    day = rng.integers(1, 31, size=count)

    def money(values: np.ndarray) -> pa.Array:
        text = np.char.add(np.char.add((values // 100).astype(str), "."), np.char.zfill((values % 100).astype(str), 2))
        return pa.array(text)

    references = np.char.add("74", np.char.zfill(np.arange(count).astype(str), 21))
    references[count // 2 : count // 2 + 30] = references[:30]  # 30 references billed twice
    return pa.table(
        {
            "reference": pa.array(references),
            "date": pa.array(np.char.add("2026-06-", np.char.zfill(day.astype(str), 2))),
            "bin": pa.array(np.where(network == "visa", "415231", "516587")),
            "last4": pa.array(np.char.zfill((np.arange(count) % 10_000).astype(str), 4)),
            "network": pa.array(network),
            "funding": pa.array(np.where(credit, "credit", "debit")),
            "region": pa.array(np.full(count, "domestic")),
            "giro": pa.array(np.array([g["giro"] for g in usable])[giro]),
            "entry_mode": pa.array(entry),
            "issuer_country": pa.array(np.full(count, "MX")),
            "merchant_country": pa.array(np.full(count, "MX")),
            "amount": money(cents),
            "currency": pa.array(np.full(count, "MXN")),
            "interchange_fee": money(interchange),
            "markup_fee": money(markup_cents),
            "downgrade_reason": pa.array(np.where(rng.random(count) < 0.02, "sin CVV2", "")),
        }
    )


def _write(path: Path, count: int, giros: list[dict], parquet: bool) -> None:
    table = _records(count, giros)
    if parquet:
        pq.write_table(table, path)
    else:
        pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="none"))


def _invoice_lines(count: int) -> list[dict]:
    lines = []
    for n in range(count):
        volume = 100_000 + (n * 7919) % 900_000
        transactions = 100 + n % 400
        lines.append(
            {
                "period": "2026-06",
                "network": ("visa", "mastercard", "carnet")[n % 3],
                "funding": ("debit", "credit")[n % 2],
                "entry_mode": ("chip", "contactless", "ecommerce")[n % 3],
                "program_code": f"P{n:05d}",
                "fee_code": "CUOTA-PLATAFORMA" if n == 0 else "SW-MARKUP",
                "count": str(transactions),
                "volume": f"{volume}.00",
                "amount": f"{volume * 2 / 10_000 + transactions * 0.25:.2f}",
            }
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="fee records to import (default 1,000,000)")
    parser.add_argument("--invoice-lines", type=int, default=10_000, help="invoice lines (default 10,000)")
    parser.add_argument("--parquet", action="store_true", help="send the records as Parquet instead of CSV")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--no-check", action="store_true", help="import only")
    args = parser.parse_args()

    server_db = settings.DATABASES["default"]["NAME"]
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = f"{server_db}_bench_costs"
    started = time.perf_counter()
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    print(f"Bench database {connection.settings_dict['NAME']}: migrated in {time.perf_counter() - started:.1f} s")
    try:
        _run(args)
    finally:
        if args.keep:
            print(f"Kept {connection.settings_dict['NAME']}.")
        else:
            connection.creation.destroy_test_db(server_db, verbosity=0)
            print("Bench database dropped.")


def _run(args) -> None:
    from costs.checks import costs_check
    from costs.importing import fee_import
    from costs.sample import INTERCHANGE_FILE, _read, sample_rate_card_create
    from costs.services import rate_card_approve
    from partners.models import Partner

    lead = get_user_model().objects.create_superuser("bench-costs-lead", "lead@bench.example", None)
    acquirer = Partner.objects.create(code="bench-adquirente", name="Bench Adquirente", kind="acquirer", country="MX")
    switch = Partner.objects.create(code="bench-switch", name="Bench Switch", kind="switch", country="MX")
    for partner in (acquirer, switch):
        card = sample_rate_card_create(partner=partner, effective_from=date(2026, 1, 1))
        rate_card_approve(rate_card=card, actor=lead)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("records.parquet" if args.parquet else "records.csv")
        # Generated in a child process: the peak memory printed is the import's and the check's.
        child = multiprocessing.get_context("fork").Process(
            target=_write, args=(path, args.records, _read(INTERCHANGE_FILE), args.parquet)
        )
        child.start()
        child.join()
        if child.exitcode:
            raise SystemExit("Writing the file failed.")
        print(f"Memory before the import (peak RSS): {_peak_mb():,.0f} MB")
        size = path.stat().st_size / 1e6
        started = time.perf_counter()
        imported = fee_import(path, partner=acquirer, shape="records")
        seconds = time.perf_counter() - started
    rate = imported.rows / seconds
    kind = "Parquet" if args.parquet else "CSV"
    print(
        f"Import {imported.rows:,} fee records ({kind}, {size:.0f} MB): {seconds:.1f} s, "
        f"{rate:,.0f} rows/s (target ≥ {IMPORT_TARGET:,})"
    )
    started = time.perf_counter()
    lines = fee_import(
        _invoice_lines(args.invoice_lines),
        partner=switch,
        shape="invoice",
        mapping={"fee_codes": {"SW-MARKUP": "markup"}},
    )
    seconds = time.perf_counter() - started
    print(f"Import {lines.rows:,} invoice lines (rows): {seconds:.2f} s, {lines.rows / seconds:,.0f} rows/s")
    if args.no_check:
        print(f"Peak memory (max RSS of this process): {_peak_mb():,.0f} MB")
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE costs_feerecord; ANALYZE costs_invoiceline")
    started = time.perf_counter()
    result = costs_check(period=JUNE)
    seconds = time.perf_counter() - started
    found = ", ".join(f"{count} {kind}" for kind, count in sorted(result.by_kind.items()))
    print(f"Check June, every partner: {seconds:.1f} s (target ≤ {CHECK_TARGET:.0f} s): {found}")
    print(f"Peak memory (max RSS of this process): {_peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
