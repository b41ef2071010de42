"""`/api/v1/` routes for notices and correspondence (cases/correspondence/api/views.py)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from cases.correspondence.api.account import AccountUpdateComposeView
from cases.correspondence.api.templates import NoticeTemplateViewSet
from cases.correspondence.api.views import (
    CorrespondenceViewSet,
    IncidentCorrespondenceView,
    NoticeComposeView,
    NoticeNextKindsView,
)

router = SimpleRouter()
router.register("correspondence", CorrespondenceViewSet, basename="correspondence")
router.register("notice-templates", NoticeTemplateViewSet, basename="notice-template")

urlpatterns = [
    path(
        "incidents/<str:reference>/correspondence/",
        IncidentCorrespondenceView.as_view(),
        name="incident-correspondence",
    ),
    path("incidents/<str:reference>/notices/compose/", NoticeComposeView.as_view(), name="notice-compose"),
    path("incidents/<str:reference>/notices/next-kinds/", NoticeNextKindsView.as_view(), name="notice-next-kinds"),
    path(
        "incidents/<str:reference>/merchants/<str:pk>/account-update/",
        AccountUpdateComposeView.as_view(),
        name="incident-account-update",
    ),
    *router.urls,
]
