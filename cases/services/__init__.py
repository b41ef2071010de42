"""Writes of incidents and what hangs off them: one function per business action.

Every service validates, locks what it changes, writes, and records timeline events in the
same transaction. HTML views, the API, admin actions, commands and tasks all call these.
Grouped by subject in the modules of this package and re-exported here.
"""

from cases.services.bulk import BulkAction, BulkRowResult, incidents_bulk_apply
from cases.services.decline_counts import decline_count_remove, decline_counts_record
from cases.services.impact import (
    engagement_add,
    engagement_update,
    merchant_impact_add,
    merchant_impact_remove,
    merchant_impact_update,
)
from cases.services.incidents import (
    incident_assign,
    incident_change_severity,
    incident_open,
    incident_transition,
    incident_update_details,
)
from cases.services.merchants import merchant_create, merchant_route_delete, merchant_route_save, merchant_update
from cases.services.notes import note_add, note_edit
from cases.services.saved_views import saved_view_create, saved_view_delete

__all__ = [
    "BulkAction",
    "BulkRowResult",
    "decline_count_remove",
    "decline_counts_record",
    "engagement_add",
    "engagement_update",
    "incident_assign",
    "incident_change_severity",
    "incident_open",
    "incident_transition",
    "incident_update_details",
    "incidents_bulk_apply",
    "merchant_create",
    "merchant_route_delete",
    "merchant_route_save",
    "merchant_impact_add",
    "merchant_impact_remove",
    "merchant_impact_update",
    "merchant_update",
    "note_add",
    "note_edit",
    "saved_view_create",
    "saved_view_delete",
]
