"""The cases app's tables, one module per part of the domain."""

from cases.models.acklink import AckLink
from cases.models.attachment import Attachment
from cases.models.correspondence import Correspondence
from cases.models.decline_count import IncidentDeclineCode
from cases.models.incident import (
    AffectedMerchant,
    CardNetwork,
    Category,
    EntryMode,
    Incident,
    InvestigationNote,
    PartnerEngagement,
    ReferenceCounter,
    Severity,
    Source,
    Status,
)
from cases.models.merchant import Merchant, MerchantRoute
from cases.models.overview import (
    OverviewHour,
    OverviewHourDelta,
    OverviewOpen,
    OverviewOpenDelta,
    OverviewWeekMedian,
)
from cases.models.rca import ActionItem, RcaRequest
from cases.models.response_code import ResponseCode
from cases.models.sample import SampleTransaction
from cases.models.saved_view import SavedView
from cases.models.sla import SlaClock, SlaClockEvent, SlaNotification, SlaPolicy
from cases.models.sla_rollup import SlaRollup, SlaRollupPending, SlaRollupStaleMonth, SlaRollupTimes
from cases.models.timeline import CaseEvent

__all__ = [
    "AckLink",
    "ActionItem",
    "AffectedMerchant",
    "Attachment",
    "CardNetwork",
    "CaseEvent",
    "Category",
    "Correspondence",
    "EntryMode",
    "Incident",
    "IncidentDeclineCode",
    "InvestigationNote",
    "Merchant",
    "MerchantRoute",
    "OverviewHour",
    "OverviewHourDelta",
    "OverviewOpen",
    "OverviewOpenDelta",
    "OverviewWeekMedian",
    "PartnerEngagement",
    "RcaRequest",
    "ReferenceCounter",
    "ResponseCode",
    "SampleTransaction",
    "SavedView",
    "Severity",
    "SlaClock",
    "SlaClockEvent",
    "SlaNotification",
    "SlaPolicy",
    "SlaRollup",
    "SlaRollupPending",
    "SlaRollupStaleMonth",
    "SlaRollupTimes",
    "Source",
    "Status",
]
