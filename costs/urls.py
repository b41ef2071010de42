"""The partner-cost pages under /costs/ (the API lives in `costs/api/`)."""

from django.urls import path

from costs.views import billing

app_name = "costs"

urlpatterns: list = [
    path("billing-cases/open/", billing.billing_case_open_view, name="billing_case_open"),
    path("billing-cases/<int:pk>/amend/", billing.billing_case_amend_view, name="billing_case_amend"),
    path("billing-cases/<int:pk>/credit-notes/", billing.credit_note_record_view, name="credit_note_record"),
    path("incidents/<str:reference>/billing-case/", billing.incident_billing_panel, name="incident_billing_panel"),
    path("recovery/", billing.recovery_report_view, name="recovery_report"),
    path("recovery/csv/", billing.recovery_report_csv, name="recovery_report_csv"),
]
