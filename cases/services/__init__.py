"""Writes for the cases app: one function per business action (STYLE.md "Domain logic").

Every service validates, locks what it changes, writes, and records timeline events in the
same transaction. HTML views, the API, admin actions, commands and tasks all call these.
Grouped by subject in the modules of this package and re-exported here.
"""

from cases.services.incidents import (
    incident_assign,
    incident_change_severity,
    incident_open,
    incident_transition,
    incident_update_details,
)

__all__ = [
    "incident_assign",
    "incident_change_severity",
    "incident_open",
    "incident_transition",
    "incident_update_details",
]
