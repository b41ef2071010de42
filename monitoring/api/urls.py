"""`/api/v1/` routes of payment data."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from monitoring.api.detector import (
    FindingViewSet,
    MerchantMonitorSettingsView,
    MonitorSettingsView,
    MonitorViewSet,
    SuppressionViewSet,
)
from monitoring.api.views import MetricsBucketsView, MetricsPullViewSet, SegmentViewSet

router = SimpleRouter()
router.register("segments", SegmentViewSet, basename="segment")
router.register("metrics/pulls", MetricsPullViewSet, basename="metrics-pull")
router.register("findings", FindingViewSet, basename="finding")
router.register("monitors", MonitorViewSet, basename="monitor")
router.register("suppressions", SuppressionViewSet, basename="suppression")

urlpatterns = [
    path("metrics/buckets/", MetricsBucketsView.as_view(), name="metrics-buckets"),
    path("monitors/settings/", MonitorSettingsView.as_view(), name="monitor-settings"),
    path(
        "monitors/settings/<str:account_id>/",
        MerchantMonitorSettingsView.as_view(),
        name="monitor-settings-merchant",
    ),
    *router.urls,
]
