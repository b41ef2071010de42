"""`/api/v1/` routes for notices and correspondence (cases/api/notices.py) and SLAs (cases/api/sla.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from cases.api.notices import CorrespondenceViewSet, IncidentCorrespondenceView, NoticeComposeView
from cases.api.sla import AtRiskView, IncidentSlaView, SlaPolicyViewSet, SlaReportViewSet

router = SimpleRouter()
router.register("correspondence", CorrespondenceViewSet, basename="correspondence")
router.register("sla/policies", SlaPolicyViewSet, basename="sla-policy")
router.register("reports/sla", SlaReportViewSet, basename="sla-report")

urlpatterns = [
    path(
        "incidents/<str:reference>/correspondence/",
        IncidentCorrespondenceView.as_view(),
        name="incident-correspondence",
    ),
    path("incidents/<str:reference>/notices/compose/", NoticeComposeView.as_view(), name="notice-compose"),
    path("incidents/<str:reference>/sla/", IncidentSlaView.as_view(), name="incident-sla"),
    path("sla/at-risk/", AtRiskView.as_view(), name="sla-at-risk"),
    *router.urls,
]
