"""Cost findings over the API: the list (the page's filters), a finding, the desk's decision, the
partner × month matrix, the effective-bps series and running the checks now — through the same
services as the pages. Every desk role reads; analysts decide findings and run the checks
(`costs.change_costfinding`, `costs.run_costs_check`)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from costs.checks import costs_check, months_back
from costs.effective import (
    MAX_MONTHS,
    cost_matrix,
    cost_series,
    default_range,
    merchant_series,
    month_end,
    months_between,
)
from costs.findings import CostFindingFilterSet, cost_finding_decide, cost_findings_visible_to, parse_month
from costs.models import CostFinding, Funding
from partners.models import Partner
from payhealth.api.exceptions import ErrorSerializer
from payhealth.api.filters import ListFiltersOnly, query_parameter_errors
from payhealth.api.pagination import Cursor
from payhealth.api.serializers import ModelSerializer, Serializer

VIEW = "costs.view_costfinding"
CHANGE = "costs.change_costfinding"
RUN = "costs.run_costs_check"
BPS = {"max_digits": 12, "decimal_places": 4, "coerce_to_string": True}
MONEY = {"max_digits": 20, "decimal_places": 2, "coerce_to_string": True}
BAD_INPUT = {400: OpenApiResponse(ErrorSerializer, description="Bad input, with a message per field.")}


class CostFindingSerializer(ModelSerializer):
    partner = serializers.CharField(source="partner.code", read_only=True, help_text="The partner's code.")
    partner_name = serializers.CharField(source="partner.name", read_only=True)
    period = serializers.SerializerMethodField(help_text="The month checked, YYYY-MM.")
    delta_bps = serializers.DecimalField(read_only=True, allow_null=True, **BPS)
    explanation = serializers.SerializerMethodField(help_text="The finding in one sentence, in the reader's language.")

    class Meta:
        model = CostFinding
        fields = [
            "id",
            "kind",
            "partner",
            "partner_name",
            "period",
            "cohort",
            "fee_type",
            "fee_code",
            "rate_card",
            "rule",
            "rate_card_version",
            "currency",
            "count",
            "volume",
            "expected_bps",
            "billed_bps",
            "delta_bps",
            "expected_amount",
            "billed_amount",
            "amount",
            "severity",
            "state",
            "details",
            "sample_references",
            "explanation",
            "created_at",
        ]
        read_only_fields = fields

    def get_period(self, finding) -> str:
        return f"{finding.period:%Y-%m}"

    def get_explanation(self, finding) -> str:
        return finding.explanation()


class CostDecideInputSerializer(Serializer):
    state = serializers.ChoiceField(
        choices=[CostFinding.State.CONFIRMED, CostFinding.State.DISMISSED, CostFinding.State.OPEN],
        help_text="confirmed, dismissed (with a reason) or open (reopen).",
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class CostFindingCursor(Cursor):
    ordering = ("-id",)


@extend_schema_view(
    list=extend_schema(
        summary="Cost findings",
        description=(
            "Filters as on the page: `partner` (code), `kind`, `severity`, `state`, `period_from` and "
            "`period_to` (YYYY-MM, inclusive), `fee_type`, `amount_min`. Newest first, cursor-paginated."
        ),
    ),
    retrieve=extend_schema(summary="One cost finding"),
)
class CostFindingViewSet(ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = CostFindingSerializer
    queryset = CostFinding.objects.none()
    pagination_class = CostFindingCursor
    filterset_class = CostFindingFilterSet
    lookup_value_regex = r"[0-9]+"
    action_permissions = {"list": (VIEW,), "retrieve": (VIEW,), "decide": (VIEW, CHANGE)}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CostFinding.objects.none()
        return cost_findings_visible_to(user=self.request.user)

    @extend_schema(
        summary="Confirm, dismiss (with a reason) or reopen a cost finding",
        request=CostDecideInputSerializer,
        responses={200: CostFindingSerializer, **BAD_INPUT},
    )
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        finding = self.get_object()
        incoming = CostDecideInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        decided = cost_finding_decide(finding=finding, actor=request.user, **incoming.validated_data)
        return Response(CostFindingSerializer(self.get_queryset().get(pk=decided.pk)).data)


# The matrix and the series -----------------------------------------------------------------------


def _months_from_query(request) -> tuple:
    errors = query_parameter_errors(request.query_params, ("from", "to"))
    if errors:
        raise ValidationError(errors)
    raw_first, raw_last = request.query_params.get("from"), request.query_params.get("to")
    first, last = parse_month(raw_first), parse_month(raw_last)
    for name, raw, value in (("from", raw_first, first), ("to", raw_last, last)):
        if raw is not None and value is None:
            raise ValidationError({name: [_("Give a month as YYYY-MM.")]})
    last = last or (months_back(first, -11) if first else default_range()[1])
    first = first or months_back(last, 11)
    if first > last:
        raise ValidationError({"to": [_("The last month comes after the first.")]})
    if len(months_between(first, last)) > MAX_MONTHS:
        raise ValidationError({"from": [_("Show at most %(n)d months.") % {"n": MAX_MONTHS}]})
    return first, last


MONTH_PARAMETERS = [
    OpenApiParameter("from", str, description="First month, YYYY-MM (default: 11 months before `to`)."),
    OpenApiParameter("to", str, description="Last month, YYYY-MM (default: the current month)."),
]


class EffectiveCostSerializer(Serializer):
    """Billed against expected, in bps and money, over some transactions: a matrix cell's or a point's."""

    billed_bps = serializers.DecimalField(allow_null=True, **BPS)
    expected_bps = serializers.DecimalField(allow_null=True, **BPS)
    delta_bps = serializers.DecimalField(allow_null=True, **BPS)
    billed = serializers.DecimalField(allow_null=True, **MONEY)
    expected = serializers.DecimalField(allow_null=True, **MONEY)
    count = serializers.IntegerField()


class CostMatrixCellSerializer(EffectiveCostSerializer):
    month = serializers.CharField(help_text="YYYY-MM")
    at_stake = serializers.DecimalField(**MONEY)
    findings = serializers.IntegerField()


class CostMatrixRowSerializer(Serializer):
    partner = serializers.CharField()
    partner_name = serializers.CharField()
    currency = serializers.CharField()
    cells = CostMatrixCellSerializer(many=True)


class CostMatrixSerializer(Serializer):
    months = serializers.ListField(child=serializers.CharField())
    rows = CostMatrixRowSerializer(many=True)


class CostMatrixView(APIView):
    action_permissions = {"get": (VIEW,)}

    @extend_schema(
        operation_id="cost_matrix_retrieve",
        summary="The partner × month matrix of Δbps, amount at stake and findings",
        parameters=MONTH_PARAMETERS,
        responses={200: CostMatrixSerializer, **BAD_INPUT},
    )
    def get(self, request):
        first, last = _months_from_query(request)
        figures = cost_matrix(user=request.user, first=first, last=last)
        data = {
            "months": [f"{month:%Y-%m}" for month in figures.months],
            "rows": [
                {
                    "partner": row.partner.code,
                    "partner_name": row.partner.name,
                    "currency": row.currency,
                    "cells": [
                        {
                            "month": f"{cell.month:%Y-%m}",
                            "billed_bps": cell.billed_bps,
                            "expected_bps": cell.expected_bps,
                            "delta_bps": cell.delta_bps,
                            "billed": cell.billed,
                            "expected": cell.expected,
                            "count": cell.count,
                            "at_stake": cell.at_stake,
                            "findings": cell.findings,
                        }
                        for cell in row.cells
                    ],
                }
                for row in figures.rows
            ],
        }
        return Response(CostMatrixSerializer(data).data)


class CostPointSerializer(EffectiveCostSerializer):
    at = serializers.DateField(help_text="The month's first day, or the day.")


class CostSeriesSerializer(Serializer):
    currency = serializers.CharField()
    points = CostPointSerializer(many=True)


class CostSeriesAnswerSerializer(Serializer):
    partner = serializers.CharField()
    by = serializers.ChoiceField(choices=["month", "day"])
    cohort = serializers.DictField(child=serializers.CharField())
    series = CostSeriesSerializer(many=True)


class CostSeriesQuerySerializer(Serializer):
    partner = serializers.SlugRelatedField(slug_field="code", queryset=Partner.objects.all())
    network = serializers.CharField(required=False, allow_blank=True, max_length=30, default="")
    funding = serializers.ChoiceField(choices=Funding.choices, required=False, allow_blank=True, default="")
    by = serializers.ChoiceField(choices=["month", "day"], required=False, default="month")
    merchant = serializers.RegexField(
        r"^acct_[A-Za-z0-9_]{1,59}$",
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": gettext_lazy("Use an account id like acct_1Nv0FGQ9RKHgCVdK.")},
    )


class CostSeriesView(APIView):
    action_permissions = {"get": (VIEW,)}

    @extend_schema(
        operation_id="cost_series_retrieve",
        summary="A partner's billed and expected bps by month (or by day), optionally one cohort",
        description=(
            "`by=month` (default): the months from `from` to `to`. `by=day`: the days of the month `to` "
            "(default: the current month). A bucket without priced billing has nulls. With `merchant`: that "
            "merchant's effective (billed) bps by day from its fee records, expected bps null; `by` must be "
            "`day` and `network`/`funding` are not combined with it."
        ),
        parameters=[
            OpenApiParameter("partner", str, required=True, description="The partner's code."),
            OpenApiParameter("network", str, description="A network as the partner writes it (lower case)."),
            OpenApiParameter("funding", str, enum=list(Funding.values)),
            OpenApiParameter("by", str, enum=["month", "day"]),
            OpenApiParameter("merchant", str, description="A merchant's account id (acct_…): its daily series."),
            *MONTH_PARAMETERS,
        ],
        responses={200: CostSeriesAnswerSerializer, **BAD_INPUT},
    )
    def get(self, request):
        errors = query_parameter_errors(request.query_params, ("partner", "network", "funding", "by", "merchant"))
        if errors:
            raise ValidationError(errors)
        query = CostSeriesQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        chosen = query.validated_data
        first, last = _months_from_query(request)
        if chosen["by"] == "day":
            first, last = last, month_end(last)
        if chosen["merchant"]:
            if chosen["by"] != "day":
                raise ValidationError({"by": [_("A merchant's series is by day: use by=day.")]})
            if chosen["network"] or chosen["funding"]:
                raise ValidationError({"merchant": [_("A merchant's series takes no network or funding.")]})
            series = merchant_series(partner=chosen["partner"], merchant=chosen["merchant"], first=first, last=last)
        else:
            series = cost_series(
                partner=chosen["partner"],
                first=first,
                last=last,
                by=chosen["by"],
                network=chosen["network"].strip().lower(),
                funding=chosen["funding"],
            )
        cohort = (("network", chosen["network"]), ("funding", chosen["funding"]), ("merchant", chosen["merchant"]))
        data = {
            "partner": chosen["partner"].code,
            "by": chosen["by"],
            "cohort": {k: v for k, v in cohort if v},
            "series": [
                {
                    "currency": one.currency,
                    "points": [
                        {
                            "at": point.at,
                            "billed_bps": point.billed_bps,
                            "expected_bps": point.expected_bps,
                            "delta_bps": point.delta_bps,
                            "billed": point.billed,
                            "expected": point.expected,
                            "count": point.count,
                        }
                        for point in one.points
                    ],
                }
                for one in series
            ],
        }
        return Response(CostSeriesAnswerSerializer(data).data)


# Running the checks ------------------------------------------------------------------------------


class CostCheckInputSerializer(Serializer):
    partner = serializers.SlugRelatedField(slug_field="code", queryset=Partner.objects.all())
    period = serializers.CharField(help_text="The month to check, YYYY-MM.", max_length=10)

    def validate_period(self, value):
        month = parse_month(value)
        if month is None:
            raise serializers.ValidationError(_("Give a month as YYYY-MM."))
        return month


class CostCheckResultSerializer(Serializer):
    partner = serializers.CharField()
    period = serializers.CharField(help_text="YYYY-MM")
    findings = serializers.IntegerField(help_text="Findings raised (open) by this run.")
    by_kind = serializers.DictField(child=serializers.IntegerField())


class CostCheckView(APIView):
    action_permissions = {"post": (RUN,)}

    @extend_schema(
        operation_id="cost_checks_create",
        summary="Run the cost checks now for a partner and month",
        description=(
            "Replaces the month's open findings of the partner; decided findings keep their state and "
            "are not raised again. Answers the findings raised, by kind."
        ),
        request=CostCheckInputSerializer,
        responses={200: CostCheckResultSerializer, **BAD_INPUT},
    )
    def post(self, request):
        incoming = CostCheckInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        partner = incoming.validated_data["partner"]
        result = costs_check(partner=partner, period=incoming.validated_data["period"])
        data = {
            "partner": partner.code,
            "period": f"{result.period:%Y-%m}",
            "findings": result.findings,
            "by_kind": {str(kind): count for kind, count in result.by_kind.items()},
        }
        return Response(CostCheckResultSerializer(data).data)
