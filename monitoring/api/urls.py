"""`/api/v1/` routes of payment data."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from monitoring.api.views import MetricsBucketsView, SegmentViewSet

router = SimpleRouter()
router.register("segments", SegmentViewSet, basename="segment")

urlpatterns = [path("metrics/buckets/", MetricsBucketsView.as_view(), name="metrics-buckets"), *router.urls]
