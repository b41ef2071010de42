"""Partner costs over the API: rate cards (drafts, rules, approval, diff), the rule tester, billing
imports (with a dry run that previews and reports), column mappings and thresholds.

Every endpoint calls the service the pages call; a service's ValidationError is a 400 naming the
field, its PermissionDenied a 403.
"""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from costs.api.serializers import (
    CostThresholdsSerializer,
    FeeImportMappingSerializer,
    FeeImportPreviewSerializer,
    FeeImportSerializer,
    FeeImportUploadSerializer,
    FeeRuleSerializer,
    RateCardCreateSerializer,
    RateCardDetailSerializer,
    RateCardDiffSerializer,
    RateCardSerializer,
    RuleInputSerializer,
    RuleMatchQuerySerializer,
    RuleMatchSerializer,
    RuleRemoveSerializer,
)
from costs.importing import FeeImportRefused, fee_import_preview
from costs.matching import rule_match
from costs.models import MATCH_KEYS, CostThresholds, FeeImport, FeeImportMapping, FeeRule, RateCard
from costs.services import (
    THRESHOLD_FIELDS,
    billing_import,
    cost_thresholds_save,
    fee_import_mapping_save,
    fee_import_recheck,
    fee_rule_add,
    fee_rule_remove,
    rate_card_approve,
    rate_card_create,
    rate_card_diff,
)
from costs.uploads import upload_discard, upload_keep
from partners.models import Partner
from payhealth.api.exceptions import ErrorSerializer
from payhealth.api.filters import ListFiltersOnly
from payhealth.api.parsers import JSONParser
from payhealth.forms import FilterSet
from payhealth.ids import parse_id


class RateCardFilterSet(FilterSet):
    partner = django_filters.NumberFilter(field_name="partner_id", help_text="The partner's id.")
    state = django_filters.ChoiceFilter(choices=RateCard.State.choices)

    class Meta:
        model = RateCard
        fields = ["partner", "state"]


def _diff_data(diff: dict) -> dict:
    def rule_item(item):
        return {"fee_type": item["fee_type"], "keys": item["keys"], "rule": FeeRuleSerializer(item["rule"]).data}

    return {
        "old": RateCardSerializer(diff["old"]).data,
        "new": RateCardSerializer(diff["new"]).data,
        "added": [rule_item(item) for item in diff["added"]],
        "removed": [rule_item(item) for item in diff["removed"]],
        "changed": [
            {
                "fee_type": item["fee_type"],
                "keys": item["keys"],
                "changes": {
                    name: [None if v is None else str(v) for v in values] for name, values in item["changes"].items()
                },
            }
            for item in diff["changed"]
        ],
    }


@extend_schema_view(
    list=extend_schema(summary="Rate cards: every version of every partner (filter by partner, state)"),
    retrieve=extend_schema(summary="One rate card version with its rules", responses=RateCardDetailSerializer),
)
class RateCardViewSet(
    ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = RateCardSerializer
    queryset = RateCard.objects.none()
    filterset_class = RateCardFilterSet
    action_permissions = {
        "list": ("costs.view_ratecard",),
        "retrieve": ("costs.view_ratecard", "costs.view_feerule"),
        "create": ("costs.add_ratecard", "costs.add_feerule"),
        "add_rule": ("costs.view_ratecard", "costs.add_feerule"),
        "remove_rule": ("costs.view_ratecard", "costs.delete_feerule"),
        "approve": ("costs.view_ratecard", "costs.approve_ratecard"),
        "diff": ("costs.view_ratecard", "costs.view_feerule"),
    }

    def get_queryset(self):
        return RateCard.objects.select_related("created_by", "approved_by").order_by("-id")

    def get_serializer_class(self):
        return RateCardDetailSerializer if self.action == "retrieve" else RateCardSerializer

    @extend_schema(
        summary="Create a draft version with its rules",
        description="The partner's next version, a draft; approve it with the `approve` action.",
        request=RateCardCreateSerializer,
        responses={201: RateCardDetailSerializer, 400: OpenApiResponse(ErrorSerializer)},
    )
    def create(self, request):
        given = RateCardCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        card = rate_card_create(
            partner=data["partner"],
            effective_from=data["effective_from"],
            rules=[dict(rule) for rule in data["rules"]],
            actor=request.user,
            currency=data["currency"],
            notes=data["notes"],
        )
        return Response(RateCardDetailSerializer(card).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Add a rule to a draft", request=RuleInputSerializer, responses={201: FeeRuleSerializer})
    @action(detail=True, methods=["post"], url_path="rules", filterset_class=None, pagination_class=None)
    def add_rule(self, request, pk=None):
        card = self.get_object()
        given = RuleInputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        rule = fee_rule_add(rate_card=card, actor=request.user, **given.validated_data)
        return Response(FeeRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove a rule from a draft", request=RuleRemoveSerializer, responses={200: RateCardDetailSerializer}
    )
    @action(detail=True, methods=["post"], url_path="remove-rule", filterset_class=None, pagination_class=None)
    def remove_rule(self, request, pk=None):
        card = self.get_object()
        given = RuleRemoveSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        rule = FeeRule.objects.filter(pk=given.validated_data["rule"], rate_card=card).first()
        if rule is None:
            raise ValidationError({"rule": _("This rate card has no such rule.")})
        fee_rule_remove(rule=rule, actor=request.user)
        return Response(RateCardDetailSerializer(card).data)

    @extend_schema(
        summary="Approve a draft (a lead other than its author)",
        request=None,
        responses={200: RateCardDetailSerializer, 403: OpenApiResponse(ErrorSerializer)},
    )
    @action(detail=True, methods=["post"], filterset_class=None, pagination_class=None)
    def approve(self, request, pk=None):
        card = rate_card_approve(rate_card=self.get_object(), actor=request.user)
        return Response(RateCardDetailSerializer(card).data)

    @extend_schema(
        summary="What changed between two versions of the same partner",
        description="Rules added, removed and changed (known by fee type and match keys), from `against` to this.",
        parameters=[OpenApiParameter("against", int, required=True, description="The other version's id.")],
        responses=RateCardDiffSerializer,
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def diff(self, request, pk=None):
        card = self.get_object()
        against_id = parse_id(request.query_params.get("against", ""))
        if against_id is None:
            raise ValidationError({"against": _("Give the id of the version to compare with.")})
        against = RateCard.objects.filter(pk=against_id).first()
        if against is None:
            raise ValidationError({"against": _("No such rate card.")})
        return Response(_diff_data(rate_card_diff(against, card)))


class RuleMatchView(APIView):
    """Which rule prices a cohort on a day, and why."""

    action_permissions = {"post": ("costs.view_ratecard", "costs.view_feerule")}

    @extend_schema(
        operation_id="rule_match",
        summary="Which rule applies to a cohort",
        request=RuleMatchQuerySerializer,
        responses=RuleMatchSerializer,
    )
    def post(self, request):
        given = RuleMatchQuerySerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        cohort = data.get("cohort") or dict.fromkeys(MATCH_KEYS, "")
        match = rule_match(partner=data["partner"], on=data["on"], fee_type=data["fee_type"], cohort=cohort)
        rule = match.rule
        body = {
            "rule": FeeRuleSerializer(rule).data if rule else None,
            "rate_card": RateCardSerializer(match.rate_card).data if match.rate_card else None,
            "required": rule.keys() if rule else {},
            "left_open": [key for key in MATCH_KEYS if not getattr(rule, key)] if rule else [],
            "reasons": match.reasons,
            "explanation": match.explain(),
        }
        return Response(body)


class FeeImportFilterSet(FilterSet):
    partner = django_filters.NumberFilter(field_name="partner_id", help_text="The partner's id.")
    shape = django_filters.ChoiceFilter(choices=FeeImport.Shape.choices)

    class Meta:
        model = FeeImport
        fields = ["partner", "shape"]


def _refused(errors) -> Response:
    rows = [{"row": e.row, "column": e.column, "reason": e.message} for e in errors]
    body = {
        "status": 400,
        "code": "invalid",
        "message": str(errors[0]) if errors else _("The file was refused."),
        "fields": {"file": [str(e) for e in errors]},
        "rows": rows,
    }
    return Response({"error": body}, status=status.HTTP_400_BAD_REQUEST)


@extend_schema_view(
    list=extend_schema(summary="Imported billing files (filter by partner, shape)"),
    retrieve=extend_schema(summary="One import"),
)
class FeeImportViewSet(
    ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = FeeImportSerializer
    queryset = FeeImport.objects.none()
    filterset_class = FeeImportFilterSet
    parser_classes = [JSONParser, MultiPartParser]
    action_permissions = {
        "list": ("costs.view_feeimport",),
        "retrieve": ("costs.view_feeimport",),
        "create": ("costs.add_feeimport",),
        "check": ("costs.view_feeimport", "costs.run_costs_check"),
    }

    def get_queryset(self):
        return FeeImport.objects.select_related("imported_by").order_by("-id")

    @extend_schema(
        summary="Upload a partner's billing file (CSV, XLSX or Parquet)",
        description=(
            "multipart/form-data with `partner`, `shape` (invoice or records) and `file`, read with the "
            "partner's saved column mapping. With `dry_run=true` nothing is written: the answer is the "
            "first 20 rows as they would be read and the validation report. Otherwise the file is "
            "imported whole (201) and its months are checked in the worker; a refused file is a 400 "
            "whose `rows` name each error's row (1 is the first under the header, 0 the file), column "
            "and reason. An XLSX workbook is read from its first sheet (the header in its first row); a legacy "
            "`.xls`, `.xlsm`, `.xlsb` or `.ods` is refused."
        ),
        request={"multipart/form-data": FeeImportUploadSerializer},
        responses={
            200: OpenApiResponse(FeeImportPreviewSerializer, description="The dry run's preview and report."),
            201: FeeImportSerializer,
            400: OpenApiResponse(ErrorSerializer),
        },
    )
    def create(self, request):
        given = FeeImportUploadSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        partner, shape = data["partner"], data["shape"]
        token, path = upload_keep(data["file"])
        try:
            if data["dry_run"]:
                saved = FeeImportMapping.objects.filter(partner=partner, shape=shape).first()
                try:
                    preview = fee_import_preview(path, shape=shape, mapping=saved.as_mapping() if saved else None)
                except FeeImportRefused as refused:
                    return _refused(refused.errors)
                body = {
                    "dry_run": True,
                    "rows_read": preview.total,
                    "imported_before": preview.imported_before,
                    "preview": [{"row": number, "values": values} for number, values in preview.text_rows()],
                    "errors": [{"row": e.row, "column": e.column, "reason": e.message} for e in preview.errors],
                }
                return Response(FeeImportPreviewSerializer(body).data)
            try:
                imported = billing_import(path, partner=partner, shape=shape, actor=request.user)
            except FeeImportRefused as refused:
                return _refused(refused.errors)
            return Response(FeeImportSerializer(imported).data, status=status.HTTP_201_CREATED)
        finally:
            upload_discard(token)

    @extend_schema(
        summary="Run the checks of the import's months again (in the worker)",
        request=None,
        responses={202: FeeImportSerializer},
    )
    @action(detail=True, methods=["post"], filterset_class=None, pagination_class=None)
    def check(self, request, pk=None):
        imported = self.get_object()
        fee_import_recheck(imported, actor=request.user)
        return Response(FeeImportSerializer(imported).data, status=status.HTTP_202_ACCEPTED)


def _partner(partner_id) -> Partner:
    return get_object_or_404(Partner, pk=partner_id)


class FeeImportMappingView(APIView):
    """A partner's column mapping for one shape of file."""

    action_permissions = {
        "get": ("costs.view_feeimportmapping",),
        "put": ("costs.add_feeimportmapping", "costs.change_feeimportmapping"),
    }

    def _shape(self, shape: str) -> str:
        if shape not in FeeImport.Shape.values:
            raise ValidationError({"shape": _("Choose invoice or records.")})
        return shape

    def _body(self, partner, shape):
        saved = FeeImportMapping.objects.filter(partner=partner, shape=shape).first()
        return {
            "partner": partner.pk,
            "shape": shape,
            "columns": saved.columns if saved else {},
            "fee_codes": saved.fee_codes if saved else {},
            "updated_at": saved.updated_at if saved else None,
        }

    @extend_schema(
        operation_id="fee_import_mapping_retrieve",
        summary="A partner's column mapping (empty when none)",
        responses=FeeImportMappingSerializer,
    )
    def get(self, request, partner_id: int, shape: str):
        partner = _partner(partner_id)
        return Response(FeeImportMappingSerializer(self._body(partner, self._shape(shape))).data)

    @extend_schema(
        operation_id="fee_import_mapping_update",
        summary="Save a partner's column mapping",
        request=FeeImportMappingSerializer,
        responses=FeeImportMappingSerializer,
    )
    def put(self, request, partner_id: int, shape: str):
        partner = _partner(partner_id)
        shape = self._shape(shape)
        given = FeeImportMappingSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        fee_import_mapping_save(
            partner=partner,
            shape=shape,
            columns=given.validated_data.get("columns") or {},
            fee_codes=given.validated_data.get("fee_codes") or {},
            actor=request.user,
        )
        return Response(FeeImportMappingSerializer(self._body(partner, shape)).data)


class CostThresholdsView(APIView):
    """A partner's thresholds for the checks (the defaults when it has none)."""

    action_permissions = {
        "get": ("costs.view_costthresholds",),
        "put": ("costs.view_costthresholds", "costs.change_costthresholds"),
    }

    @extend_schema(
        operation_id="cost_thresholds_retrieve", summary="A partner's thresholds", responses=CostThresholdsSerializer
    )
    def get(self, request, partner_id: int):
        partner = _partner(partner_id)
        thresholds = CostThresholds.objects.filter(partner=partner).first() or CostThresholds(partner=partner)
        return Response(CostThresholdsSerializer(thresholds).data)

    @extend_schema(
        operation_id="cost_thresholds_update",
        summary="Set a partner's thresholds (leads)",
        request=CostThresholdsSerializer,
        responses=CostThresholdsSerializer,
    )
    def put(self, request, partner_id: int):
        partner = _partner(partner_id)
        given = CostThresholdsSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        values = {name: given.validated_data[name] for name in THRESHOLD_FIELDS if name in given.validated_data}
        thresholds = cost_thresholds_save(partner=partner, actor=request.user, **values)
        return Response(CostThresholdsSerializer(thresholds).data)
