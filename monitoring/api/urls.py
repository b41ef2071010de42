"""`/api/v1/` routes of payment data."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from monitoring.api.views import MetricsBucketsView, MetricsPullViewSet, SegmentViewSet

router = SimpleRouter()
router.register("segments", SegmentViewSet, basename="segment")
router.register("metrics/pulls", MetricsPullViewSet, basename="metrics-pull")

urlpatterns = [path("metrics/buckets/", MetricsBucketsView.as_view(), name="metrics-buckets"), *router.urls]
