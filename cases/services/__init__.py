"""Writes for the cases app: one function per business action (STYLE.md "Domain logic").

Every service validates, locks what it changes, writes, and records timeline events in the
same transaction. HTML views, the API, admin actions, commands and tasks all call these.
Grouped by subject in the modules of this package and re-exported here.
"""

from cases.services.bulk import BulkAction, BulkRowResult, incidents_bulk_apply
from cases.services.delivery import correspondence_deliver, correspondence_requeue_stuck
from cases.services.impact import (
    engagement_add,
    engagement_update,
    merchant_impact_add,
    merchant_impact_remove,
    merchant_impact_update,
)
from cases.services.inbound import InboundResult, inbound_attach, inbound_poll_mailbox, inbound_receive
from cases.services.incidents import (
    incident_assign,
    incident_change_severity,
    incident_open,
    incident_transition,
    incident_update_details,
)
from cases.services.merchants import merchant_create, merchant_update
from cases.services.notes import note_add, note_edit
from cases.services.notice_dispatch import (
    notice_approve,
    notice_reject,
    notice_release,
    notice_retry,
    notice_send,
    notice_submit,
    notices_send,
)
from cases.services.notices import NoticeComposeResult, notice_compose, notice_edit
from cases.services.saved_views import saved_view_create, saved_view_delete

__all__ = [
    "BulkAction",
    "BulkRowResult",
    "InboundResult",
    "NoticeComposeResult",
    "correspondence_deliver",
    "correspondence_requeue_stuck",
    "engagement_add",
    "engagement_update",
    "inbound_attach",
    "inbound_poll_mailbox",
    "inbound_receive",
    "incident_assign",
    "incident_change_severity",
    "incident_open",
    "incident_transition",
    "incident_update_details",
    "incidents_bulk_apply",
    "merchant_create",
    "merchant_impact_add",
    "merchant_impact_remove",
    "merchant_impact_update",
    "merchant_update",
    "note_add",
    "note_edit",
    "notice_approve",
    "notice_compose",
    "notice_edit",
    "notice_reject",
    "notice_release",
    "notice_retry",
    "notice_send",
    "notice_submit",
    "notices_send",
    "saved_view_create",
    "saved_view_delete",
]
