"""Billing files uploaded on the import page, kept between their preview and their import.

A file is written to a directory of its own (a random name) under the private upload directory
of the payment-data uploads (`PAYHEALTH_METRICS_UPLOAD_DIR`, created 0700, files 0600), under its
own (cleaned) name so the import records it. The page keeps the token in the user's session: no
one else can import, or even name, another user's file. The file is deleted once imported, and
files older than `STALE_AFTER` are deleted whenever someone uploads.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from costs.importing import LEGACY_SPREADSHEETS, legacy_spreadsheet_message
from costs.spreadsheet import XLS_MAGIC
from monitoring.uploads import PARQUET_MAGIC, upload_dir

SESSION_KEY = "costs_uploads"
STALE_AFTER = 24 * 3600
TOKEN = re.compile(r"^[0-9a-f]{32}$")
XLSX_MAGIC = b"PK\x03\x04"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def _root() -> Path:
    root = upload_dir() / "costs"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def _refuse(message: str) -> ValidationError:
    return ValidationError({"file": [message]})


def refuse_spreadsheet(name: str, head: bytes) -> None:
    """Refuses a spreadsheet that is not an XLSX workbook (a legacy .xls, .xlsm, .xlsb, .ods)."""
    if name.lower().endswith(LEGACY_SPREADSHEETS) or head.startswith(XLS_MAGIC):
        raise _refuse(legacy_spreadsheet_message())


def upload_keep(uploaded) -> tuple[str, Path]:
    """Keep an uploaded file (a Django UploadedFile): (token, path), named .csv, .xlsx or .parquet
    by its content. Refuses spreadsheets other than XLSX and files over the payment-data upload
    limit."""
    if uploaded.size > settings.PAYHEALTH_METRICS_UPLOAD_MAX_BYTES:
        limit = settings.PAYHEALTH_METRICS_UPLOAD_MAX_BYTES // (1024 * 1024) or 1
        raise _refuse(_("The file is larger than %(mib)d MiB.") % {"mib": limit})
    head = next(uploaded.chunks(), b"")[:8]
    uploaded.seek(0)
    name = _UNSAFE.sub("_", os.path.basename(uploaded.name or "billing"))[:120].strip("._") or "billing"
    refuse_spreadsheet(name, head)
    if head.startswith(PARQUET_MAGIC):
        name = f"{Path(name).stem}.parquet"
    elif head.startswith(XLSX_MAGIC) or name.lower().endswith(".xlsx"):
        name = f"{Path(name).stem}.xlsx"  # read as a workbook; a zip that is none is refused then
    elif not name.lower().endswith(".csv"):
        name = f"{Path(name).stem}.csv"
    _clean_stale()
    token = uuid.uuid4().hex
    folder = _root() / token
    folder.mkdir(mode=0o700)
    path = folder / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        for chunk in uploaded.chunks():
            handle.write(chunk)
    return token, path


def upload_path(token: str) -> Path | None:
    """The kept file of a token, or None (unknown, malformed or gone)."""
    if not TOKEN.match(token or ""):
        return None
    folder = _root() / token
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    return files[0] if files else None


def upload_discard(token: str) -> None:
    if TOKEN.match(token or ""):
        shutil.rmtree(_root() / token, ignore_errors=True)


def _clean_stale() -> None:
    cutoff = time.time() - STALE_AFTER
    for folder in _root().iterdir():
        try:
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue
