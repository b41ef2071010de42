"""The payment-data pages under /monitoring/."""

from django.urls import path

from monitoring.views import charts, uploads

app_name = "monitoring"

urlpatterns = [
    path("segments/<int:pk>/", charts.segment_detail, name="segment_detail"),
    path("incidents/<str:reference>/charts/", charts.incident_charts, name="incident_charts"),
    path("merchants/<str:account_id>/chart/", charts.merchant_chart, name="merchant_chart"),
    path("uploads/", uploads.upload_start_view, name="upload_start"),
    path("uploads/<int:pk>/", uploads.upload_detail, name="upload_detail"),
    path("uploads/<int:pk>/progress/", uploads.upload_progress, name="upload_progress"),
]
