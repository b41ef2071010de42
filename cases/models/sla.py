"""SLA policies and clocks.

A clock's state is computed from its events and its calendar; the denormalised columns on
`SlaClock` (status, due and warn instants) let the periodic sweep find crossings with
set-based queries.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models.incident import Category, Severity
from partners.models import Partner
from payhealth.db import CardNumberFreeModel
from payhealth.i18n import Language


class SlaPolicy(CardNumberFreeModel, models.Model):
    """Targets for one severity, optionally narrowed to a partner kind or a single partner, and
    optionally to one incident category (billing cases run on their own, slower targets).

    Durations are measured in the policy calendar's business time (24x7 for SEV1/SEV2).
    An empty target means the metric is not tracked ("as needed").
    """

    name = models.CharField(_("name"), max_length=120)
    severity = models.CharField(_("severity"), max_length=4, choices=Severity.choices)
    partner_kind = models.CharField(_("partner kind"), max_length=20, choices=Partner.Kind.choices, blank=True)
    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="sla_policies", verbose_name=_("partner")
    )
    acknowledge_target = models.DurationField(_("acknowledge within"), null=True, blank=True)
    first_notice_target = models.DurationField(_("first partner notice within"), null=True, blank=True)
    update_every = models.DurationField(_("update every"), null=True, blank=True)
    resolve_target = models.DurationField(_("resolve within"), null=True, blank=True)
    category = models.CharField(
        _("incident category"),
        max_length=20,
        choices=Category.choices,
        blank=True,
        help_text=_("Empty: incidents of any category. A policy of the incident's category wins over one for any."),
    )
    calendar = models.ForeignKey(
        "partners.BusinessCalendar", on_delete=models.PROTECT, related_name="sla_policies", verbose_name=_("calendar")
    )
    warn_at = models.DecimalField(
        _("warn at share of target"),
        max_digits=3,
        decimal_places=2,
        default=0.75,
        validators=[MinValueValidator(0.01), MaxValueValidator(0.99)],
    )
    retarget_on_severity_change = models.BooleanField(
        _("re-target on severity change"),
        default=True,
        help_text=_("When the severity changes, running clocks take the new severity's targets."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["severity", "partner_kind", "name"]
        permissions = [("view_sla_reports", _("Can see SLA reports"))]
        constraints = [
            models.UniqueConstraint(
                fields=["severity", "partner_kind", "partner", "category"],
                nulls_distinct=False,
                condition=Q(active=True),
                name="slapolicy_one_active_per_scope",
            ),
            models.CheckConstraint(
                condition=Q(warn_at__gt=0, warn_at__lt=1),
                name="slapolicy_warn_share_range",
                violation_error_message=_("Warn at a share between 0 and 1 of the target."),
            ),
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": timedelta(0)}),
                    name=f"slapolicy_{field}_positive",
                )
                for field in ("acknowledge_target", "first_notice_target", "update_every", "resolve_target")
            ],
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def scope_rank(self) -> int:
        """0 for one partner's policy, 1 for a partner kind's, 2 for the generic one."""
        if self.partner_id is not None:
            return 0
        return 1 if self.partner_kind else 2

    @staticmethod
    def most_specific(
        policies, *, severity: str, partner: Partner | None = None, category: str = ""
    ) -> SlaPolicy | None:
        """Of `policies` (active ones), the one for the severity: a policy of the incident's
        `category` before one for any category; then the partner's own, else its kind's, else the
        generic one. Without a partner only the generic policies apply."""

        def applies(policy: SlaPolicy) -> bool:
            if policy.severity != severity:
                return False
            if policy.category and policy.category != category:
                return False
            if policy.partner_id is not None:
                return partner is not None and policy.partner_id == partner.pk
            if policy.partner_kind:
                return partner is not None and policy.partner_kind == partner.kind
            return True

        return min(
            (policy for policy in policies if applies(policy)),
            key=lambda p: (0 if p.category else 1, p.scope_rank),
            default=None,
        )

    def calendar_id_for(self, partner: Partner | None) -> int:
        """The calendar a clock under this policy counts on: the policy's; a partner that keeps its own
        hours keeps them for a business-hours policy (a US network desk across DST). Reads `calendar`."""
        if partner is not None and partner.calendar_id and not self.calendar.is_24x7:
            return partner.calendar_id
        return self.calendar_id


class SlaClock(CardNumberFreeModel, models.Model):
    """One commitment being timed for an incident: ours, or one partner's."""

    class Family(models.TextChoices):
        OURS = "ours", _("Ours")
        PARTNER = "partner", _("Partner")

    class Metric(models.TextChoices):
        ACKNOWLEDGE = "acknowledge", _("Acknowledge")
        FIRST_NOTICE = "first_notice", _("First partner notice")
        UPDATE = "update", _("Update cadence")
        RESOLVE = "resolve", _("Resolve")

    class State(models.TextChoices):
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        MET = "met", _("Met")
        BREACHED = "breached", _("Breached")
        CANCELLED = "cancelled", _("Cancelled")

    incident = models.ForeignKey(
        "cases.Incident", on_delete=models.CASCADE, related_name="sla_clocks", verbose_name=_("incident")
    )
    engagement = models.ForeignKey(
        "cases.PartnerEngagement",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sla_clocks",
        verbose_name=_("partner engagement"),
    )
    family = models.CharField(_("family"), max_length=10, choices=Family.choices)
    metric = models.CharField(_("metric"), max_length=20, choices=Metric.choices)
    policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT, related_name="clocks", verbose_name=_("policy"))
    calendar = models.ForeignKey(
        "partners.BusinessCalendar", on_delete=models.PROTECT, related_name="+", verbose_name=_("calendar")
    )
    target = models.DurationField(_("target"))
    warn_after = models.DurationField(_("warn after"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.RUNNING)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True, help_text=_("Breach instant while running."))
    warn_due_at = models.DateTimeField(_("warning at"), null=True, blank=True)
    warned_at = models.DateTimeField(_("warned at"), null=True, blank=True)
    breached_at = models.DateTimeField(_("breached at"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)
    consumed = models.DurationField(
        _("business time consumed"),
        default=timedelta(0),
        help_text=_("Business time counted against the target up to the last start, pause, resume or stop."),
    )
    consumed_at = models.DateTimeField(_("consumed measured at"), null=True, blank=True)
    pause_reason = models.CharField(_("pause reason"), max_length=250, blank=True)
    cycle = models.PositiveIntegerField(
        _("cycle"), default=1, help_text=_("Renewals of a recurring clock (update cadence); 1 for the others.")
    )

    class Meta:
        verbose_name = _("SLA clock")
        verbose_name_plural = _("SLA clocks")
        ordering = ["incident", "family", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "engagement", "metric"],
                nulls_distinct=False,
                name="slaclock_unique_metric",
                violation_error_message=_("This clock already exists for the incident."),
            ),
            models.CheckConstraint(
                condition=Q(family="ours", engagement__isnull=True) | Q(family="partner", engagement__isnull=False),
                name="slaclock_family_matches_engagement",
            ),
            models.CheckConstraint(condition=Q(target__gt=timedelta(0)), name="slaclock_target_positive"),
            models.CheckConstraint(
                condition=Q(warn_after__gt=timedelta(0), warn_after__lte=models.F("target")),
                name="slaclock_warn_within_target",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "warn_due_at"], name="slaclock_warn_sweep_idx"),
            models.Index(fields=["state", "due_at"], name="slaclock_due_sweep_idx"),
            models.Index(fields=["metric", "started_at"], name="slaclock_report_idx"),
            # The breach CSV's order (latest breach first), over breached clocks only: the export
            # walks it instead of sorting a year of wide rows; `started_at` lets the scan skip
            # clocks outside the report's range without reading them (docs/performance.md).
            models.Index(
                Coalesce("breached_at", "stopped_at").desc(nulls_last=True),
                F("id").desc(),
                F("started_at"),
                name="slaclock_breach_order_idx",
                condition=Q(breached_at__isnull=False) | Q(state="breached"),
            ),
            # The overview's weekly trends read only the clocks whose outcome fell in the last
            # weeks: our acknowledgements (MTTA, index only), met clocks by their stop, and
            # breached ones by their breach (or stop) instant (`cases.selectors.incident_trends`).
            models.Index(
                fields=["stopped_at"],
                include=["started_at"],
                condition=Q(family="ours", metric="acknowledge", state__in=["met", "breached"]),
                name="slaclock_ack_stopped_idx",
            ),
            models.Index(fields=["stopped_at"], condition=Q(state="met"), name="slaclock_met_stopped_idx"),
            models.Index(
                Coalesce("breached_at", "stopped_at"),
                condition=Q(state="breached") | Q(breached_at__isnull=False),
                name="slaclock_breach_outcome_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.family}/{self.metric}"


class SlaClockEvent(CardNumberFreeModel, models.Model):
    """Start, pause, resume, warn, breach, stop, retarget: the history a clock is computed from.

    A warning and a breach are recorded at most once per clock and cycle (a unique constraint), which is
    what makes the sweep's notifications exactly-once under concurrent sweeps.
    """

    class Kind(models.TextChoices):
        START = "start", _("Started")
        PAUSE = "pause", _("Paused")
        RESUME = "resume", _("Resumed")
        WARN = "warn", _("Warning")
        BREACH = "breach", _("Breached")
        STOP = "stop", _("Stopped")
        RETARGET = "retarget", _("Re-targeted")

    clock = models.ForeignKey(SlaClock, on_delete=models.CASCADE, related_name="events", verbose_name=_("clock"))
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    at = models.DateTimeField(_("at"), default=timezone.now)
    reason = models.CharField(_("reason"), max_length=250, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    data = models.JSONField(_("data"), default=dict, blank=True)
    cycle = models.PositiveIntegerField(_("cycle"), default=1)
    notified_at = models.DateTimeField(
        _("notified at"),
        null=True,
        blank=True,
        help_text=_("When the warning or breach was handled: escalated, and one mail per person queued."),
    )

    class Meta:
        verbose_name = _("SLA clock event")
        verbose_name_plural = _("SLA clock events")
        ordering = ["clock", "at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["clock", "kind", "cycle"],
                condition=Q(kind__in=["warn", "breach"]),
                name="slaclockevent_once_per_cycle",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.clock} {self.kind} {self.at:%Y-%m-%d %H:%M}"


class SlaNotification(CardNumberFreeModel, models.Model):
    """One warning or breach mail to one person: its own attempts, retries and outcome.

    A person's mail server refusing it (a 550) fails this row alone: the others are sent, the
    partner's escalation stands, and the refusal is shown with the event. The Message-ID is
    derived from the event and the recipient, so an attempt repeated after a lost outcome is the
    same message. While `sending`, `sent_at` holds when the attempt began (read by the sweep).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    event = models.ForeignKey(
        SlaClockEvent, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("SLA event")
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recipient"),
    )
    address = models.EmailField(_("address"))
    escalation_failed = models.BooleanField(
        _("escalation failed"),
        default=False,
        help_text=_("The mail says the partner's escalation could not be written."),
    )
    escalation_waiting = ArrayField(
        models.CharField(max_length=2, choices=Language.choices),
        verbose_name=_("escalation waiting for partner text"),
        default=list,
        blank=True,
        help_text=_(
            "The languages whose escalation notice stays a draft until the incident's partner-facing title "
            "and summary in them are filled in; the mail says so."
        ),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    possible_duplicates = models.PositiveIntegerField(
        _("possible duplicates"),
        default=0,
        help_text=_("Attempts whose outcome was lost: the person may have received this mail more than once."),
    )
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("SLA notification")
        verbose_name_plural = _("SLA notifications")
        ordering = ["event", "id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "address"], name="slanotification_once_per_address"),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="slanotification_sent_has_time"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="slanotification_sweep_idx")]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.address}"
