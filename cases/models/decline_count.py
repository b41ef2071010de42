"""How often each decline code answered an incident's traffic before and during the outage."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from payhealth.db import CardNumberFreeModel


class IncidentDeclineCode(CardNumberFreeModel, models.Model):
    """One decline code's counts on one incident: over the baseline (`count_before`, unknown when
    None) and over the impact window (`count_during`). Written by alert intake and the detector
    (the latest measurement replaces the counts, so a re-sent alert never doubles them) and by
    analysts. The incident's `decline_codes` list holds every code that has a row here."""

    class Source(models.TextChoices):
        ALERT = "alert", _("Monitoring alert")
        MANUAL = "manual", _("Analyst")

    incident = models.ForeignKey(
        "cases.Incident", on_delete=models.CASCADE, related_name="decline_counts", verbose_name=_("incident")
    )
    code = models.CharField(_("code"), max_length=64)
    count_before = models.PositiveBigIntegerField(_("count before"), null=True, blank=True)
    count_during = models.PositiveBigIntegerField(_("count during"), default=0)
    window_start = models.DateTimeField(_("window start"), null=True, blank=True)
    window_end = models.DateTimeField(_("window end"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.MANUAL)
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
        verbose_name = _("decline-code count")
        verbose_name_plural = _("decline-code counts")
        ordering = ["incident", "-count_during", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "code"],
                name="incidentdeclinecode_unique_code",
                violation_error_message=_("This incident already counts that decline code."),
            ),
            models.CheckConstraint(
                condition=Q(window_start__isnull=True)
                | Q(window_end__isnull=True)
                | Q(window_end__gt=F("window_start")),
                name="incidentdeclinecode_window_order",
                violation_error_message=_("The window must end after it starts."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.count_before if self.count_before is not None else '?'} → {self.count_during}"
