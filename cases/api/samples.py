"""`/api/v1/incidents/{reference}/samples/`: an incident's sample transactions over REST, with the
same service as the incident page (`cases.services.samples`): a CSV uploaded whole or refused
whole (a 400 naming each problem's line and column), one removed, or all of them."""

from __future__ import annotations

from contextlib import suppress

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from cases.api.incidents import REFERENCE_PARAMETER, VIEW_INCIDENT, IncidentPartViewSet
from cases.models import SampleTransaction
from cases.services.samples import samples_check_size, samples_remove, samples_upload
from payhealth.api.exceptions import ErrorSerializer
from payhealth.api.parsers import JSONParser
from payhealth.api.serializers import ModelSerializer, Serializer


class SampleTransactionSerializer(ModelSerializer):
    partner = serializers.SlugRelatedField(
        source="engagement.partner",
        slug_field="code",
        read_only=True,
        allow_null=True,
        help_text="The partner whose notices carry it; empty: every partner's.",
    )
    merchant = serializers.SlugRelatedField(slug_field="account_id", read_only=True, allow_null=True)

    class Meta:
        model = SampleTransaction
        fields = [
            "id",
            "occurred_at",
            "amount",
            "currency",
            "card",
            "rrn",
            "stan",
            "auth_code",
            "response_code",
            "terminal_id",
            "entry_mode",
            "merchant",
            "partner",
            "line",
            "uploaded_at",
        ]
        read_only_fields = fields


class SamplesUploadSerializer(Serializer):
    file = serializers.FileField(help_text="A CSV file: one row per transaction, a header first.")


@extend_schema_view(
    list=extend_schema(summary="The incident's sample transactions", parameters=[REFERENCE_PARAMETER]),
    retrieve=extend_schema(summary="One sample transaction", parameters=[REFERENCE_PARAMETER]),
)
class SampleTransactionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, IncidentPartViewSet):
    queryset = SampleTransaction.objects.none()
    serializer_class = SampleTransactionSerializer
    parser_classes = [JSONParser, MultiPartParser]
    action_permissions = {
        "list": (VIEW_INCIDENT, "cases.view_sampletransaction"),
        "retrieve": (VIEW_INCIDENT, "cases.view_sampletransaction"),
        "create": (VIEW_INCIDENT, "cases.add_sampletransaction"),
        "destroy": (VIEW_INCIDENT, "cases.delete_sampletransaction"),
        "clear": (VIEW_INCIDENT, "cases.delete_sampletransaction"),
    }

    def rows(self):
        return (
            SampleTransaction.objects.filter(incident=self.incident)
            .select_related("merchant", "engagement__partner")
            .order_by("occurred_at", "id")
        )

    @extend_schema(
        summary="Upload sample transactions (CSV)",
        description=(
            "multipart/form-data with `file`: a CSV whose header names the columns date_time, amount, currency "
            "(required), card, rrn, stan, auth_code, response_code, terminal_id, entry_mode, merchant, partner "
            "(or their Spanish names). Times carry their zone or Z; cards at most their first 6–8 and last 4 "
            "digits (415231******1234). The file is stored whole (201, the rows added) or refused whole (400, "
            "`fields.file` lists each problem with its line and column); a full card number anywhere refuses "
            "it, naming the line and never the number."
        ),
        parameters=[REFERENCE_PARAMETER],
        request={"multipart/form-data": SamplesUploadSerializer},
        responses={201: SampleTransactionSerializer(many=True), 400: OpenApiResponse(ErrorSerializer)},
    )
    def create(self, request, reference=None):
        incoming = SamplesUploadSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        uploaded = incoming.validated_data["file"]
        samples_check_size(uploaded.size)
        added = samples_upload(
            incident=self.incident, actor=request.user, content=uploaded.read(), filename=uploaded.name or ""
        )
        rows = self.rows().filter(pk__in=[sample.pk for sample in added])
        return Response(SampleTransactionSerializer(rows, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Remove one sample transaction", parameters=[REFERENCE_PARAMETER], responses={204: None})
    def destroy(self, request, reference=None, pk=None):
        samples_remove(incident=self.incident, actor=request.user, ids=[self.get_object().pk])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Remove every sample transaction",
        operation_id="incidents_samples_clear",
        parameters=[REFERENCE_PARAMETER],
        responses={204: None},
    )
    def clear(self, request, reference=None):
        with suppress(ValidationError):  # nothing left to remove: the outcome asked for
            samples_remove(incident=self.incident, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
