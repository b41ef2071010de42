"""The detector over the API: findings and their triage, segment states, suppression windows and
the detector's settings, through the same services and selectors as the pages.

Every desk role reads; analysts, partner managers and leads triage (`monitoring.decide_finding`,
`monitoring.add_suppression`); leads change the settings (`monitoring.change_monitorsettings`)
and remove suppressions and merchant overrides.
"""

from __future__ import annotations

import django_filters
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.models import Merchant
from monitoring import findings as finding_flow
from monitoring.api import detector_serializers as s
from monitoring.detection.config import TUNABLES, detector_config, detector_configs
from monitoring.models import (
    DETECTOR_DEFAULTS,
    DetectorRun,
    Finding,
    FindingKind,
    FindingState,
    MonitorSettings,
    SegmentMonitor,
    SegmentState,
    Suppression,
)
from monitoring.selectors import (
    findings_visible_to,
    incidents_attachable,
    last_detector_run,
    monitor_settings_visible_to,
    segment_monitors_visible_to,
    segment_state_counts,
    suppressions_visible_to,
)
from monitoring.triage import (
    finding_mark_false_positive,
    finding_suppress,
    monitor_settings_delete,
    monitor_settings_update,
    suppression_create,
    suppression_delete,
)
from payhealth.api.exceptions import ErrorSerializer
from payhealth.api.filters import ListFiltersOnly
from payhealth.api.pagination import Cursor
from payhealth.forms import FilterSet

DECIDE = "monitoring.decide_finding"
VIEW_FINDING = "monitoring.view_finding"
VIEW_SETTINGS = "monitoring.view_monitorsettings"
CHANGE_SETTINGS = "monitoring.change_monitorsettings"


# Findings ----------------------------------------------------------------------------------------


class FindingFilterSet(FilterSet):
    state = django_filters.ChoiceFilter(choices=FindingState.choices)
    kind = django_filters.ChoiceFilter(choices=FindingKind.choices)
    merchant = django_filters.CharFilter(
        field_name="segment__merchant__account_id", help_text="A merchant's account id."
    )

    class Meta:
        model = Finding
        fields = ["state", "kind", "merchant"]


class FindingCursor(Cursor):
    ordering = ("-created_at", "-id")


DECISION_ERRORS = {400: OpenApiResponse(ErrorSerializer, description="Bad input, or the finding was already decided.")}


@extend_schema_view(
    list=extend_schema(
        summary="Detector findings, newest first",
        description="Filters: `state`, `kind`, `merchant` (account id). Cursor-paginated.",
    ),
    retrieve=extend_schema(summary="One finding, with its attribution"),
)
class FindingViewSet(ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.FindingSerializer
    queryset = Finding.objects.none()
    pagination_class = FindingCursor
    filterset_class = FindingFilterSet
    lookup_value_regex = r"[0-9]+"
    action_permissions = {
        "list": (VIEW_FINDING,),
        "retrieve": (VIEW_FINDING,),
        "suppress": (VIEW_FINDING, DECIDE, "monitoring.add_suppression"),
        "false_positive": (VIEW_FINDING, DECIDE),
        "open_incident": (VIEW_FINDING, DECIDE, "cases.add_incident", "cases.change_incident"),
        "attach": (VIEW_FINDING, DECIDE, "cases.change_incident"),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Finding.objects.none()
        return findings_visible_to(user=self.request.user)

    def _answer(self, finding: Finding) -> Response:
        return Response(s.FindingSerializer(self.get_queryset().get(pk=finding.pk)).data)

    @extend_schema(
        summary="Suppress the finding's segment from the window start until `until`",
        request=s.SuppressInputSerializer,
        responses={200: s.FindingSerializer, **DECISION_ERRORS},
    )
    @action(detail=True, methods=["post"])
    def suppress(self, request, pk=None):
        finding = self.get_object()
        incoming = s.SuppressInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        finding_suppress(finding=finding, actor=request.user, **incoming.validated_data)
        return self._answer(finding)

    @extend_schema(
        summary="Mark the finding a false positive",
        request=s.FalsePositiveInputSerializer,
        responses={200: s.FindingSerializer, **DECISION_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="false-positive")
    def false_positive(self, request, pk=None):
        finding = self.get_object()
        incoming = s.FalsePositiveInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        finding_mark_false_positive(finding=finding, actor=request.user, note=incoming.validated_data["note"])
        return self._answer(finding)

    @extend_schema(
        summary="Open an incident from the finding (or update the open one of its segment)",
        request=None,
        responses={
            200: s.FindingSerializer,
            400: OpenApiResponse(ErrorSerializer, description="The finding cannot open an incident."),
        },
    )
    @action(detail=True, methods=["post"], url_path="open-incident")
    def open_incident(self, request, pk=None):
        finding = self.get_object()
        finding_flow.finding_open_incident(finding=finding, actor=request.user)
        return self._answer(finding)

    @extend_schema(
        summary="Attach the finding to an open incident",
        request=s.AttachInputSerializer,
        responses={
            200: s.FindingSerializer,
            400: OpenApiResponse(ErrorSerializer, description="No such open incident."),
        },
    )
    @action(detail=True, methods=["post"])
    def attach(self, request, pk=None):
        finding = self.get_object()
        incoming = s.AttachInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        incident = incoming.validated_data["incident"]
        if not incidents_attachable(user=request.user).filter(pk=incident.pk).exists():
            raise ValidationError({"incident": [_("Pick an open incident.")]})
        finding_flow.finding_attach(finding=finding, incident=incident, actor=request.user)
        return self._answer(finding)


# Segment states ----------------------------------------------------------------------------------


class MonitorFilterSet(FilterSet):
    state = django_filters.ChoiceFilter(choices=SegmentState.choices)
    merchant = django_filters.CharFilter(
        field_name="segment__merchant__account_id", help_text="A merchant's account id."
    )

    class Meta:
        model = SegmentMonitor
        fields = ["state", "merchant"]


class MonitorCursor(Cursor):
    ordering = "segment_id"


class StateCountsSerializer(s.Serializer):
    def get_fields(self):
        return {state: s.serializers.IntegerField() for state in SegmentState.values}


class DetectorRunSerializer(s.ModelSerializer):
    class Meta:
        model = DetectorRun
        fields = [
            "started_at",
            "finished_at",
            "watermark",
            "segments",
            "buckets",
            "tests",
            "rejected",
            "findings_opened",
            "findings_updated",
            "findings_recovered",
            "error",
        ]
        read_only_fields = fields


class MonitorSummarySerializer(s.Serializer):
    states = StateCountsSerializer(help_text="Segments per state.")
    last_run = DetectorRunSerializer(allow_null=True)


@extend_schema_view(
    list=extend_schema(
        summary="Each segment's detector state",
        description="Filters: `state` (ok, watch, alert, low_volume), `merchant` (account id). By segment id.",
    ),
    retrieve=extend_schema(summary="One segment's detector state, by segment id"),
)
class MonitorViewSet(ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.SegmentMonitorSerializer
    queryset = SegmentMonitor.objects.none()
    pagination_class = MonitorCursor
    filterset_class = MonitorFilterSet
    lookup_value_regex = r"[0-9]+"
    action_permissions = {
        "list": ("monitoring.view_segmentmonitor",),
        "retrieve": ("monitoring.view_segmentmonitor",),
        "summary": ("monitoring.view_segmentmonitor", "monitoring.view_detectorrun"),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SegmentMonitor.objects.none()
        return segment_monitors_visible_to(user=self.request.user)

    @extend_schema(summary="Segments per state and the last detector run", responses=MonitorSummarySerializer)
    @action(detail=False, methods=["get"], pagination_class=None, filterset_class=None, filter_backends=[])
    def summary(self, request):
        data = {
            "states": segment_state_counts(self.get_queryset()),
            "last_run": last_detector_run(user=request.user),
        }
        return Response(MonitorSummarySerializer(data).data)


# Settings ----------------------------------------------------------------------------------------


def _who(row: MonitorSettings | None):
    return row.updated_by.username if row is not None and row.updated_by_id else None


def _global_data(user) -> dict:
    row = monitor_settings_visible_to(user=user).filter(merchant__isnull=True).first()
    return {
        "defaults": dict(DETECTOR_DEFAULTS),
        "values": s.tunables_of(row),
        "effective": detector_config(None).__dict__,
        "updated_by": _who(row),
        "updated_at": row.updated_at if row else None,
    }


def _merchant_rows(user, merchants: list[Merchant]) -> list[dict]:
    rows = {
        row.merchant_id: row
        for row in monitor_settings_visible_to(user=user).filter(merchant__in=[m.pk for m in merchants])
    }
    configs = detector_configs(m.pk for m in merchants)
    return [
        {
            "merchant": merchant.account_id,
            "merchant_name": merchant.name,
            "overrides": s.tunables_of(rows.get(merchant.pk)),
            "effective": configs[merchant.pk].__dict__,
            "updated_by": _who(rows.get(merchant.pk)),
            "updated_at": rows[merchant.pk].updated_at if merchant.pk in rows else None,
        }
        for merchant in merchants
    ]


def _changes(request, *, partial: bool) -> dict:
    incoming = s.TunablesSerializer(data=request.data)
    incoming.is_valid(raise_exception=True)
    changes = dict(incoming.validated_data)
    if not partial:  # PUT: what is left out inherits
        changes = {name: changes.get(name) for name in TUNABLES}
    return changes


SETTINGS_ERRORS = {400: OpenApiResponse(ErrorSerializer, description="A value out of range, or alert q above watch q.")}


class MonitorSettingsView(APIView):
    """The global settings and every merchant's overrides."""

    action_permissions = {"get": (VIEW_SETTINGS,), "patch": (CHANGE_SETTINGS,), "put": (CHANGE_SETTINGS,)}

    @extend_schema(
        operation_id="monitors_settings_retrieve",
        summary="The detector's settings: built-in defaults, the global row, every merchant override",
        responses=s.SettingsOverviewSerializer,
    )
    def get(self, request):
        merchants = list(
            Merchant.objects.filter(
                pk__in=monitor_settings_visible_to(user=request.user).filter(merchant__isnull=False).values("merchant")
            ).order_by("name", "pk")
        )
        data = {"global": _global_data(request.user), "merchants": _merchant_rows(request.user, merchants)}
        return Response(s.SettingsOverviewSerializer(data).data)

    def _write(self, request, *, partial: bool):
        monitor_settings_update(actor=request.user, **_changes(request, partial=partial))
        return Response(s.GlobalSettingsSerializer(_global_data(request.user)).data)

    @extend_schema(
        operation_id="monitors_settings_partial_update",
        summary="Change some global settings (null: back to the built-in default)",
        request=s.TunablesSerializer,
        responses={200: s.GlobalSettingsSerializer, **SETTINGS_ERRORS},
    )
    def patch(self, request):
        return self._write(request, partial=True)

    @extend_schema(
        operation_id="monitors_settings_update",
        summary="Replace the global settings (a field left out: the built-in default)",
        request=s.TunablesSerializer,
        responses={200: s.GlobalSettingsSerializer, **SETTINGS_ERRORS},
    )
    def put(self, request):
        return self._write(request, partial=False)


def _merchant_or_404(account_id: str) -> Merchant:
    if not account_id or len(account_id) > 64 or "\x00" in account_id:
        raise Http404
    merchant = Merchant.objects.filter(account_id=account_id).first()
    if merchant is None:
        raise Http404
    return merchant


class MerchantMonitorSettingsView(APIView):
    """One merchant's overrides (every field null when it has none)."""

    action_permissions = {
        "get": (VIEW_SETTINGS,),
        "patch": (CHANGE_SETTINGS,),
        "put": (CHANGE_SETTINGS,),
        "delete": ("monitoring.delete_monitorsettings",),
    }

    @extend_schema(
        operation_id="monitors_settings_merchant_retrieve",
        summary="One merchant's overrides and the values in force",
        responses=s.MerchantSettingsSerializer,
    )
    def get(self, request, account_id: str):
        merchant = _merchant_or_404(account_id)
        return Response(s.MerchantSettingsSerializer(_merchant_rows(request.user, [merchant])[0]).data)

    def _write(self, request, account_id: str, *, partial: bool):
        merchant = _merchant_or_404(account_id)
        monitor_settings_update(merchant=merchant, actor=request.user, **_changes(request, partial=partial))
        return Response(s.MerchantSettingsSerializer(_merchant_rows(request.user, [merchant])[0]).data)

    @extend_schema(
        operation_id="monitors_settings_merchant_partial_update",
        summary="Change some of a merchant's overrides (null: inherit the global value)",
        request=s.TunablesSerializer,
        responses={200: s.MerchantSettingsSerializer, **SETTINGS_ERRORS},
    )
    def patch(self, request, account_id: str):
        return self._write(request, account_id, partial=True)

    @extend_schema(
        operation_id="monitors_settings_merchant_update",
        summary="Replace a merchant's overrides (a field left out inherits)",
        request=s.TunablesSerializer,
        responses={200: s.MerchantSettingsSerializer, **SETTINGS_ERRORS},
    )
    def put(self, request, account_id: str):
        return self._write(request, account_id, partial=False)

    @extend_schema(
        operation_id="monitors_settings_merchant_destroy",
        summary="Remove a merchant's overrides: it inherits every global setting",
        responses={204: None},
    )
    def delete(self, request, account_id: str):
        monitor_settings_delete(merchant=_merchant_or_404(account_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Suppressions ------------------------------------------------------------------------------------


class SuppressionFilterSet(FilterSet):
    merchant = django_filters.CharFilter(
        field_name="segment__merchant__account_id", help_text="A merchant's account id."
    )
    active = django_filters.BooleanFilter(method="filter_active", help_text="true: windows not over yet.")

    class Meta:
        model = Suppression
        fields = ["merchant", "active"]

    def filter_active(self, queryset, name, value):
        now = timezone.now()
        return queryset.filter(end__gt=now) if value else queryset.filter(end__lte=now)


class SuppressionCursor(Cursor):
    ordering = "-id"


@extend_schema_view(
    list=extend_schema(summary="Suppression windows, newest first", description="Filters: `merchant`, `active`."),
    retrieve=extend_schema(summary="One suppression window"),
    destroy=extend_schema(summary="Remove a suppression window (leads)"),
)
class SuppressionViewSet(
    ListFiltersOnly,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.SuppressionSerializer
    queryset = Suppression.objects.none()
    pagination_class = SuppressionCursor
    filterset_class = SuppressionFilterSet
    lookup_value_regex = r"[0-9]+"
    action_permissions = {
        "list": ("monitoring.view_suppression",),
        "retrieve": ("monitoring.view_suppression",),
        "create": ("monitoring.view_suppression", "monitoring.add_suppression"),
        "destroy": ("monitoring.view_suppression", "monitoring.delete_suppression"),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Suppression.objects.none()
        return suppressions_visible_to(user=self.request.user)

    @extend_schema(
        summary="Add a planned suppression window",
        request=s.SuppressionInputSerializer,
        responses={201: s.SuppressionSerializer},
    )
    def create(self, request):
        incoming = s.SuppressionInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        suppression = suppression_create(actor=request.user, **incoming.validated_data)
        fresh = self.get_queryset().get(pk=suppression.pk)
        return Response(s.SuppressionSerializer(fresh).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        suppression_delete(suppression=instance, actor=self.request.user)
