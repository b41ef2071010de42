"""Alert intake: the rules that turn a measured drop into a severity, and one receipt per alert.

Monitoring posts alerts to `POST /api/v1/alerts/` (see `alerts.services.alert_ingest`).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cases.models.incident import Severity
from payhealth.db import CardNumberFreeModel


class AlertSeverityRule(CardNumberFreeModel, models.Model):
    """One row of the table that maps an alert's measured impact to a severity.

    Active rules are tried in ascending `priority`; the first one whose conditions all hold gives
    the severity. A rule holds when the drop in approval rate (baseline − observed, in percentage
    points) is at least `min_drop_pp` AND the alert is big enough: at least `min_attempts`
    attempts, OR at least `min_volume` at risk in `volume_currency`. A size threshold left at
    0/empty is not a condition; with neither set, any size will do. No rule holding means SEV4.

    The size thresholds exist because a rate measured on a handful of attempts is noise: the
    default attempts thresholds make the rule's drop at least three standard errors of a
    binomial approval rate at a 90% baseline (SE = √(0.9·0.1/n)), and the volume alternative
    lets a high-ticket merchant with few attempts still count. See migration 0002 for the
    figures.
    """

    priority = models.PositiveSmallIntegerField(
        _("priority"), help_text=_("Rules are tried from the lowest number up; the first that matches wins.")
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    min_drop_pp = models.DecimalField(
        _("minimum drop (percentage points)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_("Baseline minus observed approval rate, e.g. 5 for 92% → 87%."),
    )
    min_attempts = models.PositiveIntegerField(
        _("minimum attempts"), default=0, help_text=_("0 means no attempts threshold.")
    )
    min_volume = models.DecimalField(
        _("minimum volume at risk"),
        max_digits=16,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Empty means no volume threshold. Met by alerts in the same currency only."),
    )
    volume_currency = models.CharField(
        _("currency"),
        max_length=3,
        blank=True,
        validators=[RegexValidator(r"^[A-Z]{3}$", _("Use a three-letter ISO currency code such as MXN or USD."))],
    )
    severity = models.CharField(_("severity"), max_length=4, choices=Severity.choices)
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )

    class Meta:
        verbose_name = _("alert severity rule")
        verbose_name_plural = _("alert severity rules")
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_drop_pp__gte=0, min_drop_pp__lte=100),
                name="alertrule_drop_range",
                violation_error_message=_("The drop is between 0 and 100 percentage points."),
            ),
            models.CheckConstraint(
                condition=Q(min_volume__isnull=True, volume_currency="")
                | Q(min_volume__isnull=False, min_volume__gte=0, volume_currency__regex=r"^[A-Z]{3}$"),
                name="alertrule_volume_with_currency",
                violation_error_message=_("A volume threshold needs its currency, and a currency needs a volume."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.priority}: ≥ {self.min_drop_pp} pp → {self.get_severity_display()}"

    def matches(self, *, drop_pp: Decimal, attempts: int, volume: Decimal | None, currency: str) -> bool:
        if drop_pp < self.min_drop_pp:
            return False
        sizes = []
        if self.min_attempts:
            sizes.append(attempts >= self.min_attempts)
        if self.min_volume is not None:
            sizes.append(volume is not None and currency == self.volume_currency and volume >= self.min_volume)
        return not sizes or any(sizes)


class AlertReceipt(CardNumberFreeModel, models.Model):
    """One alert accepted from monitoring: the audit row, the idempotency record and, for an alert
    taken asynchronously, the work item the worker applies.

    With an `Idempotency-Key`, the key is unique per user: a repeat with the same body gets the
    stored answer back (status and body), a repeat with another body is refused. The row is
    inserted before the alert is processed, so a concurrent repeat waits on the first one's
    transaction and then replays its answer. Alerts without a key get a receipt too (audit),
    with an empty key that nothing is unique on.

    An alert answered at once (`?wait=true`) is applied in the request: its receipt is born
    `applied`, and an alert that fails there leaves no receipt. An alert accepted for later (the
    default, 202) is born `pending` with its payload (card numbers already masked); the worker
    applies it and marks it `applied` (with the incident and outcome) or `failed` (with the
    field errors), in the transaction that applied it.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPLIED = "applied", _("Applied")
        FAILED = "failed", _("Failed")

    class Outcome(models.TextChoices):
        OPENED = "opened", _("Opened an incident")
        UPDATED = "updated", _("Updated an open incident")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="alert_receipts", verbose_name=_("sent by")
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, blank=True)
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64)
    source = models.CharField(_("source"), max_length=80, blank=True)
    incident = models.ForeignKey(
        "cases.Incident",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alert_receipts",
        verbose_name=_("incident"),
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, blank=True)
    fingerprint = models.CharField(_("fingerprint"), max_length=128, blank=True, db_index=True)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_body = models.JSONField(_("response body"), default=dict, blank=True)
    created_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.APPLIED)
    payload = models.JSONField(_("payload"), null=True, blank=True, editable=False)
    masked_card_numbers = models.PositiveSmallIntegerField(_("card numbers masked"), default=0)
    error = models.JSONField(_("error"), default=dict, blank=True)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)

    class Meta:
        verbose_name = _("alert receipt")
        verbose_name_plural = _("alert receipts")
        ordering = ["-created_at", "-id"]
        permissions = [("submit_alert", _("Can submit monitoring alerts"))]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="alertreceipt_unique_key_per_user",
                violation_error_message=_("This idempotency key was already used."),
            )
        ]
        indexes = [
            # The worker's queue: pending receipts in arrival order, a tiny index that empties itself.
            models.Index(fields=["id"], condition=Q(state="pending"), name="alertreceipt_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.get_outcome_display()} {self.fingerprint[:18]}"
