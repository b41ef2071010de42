"""Incidents and what hangs off them: affected merchants, partner engagements and notes."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Case, F, Func, Q, Value, When
from django.db.models.functions import Cast, Greatest, Round
from django.db.models.lookups import Regex
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel
from payhealth.pan import card_number_error, contains_card_number, is_card_number

BIN_PREFIX_PATTERN = r"^\d{6,8}$"


# What one incident may list: far beyond any real incident, and low enough that no crafted request
# makes one row, one page or one notice enormous (README "API", limits). Checked by
# `Incident.clean` and the incident services, so the pages, the API and alert intake share them.
MAX_BIN_PREFIXES = 50
MAX_DECLINE_CODES = 50
MAX_MERCHANTS_PER_INCIDENT = 200
MAX_PARTNERS_PER_INCIDENT = 50


def too_many(count: int, limit: int) -> str:
    """The field message for a list longer than its limit."""
    return _("%(count)d given; at most %(limit)d are allowed.") % {"count": count, "limit": limit}


def validate_bin_prefix(value: str) -> None:
    """A BIN prefix is 6 to 8 digits. A card number (`payhealth.pan`, however it is spaced) is
    refused without being quoted."""
    compact = re.sub(r"[\s-]", "", value or "")
    if contains_card_number(value) or is_card_number(compact):
        raise card_number_error()
    if not re.match(BIN_PREFIX_PATTERN, compact):
        raise ValidationError(
            _("%(value)s is not a BIN prefix (6 to 8 digits)."), params={"value": value}, code="bin_prefix"
        )


class Severity(models.TextChoices):
    SEV1 = "sev1", _("SEV1 – critical")
    SEV2 = "sev2", _("SEV2 – major")
    SEV3 = "sev3", _("SEV3 – moderate")
    SEV4 = "sev4", _("SEV4 – minor")


def most_severe(*severities: str) -> str:
    """The most severe of `severities` (SEV1 before SEV4); empty values are skipped."""
    return min((severity for severity in severities if severity), key=Severity.values.index)


def less_severe_than(severity: str) -> list[str]:
    """Every severity below `severity` (for SEV2: SEV3 and SEV4)."""
    return Severity.values[Severity.values.index(severity) + 1 :]


class Category(models.TextChoices):
    AUTH_RATE = "auth_rate", _("Authorization rate regression")
    COST_RATE = "cost_rate", _("Cost rate regression")
    OUTAGE = "outage", _("Processing outage")
    LATENCY = "latency", _("Latency / timeouts")
    FRAUD_SPIKE = "fraud_spike", _("Fraud spike")
    DATA_ACCURACY = "data_accuracy", _("Data accuracy")


class Status(models.TextChoices):
    NEW = "new", _("New")
    TRIAGING = "triaging", _("Triaging")
    INVESTIGATING = "investigating", _("Investigating")
    WAITING_ON_PARTNER = "waiting_on_partner", _("Waiting on partner")
    MITIGATED = "mitigated", _("Mitigated")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


OPEN_STATUSES = (Status.NEW, Status.TRIAGING, Status.INVESTIGATING, Status.WAITING_ON_PARTNER, Status.MITIGATED)


def status_rank() -> Case:
    """A status's place in the lifecycle (new 0 … closed 6): the queue's order "by status".

    The same expression orders the queue and keys `incident_open_status_rank_idx`; PostgreSQL
    uses the index only while the two are identical.
    """
    return Case(*(When(status=value, then=Value(rank)) for rank, value in enumerate(Status.values)))


# The lifecycle. The service checks every transition against this one table.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.NEW: (Status.TRIAGING, Status.INVESTIGATING),
    Status.TRIAGING: (Status.INVESTIGATING, Status.WAITING_ON_PARTNER, Status.MITIGATED, Status.RESOLVED),
    Status.INVESTIGATING: (Status.WAITING_ON_PARTNER, Status.MITIGATED, Status.RESOLVED),
    Status.WAITING_ON_PARTNER: (Status.INVESTIGATING, Status.MITIGATED, Status.RESOLVED),
    Status.MITIGATED: (Status.INVESTIGATING, Status.WAITING_ON_PARTNER, Status.RESOLVED),
    Status.RESOLVED: (Status.CLOSED, Status.INVESTIGATING),
    Status.CLOSED: (Status.INVESTIGATING,),
}
# Moving back to investigating from these is a reopen, which needs a reason.
REOPEN_FROM = (Status.RESOLVED, Status.CLOSED)


class CardNetwork(models.TextChoices):
    VISA = "visa", "Visa"
    MASTERCARD = "mastercard", "Mastercard"
    AMEX = "amex", "American Express"
    CARNET = "carnet", "Carnet"
    DISCOVER = "discover", "Discover"
    JCB = "jcb", "JCB"
    ELO = "elo", "Elo"
    UNIONPAY = "unionpay", "UnionPay"


class EntryMode(models.TextChoices):
    """How the card reached the terminal or page (what a partner's NOC filters its logs by)."""

    CHIP = "chip", _("Chip (EMV)")
    CONTACTLESS = "contactless", _("Contactless")
    MAGSTRIPE = "magstripe", _("Magnetic stripe")
    MANUAL = "manual", _("Key entered")
    ECOMMERCE = "ecommerce", _("E-commerce")
    ECOMMERCE_3DS = "3ds", _("E-commerce with 3DS")
    TOKEN = "token", _("Tokenised wallet")
    RECURRING = "recurring", _("Recurring / card on file")


class Source(models.TextChoices):
    MANUAL = "manual", _("Manual")
    ALERT = "alert", _("Monitoring alert")
    API = "api", _("API")


class ArrayToString(Func):
    function = "array_to_string"
    output_field = models.TextField()


class ReferenceCounter(CardNumberFreeModel, models.Model):
    """The last incident number issued per year.

    Incremented with one `INSERT … ON CONFLICT DO UPDATE … RETURNING`, which PostgreSQL
    serialises on the row, so two incidents opened at the same instant never share a reference.
    """

    year = models.PositiveIntegerField(_("year"), primary_key=True)
    last = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("reference counter")
        verbose_name_plural = _("reference counters")

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Incident(CardNumberFreeModel, models.Model):
    """A payments-health regression the desk investigates until it is fixed and closed."""

    reference = models.CharField(_("reference"), max_length=20, unique=True, editable=False)
    title = models.CharField(_("title"), max_length=200)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices, db_index=True)
    severity = models.CharField(_("severity"), max_length=4, choices=Severity.choices, db_index=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.NEW, db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_incidents",
        verbose_name=_("owner"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="created_incidents",
        verbose_name=_("created by"),
    )
    summary = models.TextField(_("summary"), blank=True)
    root_cause = models.TextField(_("root cause"), blank=True)
    started_at = models.DateTimeField(_("impact started"), null=True, blank=True)
    detected_at = models.DateTimeField(_("detected"), null=True, blank=True)
    mitigated_at = models.DateTimeField(_("mitigated"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    card_networks = ArrayField(
        models.CharField(max_length=20, choices=CardNetwork.choices),
        verbose_name=_("card networks"),
        default=list,
        blank=True,
    )
    decline_codes = ArrayField(
        models.CharField(max_length=64), verbose_name=_("decline codes seen"), default=list, blank=True
    )
    bin_prefixes = ArrayField(
        # Wider than a prefix on purpose: a cast to varchar(8) would silently truncate a card
        # number into a "valid" prefix; this way the check constraint refuses it instead.
        models.CharField(max_length=32, validators=[validate_bin_prefix]),
        verbose_name=_("BIN prefixes"),
        default=list,
        blank=True,
        help_text=_("6–8 digit prefixes only; card numbers are never stored."),
    )
    country = models.CharField(_("country"), max_length=2, blank=True)
    entry_modes = ArrayField(
        models.CharField(max_length=20, choices=EntryMode.choices),
        verbose_name=_("entry modes"),
        default=list,
        blank=True,
    )
    # What partners read, in each notice language: a notice cannot be sent in a language whose
    # partner title or summary is empty (`cases.correspondence.dispatch`).
    partner_title_en = models.CharField(_("partner-facing title (English)"), max_length=200, blank=True)
    partner_title_es = models.CharField(_("partner-facing title (Spanish)"), max_length=200, blank=True)
    partner_summary_en = models.TextField(
        _("what we see (English)"), max_length=2000, blank=True, help_text=_("A short summary partners read.")
    )
    partner_summary_es = models.TextField(
        _("what we see (Spanish)"), max_length=2000, blank=True, help_text=_("A short summary partners read.")
    )
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.MANUAL)
    fingerprint = models.CharField(
        _("fingerprint"), max_length=128, blank=True, help_text=_("Alert de-duplication key of the segment.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    search_vector = SearchVectorField(
        null=True, editable=False, help_text="Maintained by cases.search.refresh_search; Spanish and English."
    )

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "severity", "-created_at"], name="incident_queue_idx"),
            models.Index(fields=["owner", "status"], name="incident_owner_status_idx"),
            # Covering the queue's usual filters, so deep pages walk the index alone.
            models.Index(
                fields=["-created_at", "-id"], name="incident_created_id_idx", include=["status", "severity", "owner"]
            ),
            GinIndex(fields=["card_networks"], name="incident_networks_gin"),
            GinIndex(fields=["search_vector"], name="incident_search_gin"),
            # The overview: open incidents counted by severity and owner, and the most urgent
            # listed, from the open rows' entries alone (about a tenth of a grown desk's), never
            # the whole created_at index or the wide rows (docs/performance.md, "Overview").
            models.Index(
                fields=["severity", "-created_at"],
                include=["owner"],
                condition=Q(status__in=OPEN_STATUSES),
                name="incident_open_severity_idx",
            ),
            # The queue sorted by status, over the open incidents (its default): a page is the
            # entries after its offset, index only, instead of a sort of every open incident.
            models.Index(
                status_rank(),
                F("created_at").desc(),
                F("id").desc(),
                include=["status"],
                condition=Q(status__in=OPEN_STATUSES),
                name="incident_open_status_rank_idx",
            ),
            # The overview's weekly resolutions and their median time to resolve, index only.
            models.Index(
                fields=["resolved_at"],
                include=["created_at"],
                condition=Q(resolved_at__isnull=False),
                name="incident_resolved_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(reference__regex=r"^PH-\d{4}-\d{6}$"), name="incident_reference_format"),
            models.CheckConstraint(
                condition=Q(detected_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(detected_at__gte=F("started_at")),
                name="incident_detected_after_start",
                violation_error_message=_("Detection cannot come before the impact started."),
            ),
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(resolved_at__gte=F("started_at")),
                name="incident_resolved_after_start",
                violation_error_message=_("Resolution cannot come before the impact started."),
            ),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | Q(resolved_at__isnull=True) | Q(closed_at__gte=F("resolved_at")),
                name="incident_closed_after_resolved",
                violation_error_message=_("An incident cannot be closed before it was resolved."),
            ),
            models.CheckConstraint(
                condition=Regex(ArrayToString(F("bin_prefixes"), Value(",")), Value(r"^(\d{6,8}(,\d{6,8})*)?$")),
                name="incident_bin_prefixes_only",
                violation_error_message=_("BIN prefixes have 6 to 8 digits; card numbers are never stored."),
            ),
            models.UniqueConstraint(
                fields=["fingerprint"],
                condition=~Q(fingerprint="") & ~Q(status__in=["resolved", "closed"]),
                name="incident_open_fingerprint_unique",
                violation_error_message=_("An open incident already tracks this alert segment."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def clean(self) -> None:
        errors = {
            field: too_many(len(getattr(self, field)), limit)
            for field, limit in (
                ("card_networks", len(CardNetwork)),
                ("entry_modes", len(EntryMode)),
                ("decline_codes", MAX_DECLINE_CODES),
                ("bin_prefixes", MAX_BIN_PREFIXES),
            )
            if len(getattr(self, field) or ()) > limit
        }
        if errors:
            raise ValidationError(errors, code="too_many")

    def allowed_transitions(self) -> tuple[str, ...]:
        return TRANSITIONS.get(self.status, ())

    def get_entry_modes_display(self) -> list[str]:
        return [str(EntryMode(value).label) for value in self.entry_modes if value in EntryMode.values]

    def partner_title(self, language: str) -> str:
        return getattr(self, f"partner_title_{language}", "") or ""

    def partner_summary(self, language: str) -> str:
        return getattr(self, f"partner_summary_{language}", "") or ""

    def missing_partner_text(self, language: str) -> list[str]:
        """The partner-facing fields still empty for `language` (a notice in it cannot be sent)."""
        return [
            field
            for field in (f"partner_title_{language}", f"partner_summary_{language}")
            if hasattr(self, field) and not (getattr(self, field) or "").strip()
        ]


# An observed approval rate typed to one decimal of a percentage is off by at most 0.05 pp; failed
# attempts are whole, so on few attempts the rate they imply moves by up to half a failure more.
RATE_ROUNDING = Decimal("0.0005")
HALF = Decimal("0.5")


def _percent(share) -> Decimal:
    return (Decimal(share) * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def derived_failed_attempts(*, attempts: int, observed_rate: Decimal | None) -> int:
    """The failures an observed approval rate implies on `attempts` (0 without a rate)."""
    if not attempts or observed_rate is None:
        return 0
    return attempts - int((attempts * Decimal(observed_rate)).to_integral_value(rounding=ROUND_HALF_UP))


def impact_contradiction(*, attempts: int, failed_attempts: int | None, observed_rate: Decimal | None) -> str | None:
    """Why an observed approval rate and the attempts and failures measured with it cannot all be
    true (None when they agree within rounding, or when one of them is not measured)."""
    if not attempts or failed_attempts is None or observed_rate is None or failed_attempts > attempts:
        return None
    implied = Decimal(attempts - failed_attempts) / Decimal(attempts)
    if abs(implied - Decimal(observed_rate)) <= RATE_ROUNDING + HALF / attempts:
        return None
    return _(
        "An observed approval rate of %(observed)s %% contradicts %(failed)s failed of %(attempts)s attempts, "
        "which is %(implied)s %%: correct one of them, or leave the failed attempts empty to derive them."
    ) % {
        "observed": number_format(_percent(observed_rate), 2, use_l10n=True),
        "failed": number_format(failed_attempts, use_l10n=True, force_grouping=True),
        "attempts": number_format(attempts, use_l10n=True, force_grouping=True),
        "implied": number_format(_percent(implied), 2, use_l10n=True),
    }


class AffectedMerchant(CardNumberFreeModel, models.Model):
    """A merchant hit by an incident, with the impact measured for it.

    Excess declines are derived in the database: failures beyond what the baseline rate would
    have produced on the same attempts, never negative.
    """

    class RateDefinition(models.TextChoices):
        ALL_ATTEMPTS = "all_attempts", _("Approved ÷ all attempts")
        UNIQUE_ATTEMPTS = "unique_attempts", _("Approved ÷ unique attempts (retries de-duplicated)")
        ISSUER_ONLY = "issuer_only", _("Approved ÷ attempts reaching the issuer")

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="affected_merchants", verbose_name=_("incident")
    )
    merchant = models.ForeignKey(
        "cases.Merchant", on_delete=models.PROTECT, related_name="impacts", verbose_name=_("merchant")
    )
    baseline_rate = models.DecimalField(
        _("baseline approval rate"),
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_("Share between 0 and 1."),
    )
    observed_rate = models.DecimalField(
        _("observed approval rate"),
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_("Share between 0 and 1."),
    )
    attempts = models.PositiveBigIntegerField(_("attempts"), default=0)
    failed_attempts = models.PositiveBigIntegerField(_("failed attempts"), default=0)
    excess_declines = models.GeneratedField(
        expression=Case(
            When(baseline_rate__isnull=True, then=Value(None)),
            default=Greatest(
                F("failed_attempts")
                - Cast(Round(F("attempts") * (Value(1) - F("baseline_rate"))), models.BigIntegerField()),
                Value(0),
            ),
        ),
        output_field=models.BigIntegerField(null=True),
        db_persist=True,
        verbose_name=_("excess declines"),
    )
    volume_at_risk = models.DecimalField(
        _("volume at risk"), max_digits=16, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(_("currency"), max_length=3, default="MXN")
    rate_definition = models.CharField(
        _("rate definition"), max_length=20, choices=RateDefinition.choices, default=RateDefinition.ALL_ATTEMPTS
    )
    notes = models.TextField(_("notes"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("affected merchant")
        verbose_name_plural = _("affected merchants")
        ordering = ["incident", "merchant__name"]
        indexes = [models.Index(fields=["merchant", "incident"], name="affected_merchant_inc_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "merchant"],
                name="affectedmerchant_unique",
                violation_error_message=_("This merchant is already recorded on the incident."),
            ),
            models.CheckConstraint(
                condition=Q(baseline_rate__isnull=True) | Q(baseline_rate__gte=0, baseline_rate__lte=1),
                name="affectedmerchant_baseline_rate_range",
                violation_error_message=_("Rates are shares between 0 and 1 (0% to 100%)."),
            ),
            models.CheckConstraint(
                condition=Q(observed_rate__isnull=True) | Q(observed_rate__gte=0, observed_rate__lte=1),
                name="affectedmerchant_observed_rate_range",
                violation_error_message=_("Rates are shares between 0 and 1 (0% to 100%)."),
            ),
            models.CheckConstraint(
                condition=Q(failed_attempts__lte=F("attempts")),
                name="affectedmerchant_failed_within_attempts",
                violation_error_message=_("Failed attempts cannot exceed attempts."),
            ),
            models.CheckConstraint(
                condition=Q(volume_at_risk__gte=0),
                name="affectedmerchant_volume_nonnegative",
                violation_error_message=_("Volume at risk cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"),
                name="affectedmerchant_currency_iso",
                violation_error_message=_("Use a three-letter ISO currency code such as MXN or USD."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.incident.reference} × {self.merchant}"

    def clean(self) -> None:
        if self.failed_attempts is not None and self.attempts is not None and self.failed_attempts > self.attempts:
            raise ValidationError({"failed_attempts": _("Failed attempts cannot exceed attempts.")})
        contradiction = impact_contradiction(
            attempts=self.attempts, failed_attempts=self.failed_attempts, observed_rate=self.observed_rate
        )
        if contradiction:
            raise ValidationError({"observed_rate": contradiction}, code="contradiction")

    @property
    def rate_drop_pp(self):
        """The drop in approval rate in percentage points, or None while unmeasured."""
        if self.baseline_rate is None or self.observed_rate is None:
            return None
        return (self.baseline_rate - self.observed_rate) * 100


class PartnerEngagement(CardNumberFreeModel, models.Model):
    """One partner's involvement in one incident; its correspondence thread hangs off it."""

    class PartnerStatus(models.TextChoices):
        NOT_NOTIFIED = "not_notified", _("Not notified")
        NOTIFIED = "notified", _("Notified")
        ACKNOWLEDGED = "acknowledged", _("Acknowledged")
        INVESTIGATING = "investigating", _("Investigating")
        FIX_IN_PROGRESS = "fix_in_progress", _("Fix in progress")
        RESOLVED = "resolved", _("Resolved")
        NOT_INVOLVED = "not_involved", _("Not involved")

    # The partners the desk is waiting on: notified, and neither resolved nor uninvolved.
    WAITING_STATUSES = (
        PartnerStatus.NOTIFIED,
        PartnerStatus.ACKNOWLEDGED,
        PartnerStatus.INVESTIGATING,
        PartnerStatus.FIX_IN_PROGRESS,
    )

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="engagements", verbose_name=_("incident")
    )
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.PROTECT, related_name="engagements", verbose_name=_("partner")
    )
    partner_status = models.CharField(
        _("partner status"), max_length=20, choices=PartnerStatus.choices, default=PartnerStatus.NOT_NOTIFIED
    )
    folio = models.CharField(_("partner's folio"), max_length=80, blank=True)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=1)
    # What this partner's notices show of the incident (`cases.correspondence.scope`). Until someone
    # edits it (`scope_edited`), it is derived from the partner's BINs, network and merchant routes.
    scope_edited = models.BooleanField(_("scope edited"), default=False)
    scope_bin_prefixes = ArrayField(
        models.CharField(max_length=32, validators=[validate_bin_prefix]),
        verbose_name=_("BIN prefixes in scope"),
        default=list,
        blank=True,
    )
    scope_networks = ArrayField(
        models.CharField(max_length=20, choices=CardNetwork.choices),
        verbose_name=_("card networks in scope"),
        default=list,
        blank=True,
    )
    scope_entry_modes = ArrayField(
        models.CharField(max_length=20, choices=EntryMode.choices),
        verbose_name=_("entry modes in scope"),
        default=list,
        blank=True,
    )
    scope_merchants = models.ManyToManyField(
        "cases.Merchant", blank=True, related_name="+", verbose_name=_("merchants in scope")
    )
    first_notified_at = models.DateTimeField(_("first notified"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved by partner"), null=True, blank=True)
    eta = models.DateTimeField(
        _("partner's ETA"), null=True, blank=True, help_text=_("When the partner expects to restore service.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("partner engagement")
        verbose_name_plural = _("partner engagements")
        ordering = ["incident", "partner__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "partner"],
                name="engagement_one_per_partner",
                violation_error_message=_("This partner is already engaged on the incident."),
            ),
            models.CheckConstraint(condition=Q(escalation_level__gte=1), name="engagement_level_positive"),
            models.CheckConstraint(
                condition=Regex(ArrayToString(F("scope_bin_prefixes"), Value(",")), Value(r"^(\d{6,8}(,\d{6,8})*)?$")),
                name="engagement_scope_bins_only",
                violation_error_message=_("BIN prefixes have 6 to 8 digits; card numbers are never stored."),
            ),
        ]
        indexes = [
            models.Index(fields=["partner", "partner_status"], name="engagement_partner_status_idx"),
            models.Index(fields=["partner", "incident"], name="engagement_partner_inc_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.incident.reference} × {self.partner}"


class InvestigationNote(CardNumberFreeModel, models.Model):
    """An analyst's investigation note (Markdown, sanitised when rendered)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notes", verbose_name=_("incident"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("author")
    )
    body = models.TextField(_("note"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    edited_at = models.DateTimeField(_("edited at"), null=True, blank=True)

    class Meta:
        verbose_name = _("investigation note")
        verbose_name_plural = _("investigation notes")
        ordering = ["incident", "created_at"]
        constraints = [models.CheckConstraint(condition=~Q(body=""), name="note_body_not_empty")]

    def __str__(self) -> str:
        return f"{self.incident.reference}: {self.body[:40]}"
