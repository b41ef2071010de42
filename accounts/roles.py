"""The three desk roles (analyst, partner manager, lead) as Django groups, and exactly which permissions each holds.

`sync_roles` applies this table: the roles migration of each app that adds permissions
(`accounts/migrations/0002_roles.py` first) runs it, so every deployment holds exactly this table.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

ANALYST = "analyst"
PARTNER_MANAGER = "partner_manager"
LEAD = "lead"
ROLES = (ANALYST, PARTNER_MANAGER, LEAD)
ROLE_LABELS = {ANALYST: _("Analyst"), PARTNER_MANAGER: _("Partner manager"), LEAD: _("Lead")}

_READ_ALL = [
    "partners.view_partner",
    "partners.view_partnercontact",
    "partners.view_businesscalendar",
    "partners.view_workinghours",
    "partners.view_holiday",
    "partners.view_noticetemplate",
    "cases.view_merchant",
    "cases.view_responsecode",
    "cases.view_incident",
    "cases.view_affectedmerchant",
    "cases.view_partnerengagement",
    "cases.view_investigationnote",
    "cases.view_correspondence",
    "cases.view_sampletransaction",
    "cases.view_caseevent",
    "cases.view_slapolicy",
    "cases.view_slaclock",
    "cases.view_slaclockevent",
    "alerts.view_alertseverityrule",
    "alerts.view_alertreceipt",
    "monitoring.view_segment",
    "monitoring.view_authbucket",
    "monitoring.view_metricspull",
    "monitoring.view_monitorsettings",
    "monitoring.view_segmentmonitor",
    "monitoring.view_detectorrun",
    "monitoring.view_finding",
    "monitoring.view_suppression",
    "costs.view_giro",
    "costs.view_ratecard",
    "costs.view_feerule",
    "costs.view_feeimport",
    "costs.view_invoiceline",
    "costs.view_feerecord",
    "costs.view_costthresholds",
    "costs.view_costfinding",
    "costs.view_feeimportmapping",
    "costs.view_billingcase",
    "costs.view_creditnote",
]

_ANALYST_WRITES = [
    "cases.add_incident",
    "cases.change_incident",
    "cases.add_merchant",
    "cases.change_merchant",
    "cases.add_affectedmerchant",
    "cases.change_affectedmerchant",
    "cases.delete_affectedmerchant",
    "cases.add_partnerengagement",
    "cases.change_partnerengagement",
    "cases.add_investigationnote",
    "cases.change_investigationnote",
    "cases.add_sampletransaction",  # sample transactions: uploaded as CSV, removed
    "cases.delete_sampletransaction",
    "cases.add_correspondence",  # drafting notices
    "cases.change_correspondence",
    "alerts.submit_alert",  # analysts and leads; a monitoring system posts with such a user's token
    "monitoring.submit_metrics",  # payment data, likewise: posted with a desk user's token or imported
    "monitoring.decide_finding",  # triage what the detector raises: suppress, false positive, open an incident
    "monitoring.add_suppression",
    # Partner billing: import it, check it, confirm or dismiss findings, dispute them and record credits.
    "costs.add_feeimport",
    "costs.add_feeimportmapping",
    "costs.change_feeimportmapping",
    "costs.run_costs_check",
    "costs.change_costfinding",
    "costs.add_billingcase",
    "costs.change_billingcase",
    "costs.add_creditnote",
]

_PARTNER_MANAGER_WRITES = [
    "partners.add_partner",
    "partners.change_partner",
    "partners.add_partnercontact",
    "partners.change_partnercontact",
    "partners.delete_partnercontact",
    "partners.add_noticetemplate",
    "partners.change_noticetemplate",
    "partners.add_businesscalendar",
    "partners.change_businesscalendar",
    "partners.add_workinghours",
    "partners.change_workinghours",
    "partners.delete_workinghours",
    "partners.add_holiday",
    "partners.change_holiday",
    "partners.delete_holiday",
    "cases.send_correspondence",
    "cases.triage_correspondence",
    # Outbound webhooks: their own subscriptions (leads see and manage everyone's, below).
    "webhooks.view_webhooksubscription",
    "webhooks.add_webhooksubscription",
    "webhooks.change_webhooksubscription",
    "webhooks.delete_webhooksubscription",
    "webhooks.view_webhookdelivery",
    # Rate cards are drafted by whoever negotiates with the partner; a lead approves them.
    "costs.add_ratecard",
    "costs.change_ratecard",
    "costs.add_feerule",
    "costs.change_feerule",
    "costs.delete_feerule",
]

_LEAD_WRITES = [
    "cases.approve_correspondence",
    "cases.add_slapolicy",
    "cases.change_slapolicy",
    "cases.view_sla_reports",
    "webhooks.manage_all_webhooksubscription",
    "alerts.add_alertseverityrule",
    "alerts.change_alertseverityrule",
    "alerts.delete_alertseverityrule",
    "monitoring.add_monitorsettings",  # the detector's settings, global and per merchant
    "monitoring.change_monitorsettings",
    "monitoring.delete_monitorsettings",
    "monitoring.delete_suppression",
    "costs.approve_ratecard",  # rate cards are used by the checks once a lead approved them
    "costs.change_costthresholds",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    ANALYST: _READ_ALL + _ANALYST_WRITES,
    PARTNER_MANAGER: _READ_ALL + _ANALYST_WRITES + _PARTNER_MANAGER_WRITES,
    LEAD: _READ_ALL + _ANALYST_WRITES + _PARTNER_MANAGER_WRITES + _LEAD_WRITES,
}


def sync_roles(group_model, permission_model) -> None:
    """Make each role group hold exactly the permissions of ROLE_PERMISSIONS.

    Takes the models as arguments so that migrations can pass their historical models.
    An app that has no permissions at all yet is skipped: on an empty database `0002_roles` runs
    before the migrations of apps added later (alerts, ...), whose own migrations re-apply this
    table once their permissions exist. A missing permission of an app that has some still fails.
    """
    migrated = set(permission_model.objects.values_list("content_type__app_label", flat=True).distinct())
    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted = []
        for code in codes:
            app_label, codename = code.split(".")
            if app_label not in migrated:
                continue
            wanted.append(permission_model.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)


def role_of(user) -> str | None:
    """The user's strongest role name; permissions themselves come from groups."""
    if not user.is_authenticated:
        return None
    names = {g.name for g in user.groups.all()}
    for role in (LEAD, PARTNER_MANAGER, ANALYST):
        if role in names:
            return role
    return None
