"""Payment data: segments (the dimensions of a series) and their authorization buckets.

Aggregates only: a bucket counts the attempts of one segment in one time bucket; PayHealth never
holds a card number or a transaction. `AuthBucket` is declaratively partitioned by month in
PostgreSQL (migration 0001 creates the table; `monitoring.partitions` keeps the partitions).
docs/monitoring.md explains the semantics.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import CharField, F, Func, Q
from django.db.models.lookups import Exact
from django.utils.translation import gettext_lazy as _

from cases.models.incident import BIN_PREFIX_PATTERN, CardNetwork, validate_bin_prefix
from payhealth.db import CardNumberFreeModel

DIMENSIONS_VERSION = "v1"
COUNTRY_PATTERN = r"^[A-Z]{2}$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
DECLINE_CODE_MAX = 8


class Funding(models.TextChoices):
    CREDIT = "credit", _("Credit")
    DEBIT = "debit", _("Debit")
    PREPAID = "prepaid", _("Prepaid")


class EntryMode(models.TextChoices):
    CARD_PRESENT = "card_present", _("Card present")
    ECOMMERCE = "ecommerce", _("E-commerce")
    THREE_DS = "3ds", _("E-commerce with 3DS")


def dimensions_hash(
    *,
    merchant_id: int,
    network: str = "",
    bin_prefix: str = "",
    issuer_id: int | None = None,
    route_id: int | None = None,
    country: str = "",
    funding: str = "",
    entry_mode: str = "",
) -> str:
    """SHA-256 (hex) of the canonical form of a segment's dimensions:

        "v1|<merchant id>|<network>|<bin prefix>|<issuer id>|<route id>|<country>|<funding>|<entry mode>"

    with an absent dimension written as the empty string. Ids, not names, so renaming a partner
    never splits a series.
    """
    parts = [
        DIMENSIONS_VERSION,
        str(merchant_id),
        network,
        bin_prefix,
        "" if issuer_id is None else str(issuer_id),
        "" if route_id is None else str(route_id),
        country,
        funding,
        entry_mode,
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


class Segment(CardNumberFreeModel, models.Model):
    """The dimensions of one series of buckets: a merchant and, optionally, a network, a BIN
    prefix, an issuer, a route (acquirer or switch), a country, a funding type and an entry mode.

    The merchant-level segment (no other dimension) is every other segment's `parent`, so the
    merchant's series and its slices can be read side by side; it has no parent itself. A segment
    is unique on `dimensions_hash` (`dimensions_hash()`), so the upsert finds or creates it with
    one insert that concurrent batches cannot duplicate.
    """

    merchant = models.ForeignKey(
        "cases.Merchant", on_delete=models.PROTECT, related_name="segments", verbose_name=_("merchant")
    )
    network = models.CharField(_("network"), max_length=20, choices=CardNetwork.choices, blank=True)
    bin_prefix = models.CharField(_("BIN prefix"), max_length=8, blank=True, validators=[validate_bin_prefix])
    issuer = models.ForeignKey(
        "partners.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="issuer_segments",
        verbose_name=_("issuer"),
    )
    route = models.ForeignKey(
        "partners.Partner",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="route_segments",
        verbose_name=_("route (acquirer or switch)"),
    )
    country = models.CharField(
        _("country"),
        max_length=2,
        blank=True,
        validators=[RegexValidator(COUNTRY_PATTERN, _("Use a two-letter ISO 3166 country code such as MX."))],
    )
    funding = models.CharField(_("funding"), max_length=10, choices=Funding.choices, blank=True)
    entry_mode = models.CharField(_("entry mode"), max_length=20, choices=EntryMode.choices, blank=True)
    dimensions_hash = models.CharField(_("dimensions hash"), max_length=64, unique=True)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("merchant-level segment"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["merchant_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(bin_prefix="") | Q(bin_prefix__regex=BIN_PREFIX_PATTERN),
                name="segment_bin_prefix_digits",
                violation_error_message=_("A BIN prefix has 6 to 8 digits."),
            ),
            models.CheckConstraint(
                condition=Q(country="") | Q(country__regex=COUNTRY_PATTERN),
                name="segment_country_iso2",
                violation_error_message=_("Use a two-letter ISO 3166 country code such as MX."),
            ),
            models.CheckConstraint(
                # The merchant-level segment (no dimension) is the only one without a parent.
                condition=Q(
                    parent__isnull=True,
                    network="",
                    bin_prefix="",
                    issuer__isnull=True,
                    route__isnull=True,
                    country="",
                    funding="",
                    entry_mode="",
                )
                | (
                    Q(parent__isnull=False)
                    & ~Q(
                        network="",
                        bin_prefix="",
                        issuer__isnull=True,
                        route__isnull=True,
                        country="",
                        funding="",
                        entry_mode="",
                    )
                ),
                name="segment_parent_is_merchant_level",
                violation_error_message=_("Only the merchant-level segment has no parent."),
            ),
        ]

    def __str__(self) -> str:
        return " · ".join(self.dimension_labels())

    def dimension_labels(self) -> list[str]:
        labels = [str(self.merchant)]
        for value in (
            self.get_network_display() if self.network else "",
            self.bin_prefix,
            str(self.issuer) if self.issuer_id else "",
            str(self.route) if self.route_id else "",
            self.country,
            self.get_funding_display() if self.funding else "",
            self.get_entry_mode_display() if self.entry_mode else "",
        ):
            if value:
                labels.append(str(value))
        return labels

    @property
    def is_merchant_level(self) -> bool:
        return self.parent_id is None


class AuthBucket(CardNumberFreeModel, models.Model):
    """The authorization outcomes of one segment in one time bucket (UTC, aligned to
    PAYHEALTH_METRICS_BUCKET_MINUTES).

    Every attempt has exactly one outcome: approvals + soft declines + hard declines + errors =
    attempts (a check constraint). `decline_codes` counts declines by response code
    ({"05": 12, "91": 3}); its counts add up to at most the declines, since a source may not
    know every code. `updated_at` moves only when a row's values change, so a reader (the
    detector) finds every bucket inserted or corrected since its last run with
    `updated_at > last run`.

    The table is partitioned by month on `bucket_start`; its primary key is
    (segment, bucket_start), which PostgreSQL requires to include the partition key.
    """

    pk = models.CompositePrimaryKey("segment", "bucket_start")
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="buckets", verbose_name=_("segment"))
    bucket_start = models.DateTimeField(_("bucket start"))
    attempts = models.PositiveIntegerField(_("attempts"))
    approvals = models.PositiveIntegerField(_("approvals"))
    soft_declines = models.PositiveIntegerField(_("soft declines"))
    hard_declines = models.PositiveIntegerField(_("hard declines"))
    errors = models.PositiveIntegerField(_("errors"))
    amount_attempted = models.DecimalField(_("amount attempted"), max_digits=18, decimal_places=2)
    amount_approved = models.DecimalField(_("amount approved"), max_digits=18, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    decline_codes = models.JSONField(_("decline codes"), default=dict, blank=True)
    received_at = models.DateTimeField(_("received at"))
    updated_at = models.DateTimeField(_("updated at"))

    class Meta:
        verbose_name = _("authorization bucket")
        verbose_name_plural = _("authorization buckets")
        ordering = ["segment_id", "bucket_start"]
        indexes = [
            BrinIndex(fields=["bucket_start"], name="authbucket_start_brin"),
            models.Index(fields=["updated_at"], name="authbucket_updated_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(approvals__gte=0, soft_declines__gte=0, hard_declines__gte=0, errors__gte=0)
                & Q(attempts=F("approvals") + F("soft_declines") + F("hard_declines") + F("errors")),
                name="authbucket_outcomes_add_up",
                violation_error_message=_("Approvals, soft and hard declines and errors add up to the attempts."),
            ),
            models.CheckConstraint(
                condition=Q(amount_approved__gte=0, amount_attempted__gte=F("amount_approved")),
                name="authbucket_amounts",
                violation_error_message=_("Amounts are not negative, and no more is approved than attempted."),
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_PATTERN),
                name="authbucket_currency_iso4217",
                violation_error_message=_("Use a three-letter ISO 4217 currency code such as MXN."),
            ),
            models.CheckConstraint(
                condition=Exact(Func(F("decline_codes"), function="jsonb_typeof", output_field=CharField()), "object"),
                name="authbucket_decline_codes_object",
                violation_error_message=_("Decline codes are an object of code → count."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} @ {self.bucket_start:%Y-%m-%d %H:%M}"

    @property
    def declines(self) -> int:
        return self.soft_declines + self.hard_declines


class MetricsBatchReceipt(CardNumberFreeModel, models.Model):
    """The answer to a batch posted with an `Idempotency-Key`, kept PAYHEALTH_METRICS_IDEMPOTENCY_HOURS.

    Unique per (user, key): the same key with the same body (SHA-256 of the bytes) gets this
    answer back; with another body it is refused. Inserted before the batch is processed, so a
    concurrent repeat waits for the first one's transaction and then replays its answer.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("sent by")
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=255)
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body = models.JSONField(_("response body"), default=dict, blank=True)
    created_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("metrics batch receipt")
        verbose_name_plural = _("metrics batch receipts")
        ordering = ["-created_at", "-id"]
        permissions = [("submit_metrics", _("Can submit payment data"))]
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="metricsreceipt_user_key_unique"),
        ]

    def __str__(self) -> str:
        return self.idempotency_key


class ImportMapping(CardNumberFreeModel, models.Model):
    """A named column mapping for `import_buckets`: bucket field → the file's column name.

    Fields left out of `columns` are read from the column of the same name (the default mapping,
    docs/monitoring.md).
    """

    name = models.SlugField(_("name"), max_length=50, unique=True)
    columns = models.JSONField(_("columns"), default=dict, help_text=_("Field name → the file's column name."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("import mapping")
        verbose_name_plural = _("import mappings")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        from monitoring.rows import FIELDS  # the fields a row has; rows import these models

        if not isinstance(self.columns, dict):
            raise ValidationError({"columns": _("Give an object of field name → column name.")})
        errors = []
        for field, column in self.columns.items():
            if field not in FIELDS:
                errors.append(_("%(field)s is not a field of a bucket row.") % {"field": str(field)[:40]})
            elif not isinstance(column, str) or not column.strip() or len(column) > 200:
                errors.append(_("Give the column name for %(field)s.") % {"field": field})
        if errors:
            raise ValidationError({"columns": errors})


class MetricsPull(CardNumberFreeModel, models.Model):
    """The watermark of a scheduled pull from a source (the warehouse), one row per source.

    `window_end` is the end of the last window pulled successfully: the next run reads from it
    minus the lookback, so a failed run leaves it where it was and the next one retries the same
    window. The row is locked for the whole run, which is how two beat ticks at once never run
    twice. The counts are those of the last run; `last_error` never holds a value read from the
    source (a bad row is named by its number and field).
    """

    source = models.SlugField(_("source"), max_length=50, unique=True)
    window_end = models.DateTimeField(_("pulled up to"), null=True, blank=True)
    last_window_start = models.DateTimeField(_("last window start"), null=True, blank=True)
    last_window_end = models.DateTimeField(_("last window end"), null=True, blank=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    last_error_row = models.PositiveIntegerField(_("row of the last error"), null=True, blank=True)
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    rows_inserted = models.PositiveIntegerField(_("rows inserted"), default=0)
    rows_updated = models.PositiveIntegerField(_("rows updated"), default=0)
    rows_unchanged = models.PositiveIntegerField(_("rows unchanged"), default=0)
    failures = models.PositiveIntegerField(_("failures in a row"), default=0)

    class Meta:
        verbose_name = _("metrics pull")
        verbose_name_plural = _("metrics pulls")
        ordering = ["source"]

    def __str__(self) -> str:
        return self.source
