"""`manage.py seed_demo`: a believable demo desk; `--incidents N` adds N more for benchmarks."""

from __future__ import annotations

import argparse
import time

from django.core.management.base import BaseCommand, CommandError

from demo import costs, metrics, seed


def positive_int(value) -> int:
    """argparse type (command line) and the check for call_command keyword arguments alike."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value!r}")
    return number


class Command(BaseCommand):
    help = (
        "Build a believable demo desk: users for every role (password 'payhealth'), Mexican and "
        "international partners with contacts, merchants and ~200 incidents over the last 90 days. "
        "Idempotent. With --incidents N, add N more incidents over the last year for benchmarks."
        " Also loads 35 days of payment data (authorization buckets) for four demo merchants, and four"
        " months of partner billing with approved sample rate cards, checked for cost findings."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--incidents",
            type=positive_int,
            metavar="N",
            help="Add N bulk incidents (fingerprint 'bulk:…') instead of the curated demo incidents.",
        )
        parser.add_argument(
            "--metrics-days",
            type=positive_int,
            metavar="DAYS",
            default=metrics.DEMO_METRICS_DAYS,
            help=f"Days of payment data to load (default {metrics.DEMO_METRICS_DAYS}).",
        )
        parser.add_argument("--no-metrics", action="store_true", help="Load no payment data.")
        parser.add_argument("--no-costs", action="store_true", help="Load no partner billing.")

    def handle(
        self,
        *args,
        incidents=None,
        metrics_days=metrics.DEMO_METRICS_DAYS,
        no_metrics=False,
        no_costs=False,
        **options,
    ):
        for name, value in (("--incidents", incidents), ("--metrics-days", metrics_days)):
            if value is not None:
                try:
                    positive_int(value)
                except argparse.ArgumentTypeError as error:
                    raise CommandError(f"{name} {error}") from None
        incidents = None if incidents is None else positive_int(incidents)
        verbosity = options.get("verbosity", 1)
        started = time.monotonic()
        if incidents is None:
            created = seed.seed_base()
            if verbosity >= 1:
                elapsed = time.monotonic() - started
                self.stdout.write(f"Demo desk ready: {created} demo incidents created ({elapsed:.1f} s).")
            if not no_metrics:
                started = time.monotonic()
                changed = metrics.seed_demo_metrics(days=positive_int(metrics_days))
                if verbosity >= 1:
                    elapsed = time.monotonic() - started
                    self.stdout.write(f"Payment data ready: {changed:,} buckets loaded ({elapsed:.1f} s).")
                started = time.monotonic()
                run = metrics.seed_demo_detection()
                if verbosity >= 1 and run is not None:
                    elapsed = time.monotonic() - started
                    self.stdout.write(
                        f"Detector's first run: {run.buckets:,} buckets tested, {run.findings_opened} findings "
                        f"({elapsed:.1f} s)."
                    )
            if not no_costs:
                started = time.monotonic()
                billing = costs.seed_demo_costs()
                if verbosity >= 1 and billing is not None:
                    elapsed = time.monotonic() - started
                    found = ", ".join(f"{count} {kind}" for kind, count in sorted(billing["findings"].items()))
                    self.stdout.write(
                        f"Partner billing ready: {billing['records']:,} fee records and {billing['invoice_lines']} "
                        f"invoice lines, checked: {found} ({elapsed:.1f} s)."
                    )
        else:
            last = seed.BulkProgress()  # the latest progress, for the final figures

            def progress(state: seed.BulkProgress) -> None:
                if verbosity >= 2 or (
                    verbosity >= 1 and (state.done == state.total or state.done - last.done >= 20_000)
                ):
                    elapsed = time.monotonic() - started
                    self.stdout.write(
                        f"  {state.done:,}/{state.total:,} incidents, {state.rows:,} rows ({elapsed:.0f} s, "
                        f"{state.done / elapsed:,.0f} incidents/s, {state.rows / elapsed:,.0f} rows/s)"
                    )
                    last.done = state.done
                last.rows = state.rows

            references = seed.seed_bulk(incidents, progress=progress)
            if verbosity >= 1:
                elapsed = time.monotonic() - started
                self.stdout.write(
                    f"Added {len(references):,} bulk incidents ({references[0]} … {references[-1]}) "
                    f"and {last.rows:,} rows in all in {elapsed:.1f} s: {len(references) / elapsed:,.0f} "
                    f"incidents/s, {last.rows / elapsed:,.0f} rows/s."
                )
        if verbosity >= 1:
            for label, count in seed.demo_counts():
                self.stdout.write(f"  {label:<22}{count:>10,}")
            usernames = ", ".join(spec.username for spec in seed.DEMO_USERS)
            self.stdout.write(f"Users {usernames}; password '{seed.DEMO_PASSWORD}' (set when the user is created).")
