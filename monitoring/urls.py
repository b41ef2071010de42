"""The monitoring pages under /monitoring/: segments and charts, uploads, findings, monitors and
suppressions (the API lives in `monitoring/api/`)."""

from django.urls import path

from monitoring.views import charts, triage, uploads

app_name = "monitoring"

urlpatterns = [
    path("segments/<int:pk>/", charts.segment_detail, name="segment_detail"),
    path("incidents/<str:reference>/charts/", charts.incident_charts, name="incident_charts"),
    path("merchants/<str:account_id>/chart/", charts.merchant_chart, name="merchant_chart"),
    path("uploads/", uploads.upload_start_view, name="upload_start"),
    path("uploads/<int:pk>/", uploads.upload_detail, name="upload_detail"),
    path("uploads/<int:pk>/progress/", uploads.upload_progress, name="upload_progress"),
    path("findings/", triage.finding_list, name="finding_list"),
    path("findings/<int:finding_id>/", triage.finding_detail, name="finding_detail"),
    path("findings/<int:finding_id>/suppress/", triage.finding_suppress_view, name="finding_suppress"),
    path(
        "findings/<int:finding_id>/false-positive/",
        triage.finding_false_positive_view,
        name="finding_false_positive",
    ),
    path("findings/<int:finding_id>/open-incident/", triage.finding_open_incident_view, name="finding_open_incident"),
    path("findings/<int:finding_id>/attach/", triage.finding_attach_view, name="finding_attach"),
    path("monitors/", triage.monitor_list, name="monitor_list"),
    path("monitors/settings/", triage.monitor_settings_global, name="monitor_settings_global"),
    path("monitors/override/", triage.monitor_settings_pick, name="monitor_settings_pick"),
    path("monitors/settings/<str:account_id>/", triage.monitor_settings_merchant, name="monitor_settings_merchant"),
    path(
        "monitors/settings/<str:account_id>/remove/",
        triage.monitor_settings_remove,
        name="monitor_settings_remove",
    ),
    path("suppressions/new/", triage.suppression_add, name="suppression_add"),
    path("suppressions/<int:suppression_id>/delete/", triage.suppression_remove, name="suppression_remove"),
]
