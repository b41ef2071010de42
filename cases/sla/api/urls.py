"""`/api/v1/` routes of the SLA clocks: an incident's clocks, the at-risk list, policies, reports."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from cases.sla.api.views import AtRiskView, IncidentSlaView, SlaPolicyViewSet, SlaReportViewSet

router = SimpleRouter()
router.register("sla/policies", SlaPolicyViewSet, basename="sla-policy")
router.register("reports/sla", SlaReportViewSet, basename="sla-report")

urlpatterns = [
    path("incidents/<str:reference>/sla/", IncidentSlaView.as_view(), name="incident-sla"),
    path("sla/at-risk/", AtRiskView.as_view(), name="sla-at-risk"),
    *router.urls,
]
