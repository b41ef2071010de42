"""Each role holds exactly the permissions listed here: no more, no less."""

import pytest
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db

READ = {
    "partners.view_partner", "partners.view_partnercontact", "partners.view_businesscalendar",
    "partners.view_workinghours", "partners.view_holiday", "partners.view_noticetemplate",
    "cases.view_merchant", "cases.view_responsecode", "cases.view_incident", "cases.view_affectedmerchant",
    "cases.view_partnerengagement", "cases.view_investigationnote", "cases.view_correspondence",
    "cases.view_caseevent", "cases.view_slapolicy", "cases.view_slaclock", "cases.view_slaclockevent",
    "alerts.view_alertseverityrule", "alerts.view_alertreceipt",
    "monitoring.view_segment", "monitoring.view_authbucket", "monitoring.view_metricspull",
    "monitoring.view_monitorsettings", "monitoring.view_segmentmonitor", "monitoring.view_detectorrun",
    "monitoring.view_finding", "monitoring.view_suppression",
    "costs.view_giro", "costs.view_ratecard", "costs.view_feerule", "costs.view_feeimport",
    "costs.view_invoiceline", "costs.view_feerecord", "costs.view_costthresholds", "costs.view_costfinding",
    "costs.view_feeimportmapping", "costs.view_billingcase", "costs.view_creditnote",
    "cases.view_sampletransaction",
}  # fmt: skip
ANALYST_WRITES = {
    "cases.add_incident", "cases.change_incident", "cases.add_merchant", "cases.change_merchant",
    "cases.add_affectedmerchant", "cases.change_affectedmerchant", "cases.delete_affectedmerchant",
    "cases.add_partnerengagement", "cases.change_partnerengagement", "cases.add_investigationnote",
    "cases.change_investigationnote", "cases.add_correspondence", "cases.change_correspondence",
    "alerts.submit_alert", "monitoring.submit_metrics", "monitoring.decide_finding", "monitoring.add_suppression",
    "costs.add_feeimport", "costs.add_feeimportmapping", "costs.change_feeimportmapping", "costs.run_costs_check",
    "costs.change_costfinding", "costs.add_billingcase", "costs.change_billingcase", "costs.add_creditnote",
    "cases.add_sampletransaction", "cases.delete_sampletransaction",
}  # fmt: skip
MANAGER_WRITES = {
    "partners.add_partner", "partners.change_partner", "partners.add_partnercontact",
    "partners.change_partnercontact", "partners.delete_partnercontact", "partners.add_noticetemplate",
    "partners.change_noticetemplate", "partners.add_businesscalendar", "partners.change_businesscalendar",
    "partners.add_workinghours", "partners.change_workinghours", "partners.delete_workinghours",
    "partners.add_holiday", "partners.change_holiday", "partners.delete_holiday",
    "cases.send_correspondence", "cases.triage_correspondence",
    "webhooks.view_webhooksubscription", "webhooks.add_webhooksubscription",
    "webhooks.change_webhooksubscription", "webhooks.delete_webhooksubscription", "webhooks.view_webhookdelivery",
    "costs.add_ratecard", "costs.change_ratecard", "costs.add_feerule", "costs.change_feerule", "costs.delete_feerule",
}  # fmt: skip
LEAD_WRITES = {
    "cases.approve_correspondence",
    "cases.add_slapolicy",
    "cases.change_slapolicy",
    "cases.view_sla_reports",
    "alerts.add_alertseverityrule",
    "alerts.change_alertseverityrule",
    "alerts.delete_alertseverityrule",
    "webhooks.manage_all_webhooksubscription",
    "monitoring.add_monitorsettings",
    "monitoring.change_monitorsettings",
    "monitoring.delete_monitorsettings",
    "monitoring.delete_suppression",
    "costs.approve_ratecard",
    "costs.change_costthresholds",
}


def permissions_of(group_name):
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("analyst", READ | ANALYST_WRITES),
        ("partner_manager", READ | ANALYST_WRITES | MANAGER_WRITES),
        ("lead", READ | ANALYST_WRITES | MANAGER_WRITES | LEAD_WRITES),
    ],
)
def test_role_has_exactly_its_permissions(role, expected):
    assert permissions_of(role) == expected


def test_only_three_roles_exist():
    assert set(Group.objects.values_list("name", flat=True)) == {"analyst", "partner_manager", "lead"}


@pytest.mark.parametrize(
    ("fixture", "send", "approve", "reports", "edit_templates"),
    [
        ("analyst", False, False, False, False),
        ("partner_manager", True, False, False, True),
        ("lead", True, True, True, True),
        ("outsider", False, False, False, False),
    ],
)
def test_users_get_permissions_through_their_group(request, fixture, send, approve, reports, edit_templates):
    user = request.getfixturevalue(fixture)
    assert user.has_perm("cases.send_correspondence") is send
    assert user.has_perm("cases.approve_correspondence") is approve
    assert user.has_perm("cases.view_sla_reports") is reports
    assert user.has_perm("partners.change_noticetemplate") is edit_templates
    assert not user.has_perm("cases.delete_incident")
    assert not user.has_perm("cases.delete_caseevent")
