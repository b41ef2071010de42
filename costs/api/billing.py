"""Billing cases over the API: list and read them, open one from findings, amend it, list and record
its credit notes, and the recovered-amount report. Thin views over `costs.billing`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import django_filters
from django.db.models import DecimalField, OuterRef, Prefetch, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from costs.api.billing_serializers import (
    BillingCaseAmendSerializer,
    BillingCaseCreateSerializer,
    BillingCaseSerializer,
    CreditNoteCreateSerializer,
    CreditNoteSerializer,
    RecoveryQuerySerializer,
    RecoveryReportSerializer,
)
from costs.billing import billing_case_amend, billing_case_open, credit_note_record
from costs.billing_report import recovery_report
from costs.models import BillingCase, CostFinding, CreditNote
from partners.models import Partner
from payhealth.api.exceptions import ErrorSerializer
from payhealth.api.filters import ListFiltersOnly
from payhealth.api.pagination import Cursor
from payhealth.forms import FilterSet
from payhealth.i18n import desk_zone

VIEW = ("cases.view_incident", "costs.view_billingcase")
MONEY = DecimalField(max_digits=20, decimal_places=2)


def billing_cases_visible_to(*, user):
    """Billing cases with their credited total and open balance; none for a user outside the desk."""
    if not user.has_perms(VIEW):
        return BillingCase.objects.none()
    credited = (
        CreditNote.objects.filter(billing_case=OuterRef("pk"))
        .order_by()
        .values("billing_case")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return (
        BillingCase.objects.select_related("incident", "partner", "opened_by")
        .prefetch_related(
            Prefetch("findings", queryset=CostFinding.objects.select_related("partner", "rule").order_by("-amount")),
            Prefetch("credit_notes", queryset=CreditNote.objects.select_related("recorded_by")),
        )
        .annotate(credited=Coalesce(Subquery(credited, output_field=MONEY), Value(Decimal(0)), output_field=MONEY))
    )


class BillingCaseFilterSet(FilterSet):
    partner = django_filters.CharFilter(field_name="partner__code", help_text="A partner's code.")
    period = django_filters.DateFilter(help_text="The first day of the month billed (YYYY-MM-01).")
    open = django_filters.BooleanFilter(
        field_name="settled_at", lookup_expr="isnull", help_text="true: cases not settled yet; false: settled ones."
    )

    class Meta:
        model = BillingCase
        fields = ["partner", "period", "open"]


class BillingCaseCursor(Cursor):
    ordering = "-id"


def _with_balance(case: BillingCase) -> BillingCase:
    if not hasattr(case, "credited"):
        case.credited = sum((note.amount for note in case.credit_notes.all()), Decimal(0))
    case.open_balance = Decimal(0) if case.settled_at else max(case.amount_disputed - case.credited, Decimal(0))
    return case


@extend_schema_view(
    list=extend_schema(summary="Billing cases, newest first (filters: partner, period, open)"),
    retrieve=extend_schema(summary="One billing case with its findings and credit notes"),
)
class BillingCaseViewSet(ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = BillingCaseSerializer
    queryset = BillingCase.objects.none()
    pagination_class = BillingCaseCursor
    filterset_class = BillingCaseFilterSet
    action_permissions = {
        "list": VIEW,
        "retrieve": VIEW,
        "create": (*VIEW, "costs.add_billingcase", "costs.view_costfinding", "cases.add_incident"),
        "amend": (*VIEW, "costs.change_billingcase"),
        "credit_notes": VIEW,
        "credit_notes_create": (*VIEW, "costs.add_creditnote"),
        "recovery": ("costs.view_billingcase",),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return BillingCase.objects.none()
        return billing_cases_visible_to(user=self.request.user)

    def _answer(self, case, code=status.HTTP_200_OK):
        case = _with_balance(self.get_queryset().get(pk=case.pk))
        return Response(BillingCaseSerializer(case, context=self.get_serializer_context()).data, status=code)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = [_with_balance(case) for case in page]
        return self.get_paginated_response(self.get_serializer(rows, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        return Response(self.get_serializer(_with_balance(self.get_object())).data)

    @extend_schema(
        summary="Open a billing case from cost findings",
        description=(
            "The findings (ids) must be of one partner, one currency and one month, open or confirmed and "
            "on no case yet. Opens an incident of category cost_rate with the partner engaged. "
            "`dispute_deadline` defaults to the partner's dispute window."
        ),
        request=BillingCaseCreateSerializer,
        responses={201: BillingCaseSerializer, 400: ErrorSerializer},
    )
    def create(self, request, *args, **kwargs):
        data = BillingCaseCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = billing_case_open(
            findings=data.validated_data["findings"],
            actor=request.user,
            dispute_deadline=data.validated_data.get("dispute_deadline"),
        )
        return self._answer(case, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Correct the amount in dispute or the deadline",
        request=BillingCaseAmendSerializer,
        responses={200: BillingCaseSerializer, 400: ErrorSerializer},
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def amend(self, request, pk=None):
        case = self.get_object()
        data = BillingCaseAmendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if not data.validated_data:
            raise ValidationError({"amount_disputed": [_("Give the amount in dispute, the deadline, or both.")]})
        billing_case_amend(billing_case=case, actor=request.user, **data.validated_data)
        return self._answer(case)

    @extend_schema(summary="The case's credit notes", responses=CreditNoteSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="credit-notes", filterset_class=None, pagination_class=None)
    def credit_notes(self, request, pk=None):
        case = self.get_object()
        return Response(CreditNoteSerializer(case.credit_notes.all(), many=True).data)

    @extend_schema(
        summary="Record a credit note on the case",
        description=(
            "When the credited total reaches the amount in dispute, or `final` is true, the case is settled: "
            "the partner is marked resolved on the incident (its resolve clock stops) and the findings resolved."
        ),
        request=CreditNoteCreateSerializer,
        responses={201: CreditNoteSerializer, 400: ErrorSerializer},
    )
    @credit_notes.mapping.post
    def credit_notes_create(self, request, pk=None):
        case = self.get_object()
        data = CreditNoteCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credit = credit_note_record(billing_case=case, actor=request.user, **data.validated_data)
        return Response(CreditNoteSerializer(credit).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Recovered amounts: overbilled against credited, by partner and month billed",
        parameters=[RecoveryQuerySerializer],
        responses={200: RecoveryReportSerializer, 400: ErrorSerializer},
    )
    @action(detail=False, methods=["get"], filterset_class=None, pagination_class=None)
    def recovery(self, request):
        query = RecoveryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        today = timezone.localtime(timezone.now(), desk_zone()).date().replace(day=1)
        try:
            end = _month(query.validated_data.get("end")) or today
            start = _month(query.validated_data.get("start")) or end.replace(year=end.year - 1)
        except ValueError:
            raise ValidationError({"start": [_("Give a month as YYYY-MM.")]}) from None
        if start > end:
            raise ValidationError({"start": [_("The first month comes after the last.")]})
        partner = None
        if query.validated_data.get("partner"):
            partner = Partner.objects.filter(code=query.validated_data["partner"]).first()
            if partner is None:
                raise ValidationError({"partner": [_("No partner has this code.")]})
        rows = recovery_report(start=start, end=end, partner=partner)
        return Response(RecoveryReportSerializer({"start": start, "end": end, "rows": rows}).data)


def _month(value: str | None) -> dt.date | None:
    if not value:
        return None
    year, month = value.split("-")
    return dt.date(int(year), int(month), 1)
