"""`/api/v1/` routes of the cases app (mounted by payhealth/api/urls.py, namespace `api`)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from cases.api.directory import MerchantViewSet, PartnerViewSet, ResponseCodeViewSet
from cases.api.followthrough import ActionItemViewSet, RcaViewSet
from cases.api.incidents import (
    AffectedMerchantViewSet,
    DeclineCountViewSet,
    EngagementViewSet,
    IncidentNoteViewSet,
    IncidentViewSet,
)
from cases.api.samples import SampleTransactionViewSet
from cases.api.saved_views import SavedViewViewSet

router = SimpleRouter()
router.register("incidents", IncidentViewSet, basename="incident")
router.register("merchants", MerchantViewSet, basename="merchant")
router.register("partners", PartnerViewSet, basename="partner")
router.register("response-codes", ResponseCodeViewSet, basename="response-code")
router.register("saved-views", SavedViewViewSet, basename="saved-view")

_ON_INCIDENT = "incidents/<str:reference>/"
_COLLECTION = {"get": "list", "post": "create"}


def _parts(segment: str, viewset, name: str, detail: dict) -> list:
    return [
        path(f"{_ON_INCIDENT}{segment}/", viewset.as_view(_COLLECTION), name=f"incident-{name}-list"),
        path(f"{_ON_INCIDENT}{segment}/<int:pk>/", viewset.as_view(detail), name=f"incident-{name}-detail"),
    ]


urlpatterns = [
    *_parts("notes", IncidentNoteViewSet, "note", {"get": "retrieve", "patch": "partial_update"}),
    *_parts(
        "merchants",
        AffectedMerchantViewSet,
        "merchant",
        {"get": "retrieve", "patch": "partial_update", "delete": "destroy"},
    ),
    *_parts("decline-codes", DeclineCountViewSet, "decline-code", {"get": "retrieve", "delete": "destroy"}),
    *_parts("engagements", EngagementViewSet, "engagement", {"get": "retrieve", "patch": "partial_update"}),
    path(f"{_ON_INCIDENT}rcas/", RcaViewSet.as_view({"get": "list"}), name="incident-rca-list"),
    path(f"{_ON_INCIDENT}rcas/<int:pk>/", RcaViewSet.as_view({"get": "retrieve"}), name="incident-rca-detail"),
    path(f"{_ON_INCIDENT}rcas/<int:pk>/status/", RcaViewSet.as_view({"post": "move"}), name="incident-rca-status"),
    *_parts("action-items", ActionItemViewSet, "action-item", {"get": "retrieve", "patch": "partial_update"}),
    path(
        f"{_ON_INCIDENT}samples/",
        SampleTransactionViewSet.as_view({"get": "list", "post": "create", "delete": "clear"}),
        name="incident-sample-list",
    ),
    path(
        f"{_ON_INCIDENT}samples/<int:pk>/",
        SampleTransactionViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="incident-sample-detail",
    ),
    *router.urls,
]
