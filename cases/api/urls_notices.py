"""`/api/v1/` routes for notices and correspondence (cases/api/notices.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from cases.api.notices import CorrespondenceViewSet, IncidentCorrespondenceView, NoticeComposeView

router = SimpleRouter()
router.register("correspondence", CorrespondenceViewSet, basename="correspondence")

urlpatterns = [
    path(
        "incidents/<str:reference>/correspondence/",
        IncidentCorrespondenceView.as_view(),
        name="incident-correspondence",
    ),
    path("incidents/<str:reference>/notices/compose/", NoticeComposeView.as_view(), name="notice-compose"),
    *router.urls,
]
