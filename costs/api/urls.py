"""`/api/v1/` routes of partner costs."""

from django.urls import path  # noqa: F401 - the resources add their routes below
from rest_framework.routers import SimpleRouter

from costs.api.billing import BillingCaseViewSet

router = SimpleRouter()
router.register("billing-cases", BillingCaseViewSet, basename="billing-case")

urlpatterns = [
    *router.urls,
]
