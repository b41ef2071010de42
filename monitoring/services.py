"""Writes of payment data: the one idempotent upsert of buckets, and the idempotency receipts.

`buckets_upsert` is the only way buckets are written: the API, `import_buckets` and (later) the
warehouse pull call it. It checks every row first, then writes all of them or none:

1. each row is read and checked (`monitoring.rows`); a card number anywhere refuses the batch;
2. merchants and partners are looked up in one query each; the segments the rows name are found
   or created (with their merchant-level parent) on their unique dimensions hash;
3. the rows are copied (PostgreSQL COPY) into a temporary table and merged into the bucket table
   with one `INSERT … SELECT … ON CONFLICT (segment_id, bucket_start) DO UPDATE … WHERE the
   values differ`, so a row sent again unchanged is not touched and its `updated_at` stays.

The number of queries does not grow with the number of rows.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import Merchant
from monitoring.models import MetricsBatchReceipt, Segment, dimensions_hash
from monitoring.partitions import month_of, partitions_ensure
from monitoring.rows import MAX_ERRORS, BucketRow, RowError, rows_validate
from partners.models import Partner
from payhealth.pan import CARD_NUMBER_MESSAGE, card_number_error, contains_card_number

logger = logging.getLogger(__name__)

SUBMIT_PERMISSION = "monitoring.submit_metrics"
ISSUER_KINDS = frozenset({Partner.Kind.ISSUER})
ROUTE_KINDS = frozenset({Partner.Kind.ACQUIRER, Partner.Kind.SWITCH})
IDEMPOTENCY_KEY_MAX = 255
_TEMP = "monitoring_upsert_batch"
MERGE_WORK_MEM = "64MB"
_VALUE_COLUMNS = (
    "attempts",
    "approvals",
    "soft_declines",
    "hard_declines",
    "errors",
    "amount_attempted",
    "amount_approved",
    "currency",
    "decline_codes",
)


class BucketBatchInvalid(ValidationError):
    """A batch with at least one bad row; `row_errors` names each (row number, field, message).

    As a Django ValidationError its fields are `rows.<index>.<field>`, the row's index in the
    batch counted from 0 like every list in the API's error format (row 37 is `rows.36`); a card
    number also names `rows` itself, as every API input names the list that held one.
    """

    def __init__(self, row_errors: list[RowError]):
        self.row_errors = row_errors
        shown: dict[str, list[str]] = {}
        for error in row_errors[:MAX_ERRORS]:
            shown.setdefault(f"rows.{error.row - 1}.{error.field}", []).append(error.message)
        if any(error.message == str(CARD_NUMBER_MESSAGE) for error in row_errors):
            # Like every API input holding a card number inside a list: the list is named too.
            shown["rows"] = [str(CARD_NUMBER_MESSAGE)]
        if len(row_errors) > MAX_ERRORS:
            shown.setdefault("rows", []).append(
                _("%(count)d more errors are not shown.") % {"count": len(row_errors) - MAX_ERRORS}
            )
        super().__init__(shown)


@dataclass
class UpsertResult:
    """What a batch did. `changed` holds the (segment id, bucket start) of every bucket inserted
    or corrected: the buckets a detector must evaluate again (they also carry a new `updated_at`)."""

    rows: int
    inserted: int
    updated: int
    unchanged: int
    segments_created: int
    changed: set[tuple[int, datetime]] = field(default_factory=set)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "segments_created": self.segments_created,
        }


def batch_check_size(count: int) -> None:
    """Refuse a batch larger than PAYHEALTH_METRICS_MAX_ROWS (the API's limit) or an empty one."""
    limit = settings.PAYHEALTH_METRICS_MAX_ROWS
    if count > limit:
        raise ValidationError(
            {"rows": _("A batch holds at most %(max)d rows; this one has %(count)d.") % {"max": limit, "count": count}}
        )
    if count == 0:
        raise ValidationError({"rows": _("The batch has no rows.")})


def buckets_validate(raws: Iterable, *, now: datetime | None = None) -> list[BucketRow]:
    """Every row read and checked against the settings, or BucketBatchInvalid naming every bad one."""
    rows, errors = rows_validate(
        raws,
        minutes=settings.PAYHEALTH_METRICS_BUCKET_MINUTES,
        late_days=settings.PAYHEALTH_METRICS_LATE_DAYS,
        now=now or timezone.now(),
    )
    if errors:
        raise BucketBatchInvalid(errors)
    return rows


@transaction.atomic
def buckets_upsert(rows: Iterable, *, source: str, actor=None, now: datetime | None = None) -> UpsertResult:
    """Insert or correct the buckets of `rows` (raw mappings, or `BucketRow`s already checked).

    All or nothing: any bad row raises BucketBatchInvalid and nothing is written. `actor` is the
    user sending the batch (None for the system: commands, beat); a user needs
    `monitoring.submit_metrics`. `source` names where the batch came from, for the log.
    """
    if actor is not None and not actor.has_perm(SUBMIT_PERMISSION):
        raise PermissionDenied(_("You may not submit payment data."))
    now = now or timezone.now()
    rows = list(rows)
    checked = [row for row in rows if isinstance(row, BucketRow)]
    if len(checked) != len(rows):
        checked = buckets_validate(rows, now=now)
    merchants, partners = _lookups(checked)
    segment_keys = _segment_keys(checked, merchants, partners)
    partitions_ensure(months={month_of(row.bucket_start) for row in checked})
    segments, created = _segments_find_or_create(set(segment_keys))
    changed = _merge(checked, [segments[key] for key in segment_keys], now=now)
    inserted = sum(1 for _segment, _start, was_inserted in changed if was_inserted)
    result = UpsertResult(
        rows=len(checked),
        inserted=inserted,
        updated=len(changed) - inserted,
        unchanged=len(checked) - len(changed),
        segments_created=created,
        changed={(segment, start) for segment, start, _was_inserted in changed},
    )
    logger.info("buckets_upsert source=%s %s", source, result.as_dict())
    return result


def _lookups(rows: list[BucketRow]) -> tuple[dict[str, int], dict[str, Partner]]:
    """Merchants by account id and partners by code: one query each; unknown ones are row errors."""
    accounts = {row.merchant for row in rows}
    codes = {row.issuer for row in rows if row.issuer} | {row.route for row in rows if row.route}
    merchants = dict(Merchant.objects.filter(account_id__in=accounts).values_list("account_id", "id"))
    partners = {p.code: p for p in Partner.objects.filter(code__in=codes).only("id", "code", "kind")} if codes else {}
    errors = []
    checks = (
        ("issuer", ISSUER_KINDS, _("This partner is not an issuer.")),
        ("route", ROUTE_KINDS, _("This partner is neither an acquirer nor a switch.")),
    )
    for row in rows:
        if row.merchant not in merchants:
            errors.append(RowError(row.number, "merchant", _("No merchant has this account id.")))
        for name, kinds, message in checks:
            code = getattr(row, name)
            if not code:
                continue
            if code not in partners:
                errors.append(RowError(row.number, name, _("No partner has this code.")))
            elif partners[code].kind not in kinds:
                errors.append(RowError(row.number, name, message))
    if errors:
        raise BucketBatchInvalid(errors)
    return merchants, partners


# (merchant id, network, bin prefix, issuer id, route id, country, funding, entry mode)
SegmentKey = tuple[int, str, str, int | None, int | None, str, str, str]


def _segment_keys(rows: list[BucketRow], merchants: dict[str, int], partners: dict[str, Partner]) -> list[SegmentKey]:
    keys: list[SegmentKey] = []
    seen: dict[tuple, int] = {}
    errors = []
    for row in rows:
        key = (
            merchants[row.merchant],
            row.network,
            row.bin_prefix,
            partners[row.issuer].pk if row.issuer else None,
            partners[row.route].pk if row.route else None,
            row.country,
            row.funding,
            row.entry_mode,
        )
        first = seen.setdefault((key, row.bucket_start), row.number)
        if first != row.number:
            message = _("Row %(first)d already gives this segment and bucket.") % {"first": first}
            errors.append(RowError(row.number, "bucket_start", message))
        keys.append(key)
    if errors:
        raise BucketBatchInvalid(errors)
    return keys


def _hash(key: SegmentKey) -> str:
    merchant, network, bin_prefix, issuer, route, country, funding, entry_mode = key
    return dimensions_hash(
        merchant_id=merchant,
        network=network,
        bin_prefix=bin_prefix,
        issuer_id=issuer,
        route_id=route,
        country=country,
        funding=funding,
        entry_mode=entry_mode,
    )


def _segments_find_or_create(keys: set[SegmentKey]) -> tuple[dict[SegmentKey, int], int]:
    """Segment id for each key, and how many segments this call created. Missing segments (their
    merchant-level parents first) are inserted with ON CONFLICT DO NOTHING on the unique hash, so
    a concurrent batch creating the same segment waits for it and never duplicates it. At most
    five queries."""
    parents = {_merchant_level(key) for key in keys}
    hashes = {key: _hash(key) for key in keys | parents}
    found = dict(Segment.objects.filter(dimensions_hash__in=hashes.values()).values_list("dimensions_hash", "id"))
    created = 0
    for wanted in (parents, keys):
        missing = [key for key in wanted if hashes[key] not in found]
        if not missing:
            continue
        inserted = _segments_insert(missing, hashes, found)
        created += len(inserted)
        found.update(inserted)
        # Rows a concurrent batch inserted first (ours did nothing for them): read them now.
        rest = [hashes[key] for key in missing if hashes[key] not in found]
        if rest:
            found.update(Segment.objects.filter(dimensions_hash__in=rest).values_list("dimensions_hash", "id"))
    return {key: found[digest] for key, digest in hashes.items()}, created


def _merchant_level(key: SegmentKey) -> SegmentKey:
    return (key[0], "", "", None, None, "", "", "")


def _segments_insert(keys: list[SegmentKey], hashes: dict, found: dict[str, int]) -> dict[str, int]:
    """Insert the segments of `keys` (one statement); {hash: id} of those this call inserted."""
    columns = list(zip(*keys, strict=True))
    parent_ids = [None if key == _merchant_level(key) else found[hashes[_merchant_level(key)]] for key in keys]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO monitoring_segment (merchant_id, network, bin_prefix, issuer_id, route_id, country, "
            "funding, entry_mode, dimensions_hash, parent_id, created_at) "
            "SELECT *, now() FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::bigint[], %s::bigint[], "
            "%s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], %s::bigint[]) "
            "ON CONFLICT (dimensions_hash) DO NOTHING RETURNING dimensions_hash, id",
            [*(list(column) for column in columns), [hashes[key] for key in keys], parent_ids],
        )
        return dict(cursor.fetchall())


_COLUMNS = ", ".join(_VALUE_COLUMNS)
_CREATE_TEMP = (
    f"DROP TABLE IF EXISTS pg_temp.{_TEMP}; "
    f"CREATE TEMPORARY TABLE {_TEMP} (segment_id bigint, bucket_start timestamptz, attempts integer, "
    "approvals integer, soft_declines integer, hard_declines integer, errors integer, "
    "amount_attempted numeric(18, 2), amount_approved numeric(18, 2), currency varchar(3), "
    "decline_codes jsonb) ON COMMIT DROP"
)
_COPY = f"COPY {_TEMP} (segment_id, bucket_start, {_COLUMNS}) FROM STDIN"
# Insert new buckets, correct the ones whose values differ, leave the rest untouched.
_MERGE = (
    f"INSERT INTO monitoring_authbucket AS b (segment_id, bucket_start, {_COLUMNS}, received_at, updated_at) "
    # In key order, so concurrent batches lock the rows they share in the same order.
    f"SELECT segment_id, bucket_start, {_COLUMNS}, %(now)s, %(now)s FROM {_TEMP} "
    "ORDER BY segment_id, bucket_start "
    "ON CONFLICT (segment_id, bucket_start) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in _VALUE_COLUMNS)
    + ", updated_at = EXCLUDED.updated_at WHERE "
    + " OR ".join(f"b.{name} IS DISTINCT FROM EXCLUDED.{name}" for name in _VALUE_COLUMNS)
    + " RETURNING b.segment_id, b.bucket_start, b.received_at = %(now)s AS inserted"
)


def _merge(rows: list[BucketRow], segment_ids: list[int], *, now: datetime) -> list[tuple[int, datetime, bool]]:
    """COPY the rows into a temporary table, then merge them: (segment id, bucket start, inserted?)
    for each bucket inserted or changed."""
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_TEMP)
        with cursor.copy(_COPY) as copy:
            for row, segment_id in zip(rows, segment_ids, strict=True):
                copy.write_row(
                    (
                        segment_id,
                        row.bucket_start,
                        row.attempts,
                        row.approvals,
                        row.soft_declines,
                        row.hard_declines,
                        row.errors,
                        row.amount_attempted,
                        row.amount_approved,
                        row.currency,
                        json.dumps(row.decline_codes, sort_keys=True, separators=(",", ":")),
                    )
                )
        cursor.execute(_MERGE, {"now": now})
        return cursor.fetchall()


# --- Columns of a file (monitoring.columnar), written without a Python object per row -------------


class BucketKeys:
    """The (segment, bucket) of every row written so far by one import, to refuse a second row
    for one of them: sorted 64-bit keys (segment id, bucket start in minutes)."""

    def __init__(self):
        self.keys = np.empty(0, dtype=np.int64)

    def add(self, keys: np.ndarray) -> bool:
        """Record `keys`; False (nothing recorded) if one repeats a key, or another of `keys`."""
        if len(np.unique(keys)) != len(keys):
            return False
        if len(self.keys):
            places = np.searchsorted(self.keys, keys).clip(max=len(self.keys) - 1)
            if (self.keys[places] == keys).any():
                return False
        self.keys = np.sort(np.concatenate([self.keys, keys]))
        return True


def bucket_columns_write(table: pa.Table, *, source: str, now: datetime, seen: BucketKeys) -> UpsertResult | None:
    """Write the rows of `table` (normalised columns from `monitoring.columnar.columns_check`),
    as `buckets_upsert` writes rows: merchants and partners looked up, segments found or created,
    COPY and one merge. None, having written nothing, when a row names an unknown merchant or
    partner (or a partner of another kind) or repeats a segment and bucket of this import: the
    caller then reads its rows one by one to name them. The number of queries does not depend
    on the number of rows."""
    accounts = pc.unique(table["merchant"])
    merchants = dict(Merchant.objects.filter(account_id__in=accounts.to_pylist()).values_list("account_id", "id"))
    if len(merchants) != len(accounts):
        return None
    merchant_ids = _lookup(table["merchant"], merchants)
    issuers, routes = pc.unique(table["issuer"]).to_pylist(), pc.unique(table["route"]).to_pylist()
    codes = {code for code in issuers + routes if code}
    partners = {p.code: p for p in Partner.objects.filter(code__in=codes).only("id", "code", "kind")} if codes else {}
    for used, kinds in ((issuers, ISSUER_KINDS), (routes, ROUTE_KINDS)):
        if any(code and (code not in partners or partners[code].kind not in kinds) for code in used):
            return None
    partner_ids = {code: partner.pk for code, partner in partners.items()} | {"": ""}
    parts = [
        merchant_ids,
        table["network"],
        table["bin_prefix"],
        _lookup(table["issuer"], partner_ids),
        _lookup(table["route"], partner_ids),
        table["country"],
        table["funding"],
        table["entry_mode"],
    ]
    row_keys = pc.binary_join_element_wise(*parts, "|")
    unique_keys = pc.unique(row_keys)
    keys = [_segment_key(text) for text in unique_keys.to_pylist()]
    segments, created = _segments_find_or_create(set(keys))
    segment_ids = pc.take(pa.array([segments[key] for key in keys], pa.int64()), pc.index_in(row_keys, unique_keys))
    starts = table["bucket_start"]
    minutes = pc.divide(starts, 60).to_numpy()
    if not seen.add((segment_ids.to_numpy() << 32) | minutes):
        return None
    months = {
        datetime.fromtimestamp(int(start), tz=UTC).date().replace(day=1) for start in np.unique(minutes // 1440 * 86400)
    }
    partitions_ensure(months=months)
    data = pa.table(
        {
            "segment_id": segment_ids,
            "bucket_start": pc.cast(starts, pa.timestamp("s", tz="UTC")),
            **{name: table[name] for name in _VALUE_COLUMNS},
        }
    )
    text = io.BytesIO()
    pa_csv.write_csv(data, text, pa_csv.WriteOptions(include_header=False))
    with connection.cursor() as cursor:
        # The merge sorts the chunk: in memory rather than on disk (for the rest of the transaction).
        cursor.execute(f"SET LOCAL work_mem = '{MERGE_WORK_MEM}'; {_CREATE_TEMP}")
        with cursor.copy(_COPY + " (FORMAT csv)") as copy:
            copy.write(text.getbuffer())
        cursor.execute(
            f"WITH merged AS ({_MERGE}) SELECT count(*) FILTER (WHERE inserted), count(*) FROM merged", {"now": now}
        )
        inserted, changed = cursor.fetchone()
    result = UpsertResult(
        rows=len(table),
        inserted=inserted,
        updated=changed - inserted,
        unchanged=len(table) - changed,
        segments_created=created,
    )
    logger.info("bucket_columns_write source=%s %s", source, result.as_dict())
    return result


def _lookup(values, ids: dict) -> pa.Array:
    """Each value's id (from `ids`), as text."""
    known = list(ids)
    return pc.take(
        pa.array([str(ids[value]) for value in known], pa.string()), pc.index_in(values, pa.array(known, pa.string()))
    )


def _segment_key(text: str) -> SegmentKey:
    merchant, network, bin_prefix, issuer, route, country, funding, entry_mode = text.split("|")
    return (
        int(merchant),
        network,
        bin_prefix,
        int(issuer) if issuer else None,
        int(route) if route else None,
        country,
        funding,
        entry_mode,
    )


# --- Idempotency-Key receipts (the API) ----------------------------------------------------------


class IdempotencyKeyReused(Exception):
    """The Idempotency-Key was already used by this user for a different request body."""


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


Claim = tuple[MetricsBatchReceipt | None, MetricsBatchReceipt | None]


def metrics_receipt_claim(*, actor, key: str, digest: str) -> Claim:
    """(this request's new receipt, None), or (None, the earlier receipt whose answer to replay).

    Call inside the batch's transaction: the unique insert makes a concurrent repeat wait for
    this transaction, then replay its answer. A key older than PAYHEALTH_METRICS_IDEMPOTENCY_HOURS
    is forgotten first. Raises IdempotencyKeyReused for the same key with another body.
    """
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise ValidationError(
            {"Idempotency-Key": _("The Idempotency-Key has at most %(max)d characters.") % {"max": IDEMPOTENCY_KEY_MAX}}
        )
    if contains_card_number(key):
        raise ValidationError({"Idempotency-Key": card_number_error()})
    expired = timezone.now() - timedelta(hours=settings.PAYHEALTH_METRICS_IDEMPOTENCY_HOURS)
    MetricsBatchReceipt.objects.filter(user=actor, idempotency_key=key, created_at__lt=expired).delete()
    try:
        with transaction.atomic():
            return MetricsBatchReceipt.objects.create(user=actor, idempotency_key=key, body_sha256=digest), None
    except IntegrityError:
        first = MetricsBatchReceipt.objects.select_for_update().get(user=actor, idempotency_key=key)
    if first.body_sha256 != digest:
        raise IdempotencyKeyReused(
            _("This Idempotency-Key was already used with a different request body. Use a new key for a new batch.")
        )
    return None, first


def metrics_receipt_complete(*, receipt: MetricsBatchReceipt, status: int, body: dict) -> None:
    receipt.response_status = status
    receipt.response_body = body
    receipt.save(update_fields=["response_status", "response_body"])


def metrics_receipts_purge(*, now: datetime | None = None) -> int:
    """Forget Idempotency-Keys older than PAYHEALTH_METRICS_IDEMPOTENCY_HOURS; how many."""
    expired = (now or timezone.now()) - timedelta(hours=settings.PAYHEALTH_METRICS_IDEMPOTENCY_HOURS)
    deleted, _details = MetricsBatchReceipt.objects.filter(created_at__lt=expired).delete()
    return deleted


@dataclass(frozen=True)
class BatchAnswer:
    """What `POST /metrics/buckets/` answers: the status and body, replayed or new."""

    status: int
    body: dict
    replayed: bool = False


@transaction.atomic
def buckets_submit(rows: list, *, actor, key: str = "") -> BatchAnswer:
    """A batch posted to the API: with an Idempotency-Key, the first answer to the same key and
    rows is replayed (IdempotencyKeyReused for other rows); otherwise `buckets_upsert`, and its
    answer is kept on the key's receipt, all in one transaction."""
    receipt = None
    if key:
        canonical = json.dumps(rows, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder, ensure_ascii=False)
        receipt, first = metrics_receipt_claim(actor=actor, key=key, digest=body_digest(canonical.encode()))
        if first is not None:
            return BatchAnswer(status=first.response_status, body=first.response_body, replayed=True)
    body = buckets_upsert(rows, source="api", actor=actor).as_dict()
    if receipt is not None:
        metrics_receipt_complete(receipt=receipt, status=200, body=body)
    return BatchAnswer(status=200, body=body)
