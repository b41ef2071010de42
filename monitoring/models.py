"""Payment data: segments (the dimensions of a series) and their authorization buckets.

Aggregates only: a bucket counts the attempts of one segment in one time bucket; PayHealth never
holds a card number or a transaction. `AuthBucket` is declaratively partitioned by month in
PostgreSQL (migration 0001 creates the table; `monitoring.partitions` keeps the partitions).
docs/monitoring.md explains the semantics.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

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


# --- Detection: settings, per-segment state, runs, findings, suppressions -------------------


class MonitorSettings(CardNumberFreeModel, models.Model):
    """The detector's settings: the global row (no merchant) and per-merchant overrides.

    Every tunable is nullable: a per-merchant row overrides only the fields it sets, the global
    row overrides the built-in `DETECTOR_DEFAULTS`, and `monitoring.detection.config.detector_config`
    merges the three into the settings one merchant's segments are tested with. Leads edit both
    (`monitoring.change_monitorsettings`).
    """

    merchant = models.OneToOneField(
        "cases.Merchant",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="monitor_settings",
        verbose_name=_("merchant"),
        help_text=_("Empty for the global settings every merchant starts from."),
    )
    enabled = models.BooleanField(_("detector on"), null=True, blank=True)
    min_bucket_attempts = models.PositiveIntegerField(
        _("minimum attempts per bucket"),
        null=True,
        blank=True,
        help_text=_("Below this a segment's buckets are only tested together, one hour at a time."),
    )
    min_hour_attempts = models.PositiveIntegerField(
        _("minimum attempts per hour"),
        null=True,
        blank=True,
        help_text=_("Below this in an hour a segment is too small to test at all."),
    )
    min_drop_pp = models.DecimalField(_("minimum drop (pp)"), max_digits=5, decimal_places=2, null=True, blank=True)
    min_excess_declines = models.PositiveIntegerField(_("minimum excess declines"), null=True, blank=True)
    watch_q = models.DecimalField(_("q-value for a watch"), max_digits=6, decimal_places=5, null=True, blank=True)
    alert_q = models.DecimalField(_("q-value for an alert"), max_digits=6, decimal_places=5, null=True, blank=True)
    alert_consecutive = models.PositiveSmallIntegerField(
        _("rejecting buckets in a row for an alert"), null=True, blank=True
    )
    baseline_weeks = models.PositiveSmallIntegerField(_("baseline weeks"), null=True, blank=True)
    baseline_slot_radius = models.PositiveSmallIntegerField(
        _("baseline buckets either side of the slot"), null=True, blank=True
    )
    dispersion_floor = models.DecimalField(
        _("minimum over-dispersion"), max_digits=8, decimal_places=7, null=True, blank=True
    )
    code_min_count = models.PositiveIntegerField(_("minimum count of a spiking code"), null=True, blank=True)
    code_min_ratio = models.DecimalField(
        _("minimum ratio to the expected count of a code"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    code_min_share_pp = models.DecimalField(
        _("minimum rise of a code's share (pp)"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    recovery_buckets = models.PositiveSmallIntegerField(_("healthy buckets for a recovery"), null=True, blank=True)
    recovery_within_pp = models.DecimalField(
        _("recovered within (pp of the baseline)"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("detector settings")
        verbose_name_plural = _("detector settings")
        ordering = [F("merchant_id").asc(nulls_first=True)]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant"],
                nulls_distinct=False,
                name="monitorsettings_one_row_per_merchant",
                violation_error_message=_("There is one settings row per merchant, and one global row."),
            ),
            models.CheckConstraint(
                condition=(Q(watch_q__isnull=True) | Q(watch_q__gt=0, watch_q__lt=1))
                & (Q(alert_q__isnull=True) | Q(alert_q__gt=0, alert_q__lt=1)),
                name="monitorsettings_q_between_0_and_1",
                violation_error_message=_("A q-value is between 0 and 1."),
            ),
        ]

    def __str__(self) -> str:
        return str(self.merchant) if self.merchant_id else str(_("Global detector settings"))


# Field → built-in default, for what neither the global row nor the merchant's row sets.
DETECTOR_DEFAULTS: dict[str, object] = {
    "enabled": True,
    "min_bucket_attempts": 100,
    "min_hour_attempts": 100,
    "min_drop_pp": Decimal("2.00"),
    "min_excess_declines": 20,
    "watch_q": Decimal("0.01"),
    "alert_q": Decimal("0.001"),
    "alert_consecutive": 2,
    "baseline_weeks": 4,
    "baseline_slot_radius": 2,
    "dispersion_floor": Decimal("0.0001"),
    "code_min_count": 10,
    "code_min_ratio": Decimal("2.00"),
    "code_min_share_pp": Decimal("0.50"),
    "recovery_buckets": 4,
    "recovery_within_pp": Decimal("1.00"),
}


class SegmentState(models.TextChoices):
    OK = "ok", _("OK")
    WATCH = "watch", _("Watch")
    ALERT = "alert", _("Alert")
    LOW_VOLUME = "low_volume", _("Too little volume")


class SegmentMonitor(CardNumberFreeModel, models.Model):
    """The detector's memory of one segment: its state on the Monitors page, the over-dispersion
    estimated nightly, and the running CUSUM that dates a change's start."""

    segment = models.OneToOneField(
        Segment, on_delete=models.CASCADE, primary_key=True, related_name="monitor", verbose_name=_("segment")
    )
    state = models.CharField(_("state"), max_length=12, choices=SegmentState.choices, default=SegmentState.OK)
    dispersion = models.FloatField(
        _("over-dispersion"),
        null=True,
        blank=True,
        help_text=_("The beta-binomial intra-class correlation, estimated nightly by the method of moments."),
    )
    dispersion_estimated_at = models.DateTimeField(_("over-dispersion estimated at"), null=True, blank=True)
    cusum = models.FloatField(_("CUSUM of z"), default=0.0)
    cusum_zero_at = models.DateTimeField(_("CUSUM last at zero"), null=True, blank=True)
    rejecting_in_a_row = models.PositiveSmallIntegerField(_("rejecting buckets in a row"), default=0)
    healthy_in_a_row = models.PositiveSmallIntegerField(_("healthy buckets in a row"), default=0)
    last_bucket_start = models.DateTimeField(_("last bucket tested"), null=True, blank=True)
    baseline_rate = models.DecimalField(_("baseline rate"), max_digits=7, decimal_places=6, null=True, blank=True)
    observed_rate = models.DecimalField(_("observed rate"), max_digits=7, decimal_places=6, null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("segment monitor")
        verbose_name_plural = _("segment monitors")
        ordering = ["segment_id"]
        indexes = [models.Index(fields=["state"], name="segmentmonitor_state")]

    def __str__(self) -> str:
        return f"{self.segment_id}: {self.state}"


class DetectorRun(CardNumberFreeModel, models.Model):
    """One detection run: what it read and what it found. `watermark` is the largest bucket
    `updated_at` it read, so the next run re-evaluates exactly the buckets inserted or corrected
    since (late rows included)."""

    started_at = models.DateTimeField(_("started at"), db_index=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    watermark = models.DateTimeField(_("read up to"), null=True, blank=True)
    segments = models.PositiveIntegerField(_("segments"), default=0)
    buckets = models.PositiveIntegerField(_("buckets tested"), default=0)
    tests = models.PositiveIntegerField(_("tests"), default=0)
    rejected = models.PositiveIntegerField(_("rejected after Benjamini–Hochberg"), default=0)
    findings_opened = models.PositiveIntegerField(_("findings opened"), default=0)
    findings_updated = models.PositiveIntegerField(_("findings updated"), default=0)
    findings_recovered = models.PositiveIntegerField(_("findings recovered"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("detector run")
        verbose_name_plural = _("detector runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M:%S}"


class FindingKind(models.TextChoices):
    APPROVAL_DROP = "approval_drop", _("Approval-rate drop")
    DECLINE_CODE_SPIKE = "decline_code_spike", _("Decline-code spike")


class FindingTest(models.TextChoices):
    BUCKET = "bucket", _("Per bucket")
    HOUR = "hour", _("One-hour window")


class FindingState(models.TextChoices):
    WATCH = "watch", _("Watch")
    ALERTED = "alerted", _("Alerted")
    RECOVERED = "recovered", _("Recovered")
    SUPPRESSED = "suppressed", _("Suppressed")
    FALSE_POSITIVE = "false_positive", _("False positive")


ACTIVE_FINDING_STATES = (FindingState.WATCH, FindingState.ALERTED)


class AttributionKind(models.TextChoices):
    DROP = "drop", _("Real drop")
    MIX_SHIFT = "mix_shift", _("Mix shift")


class Finding(CardNumberFreeModel, models.Model):
    """What the detector found on one segment: an approval-rate drop, or a spike of one decline
    code. At most one active (watch or alerted) finding per segment, kind and code; later
    rejecting buckets update it, and it ends recovered, suppressed or marked a false positive.

    Rates are shares between 0 and 1 over the finding's window (`window_start` to `window_end`,
    the end exclusive); `excess_declines` = declines − attempts × (1 − baseline rate), rounded.
    `attribution` holds the rows that explain the excess declines, most explanatory first:

        [{"dimension": "issuer", "key": "<id or value>", "label": "BBVA México",
          "bin_prefix": "415231", "partner_id": 7, "explained": 0.83, "surprise": 0.41,
          "excess_declines": 1029, "codes": [{"code": "91", "explained": 0.9}]}]

    and `attribution_kind` says whether the drop is real or a mix shift (volume moved to weaker
    slices with their own rates unchanged).
    """

    kind = models.CharField(_("kind"), max_length=20, choices=FindingKind.choices)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="findings", verbose_name=_("segment"))
    decline_code = models.CharField(_("decline code"), max_length=DECLINE_CODE_MAX, blank=True)
    test = models.CharField(_("test"), max_length=10, choices=FindingTest.choices, default=FindingTest.BUCKET)
    state = models.CharField(_("state"), max_length=20, choices=FindingState.choices, default=FindingState.WATCH)
    window_start = models.DateTimeField(_("window start"))
    window_end = models.DateTimeField(_("window end"))
    started_at = models.DateTimeField(_("estimated start"), null=True, blank=True)
    baseline_rate = models.DecimalField(_("baseline rate"), max_digits=7, decimal_places=6)
    observed_rate = models.DecimalField(_("observed rate"), max_digits=7, decimal_places=6)
    attempts = models.PositiveBigIntegerField(_("attempts"))
    approvals = models.PositiveBigIntegerField(_("approvals"))
    excess_declines = models.BigIntegerField(_("excess declines"))
    p_value = models.FloatField(_("p-value"))
    q_value = models.FloatField(_("q-value"))
    rejecting_in_a_row = models.PositiveSmallIntegerField(_("rejecting buckets in a row"), default=1)
    attribution = models.JSONField(_("attribution"), default=list, blank=True)
    attribution_kind = models.CharField(_("attribution"), max_length=10, choices=AttributionKind.choices, blank=True)
    incident = models.ForeignKey(
        "cases.Incident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="findings",
        verbose_name=_("incident"),
    )
    alerted_at = models.DateTimeField(_("alerted at"), null=True, blank=True)
    recovered_at = models.DateTimeField(_("recovered at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True, max_length=2000)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        ordering = ["-created_at", "-id"]
        permissions = [("decide_finding", _("Can suppress a finding or mark it a false positive"))]
        indexes = [
            models.Index(fields=["state", "-created_at"], name="finding_state_created"),
            models.Index(fields=["segment", "window_start"], name="finding_segment_window"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "kind", "decline_code"],
                condition=Q(state__in=["watch", "alerted"]),
                name="finding_one_active_per_segment",
                violation_error_message=_("This segment already has an active finding of this kind."),
            ),
            models.CheckConstraint(
                condition=Q(window_end__gt=F("window_start")),
                name="finding_window_ends_after_start",
                violation_error_message=_("A finding's window ends after it starts."),
            ),
            models.CheckConstraint(
                condition=Q(kind="decline_code_spike", decline_code__gt="") | Q(kind="approval_drop", decline_code=""),
                name="finding_code_only_for_spikes",
                violation_error_message=_("A decline-code spike names its code; a drop names none."),
            ),
        ]

    def __str__(self) -> str:
        label = self.get_kind_display()
        if self.decline_code:
            label = f"{label} {self.decline_code}"
        return f"{label} · {self.segment_id} · {self.window_start:%Y-%m-%d %H:%M}"

    @property
    def drop_pp(self) -> Decimal:
        return (self.baseline_rate - self.observed_rate) * 100

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_FINDING_STATES


class Suppression(CardNumberFreeModel, models.Model):
    """A window in which a segment raises nothing (a planned maintenance, a known test): the
    detector skips its tests there and leaves its buckets out of every baseline. Suppressing a
    merchant-level segment suppresses all its slices."""

    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="suppressions", verbose_name=_("segment")
    )
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=500)
    finding = models.ForeignKey(
        Finding,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="suppressions",
        verbose_name=_("finding"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("suppression")
        verbose_name_plural = _("suppressions")
        ordering = ["-start", "-id"]
        indexes = [models.Index(fields=["segment", "start", "end"], name="suppression_segment_window")]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")),
                name="suppression_ends_after_start",
                violation_error_message=_("A suppression ends after it starts."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.start:%Y-%m-%d %H:%M}–{self.end:%Y-%m-%d %H:%M}"


# --- File uploads from the page ---------------------------------------------------------------


class ImportJobState(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded, waiting for its column mapping")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Refused")


class ImportJob(CardNumberFreeModel, models.Model):
    """One file uploaded on the upload page and its import: the file waits in the private upload
    directory (PAYHEALTH_METRICS_UPLOAD_DIR) under `stored_name` until the Celery task has
    imported it (`monitoring.importing.buckets_import`, one batch), then is deleted. The task
    writes the progress on its own connection, so the page sees it while the import's
    transaction is still open. `errors` holds [{"row", "line", "column", "message"}], never a
    value read from the file."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("uploaded by")
    )
    file_name = models.CharField(_("file name"), max_length=255)
    stored_name = models.CharField(_("stored as"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=10)  # "csv" or "parquet"
    size = models.PositiveBigIntegerField(_("size in bytes"), default=0)
    header = models.JSONField(_("columns"), default=list)
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=ImportJobState.choices, default=ImportJobState.UPLOADED)
    rows_total = models.PositiveIntegerField(_("rows in the file"), default=0)
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    rows_per_second = models.FloatField(_("rows per second"), default=0.0)
    inserted = models.PositiveIntegerField(_("inserted"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    segments_created = models.PositiveIntegerField(_("segments created"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.file_name

    @property
    def percent(self) -> int:
        if self.state == ImportJobState.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(100, self.rows_read * 100 // self.rows_total)

    @property
    def finished(self) -> bool:
        return self.state in (ImportJobState.DONE, ImportJobState.FAILED)
