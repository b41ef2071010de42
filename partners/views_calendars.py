"""Business calendars for people: when does an SLA clock run?

Read-only pages for every desk role: each calendar's time zone, weekly hours, upcoming holidays
and its next openings computed with `partners.businesstime`, the same arithmetic the clocks use.
Calendars are edited in the admin by partner managers and leads.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, render
from django.urls import path
from django.utils import timezone

from accounts.roles import LEAD, role_of
from partners.businesstime import next_openings, schedule_for
from partners.models import BusinessCalendar, WorkingHours

UPCOMING_HOLIDAYS = 12
NEXT_OPENINGS = 5


def missing_holiday_year(calendar: BusinessCalendar, *, today) -> int | None:
    """Next year, when a calendar that keeps holidays has none recorded for it: its clocks would
    run through every holiday of that year. None when it has some, or is always open."""
    if calendar.is_24x7:
        return None
    year = today.year + 1
    return None if calendar.holidays.filter(date__year=year).exists() else year


@login_required
@permission_required("partners.view_businesscalendar", raise_exception=True)
def calendar_list(request):
    calendars = BusinessCalendar.objects.prefetch_related("working_hours").order_by("name")
    return render(request, "partners/calendar_list.html", {"calendars": calendars})


@login_required
@permission_required("partners.view_businesscalendar", raise_exception=True)
def calendar_detail(request, code: str):
    """Weekly hours, upcoming holidays and the next openings, in the calendar's zone and the viewer's."""
    calendar = get_object_or_404(BusinessCalendar, code=code)
    schedule = schedule_for(calendar)
    now = timezone.now()
    today = now.astimezone(schedule.tz).date()
    week = [{"label": label, "intervals": schedule.hours[weekday]} for weekday, label in WorkingHours.Weekday.choices]
    context = {
        "calendar": calendar,
        "week": week,
        "holidays": calendar.holidays.filter(date__gte=today).order_by("date")[:UPCOMING_HOLIDAYS],
        "openings": next_openings(schedule, now, NEXT_OPENINGS) if schedule.has_open_hours else [],
        "has_open_hours": schedule.has_open_hours,
        "now": now,
        "policies": calendar.sla_policies.filter(active=True).order_by("severity", "name"),
        # Leads own the calendars the SLA policies run on: they are the ones told to add the days.
        "missing_year": missing_holiday_year(calendar, today=today) if role_of(request.user) == LEAD else None,
    }
    return render(request, "partners/calendar_detail.html", context)


urlpatterns = [
    path("calendars/", calendar_list, name="calendar_list"),
    path("calendars/<slug:code>/", calendar_detail, name="calendar_detail"),
]
