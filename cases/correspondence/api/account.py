"""`POST /api/v1/incidents/{reference}/merchants/{id}/account-update/`: draft the internal update to
an affected merchant's account team (`cases.correspondence.account`); it is then sent like any
notice (`/api/v1/correspondence/{id}/send/`, or submitted and approved for SEV1/SEV2)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.correspondence.account import account_update_compose
from cases.correspondence.api.views import CorrespondenceSerializer, correspondence_rows
from cases.models import AffectedMerchant
from cases.selectors import incident_visible_or_404
from payhealth.ids import parse_id


class AccountUpdateComposeView(APIView):
    action_permissions = {"post": ("cases.add_correspondence", "cases.view_affectedmerchant")}

    @extend_schema(
        summary="Draft the internal update to an affected merchant's account team",
        description="`pk` is the affected merchant's row on the incident (`/incidents/{reference}/merchants/`). "
        "The draft goes to the merchant's account manager in their language, never to a partner; a merchant "
        "without an account manager's address is a 400.",
        parameters=[
            OpenApiParameter("reference", str, OpenApiParameter.PATH, description="PH-2026-000123"),
            OpenApiParameter("pk", int, OpenApiParameter.PATH),
        ],
        request=None,
        responses={201: CorrespondenceSerializer},
    )
    def post(self, request, reference: str, pk: str):
        incident = incident_visible_or_404(user=request.user, reference=reference)
        row_id = parse_id(pk)
        affected = (
            AffectedMerchant.objects.select_related("merchant").filter(pk=row_id, incident=incident).first()
            if row_id is not None
            else None
        )
        if affected is None:
            raise Http404
        row = account_update_compose(incident=incident, merchant=affected.merchant, actor=request.user)
        return Response(
            CorrespondenceSerializer(correspondence_rows().get(pk=row.pk)).data, status=status.HTTP_201_CREATED
        )
