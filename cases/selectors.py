"""Reads for the cases app. Every selector takes the user, so visibility lives in one place."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from cases.models import Incident
from cases.models.incident import OPEN_STATUSES, Severity


def incident_list_visible_to(*, user) -> QuerySet[Incident]:
    """Incidents the user may see: every incident for desk members, nothing for anyone else."""
    if not user.has_perm("cases.view_incident"):
        return Incident.objects.none()
    return Incident.objects.select_related("owner")


def incident_overview(*, user) -> dict:
    """Counts of open incidents per severity, the user's own open ones, and the newest open ones."""
    visible = incident_list_visible_to(user=user)
    open_incidents = visible.filter(status__in=OPEN_STATUSES)
    counts = open_incidents.aggregate(
        total=Count("id"),
        mine=Count("id", filter=Q(owner=user)),
        **{sev.value: Count("id", filter=Q(severity=sev.value)) for sev in Severity},
    )
    by_severity = [(sev, counts[sev.value]) for sev in Severity]
    return {
        "open_total": counts["total"],
        "open_mine": counts["mine"],
        "by_severity": by_severity,
        "recent_open": list(open_incidents.order_by("severity", "-created_at")[:15]),
    }
