"""Incidents and what hangs off them (notes, affected merchants, engagements, timeline) over REST.

Thin like the HTML views: input serializer → the same `cases.services` function → output
serializer. Reads go through `cases.selectors`, which take the user. Each viewset lists the
Django permissions of every action (`action_permissions`); an unlisted action is refused.
"""

from __future__ import annotations

from functools import cached_property

from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from cases.api import serializers as s
from cases.filters import IncidentFilterSet
from cases.models import (
    AffectedMerchant,
    Incident,
    IncidentDeclineCode,
    InvestigationNote,
    PartnerEngagement,
)
from cases.models.incident import Source
from cases.selectors import (
    incident_affected_merchants,
    incident_decline_lines,
    incident_engagements,
    incident_list_visible_to,
    incident_name_lists,
    incident_notes,
    incident_timeline,
    incident_visible_or_404,
)
from cases.services import (
    decline_count_remove,
    decline_counts_record,
    engagement_add,
    engagement_update,
    incident_assign,
    incident_change_severity,
    incident_open,
    incident_transition,
    incident_update_details,
    incidents_bulk_apply,
    merchant_impact_add,
    merchant_impact_remove,
    merchant_impact_update,
    note_add,
    note_edit,
)
from cases.services.scope import engagement_scope_edit, engagement_scopes
from payhealth.api.filters import FilterBackend, ListFiltersOnly
from payhealth.api.pagination import Cursor
from payhealth.ids import parse_id

VIEW_INCIDENT = "cases.view_incident"
CHANGE_INCIDENT = "cases.change_incident"


# What a row of the list shows (`IncidentListSerializer`).
INCIDENT_LIST_COLUMNS = (
    *("reference", "title", "category", "severity", "status", "source", "created_at", "updated_at", "closed_at"),
    *("owner__id", "owner__username", "owner__first_name", "owner__last_name"),
)


class TimelineCursor(Cursor):
    ordering = ("-created_at", "-id")


def clean_key(value: str) -> str:
    if not value or "\x00" in value or len(value) > 64:
        raise Http404
    return value


# Incidents ------------------------------------------------------------------------------------

# The schema of the queue's filters whose choices are rows (a partner's code, a merchant's account
# id, an owner's id), which drf-spectacular cannot guess from the shared FilterSet.
for _name, _schema in (
    ("partner", {"type": "string", "description": "A partner's code."}),
    ("merchant", {"type": "string", "description": "A merchant's account id (acct_…)."}),
    ("owner", {"type": "string", "description": "`me` (the caller), `none` (unassigned) or a user id."}),
):
    extend_schema_field(_schema)(IncidentFilterSet.base_filters[_name])


@extend_schema_view(
    list=extend_schema(
        summary="List incidents",
        description=(
            "The queue's filters and search: `q` (reference, title, merchants, partners, notes; web-search "
            "syntax), `status` (repeatable; `open` by default, `all` for any), `severity`, `category`, "
            "`network` (repeatable), `partner` (code), `merchant` (account id), `owner`, `created_from`/"
            "`created_to` (dates). Newest first, cursor-paginated."
        ),
    ),
    retrieve=extend_schema(summary="Get an incident by reference"),
)
class IncidentViewSet(ListFiltersOnly, viewsets.GenericViewSet):
    """Incidents, addressed by reference (`PH-2026-000123`)."""

    queryset = Incident.objects.none()  # the schema's model; requests use get_queryset
    lookup_field = "reference"
    lookup_value_regex = r"[^/]+"
    filter_backends = [FilterBackend]
    filterset_class = IncidentFilterSet
    serializer_class = s.IncidentDetailSerializer
    action_permissions = {
        "list": (VIEW_INCIDENT,),
        "retrieve": (VIEW_INCIDENT,),
        "create": ("cases.add_incident",),
        "partial_update": (CHANGE_INCIDENT,),
        "transition": (CHANGE_INCIDENT,),
        "severity": (CHANGE_INCIDENT,),
        "assign": (CHANGE_INCIDENT,),
        "timeline": (VIEW_INCIDENT, "cases.view_caseevent"),
        "bulk": (CHANGE_INCIDENT,),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Incident.objects.none()
        # The list's columns alone: the search vector and the long texts stay in the database.
        return (
            incident_list_visible_to(user=self.request.user)
            .only(*INCIDENT_LIST_COLUMNS)
            .annotate(**incident_name_lists())
        )

    def get_serializer_class(self):
        return s.IncidentListSerializer if self.action == "list" else s.IncidentDetailSerializer

    def get_object(self) -> Incident:
        return incident_visible_or_404(user=self.request.user, reference=self.kwargs[self.lookup_field])

    def _detail(self, incident: Incident, *, status_code=status.HTTP_200_OK, fresh: Incident | None = None) -> Response:
        """The incident as it is now: read again after a write; `fresh` when it was just read."""
        fresh = fresh or incident_visible_or_404(user=self.request.user, reference=incident.reference)
        fresh.api_merchants = list(incident_affected_merchants(user=self.request.user, incident=fresh))
        fresh.api_engagements = list(incident_engagements(user=self.request.user, incident=fresh))
        if self.request.user.has_perm("cases.view_affectedmerchant"):  # the merchants a derived scope starts from
            # Every partner's scope at once (two queries at most), not two queries per partner.
            merchants = [row.merchant for row in fresh.api_merchants]
            scopes = engagement_scopes(fresh.api_engagements, merchants=merchants)
            for engagement in fresh.api_engagements:
                engagement.incident = fresh
                engagement.api_scope = scopes[engagement.pk]
        return Response(s.IncidentDetailSerializer(fresh).data, status=status_code)

    def list(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(s.IncidentListSerializer(page, many=True).data)

    def retrieve(self, request, reference=None):
        incident = self.get_object()
        return self._detail(incident, fresh=incident)

    @extend_schema(
        summary="Open an incident", request=s.IncidentCreateSerializer, responses={201: s.IncidentDetailSerializer}
    )
    def create(self, request):
        incoming = s.IncidentCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        incident = incident_open(actor=request.user, source=Source.API, **incoming.validated_data)
        return self._detail(incident, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change an incident's details",
        description="Title, category, texts, times, networks, decline codes, BIN prefixes, country. "
        "Status, severity and owner have their own actions.",
        request=s.IncidentDetailsSerializer,
        responses=s.IncidentDetailSerializer,
    )
    def partial_update(self, request, reference=None):
        incident = self.get_object()
        incoming = s.IncidentDetailsSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        incident_update_details(incident=incident, actor=request.user, **incoming.validated_data)
        return self._detail(incident)

    @extend_schema(
        summary="Move to another status", request=s.TransitionSerializer, responses=s.IncidentDetailSerializer
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, reference=None):
        incident = self.get_object()
        incoming = s.TransitionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        incident_transition(
            incident=incident, actor=request.user, to=data["to"], reason=data["reason"], partner=data["partner"]
        )
        return self._detail(incident)

    @extend_schema(summary="Change the severity", request=s.SeveritySerializer, responses=s.IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def severity(self, request, reference=None):
        incident = self.get_object()
        incoming = s.SeveritySerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        incident_change_severity(incident=incident, actor=request.user, **incoming.validated_data)
        return self._detail(incident)

    @extend_schema(summary="Assign an owner", request=s.AssignSerializer, responses=s.IncidentDetailSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, reference=None):
        incident = self.get_object()
        incoming = s.AssignSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        incident_assign(incident=incident, actor=request.user, owner=incoming.validated_data["owner"])
        return self._detail(incident)

    @extend_schema(summary="The incident's timeline, newest first", responses=s.CaseEventSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=TimelineCursor, filter_backends=[])
    def timeline(self, request, reference=None):
        incident = self.get_object()
        page = self.paginate_queryset(incident_timeline(user=request.user, incident=incident))
        return self.get_paginated_response(s.CaseEventSerializer(page, many=True).data)

    @extend_schema(
        summary="Apply one action to many incidents",
        description="Each incident is changed on its own through the same rules as one by one; a refused row "
        "keeps its message and stays unchanged. At most 100 references.",
        request=s.BulkSerializer,
        responses=s.BulkResultSerializer,
    )
    @action(detail=False, methods=["post"], pagination_class=None, filter_backends=[])
    def bulk(self, request):
        incoming = s.BulkSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        references = list(dict.fromkeys(ref.strip().upper() for ref in incoming.validated_data["references"]))
        found = {
            incident.reference: incident
            for incident in incident_list_visible_to(user=request.user).filter(reference__in=references)
        }
        missing = [ref for ref in references if ref not in found]
        if missing:
            message = _("No incident %(reference)s.")
            raise ValidationError({"references": [message % {"reference": ref} for ref in missing[:10]]})
        results = incidents_bulk_apply(
            actor=request.user,
            incidents=[found[ref] for ref in references],
            action=incoming.validated_data["action"],
            **incoming.service_args(),
        )
        rows = [{"reference": row.reference, "ok": row.ok, "message": row.message} for row in results]
        return Response(s.BulkResultSerializer({"results": rows}).data)


# The parts of one incident --------------------------------------------------------------------

REFERENCE_PARAMETER = OpenApiParameter("reference", str, OpenApiParameter.PATH, description="PH-2026-000123")


class IncidentPartViewSet(viewsets.GenericViewSet):
    """A collection under one incident (`/incidents/{reference}/...`); the incident must be visible."""

    pagination_class = None  # a handful of rows per incident

    @cached_property
    def incident(self) -> Incident:
        return incident_visible_or_404(user=self.request.user, reference=self.kwargs["reference"])

    def rows(self):
        raise NotImplementedError

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return self.rows()

    def _one(self, pk, *, status_code=status.HTTP_200_OK) -> Response:
        """The row `pk` as the view's output serializer gives it (after a write)."""
        return Response(self.serializer_class(self.rows().get(pk=pk)).data, status=status_code)

    def get_object(self):
        pk = parse_id(self.kwargs["pk"])
        row = self.get_queryset().filter(pk=pk).first() if pk is not None else None
        if row is None:
            raise Http404
        return row


@extend_schema_view(
    list=extend_schema(summary="The incident's notes, oldest first", parameters=[REFERENCE_PARAMETER]),
    retrieve=extend_schema(summary="One note", parameters=[REFERENCE_PARAMETER]),
)
class IncidentNoteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, IncidentPartViewSet):
    queryset = InvestigationNote.objects.none()
    serializer_class = s.NoteSerializer
    action_permissions = {
        "list": (VIEW_INCIDENT, "cases.view_investigationnote"),
        "retrieve": (VIEW_INCIDENT, "cases.view_investigationnote"),
        "create": (VIEW_INCIDENT, "cases.add_investigationnote"),
        "partial_update": (VIEW_INCIDENT, "cases.change_investigationnote"),
    }

    def rows(self):
        return incident_notes(user=self.request.user, incident=self.incident)

    @extend_schema(
        summary="Add a note",
        parameters=[REFERENCE_PARAMETER],
        request=s.NoteInputSerializer,
        responses={201: s.NoteSerializer},
    )
    def create(self, request, reference=None):
        incoming = s.NoteInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        note = note_add(incident=self.incident, actor=request.user, body=incoming.validated_data["body"])
        return Response(s.NoteSerializer(self.rows().get(pk=note.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Edit your own note",
        description="Only the note's author may edit it (403 for anyone else); the previous text goes on the timeline.",
        parameters=[REFERENCE_PARAMETER],
        request=s.NoteInputSerializer,
        responses=s.NoteSerializer,
    )
    def partial_update(self, request, reference=None, pk=None):
        note = self.get_object()
        incoming = s.NoteInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        note_edit(note=note, actor=request.user, body=incoming.validated_data["body"])
        return Response(s.NoteSerializer(self.rows().get(pk=note.pk)).data)


@extend_schema_view(
    list=extend_schema(summary="Affected merchants with their measured impact", parameters=[REFERENCE_PARAMETER]),
    retrieve=extend_schema(summary="One affected merchant", parameters=[REFERENCE_PARAMETER]),
)
class AffectedMerchantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, IncidentPartViewSet):
    """Merchants hit by the incident. Rates are shares between 0 and 1 (0.925 is 92.5%)."""

    queryset = AffectedMerchant.objects.none()
    serializer_class = s.AffectedMerchantSerializer
    action_permissions = {
        "list": (VIEW_INCIDENT, "cases.view_affectedmerchant"),
        "retrieve": (VIEW_INCIDENT, "cases.view_affectedmerchant"),
        "create": (VIEW_INCIDENT, "cases.add_affectedmerchant"),
        "partial_update": (VIEW_INCIDENT, "cases.change_affectedmerchant"),
        "destroy": (VIEW_INCIDENT, "cases.delete_affectedmerchant"),
    }

    def rows(self):
        return incident_affected_merchants(user=self.request.user, incident=self.incident)

    @extend_schema(
        summary="Record an affected merchant",
        parameters=[REFERENCE_PARAMETER],
        request=s.MerchantImpactCreateSerializer,
        responses={201: s.AffectedMerchantSerializer},
    )
    def create(self, request, reference=None):
        incoming = s.MerchantImpactCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        row = merchant_impact_add(
            incident=self.incident,
            actor=request.user,
            merchant=incoming.validated_data["merchant"],
            **incoming.measures(),
        )
        return self._one(row.pk, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a merchant's measured impact",
        parameters=[REFERENCE_PARAMETER],
        request=s.MerchantImpactInputSerializer,
        responses=s.AffectedMerchantSerializer,
    )
    def partial_update(self, request, reference=None, pk=None):
        row = self.get_object()
        incoming = s.MerchantImpactInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        merchant_impact_update(affected=row, actor=request.user, **incoming.validated_data)
        return self._one(row.pk)

    @extend_schema(summary="Take a merchant off the incident", parameters=[REFERENCE_PARAMETER], responses={204: None})
    def destroy(self, request, reference=None, pk=None):
        merchant_impact_remove(affected=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="Decline-code counts before and during, with shares", parameters=[REFERENCE_PARAMETER]),
    retrieve=extend_schema(summary="One decline code's counts", parameters=[REFERENCE_PARAMETER]),
)
class DeclineCountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, IncidentPartViewSet):
    """Each decline code seen on the incident with its counts over the baseline (`count_before`,
    null when unknown) and the impact window (`count_during`), and its share of the declines
    counted in each period. Written by alert intake and by analysts; the incident's
    `decline_codes` follow (a new code joins, a removed one leaves)."""

    queryset = IncidentDeclineCode.objects.none()
    serializer_class = s.DeclineCountSerializer
    action_permissions = {
        "list": (VIEW_INCIDENT,),
        "retrieve": (VIEW_INCIDENT,),
        "create": (VIEW_INCIDENT, CHANGE_INCIDENT),
        "destroy": (VIEW_INCIDENT, CHANGE_INCIDENT),
    }

    def rows(self):
        return IncidentDeclineCode.objects.filter(incident=self.incident).order_by("-count_during", "code")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["lines"] = {line.code: line for line in incident_decline_lines(incident=self.incident)}
        return context

    def _one(self, pk, *, status_code=status.HTTP_200_OK) -> Response:
        serializer = self.serializer_class(self.rows().get(pk=pk), context=self.get_serializer_context())
        return Response(serializer.data, status=status_code)

    @extend_schema(
        summary="Set a decline code's counts",
        description="Replaces the code's counts (an absent `count_before` keeps the recorded one); "
        "a code not on the incident yet is added to its `decline_codes`. Recorded on the timeline.",
        parameters=[REFERENCE_PARAMETER],
        request=s.DeclineCountInputSerializer,
        responses={200: s.DeclineCountSerializer},
    )
    def create(self, request, reference=None):
        incoming = s.DeclineCountInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        counts = {"code": data["code"], "count_during": data["count_during"]}
        if "count_before" in data:
            counts["count_before"] = data["count_before"]
        rows = decline_counts_record(
            incident=self.incident,
            actor=request.user,
            counts=[counts],
            window_start=data["window_start"],
            window_end=data["window_end"],
        )
        return self._one(rows[0].pk)

    @extend_schema(
        summary="Take a decline code off the incident", parameters=[REFERENCE_PARAMETER], responses={204: None}
    )
    def destroy(self, request, reference=None, pk=None):
        decline_count_remove(incident=self.incident, actor=request.user, code=self.get_object().code)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="Partners engaged on the incident", parameters=[REFERENCE_PARAMETER]),
    retrieve=extend_schema(summary="One engagement", parameters=[REFERENCE_PARAMETER]),
)
class EngagementViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, IncidentPartViewSet):
    queryset = PartnerEngagement.objects.none()
    serializer_class = s.EngagementSerializer
    action_permissions = {
        "list": (VIEW_INCIDENT, "cases.view_partnerengagement"),
        "retrieve": (VIEW_INCIDENT, "cases.view_partnerengagement"),
        "create": (VIEW_INCIDENT, "cases.add_partnerengagement"),
        "partial_update": (VIEW_INCIDENT, "cases.change_partnerengagement"),
    }

    def rows(self):
        return incident_engagements(user=self.request.user, incident=self.incident)

    @extend_schema(
        summary="Engage a partner",
        parameters=[REFERENCE_PARAMETER],
        request=s.EngagementCreateSerializer,
        responses={201: s.EngagementSerializer},
    )
    def create(self, request, reference=None):
        incoming = s.EngagementCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        engagement = engagement_add(incident=self.incident, actor=request.user, **incoming.validated_data)
        return self._one(engagement.pk, status_code=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Record the partner's status, folio or escalation level",
        parameters=[REFERENCE_PARAMETER],
        request=s.EngagementUpdateSerializer,
        responses=s.EngagementSerializer,
    )
    def partial_update(self, request, reference=None, pk=None):
        engagement = self.get_object()
        incoming = s.EngagementUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        changes = dict(incoming.validated_data)
        scope = changes.pop("scope", None)
        with transaction.atomic():
            if changes:
                engagement_update(engagement=engagement, actor=request.user, **changes)
            if scope is not None:
                engagement_scope_edit(engagement=engagement, actor=request.user, **scope)
        return self._one(engagement.pk)
