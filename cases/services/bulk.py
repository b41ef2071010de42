"""Bulk actions of the queue: one single-incident service call per selected row.

Each row runs in its own transaction (a savepoint when the caller already holds one), so a row
the lifecycle refuses does not undo the rows that succeeded, and every change still writes its
own timeline event through the single-incident service. That is also why this function is not
`@transaction.atomic` as a whole: the rows are independent by design.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cases.models import Incident
from cases.models.incident import Severity, Status, too_many
from cases.services.incidents import incident_assign, incident_change_severity, incident_transition

# The queue's largest page: a bulk action never covers more rows than one page shows.
MAX_BULK_ROWS = 100


class BulkAction(models.TextChoices):
    ASSIGN = "assign", gettext_lazy("Assign owner")
    STATUS = "status", gettext_lazy("Change status")
    SEVERITY = "severity", gettext_lazy("Change severity")


@dataclass(frozen=True)
class BulkRowResult:
    """What happened to one selected incident."""

    incident: Incident
    ok: bool
    message: str

    @property
    def reference(self) -> str:
        return self.incident.reference


def _label(user) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def _apply_one(*, actor, incident: Incident, action: str, args: dict) -> str:
    """Run the service for one row and describe the outcome; raises ValidationError if refused."""
    if action == BulkAction.ASSIGN:
        owner = args.get("owner")
        before = incident.owner_id
        incident_assign(incident=incident, actor=actor, owner=owner)
        if owner is None:
            return _("already unassigned") if before is None else _("unassigned")
        if before == owner.pk:
            return _("already assigned to %(owner)s") % {"owner": _label(owner)}
        return _("assigned to %(owner)s") % {"owner": _label(owner)}
    if action == BulkAction.STATUS:
        to = args["to"]
        incident_transition(incident=incident, actor=actor, to=to, reason=args.get("reason", ""))
        return _("moved to %(status)s") % {"status": Status(to).label}
    if action == BulkAction.SEVERITY:
        severity = args["severity"]
        before = incident.severity
        incident_change_severity(incident=incident, actor=actor, severity=severity, reason=args.get("reason", ""))
        if before == severity:
            return _("already %(severity)s") % {"severity": Severity(severity).label}
        return _("severity changed to %(severity)s") % {"severity": Severity(severity).label}
    raise ValueError(f"unknown bulk action {action!r}")


def incidents_bulk_apply(*, actor, incidents: Iterable[Incident], action: str, **args) -> list[BulkRowResult]:
    """Apply one action to many incidents; returns one result per incident, in the given order.

    `action` is a `BulkAction`; `args` are the single service's arguments: `owner` (a user, or
    None to unassign) for assign; `to` and `reason` for status; `severity` and `reason` for
    severity. A refused row keeps its message and stays unchanged.
    """
    if action not in BulkAction.values:
        raise ValueError(f"unknown bulk action {action!r}")
    if not actor.has_perm("cases.change_incident"):
        raise PermissionDenied("Changing incidents needs the cases.change_incident permission.")
    incidents = list(incidents)
    if len(incidents) > MAX_BULK_ROWS:
        raise ValidationError({"incidents": too_many(len(incidents), MAX_BULK_ROWS)}, code="too_many")
    results = []
    for incident in incidents:
        try:
            with transaction.atomic():
                message = _apply_one(actor=actor, incident=incident, action=action, args=args)
        except ValidationError as error:
            # Results are listed under each reference; a message that starts with it says it twice.
            message = " ".join(error.messages).removeprefix(f"{incident.reference} ")
            results.append(BulkRowResult(incident=incident, ok=False, message=message))
        else:
            results.append(BulkRowResult(incident=incident, ok=True, message=message))
    return results
