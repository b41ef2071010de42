"""`/api/v1/` routes of partner costs."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from costs.api.billing import BillingCaseViewSet
from costs.api.findings import CostCheckView, CostFindingViewSet, CostMatrixView, CostSeriesView
from costs.api.views import CostThresholdsView, FeeImportMappingView, FeeImportViewSet, RateCardViewSet, RuleMatchView

router = SimpleRouter()
router.register("cost-findings", CostFindingViewSet, basename="cost-finding")
router.register("rate-cards", RateCardViewSet, basename="rate-card")
router.register("fee-imports", FeeImportViewSet, basename="fee-import")
router.register("billing-cases", BillingCaseViewSet, basename="billing-case")

urlpatterns = [
    path("cost-matrix/", CostMatrixView.as_view(), name="cost-matrix"),
    path("cost-series/", CostSeriesView.as_view(), name="cost-series"),
    path("cost-checks/", CostCheckView.as_view(), name="cost-checks"),
    path("rule-match/", RuleMatchView.as_view(), name="rule-match"),
    path(
        "fee-import-mappings/<int:partner_id>/<str:shape>/",
        FeeImportMappingView.as_view(),
        name="fee-import-mapping",
    ),
    path("cost-thresholds/<int:partner_id>/", CostThresholdsView.as_view(), name="cost-thresholds"),
    *router.urls,
]
