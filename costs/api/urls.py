"""`/api/v1/` routes of partner costs."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from costs.api.findings import CostCheckView, CostFindingViewSet, CostMatrixView, CostSeriesView

router = SimpleRouter()
router.register("cost-findings", CostFindingViewSet, basename="cost-finding")

urlpatterns = [
    path("cost-matrix/", CostMatrixView.as_view(), name="cost-matrix"),
    path("cost-series/", CostSeriesView.as_view(), name="cost-series"),
    path("cost-checks/", CostCheckView.as_view(), name="cost-checks"),
    *router.urls,
]
