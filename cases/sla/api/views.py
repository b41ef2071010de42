"""SLAs over the API: policies (leads change them), an incident's clocks, the at-risk list and the
leads' reports, read through the same selectors as the pages (`cases.sla.selectors`, `cases.sla.reports`)
and written through the same services (`cases.sla.policies`).

Durations a person edits (policy targets) are written as the policy form has them, "30m", "4h",
"1h 30m" ("2d" on a 24x7 calendar), and read in that form, "[D ]HH:MM:SS" and ISO 8601 too
(`cases.sla.durations.parse_duration_text`, the form's parser); durations the desk measures (time
left, consumed, percentiles) are seconds, so clients can compute with them.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import UserRefSerializer
from cases.models import SlaClock, SlaClockEvent, SlaNotification, SlaPolicy
from cases.models.incident import Category, Severity
from cases.selectors import incident_visible_or_404
from cases.sla.durations import (
    DURATION_FORMAT_MESSAGE,
    DURATION_PATTERN,
    days_refused_message,
    format_duration_text,
    gives_days,
    parse_duration_text,
)
from cases.sla.policies import EDITABLE_FIELDS, sla_policy_deactivate, sla_policy_save
from cases.sla.reports import (
    DIMENSIONS,
    ReportFilter,
    SlaReportForm,
    sla_attainment,
    sla_breaches,
    sla_partner_scorecard,
    sla_time_to,
)
from cases.sla.selectors import ClockBadge, incident_sla, sla_at_risk
from partners.api.serializers import PartnerRefSerializer
from partners.models import BusinessCalendar, Partner
from payhealth.api.fields import DateTimeField
from payhealth.api.filters import ListFiltersOnly, query_parameter_errors
from payhealth.api.pagination import Cursor
from payhealth.api.serializers import ModelSerializer, Serializer

TARGET_FIELDS = ("acknowledge_target", "first_notice_target", "update_every", "resolve_target")
SLA_READ = ("cases.view_incident", "cases.view_slaclock")
REPORTS = ("cases.view_sla_reports",)


def seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


# Policies -------------------------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "string",
        "nullable": True,
        "example": "1h 30m",
        "description": 'Business time in hours and minutes, e.g. "30m", "4h", "1h 30m", "45h".',
    }
)
class TargetOutputField(serializers.Field):
    """A target as the policy form shows it: hours and minutes, never days ("45h")."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return format_duration_text(value, days=False)


@extend_schema_field(
    {
        "type": "string",
        "nullable": True,
        "pattern": DURATION_PATTERN,
        "example": "1h 30m",
        "description": (
            'Business time: "30m", "4h", "1h 30m", "2d" (days on 24x7 calendars only), or "[D ]HH:MM:SS" '
            '("01:30:00"); whole minutes, at most 1500 days; empty or null: not timed.'
        ),
    }
)
class TargetField(serializers.Field):
    """A target typed as in the policy form, read by the form's own parser."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError(DURATION_FORMAT_MESSAGE, code="duration_format")
        try:
            return parse_duration_text(data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages, code=error.code) from error

    def to_representation(self, value):
        return format_duration_text(value, days=False)


class SlaPolicySerializer(ModelSerializer):
    partner = PartnerRefSerializer(read_only=True, allow_null=True)
    partner_kind = serializers.ChoiceField(
        choices=Partner.Kind.choices, allow_blank=True, read_only=True, help_text="Empty: every kind."
    )
    category = serializers.ChoiceField(
        choices=Category.choices, allow_blank=True, read_only=True, help_text="Empty: incidents of any category."
    )
    calendar = serializers.SlugRelatedField(slug_field="code", read_only=True)
    acknowledge_target = TargetOutputField()
    first_notice_target = TargetOutputField()
    update_every = TargetOutputField()
    resolve_target = TargetOutputField()

    class Meta:
        model = SlaPolicy
        fields = ["id", *EDITABLE_FIELDS]
        read_only_fields = fields


class SlaPolicyWriteSerializer(Serializer):
    """A new policy, or the fields of one to change (PATCH: any subset). Targets are business time."""

    name = serializers.CharField(max_length=120)
    severity = serializers.ChoiceField(choices=Severity.choices)
    partner_kind = serializers.ChoiceField(choices=Partner.Kind.choices, required=False, allow_blank=True)
    partner = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Partner.objects.all(),
        required=False,
        allow_null=True,
        help_text="A partner's code, for a policy of one partner.",
    )
    category = serializers.ChoiceField(
        choices=Category.choices,
        required=False,
        allow_blank=True,
        help_text="An incident category, for a policy of those incidents only (empty: any category).",
    )
    acknowledge_target = TargetField()
    first_notice_target = TargetField()
    update_every = TargetField()
    resolve_target = TargetField()
    calendar = serializers.SlugRelatedField(
        slug_field="code", queryset=BusinessCalendar.objects.all(), help_text="A business calendar's code."
    )
    warn_at = serializers.DecimalField(
        max_digits=3, decimal_places=2, required=False, help_text="Share of the target at which a warning fires."
    )
    retarget_on_severity_change = serializers.BooleanField(required=False)

    def validate(self, attrs):
        # Days are ambiguous on a business-hours calendar: the policy form's rule.
        policy = self.context.get("policy")
        calendar = attrs.get("calendar") or (policy.calendar if policy is not None else None)
        if calendar is not None and not calendar.is_24x7:
            errors = {
                field: [days_refused_message(calendar)]
                for field in TARGET_FIELDS
                if isinstance(self.initial_data.get(field), str) and gives_days(self.initial_data[field])
            }
            if errors:
                raise ValidationError(errors)
        return attrs


class SlaPolicyOrder(Cursor):
    ordering = "id"


@extend_schema_view(
    list=extend_schema(summary="SLA policies, inactive ones included (filter active=true)"),
    retrieve=extend_schema(summary="One SLA policy"),
)
class SlaPolicyViewSet(ListFiltersOnly, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Targets per severity, optionally per partner kind or partner. Leads change them; policies are
    never deleted (clocks keep theirs), a lead deactivates one instead."""

    serializer_class = SlaPolicySerializer
    queryset = SlaPolicy.objects.none()
    pagination_class = SlaPolicyOrder
    filterset_fields = ["severity", "active"]
    action_permissions = {
        "list": ("cases.view_slapolicy",),
        "retrieve": ("cases.view_slapolicy",),
        "create": ("cases.add_slapolicy",),
        "partial_update": ("cases.change_slapolicy",),
        "deactivate": ("cases.change_slapolicy",),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False) or not self.request.user.has_perm("cases.view_slapolicy"):
            return SlaPolicy.objects.none()
        return SlaPolicy.objects.select_related("calendar", "partner")

    def _answer(self, policy: SlaPolicy, code: int = status.HTTP_200_OK) -> Response:
        return Response(SlaPolicySerializer(self.get_queryset().get(pk=policy.pk)).data, status=code)

    @extend_schema(summary="Add an SLA policy", request=SlaPolicyWriteSerializer, responses={201: SlaPolicySerializer})
    def create(self, request):
        incoming = SlaPolicyWriteSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        policy = sla_policy_save(actor=request.user, **incoming.validated_data)
        return self._answer(policy, status.HTTP_201_CREATED)

    @extend_schema(summary="Change an SLA policy", request=SlaPolicyWriteSerializer, responses=SlaPolicySerializer)
    def partial_update(self, request, pk=None):
        policy = self.get_object()
        incoming = SlaPolicyWriteSerializer(data=request.data, partial=True, context={"policy": policy})
        incoming.is_valid(raise_exception=True)
        return self._answer(sla_policy_save(actor=request.user, policy=policy, **incoming.validated_data))

    @extend_schema(
        summary="Stop using a partner-kind or partner policy for new clocks",
        description="A severity's default policy cannot be deactivated.",
        request=None,
        responses=SlaPolicySerializer,
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        return self._answer(sla_policy_deactivate(actor=request.user, policy=self.get_object()))


# Clocks ---------------------------------------------------------------------------------------


class SlaNotificationSerializer(ModelSerializer):
    """One person's mail about a warning or breach: sent, waiting for a retry, or refused (with the answer)."""

    class Meta:
        model = SlaNotification
        fields = ["address", "status", "attempts", "possible_duplicates", "next_attempt_at", "sent_at", "last_error"]
        read_only_fields = fields


class SlaClockEventSerializer(ModelSerializer):
    actor = UserRefSerializer(read_only=True, allow_null=True)
    data = serializers.DictField(read_only=True)
    notifications = SlaNotificationSerializer(many=True, read_only=True)

    class Meta:
        model = SlaClockEvent
        fields = ["id", "kind", "at", "reason", "actor", "cycle", "data", "notified_at", "notifications"]
        read_only_fields = fields


class SlaClockSerializer(Serializer):
    """One clock, measured now: business time on its calendar (wall time on a 24x7 one)."""

    id = serializers.IntegerField(source="clock.pk")
    family = serializers.ChoiceField(choices=SlaClock.Family.choices)
    metric = serializers.ChoiceField(choices=SlaClock.Metric.choices)
    label = serializers.CharField()
    partner = PartnerRefSerializer(source="clock.engagement.partner", allow_null=True)
    state = serializers.ChoiceField(choices=SlaClock.State.choices)
    level = serializers.ChoiceField(
        choices=["ok", "warning", "overdue", "paused", "met", "breached", "cancelled"], help_text="How urgent it looks."
    )
    calendar = serializers.CharField(source="clock.calendar.code")
    business = serializers.BooleanField(help_text="Counted in business hours (false on a 24x7 calendar).")
    target_seconds = serializers.SerializerMethodField()
    consumed_seconds = serializers.SerializerMethodField(help_text="Used so far: live while running.")
    time_left_seconds = serializers.SerializerMethodField(help_text="Negative once overdue.")
    text = serializers.CharField(help_text="The time left in words, in your language.")
    started_at = DateTimeField(source="clock.started_at")
    due_at = DateTimeField(source="clock.due_at", allow_null=True)
    warn_due_at = DateTimeField(source="clock.warn_due_at", allow_null=True)
    warned_at = DateTimeField(source="clock.warned_at", allow_null=True)
    breached_at = DateTimeField(source="clock.breached_at", allow_null=True)
    stopped_at = DateTimeField(source="clock.stopped_at", allow_null=True)
    pause_reason = serializers.CharField(source="clock.pause_reason")
    cycle = serializers.IntegerField(source="clock.cycle")

    def get_target_seconds(self, badge: ClockBadge) -> float:
        return badge.clock.target.total_seconds()

    def get_consumed_seconds(self, badge: ClockBadge) -> float:
        return badge.consumed_now.total_seconds()

    def get_time_left_seconds(self, badge: ClockBadge) -> float:
        return badge.time_left.total_seconds()


class IncidentClockSerializer(SlaClockSerializer):
    events = SlaClockEventSerializer(many=True)


class AtRiskClockSerializer(SlaClockSerializer):
    incident = serializers.CharField(source="clock.incident.reference")
    incident_title = serializers.CharField(source="clock.incident.title")
    severity = serializers.ChoiceField(source="clock.incident.severity", choices=Severity.choices)
    owner = UserRefSerializer(source="clock.incident.owner", allow_null=True)


class IncidentSlaView(APIView):
    """Every clock of one incident, ours first then per partner, each with its history."""

    action_permissions = {"get": SLA_READ}

    @extend_schema(summary="An incident's SLA clocks", responses=IncidentClockSerializer(many=True))
    def get(self, request, reference: str):
        incident = incident_visible_or_404(user=request.user, reference=reference)
        sla = incident_sla(user=request.user, incident=incident)
        return Response(IncidentClockSerializer(sla.clocks, many=True).data)


class AtRiskQuerySerializer(Serializer):
    family = serializers.ChoiceField(choices=SlaClock.Family.choices, required=False)
    severity = serializers.ListField(
        child=serializers.ChoiceField(choices=Severity.choices), required=False, help_text="Repeatable."
    )
    partner = serializers.SlugField(required=False, max_length=50, help_text="A partner's code.")
    mine = serializers.BooleanField(required=False, help_text="Only incidents you own.")
    page = serializers.IntegerField(required=False, min_value=1, max_value=100_000)


class AtRiskSerializer(Serializer):
    count = serializers.IntegerField(help_text="Running clocks matching the filters (at most the cap).")
    count_capped = serializers.BooleanField(help_text="There are more than `count`.")
    page = serializers.IntegerField(source="number")
    num_pages = serializers.IntegerField()
    results = AtRiskClockSerializer(
        many=True,
        source="rows",
        help_text="Running clocks by severity (SEV1 first); in each, the most overdue first, then the soonest due.",
    )
    paused = AtRiskClockSerializer(many=True, help_text="Paused clocks, least time left first (at most 25).")
    paused_count = serializers.IntegerField()


class AtRiskView(APIView):
    """Running clocks of open incidents about to breach, across the desk; paused ones apart."""

    action_permissions = {"get": SLA_READ}

    @extend_schema(summary="Clocks at risk", parameters=[AtRiskQuerySerializer], responses=AtRiskSerializer)
    def get(self, request):
        errors = query_parameter_errors(request.query_params, ["family", "partner", "mine", "page"])
        if errors:
            raise ValidationError(errors)
        incoming = AtRiskQuerySerializer(data=request.query_params)
        incoming.is_valid(raise_exception=True)
        page = sla_at_risk(user=request.user, params=request.query_params)
        return Response(AtRiskSerializer(page).data)


# Reports --------------------------------------------------------------------------------------


class ReportQuerySerializer(Serializer):
    """The report page's filters (documentation; the page's own form validates them)."""

    start = serializers.DateField(required=False, help_text="First day (desk time zone); default 90 days before end.")
    end = serializers.DateField(required=False, help_text="Last day, included; default today.")
    severity = serializers.ChoiceField(choices=Severity.choices, required=False)
    partner = serializers.IntegerField(required=False, help_text="A partner id.")
    family = serializers.ChoiceField(choices=SlaClock.Family.choices, required=False)


class AttainmentQuerySerializer(ReportQuerySerializer):
    dimension = serializers.ChoiceField(choices=DIMENSIONS, required=False, help_text="Default: severity.")


class BreachQuerySerializer(ReportQuerySerializer):
    page = serializers.IntegerField(required=False, min_value=1, max_value=100_000)


class ReportFilterSerializer(Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    severity = serializers.CharField(allow_blank=True)
    partner = serializers.IntegerField(allow_null=True)
    family = serializers.CharField(allow_blank=True)


class AttainmentRowSerializer(Serializer):
    dimension = serializers.CharField()
    key = serializers.CharField(
        allow_blank=True, help_text='A severity, partner id, user id or "2026-10"; "" for none.'
    )
    label = serializers.CharField(allow_blank=True)
    metric = serializers.ChoiceField(choices=SlaClock.Metric.choices)
    metric_label = serializers.CharField()
    met = serializers.IntegerField()
    breached = serializers.IntegerField()
    clocks = serializers.IntegerField()
    attainment = serializers.DecimalField(
        max_digits=4, decimal_places=1, allow_null=True, help_text="Percent met; null without outcomes."
    )


class SecondsField(serializers.FloatField):
    """A duration as seconds (null when there is none)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return seconds(value)


class TimeToRowSerializer(Serializer):
    metric = serializers.CharField()
    metric_label = serializers.CharField()
    severity = serializers.CharField(allow_blank=True, help_text='"" for all severities together.')
    severity_label = serializers.CharField()
    clocks = serializers.IntegerField()
    wall_p50_seconds = SecondsField(source="wall_p50")
    wall_p90_seconds = SecondsField(source="wall_p90")
    business_p50_seconds = SecondsField(source="business_p50")
    business_p90_seconds = SecondsField(source="business_p90")


class BreachRowSerializer(Serializer):
    clock_id = serializers.IntegerField()
    incident_reference = serializers.CharField()
    incident_title = serializers.CharField()
    severity = serializers.CharField()
    severity_label = serializers.CharField()
    owner = serializers.CharField(allow_blank=True)
    metric = serializers.CharField()
    metric_label = serializers.CharField()
    family = serializers.CharField()
    family_label = serializers.CharField()
    partner = serializers.CharField(allow_blank=True)
    target_seconds = SecondsField(source="target")
    breached_at = DateTimeField(allow_null=True)
    state = serializers.CharField()
    state_label = serializers.CharField()
    overdue_wall_seconds = SecondsField(source="overdue_wall")
    overdue_business_seconds = SecondsField(source="overdue_business")
    status_at_breach = serializers.CharField(allow_blank=True)
    waiting_on = serializers.ListField(child=serializers.CharField())
    pause_reason = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)


class ScorecardRowSerializer(Serializer):
    partner_id = serializers.IntegerField()
    partner = serializers.CharField()
    engagements = serializers.IntegerField()
    acknowledged = serializers.IntegerField()
    acknowledge_p50_seconds = SecondsField(source="acknowledge_p50")
    acknowledge_p90_seconds = SecondsField(source="acknowledge_p90")
    acknowledge_wall_p50_seconds = SecondsField(source="acknowledge_wall_p50")
    acknowledge_wall_p90_seconds = SecondsField(source="acknowledge_wall_p90")
    resolved = serializers.IntegerField()
    resolve_p50_seconds = SecondsField(source="resolve_p50")
    resolve_p90_seconds = SecondsField(source="resolve_p90")
    resolve_wall_p50_seconds = SecondsField(source="resolve_wall_p50")
    resolve_wall_p90_seconds = SecondsField(source="resolve_wall_p90")
    notices = serializers.IntegerField()
    follow_ups = serializers.IntegerField()
    met = serializers.IntegerField()
    breached = serializers.IntegerField()
    attainment = serializers.DecimalField(max_digits=4, decimal_places=1, allow_null=True)
    extra = serializers.DictField(
        child=serializers.CharField(),
        help_text="Columns other apps add to the scorecard, by key (billing_accuracy: the partner's billing accuracy).",
    )


def _report(rows_serializer, *, extra: dict | None = None):
    fields = {"filter": ReportFilterSerializer(), "rows": rows_serializer(many=True), **(extra or {})}
    return type(f"{rows_serializer.__name__.removesuffix('RowSerializer')}ReportSerializer", (Serializer,), fields)


AttainmentReportSerializer = _report(AttainmentRowSerializer, extra={"dimension": serializers.CharField()})
TimeToReportSerializer = _report(TimeToRowSerializer)
BreachReportSerializer = _report(
    BreachRowSerializer,
    extra={
        "count": serializers.IntegerField(),
        "page": serializers.IntegerField(),
        "num_pages": serializers.IntegerField(),
    },
)
ScorecardReportSerializer = _report(ScorecardRowSerializer)


def report_filter(request) -> ReportFilter:
    """The filter the HTML report would use for these parameters, or 400 with its field messages.

    The page reads an empty or repeated parameter as its default; the API refuses it, as its
    schema says (a date, one of the choices)."""
    errors = query_parameter_errors(request.query_params, [*ReportQuerySerializer().fields, "dimension", "page"])
    if errors:
        raise ValidationError(errors)
    form = SlaReportForm(request.query_params or None)
    filters = form.report_filter()
    if filters is None:
        raise ValidationError(
            {
                ("non_field_errors" if field == NON_FIELD_ERRORS else field): [str(message) for message in messages]
                for field, messages in form.errors.items()
            }
        )
    return filters


def _filter_data(filters: ReportFilter) -> dict:
    return {
        "start": filters.start,
        "end": filters.end,
        "severity": filters.severity,
        "partner": filters.partner,
        "family": filters.family,
    }


class SlaReportViewSet(viewsets.GenericViewSet):
    """The leads' SLA reports, with the report page's filters; every figure is computed in SQL."""

    queryset = SlaClock.objects.none()
    action_permissions = {"attainment": REPORTS, "time_to": REPORTS, "breaches": REPORTS, "scorecard": REPORTS}

    @extend_schema(
        summary="Attainment per metric and per severity, partner, owner or month",
        parameters=[AttainmentQuerySerializer],
        responses=AttainmentReportSerializer,
    )
    @action(detail=False, methods=["get"])
    def attainment(self, request):
        dimension = request.query_params.get("dimension") or "severity"
        if dimension not in DIMENSIONS:
            raise ValidationError(
                {"dimension": [_("Choose one of: %(choices)s.") % {"choices": ", ".join(DIMENSIONS)}]}
            )
        filters = report_filter(request)
        rows = sla_attainment(user=request.user, filters=filters, dimension=dimension)
        data = {"filter": _filter_data(filters), "dimension": dimension, "rows": rows}
        return Response(AttainmentReportSerializer(data).data)

    @extend_schema(
        summary="Median and p90 time to acknowledge and to resolve, wall and business time",
        parameters=[ReportQuerySerializer],
        responses=TimeToReportSerializer,
    )
    @action(detail=False, methods=["get"], url_path="time-to")
    def time_to(self, request):
        filters = report_filter(request)
        data = {"filter": _filter_data(filters), "rows": sla_time_to(user=request.user, filters=filters)}
        return Response(TimeToReportSerializer(data).data)

    @extend_schema(
        summary="Breached clocks with their reasons, latest breach first (50 a page)",
        parameters=[BreachQuerySerializer],
        responses=BreachReportSerializer,
    )
    @action(detail=False, methods=["get"])
    def breaches(self, request):
        filters = report_filter(request)
        incoming = BreachQuerySerializer(data=request.query_params)
        incoming.is_valid(raise_exception=True)
        result = sla_breaches(user=request.user, filters=filters, page=incoming.validated_data.get("page", 1))
        data = {
            "filter": _filter_data(filters),
            "rows": result.rows,
            "count": result.page.paginator.count,
            "page": result.page.number,
            "num_pages": result.page.paginator.num_pages,
        }
        return Response(BreachReportSerializer(data).data)

    @extend_schema(
        summary="Partner scorecards: acknowledgement and resolution times, notices, attainment",
        parameters=[ReportQuerySerializer],
        responses=ScorecardReportSerializer,
    )
    @action(detail=False, methods=["get"])
    def scorecard(self, request):
        filters = report_filter(request)
        data = {"filter": _filter_data(filters), "rows": sla_partner_scorecard(user=request.user, filters=filters)}
        return Response(ScorecardReportSerializer(data).data)
