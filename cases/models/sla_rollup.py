"""The SLA reports' rollups: the clocks summed per desk day (and per month) and report dimension.

One `SlaRollup` row per desk day (the day of the clock's first start in the desk's zone), family,
metric, incident severity, partner (of a partner clock; none for ours) and incident owner, and one
row per month summing that month's day rows (`span` = month, `day` its first day): a report reads
the months wholly inside its range from month rows and only its edge days from day rows. Severity
and owner are the incident's current ones, so a change re-computes the days of its clocks. The
durations the reports take percentiles of are kept as arrays of exact values (see
docs/performance.md, "SLA report rollups"). `SlaRollupPending` lists the desk days whose rollups
are due a re-computation: written in the transaction that changed a clock (`cases.sla.rollups`);
`SlaRollupStaleMonth` the months whose month rows are due a re-sum of their day rows, done by the
first report that reads them. `SlaRollupTimes` holds the same durations without the owner
dimension, in whole microseconds, each array sorted and cut into log-scale buckets (finer for our
clocks than for partners'), so a percentile reads only the bucket holding its rank.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from cases.models.incident import Severity
from cases.models.sla import SlaClock
from payhealth.db import CardNumberFreeModel


class RollupGroup(CardNumberFreeModel, models.Model):
    """What a rollup row is grouped by (but the owner) and the durations it keeps, shared by the
    rollups and their sorted durations."""

    class Span(models.TextChoices):
        DAY = "day", _("Day")
        MONTH = "month", _("Month")

    # A month row (day = the month's first day) sums the month's day rows.
    span = models.CharField(_("span"), max_length=5, choices=Span.choices, default=Span.DAY)
    day = models.DateField(_("day"))
    family = models.CharField(_("family"), max_length=10, choices=SlaClock.Family.choices)
    metric = models.CharField(_("metric"), max_length=20, choices=SlaClock.Metric.choices)
    severity = models.CharField(_("severity"), max_length=4, choices=Severity.choices)
    partner = models.ForeignKey(
        "partners.Partner", on_delete=models.CASCADE, null=True, blank=True, related_name="+", verbose_name=_("partner")
    )
    # Wall time (stopped − started) and business time (consumed) of clocks stopped met or breached.
    wall = ArrayField(models.DurationField(), default=list, verbose_name=_("wall times"))
    business = ArrayField(models.DurationField(), default=list, verbose_name=_("business times"))

    class Meta:
        abstract = True


class SlaRollup(RollupGroup):
    # In a day row, element i of `wall` and of `business` is one clock; a month row keeps none (its
    # counts are what reports read; the durations' month rows hold the month's durations).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
    )
    clocks = models.PositiveIntegerField(_("clocks"), default=0)
    # Engagements whose first partner clock is in this row (a partner's clocks start together).
    engagements = models.PositiveIntegerField(_("engagements"), default=0)
    met = models.PositiveIntegerField(_("met"), default=0)
    breached = models.PositiveIntegerField(_("breached"), default=0)

    class Meta:
        verbose_name = _("SLA rollup")
        verbose_name_plural = _("SLA rollups")
        constraints = [
            models.UniqueConstraint(
                fields=["span", "day", "family", "metric", "severity", "partner", "owner"],
                nulls_distinct=False,
                name="slarollup_unique_span_group",
            ),
        ]

    def __str__(self) -> str:
        day = self.day.strftime("%Y-%m") if self.span == self.Span.MONTH else self.day
        return f"{day} {self.family}/{self.metric} {self.severity}"


class SlaRollupTimes(RollupGroup):
    """The acknowledge and resolve durations of a rollup group without its owner (no duration
    figure is per owner), each array sorted, with the number of its values up to each of its
    family's bucket bounds (`cases.sla.rollups.TIME_BUCKETS`): a percentile sums those counts over
    the rows of its range to find the bucket of its rank, then sorts only that bucket's values.

    Kept with the rollups (same days and months, same folds); only groups with durations have a row.
    """

    # `wall` and `business` in whole microseconds (the rollups' intervals as integers: cheaper to
    # unnest and sort), sorted, each on its own (element i of one is not element i of the other).
    wall = ArrayField(models.BigIntegerField(), default=list, verbose_name=_("wall times (µs)"))
    business = ArrayField(models.BigIntegerField(), default=list, verbose_name=_("business times (µs)"))
    # Element j: how many values are at most bound j of the family's TIME_BUCKETS; the last one, all.
    wall_ends = ArrayField(models.IntegerField(), default=list, verbose_name=_("wall time bucket ends"))
    business_ends = ArrayField(models.IntegerField(), default=list, verbose_name=_("business time bucket ends"))

    class Meta:
        verbose_name = _("SLA rollup durations")
        verbose_name_plural = _("SLA rollup durations")
        constraints = [
            models.UniqueConstraint(
                fields=["span", "day", "family", "metric", "severity", "partner"],
                nulls_distinct=False,
                name="slarolluptimes_unique_span_group",
            ),
        ]

    def __str__(self) -> str:
        day = self.day.strftime("%Y-%m") if self.span == SlaRollup.Span.MONTH else self.day
        return f"{day} {self.family}/{self.metric} {self.severity}"


class SlaRollupPending(CardNumberFreeModel, models.Model):
    """A desk day whose rollups are stale: folded by the next read of a report covering it, or by beat."""

    day = models.DateField(_("day"), primary_key=True)

    class Meta:
        verbose_name = _("pending SLA rollup day")
        verbose_name_plural = _("pending SLA rollup days")

    def __str__(self) -> str:
        return str(self.day)


class SlaRollupStaleMonth(CardNumberFreeModel, models.Model):
    """A month whose month rows no longer sum its day rows: re-summed by the next report reading it whole."""

    month = models.DateField(_("month"), primary_key=True)  # its first day

    class Meta:
        verbose_name = _("stale SLA rollup month")
        verbose_name_plural = _("stale SLA rollup months")

    def __str__(self) -> str:
        return self.month.strftime("%Y-%m")
