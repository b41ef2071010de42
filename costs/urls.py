"""The partner-cost pages under /costs/ (the API lives in `costs/api/`)."""

from django.urls import path

from costs.views import billing, findings, imports, ratecards

app_name = "costs"

urlpatterns = [
    path("findings/", findings.finding_list, name="finding_list"),
    path("findings.csv", findings.finding_list_csv, name="finding_list_csv"),
    path("findings/<int:pk>/", findings.finding_detail, name="finding_detail"),
    path("findings/<int:pk>/decide/", findings.finding_decide, name="finding_decide"),
    path("matrix/", findings.matrix, name="matrix"),
    path("matrix.csv", findings.matrix_csv, name="matrix_csv"),
    path("rate-cards/", ratecards.ratecard_index, name="ratecard_index"),
    path("rate-cards/new/", ratecards.ratecard_create, name="ratecard_create"),
    path("rate-cards/<int:pk>/", ratecards.ratecard_detail, name="ratecard_detail"),
    path("rate-cards/<int:pk>/rules.csv", ratecards.ratecard_rules_csv, name="ratecard_rules_csv"),
    path("rate-cards/<int:pk>/diff/", ratecards.ratecard_diff, name="ratecard_diff"),
    path("rate-cards/<int:pk>/rules/add/", ratecards.ratecard_rule_add, name="ratecard_rule_add"),
    path(
        "rate-cards/<int:pk>/rules/<int:rule_id>/remove/",
        ratecards.ratecard_rule_remove,
        name="ratecard_rule_remove",
    ),
    path("rate-cards/<int:pk>/approve/", ratecards.ratecard_approve, name="ratecard_approve"),
    path("rule-match/", ratecards.rule_tester, name="rule_tester"),
    path("thresholds/", ratecards.thresholds_index, name="thresholds_index"),
    path("thresholds/<int:partner_id>/", ratecards.thresholds_edit, name="thresholds_edit"),
    path("imports/", imports.import_list, name="import_list"),
    path("imports/export.csv", imports.import_list_csv, name="import_list_csv"),
    path("imports/upload/", imports.import_upload, name="import_upload"),
    path("imports/<int:pk>/", imports.import_detail, name="import_detail"),
    path("imports/<int:pk>/check/", imports.import_check, name="import_check"),
    path("mappings/", imports.mapping_list, name="mapping_list"),
    path("mappings/<int:partner_id>/<str:shape>/", imports.mapping_edit, name="mapping_edit"),
    path("billing-cases/open/", billing.billing_case_open_view, name="billing_case_open"),
    path("billing-cases/<int:pk>/amend/", billing.billing_case_amend_view, name="billing_case_amend"),
    path("billing-cases/<int:pk>/credit-notes/", billing.credit_note_record_view, name="credit_note_record"),
    path("incidents/<str:reference>/billing-case/", billing.incident_billing_panel, name="incident_billing_panel"),
    path("recovery/", billing.recovery_report_view, name="recovery_report"),
    path("recovery/csv/", billing.recovery_report_csv, name="recovery_report_csv"),
]
