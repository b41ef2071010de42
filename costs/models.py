"""Partner costs: rate cards and their fee rules, imported partner billing, and what the checks find.

docs/costs.md explains the matching of rules, the import formats and each check's formula.
Money is Decimal with its currency everywhere; rates are basis points (1 bp = 0.01 %).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from monitoring.models import Funding  # the same funding types as payment data
from partners.models import Partner
from payhealth.db import CardNumberFreeModel

ISO_CURRENCY = RegexValidator(r"^[A-Z]{3}$", _("Use a three-letter ISO currency code."))


class FeeType(models.TextChoices):
    INTERCHANGE = "interchange", _("Interchange")
    SCHEME = "scheme", _("Scheme / assessment")
    MARKUP = "markup", _("Processing markup")
    CROSS_BORDER = "cross_border", _("Cross-border")
    FX = "fx", _("FX")
    OTHER = "other", _("Other")


class Region(models.TextChoices):
    DOMESTIC = "domestic", _("Domestic")
    CROSS_BORDER = "cross_border", _("Cross-border")


# The cohort keys a fee rule may match on and billing rows carry, in the order explanations list them.
MATCH_KEYS = ("network", "funding", "product", "region", "giro", "entry_mode", "program_code")


class Giro(models.Model):
    """A merchant category of the Mexican interchange tables (giro), or an MCC used as one."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name_es = models.CharField(_("Spanish name"), max_length=120)
    name_en = models.CharField(_("English name"), max_length=120)
    zero_rated = models.BooleanField(
        _("zero-rated"), default=False, help_text=_("No interchange may be charged on this giro.")
    )

    class Meta:
        verbose_name = _("giro")
        verbose_name_plural = _("giros")
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} · {self.name_es}"


class RateCard(CardNumberFreeModel, models.Model):
    """One version of what a partner may bill, in force from `effective_from` (inclusive) to
    `effective_to` (exclusive; empty while no later version supersedes it). Used by the checks only
    once a lead approved it; an approved card never changes (a new version supersedes it)."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        APPROVED = "approved", _("Approved")
        RETIRED = "retired", _("Retired")

    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="rate_cards", verbose_name=_("partner"))
    version = models.PositiveIntegerField(_("version"))
    effective_from = models.DateField(_("effective from"))
    effective_to = models.DateField(_("effective to"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.DRAFT)
    currency = models.CharField(_("currency"), max_length=3, default="MXN", validators=[ISO_CURRENCY])
    notes = models.TextField(_("notes"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("rate card")
        verbose_name_plural = _("rate cards")
        ordering = ["partner", "-version"]
        permissions = [("approve_ratecard", _("Can approve rate cards"))]
        constraints = [
            models.UniqueConstraint(fields=["partner", "version"], name="ratecard_partner_version_unique"),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gt=models.F("effective_from")),
                name="ratecard_effective_in_order",
            ),
            models.CheckConstraint(
                condition=Q(state="draft") | (Q(approved_at__isnull=False)),
                name="ratecard_approved_has_approval",
            ),
        ]

    def __str__(self):
        return f"{self.partner} v{self.version}"


class FeeRule(CardNumberFreeModel, models.Model):
    """A fee of a rate card: for billing rows of its fee type that match its keys (an empty key
    matches anything), rate_bps of the volume plus fixed_fee per transaction, each transaction's
    fee held between minimum_fee and cap_fee. Of the rules that match, the most specific (most keys
    given) wins, then the highest priority, then the first written."""

    rate_card = models.ForeignKey(RateCard, on_delete=models.CASCADE, related_name="rules", verbose_name=_("rate card"))
    fee_type = models.CharField(_("fee type"), max_length=20, choices=FeeType.choices)
    network = models.CharField(_("network"), max_length=30, blank=True)
    funding = models.CharField(_("funding"), max_length=10, choices=Funding.choices, blank=True)
    product = models.CharField(_("product"), max_length=40, blank=True)
    region = models.CharField(_("domestic or cross-border"), max_length=20, choices=Region.choices, blank=True)
    giro = models.CharField(_("giro or MCC"), max_length=20, blank=True)
    entry_mode = models.CharField(_("entry mode"), max_length=20, blank=True)
    program_code = models.CharField(_("program code"), max_length=40, blank=True)
    rate_bps = models.DecimalField(
        _("rate (bps)"), max_digits=10, decimal_places=4, default=0, validators=[MinValueValidator(0)]
    )
    fixed_fee = models.DecimalField(
        _("fixed fee per transaction"), max_digits=14, decimal_places=4, default=0, validators=[MinValueValidator(0)]
    )
    minimum_fee = models.DecimalField(
        _("minimum per transaction"), max_digits=14, decimal_places=4, null=True, blank=True
    )
    cap_fee = models.DecimalField(_("cap per transaction"), max_digits=14, decimal_places=4, null=True, blank=True)
    priority = models.IntegerField(_("priority"), default=0)
    specificity = models.PositiveSmallIntegerField(_("specificity"), default=0, editable=False)

    class Meta:
        verbose_name = _("fee rule")
        verbose_name_plural = _("fee rules")
        ordering = ["rate_card", "fee_type", "-specificity", "-priority", "id"]
        indexes = [models.Index(fields=["rate_card", "fee_type"], name="feerule_card_type_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(rate_bps__gte=0) & Q(fixed_fee__gte=0), name="feerule_non_negative"),
            models.CheckConstraint(
                condition=Q(minimum_fee__isnull=True)
                | Q(cap_fee__isnull=True)
                | Q(cap_fee__gte=models.F("minimum_fee")),
                name="feerule_cap_above_minimum",
            ),
        ]

    def __str__(self):
        return f"{self.get_fee_type_display()} {self.rate_bps} bps"

    def save(self, *args, **kwargs):
        self.specificity = len(self.keys())
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "specificity"}
        return super().save(*args, **kwargs)

    def keys(self) -> dict[str, str]:
        return {key: getattr(self, key) for key in MATCH_KEYS if getattr(self, key)}

    def explain(self, cohort: dict | None = None) -> str:
        """Why this rule applies: each key it requires (and that the cohort has), and what it leaves open."""
        labels = {key: str(self._meta.get_field(key).verbose_name) for key in MATCH_KEYS}
        given = [f"{labels[key]} = {value}" for key, value in self.keys().items()]
        open_ = [labels[key] for key in MATCH_KEYS if not getattr(self, key)]
        parts = [
            gettext("%(type)s rule of %(card)s, %(rate)s bps + %(fixed)s per transaction")
            % {
                "type": self.get_fee_type_display(),
                "card": self.rate_card,
                "rate": self.rate_bps,
                "fixed": self.fixed_fee,
            }
        ]
        parts.append(
            gettext("matches %(keys)s") % {"keys": ", ".join(given)}
            if given
            else gettext("matches every cohort of its fee type")
        )
        if given and open_:
            parts.append(gettext("any %(keys)s") % {"keys": ", ".join(open_)})
        parts.append(
            gettext("specificity %(specificity)d, priority %(priority)d")
            % {"specificity": len(given), "priority": self.priority}
        )
        if cohort:
            mismatched = [key for key, value in self.keys().items() if cohort.get(key, "") != value]
            if mismatched:
                parts.append(gettext("does not match on %(keys)s") % {"keys": ", ".join(labels[k] for k in mismatched)})
        return "; ".join(parts)


class FeeImport(CardNumberFreeModel, models.Model):
    """One file (or batch of rows) of partner billing, imported whole; its SHA-256 is never imported twice."""

    class Shape(models.TextChoices):
        INVOICE = "invoice", _("Invoice lines")
        RECORDS = "records", _("Transaction fee records")

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="fee_imports", verbose_name=_("partner")
    )
    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    shape = models.CharField(_("shape"), max_length=10, choices=Shape.choices)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("imported by"),
    )
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)
    checked_at = models.DateTimeField(
        _("checked at"), null=True, blank=True, help_text=_("When the checks last ran over the months it holds.")
    )

    class Meta:
        verbose_name = _("fee import")
        verbose_name_plural = _("fee imports")
        ordering = ["-imported_at"]
        constraints = [
            # The target of the billing rows' one foreign key (import, partner): see FeeRecord.
            models.UniqueConstraint(fields=["id", "partner"], name="feeimport_id_partner_unique"),
        ]

    def __str__(self):
        return f"{self.partner} · {self.get_shape_display()} · {self.imported_at:%Y-%m-%d}"


class CohortFields(models.Model):
    """The cohort keys of a billing row (empty when the partner does not say)."""

    network = models.CharField(_("network"), max_length=30, blank=True)
    funding = models.CharField(_("funding"), max_length=10, choices=Funding.choices, blank=True)
    product = models.CharField(_("product"), max_length=40, blank=True)
    region = models.CharField(_("domestic or cross-border"), max_length=20, choices=Region.choices, blank=True)
    giro = models.CharField(_("giro or MCC"), max_length=20, blank=True)
    entry_mode = models.CharField(_("entry mode"), max_length=20, blank=True)
    program_code = models.CharField(_("program code"), max_length=40, blank=True)

    class Meta:
        abstract = True


class InvoiceLine(CohortFields):
    """A line of a partner's invoice: one fee for one cohort over a billing period."""

    # Both foreign keys are enforced by one database constraint, (fee_import, partner) → the
    # import's (id, partner) (migration 0006): see FeeRecord.
    fee_import = models.ForeignKey(
        FeeImport,
        on_delete=models.CASCADE,
        related_name="invoice_lines",
        verbose_name=_("import"),
        db_constraint=False,
    )
    partner = models.ForeignKey(
        Partner,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("partner"),
        db_constraint=False,
        db_index=False,  # the (partner, period start) index serves it
    )
    row = models.PositiveIntegerField(_("row"))
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    fee_code = models.CharField(_("fee code"), max_length=60, blank=True)
    fee_type = models.CharField(
        _("fee type"),
        max_length=20,
        choices=FeeType.choices,
        blank=True,
        help_text=_("Empty: the fee code is not mapped."),
    )
    count = models.BigIntegerField(_("transactions"), default=0)
    volume = models.DecimalField(_("volume"), max_digits=20, decimal_places=4, default=0)
    amount = models.DecimalField(_("amount"), max_digits=20, decimal_places=4)
    currency = models.CharField(_("currency"), max_length=3, default="MXN")

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        indexes = [models.Index(fields=["partner", "period_start"], name="invoiceline_partner_period_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="invoiceline_period_order"
            ),
            models.CheckConstraint(condition=Q(count__gte=0), name="invoiceline_count_non_negative"),
        ]

    def __str__(self):
        return f"{self.partner_id} {self.period_start} {self.fee_code or self.fee_type} {self.amount}"


class FeeRecord(CohortFields):
    """A transaction's fees as the partner billed them. Card data: the first 6–8 and the last 4 digits at most."""

    # A file brings a million rows: PostgreSQL checks a foreign key row by row, so the import and
    # the partner are enforced by one constraint instead of two, (fee_import, partner) → the
    # import's (id, partner) (migration 0006; the import's own key enforces its partner). It says
    # more than the two did: a row's partner is its import's. The ORM's on_delete is unchanged.
    fee_import = models.ForeignKey(
        FeeImport,
        on_delete=models.CASCADE,
        related_name="fee_records",
        verbose_name=_("import"),
        db_constraint=False,
    )
    partner = models.ForeignKey(
        Partner,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("partner"),
        db_constraint=False,
        db_index=False,  # the (partner, date) and (partner, reference) indexes serve it
    )
    row = models.PositiveIntegerField(_("row"))
    reference = models.CharField(_("ARN or reference"), max_length=64)
    txn_date = models.DateField(_("date"))
    bin_prefix = models.CharField(_("BIN prefix"), max_length=8, blank=True)
    last4 = models.CharField(_("last 4 digits"), max_length=4, blank=True)
    issuer_country = models.CharField(_("issuer country"), max_length=2, blank=True)
    merchant_country = models.CharField(_("merchant country"), max_length=2, blank=True)
    merchant = models.CharField(
        _("merchant"),
        max_length=64,
        blank=True,
        help_text=_("The merchant's account id (acct_…) when the partner's file names it."),
    )
    amount = models.DecimalField(_("amount"), max_digits=20, decimal_places=4)
    currency = models.CharField(_("currency"), max_length=3, default="MXN")
    interchange_fee = models.DecimalField(_("interchange fee"), max_digits=18, decimal_places=4, default=0)
    scheme_fee = models.DecimalField(_("scheme fee"), max_digits=18, decimal_places=4, default=0)
    markup_fee = models.DecimalField(_("processing markup"), max_digits=18, decimal_places=4, default=0)
    cross_border_fee = models.DecimalField(_("cross-border fee"), max_digits=18, decimal_places=4, default=0)
    fx_fee = models.DecimalField(_("FX fee"), max_digits=18, decimal_places=4, default=0)
    other_fee = models.DecimalField(_("other fee"), max_digits=18, decimal_places=4, default=0)
    downgrade_reason = models.CharField(_("downgrade reason"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("fee record")
        verbose_name_plural = _("fee records")
        indexes = [
            models.Index(fields=["partner", "txn_date"], name="feerecord_partner_date_idx"),
            models.Index(fields=["partner", "reference"], name="feerecord_partner_ref_idx"),
            models.Index(
                fields=["partner", "merchant", "txn_date"],
                name="feerecord_partner_merch_idx",
                condition=~Q(merchant=""),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(bin_prefix="") | Q(bin_prefix__regex=r"^[0-9]{6,8}$"), name="feerecord_bin_6_to_8_digits"
            ),
            models.CheckConstraint(
                condition=Q(last4="") | Q(last4__regex=r"^[0-9]{4}$"), name="feerecord_last4_digits"
            ),
        ]

    def __str__(self):
        return f"{self.reference} {self.txn_date}"


# The fee columns of a FeeRecord, by fee type.
FEE_COLUMNS = {
    FeeType.INTERCHANGE: "interchange_fee",
    FeeType.SCHEME: "scheme_fee",
    FeeType.MARKUP: "markup_fee",
    FeeType.CROSS_BORDER: "cross_border_fee",
    FeeType.FX: "fx_fee",
    FeeType.OTHER: "other_fee",
}


class CostThresholds(models.Model):
    """A partner's own thresholds for the checks; a partner without a row uses the defaults."""

    partner = models.OneToOneField(
        Partner, on_delete=models.CASCADE, related_name="cost_thresholds", verbose_name=_("partner")
    )
    deviation_bps = models.DecimalField(_("rate deviation (bps)"), max_digits=8, decimal_places=4, default=2)
    deviation_amount = models.DecimalField(_("rate deviation amount"), max_digits=14, decimal_places=2, default=5000)
    deviation_count = models.PositiveIntegerField(_("rate deviation transactions"), default=100)
    regression_bps = models.DecimalField(_("cost regression (bps)"), max_digits=8, decimal_places=4, default=3)
    downgrade_pp = models.DecimalField(
        _("downgrade rise (percentage points)"), max_digits=6, decimal_places=3, default=1
    )
    downgrade_q = models.FloatField(_("downgrade q-value"), default=0.001)
    unknown_fee_amount = models.DecimalField(_("unknown fee amount"), max_digits=14, decimal_places=2, default=1000)
    spike_bps = models.DecimalField(
        _("sudden cost rise (bps)"),
        max_digits=8,
        decimal_places=4,
        default=5,
        help_text=_("How far the last week's effective bps must rise above the 28 days before it."),
    )
    dispute_window_days = models.PositiveIntegerField(
        _("dispute window (days)"),
        default=60,
        help_text=_("Days after the month billed ends within which the partner accepts a dispute."),
    )

    class Meta:
        verbose_name = _("cost thresholds")
        verbose_name_plural = _("cost thresholds")

    def __str__(self):
        return str(self.partner)


class CostFinding(models.Model):
    """What a check found for a partner, period (month) and cohort, with the figures that explain it."""

    class Kind(models.TextChoices):
        RATE_DEVIATION = "rate_deviation", _("Rate deviation")
        COST_REGRESSION = "cost_regression", _("Cost regression")
        DOWNGRADE_SPIKE = "downgrade_spike", _("Downgrade spike")
        DUPLICATE_FEE = "duplicate_fee", _("Duplicate fee")
        UNKNOWN_FEE = "unknown_fee", _("Unknown fee")
        CROSS_BORDER_MISCLASS = "cross_border_misclass", _("Cross-border misclassification")
        ZERO_RATED_GIRO = "zero_rated_giro", _("Interchange on a zero-rated giro")
        COST_SPIKE = "cost_spike", _("Sudden cost rise")

    class Severity(models.TextChoices):
        HIGH = "high", _("High")
        MEDIUM = "medium", _("Medium")
        LOW = "low", _("Low")

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        CONFIRMED = "confirmed", _("Confirmed")
        DISMISSED = "dismissed", _("Dismissed")
        RESOLVED = "resolved", _("Resolved")

    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="cost_findings", verbose_name=_("partner")
    )
    period = models.DateField(_("period"), help_text=_("The first day of the month checked."))
    key = models.CharField(_("key"), max_length=400, help_text=_("Kind, partner, period and cohort: one finding each."))
    cohort = models.JSONField(_("cohort"), default=dict, blank=True)
    fee_type = models.CharField(_("fee type"), max_length=20, choices=FeeType.choices, blank=True)
    fee_code = models.CharField(_("fee code"), max_length=60, blank=True)
    rate_card = models.ForeignKey(
        RateCard, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("rate card")
    )
    rule = models.ForeignKey(
        FeeRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("fee rule")
    )
    rate_card_version = models.PositiveIntegerField(_("rate card version"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, default="MXN")
    count = models.BigIntegerField(_("transactions"), default=0)
    volume = models.DecimalField(_("volume"), max_digits=20, decimal_places=2, default=0)
    expected_bps = models.DecimalField(_("expected (bps)"), max_digits=12, decimal_places=4, null=True, blank=True)
    billed_bps = models.DecimalField(_("billed (bps)"), max_digits=12, decimal_places=4, null=True, blank=True)
    expected_amount = models.DecimalField(_("expected amount"), max_digits=20, decimal_places=2, null=True, blank=True)
    billed_amount = models.DecimalField(_("billed amount"), max_digits=20, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(_("amount at stake"), max_digits=20, decimal_places=2)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    details = models.JSONField(_("details"), default=dict, blank=True)
    sample_references = models.JSONField(_("sample references"), default=list, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    billing_case = models.ForeignKey(
        "costs.BillingCase",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="findings",
        verbose_name=_("billing case"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("cost finding")
        verbose_name_plural = _("cost findings")
        ordering = ["-period", "-amount"]
        permissions = [("run_costs_check", _("Can run the cost checks"))]
        indexes = [models.Index(fields=["partner", "period", "state"], name="costfinding_partner_period_idx")]
        constraints = [
            models.UniqueConstraint(fields=["key"], condition=Q(state="open"), name="costfinding_one_open_per_key"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.partner} · {self.period:%Y-%m}"

    @property
    def delta_bps(self):
        if self.billed_bps is None or self.expected_bps is None:
            return None
        return self.billed_bps - self.expected_bps

    def explanation(self) -> str:
        from costs.explain import finding_explanation

        return finding_explanation(self)


class FeeImportMapping(CardNumberFreeModel, models.Model):
    """How one partner's files of one shape name their columns and fee codes: saved once, reused."""

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="fee_import_mappings", verbose_name=_("partner")
    )
    shape = models.CharField(_("shape"), max_length=10, choices=FeeImport.Shape.choices)
    columns = models.JSONField(_("columns"), default=dict, blank=True, help_text=_("Field → the file's column."))
    fee_codes = models.JSONField(_("fee codes"), default=dict, blank=True, help_text=_("Partner's code → fee type."))
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
        verbose_name = _("import column mapping")
        verbose_name_plural = _("import column mappings")
        ordering = ["partner__name", "shape"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "shape"],
                name="feeimportmapping_one_per_partner_shape",
                violation_error_message=_("This partner already has a mapping for this shape."),
            ),
        ]

    def __str__(self):
        return f"{self.partner} · {self.get_shape_display()}"

    def as_mapping(self) -> dict:
        """The `mapping` argument of `fee_import`."""
        return {"columns": dict(self.columns or {}), "fee_codes": dict(self.fee_codes or {})}


class BillingCase(CardNumberFreeModel, models.Model):
    """A dispute with a partner about what it billed, worked as an incident of category cost-rate regression.

    The findings it disputes point at it; the amount in dispute is theirs at opening (editable by the
    desk), the deadline is the last day the partner's dispute window allows; what the partner credits
    back is recorded as credit notes.
    """

    incident = models.OneToOneField(
        "cases.Incident", on_delete=models.CASCADE, related_name="billing_case", verbose_name=_("incident")
    )
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="billing_cases", verbose_name=_("partner")
    )
    period = models.DateField(_("period"), help_text=_("The first day of the month billed."))
    currency = models.CharField(_("currency"), max_length=3, default="MXN", validators=[ISO_CURRENCY])
    amount_disputed = models.DecimalField(
        _("amount in dispute"), max_digits=20, decimal_places=2, validators=[MinValueValidator(0)]
    )
    dispute_deadline = models.DateField(_("dispute deadline"))
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("opened by"),
    )
    opened_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    settled_at = models.DateTimeField(
        _("settled at"),
        null=True,
        blank=True,
        help_text=_("When the credited total reached the amount in dispute, or a final credit note was recorded."),
    )

    class Meta:
        verbose_name = _("billing case")
        verbose_name_plural = _("billing cases")
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["partner", "period"], name="billingcase_partner_period_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(amount_disputed__gte=0), name="billingcase_amount_not_negative"),
        ]

    def __str__(self):
        return f"{self.partner} · {self.period:%Y-%m} · {self.currency} {self.amount_disputed}"


class CreditNote(CardNumberFreeModel, models.Model):
    """What a partner credited back on a billing case: its credit note (or corrected invoice) number."""

    billing_case = models.ForeignKey(
        BillingCase, on_delete=models.CASCADE, related_name="credit_notes", verbose_name=_("billing case")
    )
    reference = models.CharField(_("credit note number"), max_length=80)
    amount = models.DecimalField(
        _("amount credited"), max_digits=20, decimal_places=2, validators=[MinValueValidator(0)]
    )
    currency = models.CharField(_("currency"), max_length=3, default="MXN", validators=[ISO_CURRENCY])
    issued_on = models.DateField(_("issued on"))
    note = models.TextField(_("note"), blank=True)
    final = models.BooleanField(
        _("final"), default=False, help_text=_("The partner's last credit on the case: it settles the case.")
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("credit note")
        verbose_name_plural = _("credit notes")
        ordering = ["billing_case", "issued_on", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["billing_case", "reference"],
                name="creditnote_unique_reference",
                violation_error_message=_("This credit note is already recorded on the case."),
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="creditnote_amount_positive"),
        ]

    def __str__(self):
        return f"{self.reference} · {self.currency} {self.amount}"
