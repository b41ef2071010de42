from django.urls import path
from rest_framework.routers import SimpleRouter

from alerts.api.views import (
    AlertBatchIntakeView,
    AlertIntakeView,
    AlertReceiptViewSet,
    AlertSeverityRuleViewSet,
    AlertStatusView,
)

router = SimpleRouter()
router.register("alerts/receipts", AlertReceiptViewSet, basename="alert-receipt")
router.register("alerts/rules", AlertSeverityRuleViewSet, basename="alert-rule")

urlpatterns = [
    path("alerts/", AlertIntakeView.as_view(), name="alert-intake"),
    path("alerts/batch/", AlertBatchIntakeView.as_view(), name="alert-batch"),
    path("alerts/<int:pk>/", AlertStatusView.as_view(), name="alert-status"),
    *router.urls,
]
