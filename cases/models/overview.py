"""The overview's counters: what its figures are summed from, kept exact by the database.

`OverviewHour` holds, per UTC hour, the incidents opened and resolved in it, our acknowledge
clocks stopped met or breached in it, and the clocks whose outcome (met: the stop; breached: the
breach, or the stop of a clock stopped breached) fell in it. `OverviewOpen` counts the open
incidents per severity and owner. The triggers on the incident and clock tables (migration
`0033_overview_counters`) never write them: in the statement that changes a row they append its
change to `OverviewHourDelta` and `OverviewOpenDelta` (insert only, so a writer takes no lock
another writer could wait for), and a fold (`cases.overview`, every minute) moves the deltas into
the counters. A figure is a counter plus its pending deltas, so no write path can forget them.
`OverviewWeekMedian` keeps the MTTA and MTTR medians of a week in a viewer's zone together with
the week's `changes` total (pending deltas included) they were computed at: any change to a
resolution or an acknowledgement of the week raises that total, so a median is reused only while
nothing it was computed from has changed (`cases.overview`).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from cases.models.incident import Severity
from payhealth.db import CardNumberFreeModel


class HourCounts(CardNumberFreeModel, models.Model):
    """The counts of an hour: a counter's (`OverviewHour`) or a change waiting for the fold."""

    opened = models.IntegerField(_("opened"), default=0)
    resolved = models.IntegerField(_("resolved"), default=0)
    acknowledged = models.IntegerField(_("acknowledged"), default=0)
    met = models.IntegerField(_("met"), default=0)
    breached = models.IntegerField(_("breached"), default=0)
    # Resolutions and acknowledgements changed in the hour, ever (what the week's medians are
    # computed from): only grows, so a week's total names the state its medians were computed at.
    changes = models.BigIntegerField(_("changes"), default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.hour.isoformat()


class OpenCounts(CardNumberFreeModel, models.Model):
    """Open incidents of a severity and owner: a counter's (`OverviewOpen`) or a pending change."""

    severity = models.CharField(_("severity"), max_length=4, choices=Severity.choices)
    # The owner's id, 0 for nobody: a plain number, so deleting a user never cascades here (the
    # incidents' owner is set to none, which the trigger counts).
    owner_id = models.IntegerField(_("owner id"), default=0)
    count = models.IntegerField(_("open incidents"), default=0)

    class Meta:
        abstract = True


class OverviewHour(HourCounts):
    hour = models.DateTimeField(_("hour"), primary_key=True)

    class Meta:
        verbose_name = _("overview hour")
        verbose_name_plural = _("overview hours")


class OverviewOpen(OpenCounts):
    class Meta:
        verbose_name = _("open incidents counter")
        verbose_name_plural = _("open incidents counters")
        constraints = [models.UniqueConstraint(fields=["severity", "owner_id"], name="overviewopen_unique")]

    def __str__(self) -> str:
        return f"{self.severity} {self.owner_id}: {self.count}"


class OverviewHourDelta(HourCounts):
    """A statement's change to an hour's counters, waiting for the fold (no key: insert only)."""

    hour = models.DateTimeField(_("hour"))

    class Meta:
        verbose_name = _("pending overview hour change")
        verbose_name_plural = _("pending overview hour changes")


class OverviewOpenDelta(OpenCounts):
    """A statement's change to an open-incidents counter, waiting for the fold (insert only)."""

    class Meta:
        verbose_name = _("pending open incidents change")
        verbose_name_plural = _("pending open incidents changes")

    def __str__(self) -> str:
        return f"{self.severity} {self.owner_id}: {self.count:+d}"


class OverviewWeekMedian(CardNumberFreeModel, models.Model):
    zone = models.CharField(_("time zone"), max_length=64)
    week = models.DateField(_("week"))
    signature = models.BigIntegerField(_("changes"))
    mtta = models.DurationField(_("MTTA"), null=True, blank=True)
    mttr = models.DurationField(_("MTTR"), null=True, blank=True)

    class Meta:
        verbose_name = _("overview week median")
        verbose_name_plural = _("overview week medians")
        constraints = [models.UniqueConstraint(fields=["zone", "week"], name="overviewweekmedian_unique")]

    def __str__(self) -> str:
        return f"{self.zone} {self.week}"
