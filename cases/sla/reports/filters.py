"""The filter every SLA report takes, and the form that builds it from a query string.

Dates are whole days of the desk's calendar (settings.PAYHEALTH_TIME_ZONE, Mexico City by
default), both ends included: a clock belongs to the range when its first start lies in
[start 00:00, end + 1 day 00:00) local time, so a clock started at 23:30 on 31 December in
Mexico City counts in December even though it is already 1 January in UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import SlaClock
from cases.models.incident import Severity
from partners.models import Partner
from payhealth.forms import DateInput, Form
from payhealth.i18n import desk_zone

DEFAULT_DAYS = 90
MAX_DAYS = 3 * 366  # "at most 3 years", leap days included


def desk_today(*, now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(desk_zone()).date()


@dataclass(frozen=True)
class ReportFilter:
    """A validated report filter. `partner` is a Partner id; empty strings and None mean "all"."""

    start: dt.date
    end: dt.date
    severity: str = ""
    partner: int | None = None
    family: str = ""

    @classmethod
    def default(cls, *, now: dt.datetime | None = None) -> ReportFilter:
        """The last 90 days, today included."""
        end = desk_today(now=now)
        return cls(start=end - dt.timedelta(days=DEFAULT_DAYS - 1), end=end)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[first instant, first instant after] of the range, aware, in the desk's zone."""
        zone = desk_zone()
        return (
            dt.datetime.combine(self.start, dt.time.min, tzinfo=zone),
            dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=zone),
        )

    def query(self) -> dict[str, str]:
        """The filter as query-string parameters (for links and CSV exports)."""
        params = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.severity:
            params["severity"] = self.severity
        if self.partner:
            params["partner"] = str(self.partner)
        if self.family:
            params["family"] = self.family
        return params


class SlaReportForm(Form):
    """The report filters. Unbound (no query string), it stands for the last 90 days."""

    start = forms.DateField(label=_("Start date"), required=False, widget=DateInput)
    end = forms.DateField(label=_("End date"), required=False, widget=DateInput)
    severity = forms.ChoiceField(label=_("Severity"), required=False)
    partner = forms.ModelChoiceField(
        label=_("Partner"), queryset=Partner.objects.none(), required=False, empty_label=_("All partners")
    )
    family = forms.ChoiceField(label=_("Clocks"), required=False)

    def __init__(self, data=None, *, now: dt.datetime | None = None, **kwargs):
        default = ReportFilter.default(now=now)
        if data is not None and not any(data.get(name) for name in ("start", "end", "severity", "partner", "family")):
            data = None  # e.g. only ?page=2: the defaults
        super().__init__(data, initial={"start": default.start, "end": default.end}, **kwargs)
        self.fields["severity"].choices = [("", _("All severities")), *Severity.choices]
        self.fields["family"].choices = [("", _("Ours and partners'")), *SlaClock.Family.choices]
        self.fields["partner"].queryset = Partner.objects.order_by("name").only("pk", "name")

    def clean(self):
        cleaned = super().clean()
        # An empty date means the default's (a cleared "From" keeps the 90 days before "To").
        if "end" in cleaned and not cleaned["end"]:
            cleaned["end"] = self.initial["end"]
        if "start" in cleaned and not cleaned["start"] and cleaned.get("end"):
            cleaned["start"] = cleaned["end"] - dt.timedelta(days=DEFAULT_DAYS - 1)
        start, end = cleaned.get("start"), cleaned.get("end")
        if end and end >= dt.date.max - dt.timedelta(days=1):
            # The range ends at the next day's midnight, in UTC: 9999-12-31 has none.
            self.add_error("end", _("Choose an end date before the year 9999."))
        elif start and end:
            if start > end:
                self.add_error("start", _("The start date is after the end date."))
            elif (end - start).days + 1 > MAX_DAYS:
                self.add_error("end", _("Choose a range of at most 3 years."))
        return cleaned

    def report_filter(self) -> ReportFilter | None:
        """The validated filter; the defaults when unbound; None when the input has errors."""
        if not self.is_bound:
            return ReportFilter(start=self.initial["start"], end=self.initial["end"])
        if not self.is_valid():
            return None
        data = self.cleaned_data
        return ReportFilter(
            start=data["start"],
            end=data["end"],
            severity=data["severity"] or "",
            partner=data["partner"].pk if data["partner"] else None,
            family=data["family"] or "",
        )
