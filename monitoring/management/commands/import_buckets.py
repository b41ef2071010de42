"""`manage.py import_buckets FILE [--mapping NAME] [--dry-run]`: load a CSV or Parquet file of buckets."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from monitoring.importing import ImportFailed, buckets_import


class Command(BaseCommand):
    help = (
        "Import authorization buckets from a CSV or Parquet file (.parquet): all rows or none. "
        "Columns are named like the fields unless --mapping names an import mapping."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--mapping", help="The name of an import mapping (field → column).")
        parser.add_argument("--dry-run", action="store_true", help="Check every row, write nothing.")

    def handle(self, *args, file: Path, mapping=None, dry_run=False, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file")

        def progress(rows: int, rate: float) -> None:
            self.stderr.write(f"{rows:,} rows read, {rate:,.0f} rows/s")

        try:
            result = buckets_import(path=file, mapping=mapping, dry_run=dry_run, progress=progress)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        except ImportFailed as failed:
            for error, line, column in failed.result.errors:
                where = f"row {error.row}" if error.row else "header"
                if line:
                    where += f" (line {line})"
                self.stderr.write(f"{where}, column {column or '-'}: {error.message}")
            raise CommandError(str(failed)) from failed
        verb = "checked (dry run, nothing written)" if dry_run else "imported"
        self.stdout.write(
            f"{result.rows:,} rows {verb} in {result.seconds:.1f} s ({result.rows_per_second:,.0f} rows/s): "
            f"{result.inserted:,} inserted, {result.updated:,} updated, {result.unchanged:,} unchanged, "
            f"{result.segments_created:,} segments created"
        )
