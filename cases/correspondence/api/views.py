"""Partner notices and correspondence over the API: compose, edit, submit, approve, reject, send,
release and retry notices; read an incident's threads; attach unmatched replies from triage.

The same services as the notice pages (`cases.services`), which check the permissions again and
decide every rule: approval is for leads and never by the author, SEV1/SEV2 notices are sent by
approving them, only drafts change. Raw inbound mail has its own endpoint outside the API
(`/inbound/raw/`), for mail gateways.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import UserRefSerializer
from cases.correspondence.compose import notice_compose, notice_edit
from cases.correspondence.dispatch import (
    notice_approve,
    notice_reject,
    notice_release,
    notice_retry,
    notice_send,
    notice_submit,
)
from cases.correspondence.followup import next_notice_kinds, partners_with_breakage
from cases.correspondence.inbound.confirm import reply_candidate_confirm
from cases.correspondence.inbound.parse import sanitise_html
from cases.correspondence.inbound.store import inbound_attach
from cases.correspondence.portal import ack_link_revoke
from cases.correspondence.selectors import correspondence_visible_to, reply_candidates_for_display, triage_messages
from cases.models import AckLink, Attachment, Correspondence, PartnerEngagement
from cases.models.incident import MAX_PARTNERS_PER_INCIDENT
from cases.selectors import incident_visible_by_reference, incident_visible_or_404
from partners.api.serializers import PartnerByIdOrCodeField, PartnerRefSerializer
from partners.models import NoticeTemplate, Partner
from payhealth.api.fields import DateTimeField
from payhealth.api.pagination import Cursor
from payhealth.api.serializers import ModelSerializer, Serializer
from payhealth.i18n import Language

Direction = Correspondence.Direction
Status = Correspondence.Status
IN_FLIGHT = (Status.QUEUED, Status.SENDING)
NOTICE_ACTIONS = ("partial_update", "submit", "approve", "reject", "send", "release", "retry", "revoke_ack_link")


def correspondence_rows():
    return Correspondence.objects.select_related(
        "incident", "engagement__partner", "merchant", "created_by", "approved_by", "sent_by", "ack_link"
    ).prefetch_related(Prefetch("attachments", queryset=Attachment.objects.defer("content").order_by("id")))


# Serializers ----------------------------------------------------------------------------------


class AttachmentSerializer(ModelSerializer):
    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "omitted"]
        read_only_fields = fields


class AckLinkSerializer(ModelSerializer):
    """A notice's acknowledgement link: until when it is valid, whether the desk revoked it, how
    many answers came through it (the link itself is in the notice's text)."""

    class Meta:
        model = AckLink
        fields = ["expires_at", "revoked_at", "uses", "last_used_at"]
        read_only_fields = fields


class ReplyCandidateSerializer(Serializer):
    """A folio or ETA a received reply names, for a person to confirm (never applied on its own)."""

    index = serializers.IntegerField(help_text="What to post to `confirm` as `candidate`.")
    kind = serializers.ChoiceField(choices=[("folio", "folio"), ("eta", "eta")])
    value = serializers.CharField(help_text="The folio, or the ETA in ISO 8601 with the partner's UTC offset.")
    eta = DateTimeField(source="when", allow_null=True, help_text="The ETA as an instant; null for a folio.")
    excerpt = serializers.CharField(help_text="The words of the reply it was read from.")
    confirmed_at = DateTimeField(allow_null=True)
    confirmed_by = serializers.CharField(help_text="Who confirmed it; empty until confirmed.")


class ConfirmCandidateSerializer(Serializer):
    candidate = serializers.IntegerField(min_value=0, max_value=999, help_text="The candidate's `index`.")


class CorrespondenceSerializer(ModelSerializer):
    """One message of a partner thread, outbound or received."""

    incident = serializers.SlugRelatedField(slug_field="reference", read_only=True, allow_null=True)
    partner = PartnerRefSerializer(source="engagement.partner", read_only=True, allow_null=True)
    merchant = serializers.SlugRelatedField(
        slug_field="account_id",
        read_only=True,
        allow_null=True,
        help_text="An internal update to this merchant's account team (no partner); empty otherwise.",
    )
    kind = serializers.ChoiceField(
        choices=NoticeTemplate.Kind.choices, allow_blank=True, read_only=True, help_text="Empty for received mail."
    )
    language = serializers.ChoiceField(choices=Language.choices, read_only=True)
    body_html = serializers.SerializerMethodField(help_text="A received message's HTML, sanitised; empty otherwise.")
    created_by = UserRefSerializer(read_only=True, allow_null=True)
    approved_by = UserRefSerializer(read_only=True, allow_null=True)
    sent_by = UserRefSerializer(read_only=True, allow_null=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    ack_link = AckLinkSerializer(read_only=True, allow_null=True, help_text="Outbound notices only; null otherwise.")
    candidates = serializers.SerializerMethodField(
        help_text="Folios and ETAs a received reply names, to confirm with `confirm`; empty for notices."
    )

    class Meta:
        model = Correspondence
        fields = [
            "id",
            "incident",
            "partner",
            "merchant",
            "direction",
            "channel",
            "kind",
            "template_version",
            "language",
            "status",
            "peak_severity",
            "subject",
            "body_text",
            "body_html",
            "from_address",
            "to_addresses",
            "cc_addresses",
            "message_id",
            "in_reply_to",
            "references",
            "is_auto_reply",
            "created_by",
            "approved_by",
            "approved_at",
            "sent_by",
            "queued_at",
            "sent_at",
            "received_at",
            "sent_at_header",
            "candidates",
            "attempts",
            "possible_duplicates",
            "last_error",
            "created_at",
            "attachments",
            "ack_link",
        ]
        read_only_fields = fields

    def get_body_html(self, row) -> str:
        return str(sanitise_html(row.body_html)) if row.body_html else ""

    @extend_schema_field(ReplyCandidateSerializer(many=True))
    def get_candidates(self, row) -> list:
        return ReplyCandidateSerializer(reply_candidates_for_display(row), many=True).data


class ThreadSerializer(Serializer):
    partner = PartnerRefSerializer(allow_null=True, help_text="Empty for replies not tied to a partner.")
    messages = CorrespondenceSerializer(many=True)


class IncidentCorrespondenceSerializer(Serializer):
    threads = ThreadSerializer(many=True)
    in_flight = serializers.BooleanField(help_text="Something is queued or sending.")


class ComposeSerializer(Serializer):
    kind = serializers.ChoiceField(choices=NoticeTemplate.Kind.choices)
    partners = serializers.ListField(
        child=PartnerByIdOrCodeField(),
        required=False,
        max_length=MAX_PARTNERS_PER_INCIDENT,
        help_text="Engaged partners to write to, by id or code.",
    )
    all_partners = serializers.BooleanField(
        default=False, help_text="Every engaged partner not marked as not involved, instead of `partners`."
    )
    next_update = DateTimeField(
        required=False, allow_null=True, help_text="When the partners hear from us again (optional)."
    )
    confirm_repeat = serializers.BooleanField(
        default=False,
        help_text="Send another breakage notice to partners that already got one on this incident "
        "(refused with 400 on `confirm_repeat` otherwise).",
    )

    def validate(self, attrs):
        if not attrs.get("all_partners") and not attrs.get("partners"):
            raise ValidationError(gettext_lazy("Pick at least one partner, or all of them."), code="no_partner")
        return attrs


class SkippedPartnerSerializer(Serializer):
    partner = PartnerRefSerializer()
    code = serializers.ChoiceField(choices=["not_engaged", "not_involved", "no_contacts", "not_applicable"])
    reason = serializers.CharField()


class ComposeResultSerializer(Serializer):
    drafts = CorrespondenceSerializer(many=True)
    skipped = SkippedPartnerSerializer(many=True)


class NoticeEditSerializer(Serializer):
    subject = serializers.CharField(max_length=300)
    body_text = serializers.CharField()


class DecisionSerializer(Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, help_text="Required when rejecting.")


class AttachSerializer(Serializer):
    incident = serializers.CharField(max_length=20, help_text="The reference of the incident the message belongs to.")
    partner = PartnerByIdOrCodeField(
        required=False, allow_null=True, help_text="A partner engaged on it, whose thread the message joins."
    )


# Views ----------------------------------------------------------------------------------------


class IncidentCorrespondenceView(APIView):
    """Every message of an incident, outbound and received, grouped per partner thread, oldest first."""

    action_permissions = {"get": ("cases.view_correspondence",)}

    @extend_schema(
        summary="An incident's correspondence, threaded per partner", responses=IncidentCorrespondenceSerializer
    )
    def get(self, request, reference: str):
        incident = incident_visible_or_404(user=request.user, reference=reference)
        threads: dict[int | None, dict] = {}
        for row in correspondence_rows().filter(incident=incident).order_by("created_at", "id"):
            thread = threads.setdefault(
                row.engagement_id, {"partner": row.engagement.partner if row.engagement_id else None, "messages": []}
            )
            thread["messages"].append(row)
        ordered = sorted(
            threads.values(), key=lambda t: (t["partner"] is None, t["partner"].name if t["partner"] else "")
        )
        data = {
            "threads": ordered,
            "in_flight": any(row.status in IN_FLIGHT for thread in ordered for row in thread["messages"]),
        }
        return Response(IncidentCorrespondenceSerializer(data).data)


class NoticeComposeView(APIView):
    """Draft one notice per engaged partner and language group from the active templates."""

    action_permissions = {"post": ("cases.add_correspondence",)}

    @extend_schema(
        summary="Compose notices for an incident's partners",
        description="One draft per partner and language group. Partners that get no notice are listed in "
        "`skipped` with the reason (not engaged, not involved, no contact, not applicable: a billing-discrepancy "
        "notice to a partner without a billing case on the incident). 201 when drafts were made, 200 when "
        "every partner was skipped.",
        request=ComposeSerializer,
        responses={201: ComposeResultSerializer, 200: ComposeResultSerializer},
    )
    def post(self, request, reference: str):
        incident = incident_visible_or_404(user=request.user, reference=reference)
        incoming = ComposeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        result = notice_compose(
            incident=incident,
            actor=request.user,
            kind=data["kind"],
            partners=None if data["all_partners"] else data["partners"],
            next_update=data.get("next_update"),
            confirm_repeat=data["confirm_repeat"],
        )
        drafts = correspondence_rows().filter(pk__in=[draft.pk for draft in result.drafts]).order_by("id")
        body = {
            "drafts": drafts,
            "skipped": [{"partner": s.partner, "code": s.code, "reason": s.reason} for s in result.skipped],
        }
        answer = status.HTTP_201_CREATED if result.drafts else status.HTTP_200_OK
        return Response(ComposeResultSerializer(body).data, status=answer)


def _decision(summary: str, description: str = "", request=None):
    return extend_schema(summary=summary, description=description, request=request, responses=CorrespondenceSerializer)


class OldestFirst(Cursor):
    ordering = "id"


@extend_schema_view(retrieve=extend_schema(summary="One message, outbound or received"))
class CorrespondenceViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Messages of partner threads. Notice actions work on outbound notices of incidents you can see."""

    serializer_class = CorrespondenceSerializer
    queryset = Correspondence.objects.none()
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_permissions = {
        "retrieve": ("cases.view_correspondence",),
        "partial_update": ("cases.change_correspondence",),
        "submit": ("cases.add_correspondence",),
        "approve": ("cases.approve_correspondence",),
        "reject": ("cases.approve_correspondence",),
        "send": ("cases.send_correspondence",),
        "release": ("cases.add_correspondence",),
        "retry": ("cases.send_correspondence",),
        "revoke_ack_link": ("cases.send_correspondence",),
        "approvals": ("cases.approve_correspondence",),
        "triage": ("cases.triage_correspondence",),
        "attach": ("cases.triage_correspondence",),
        "confirm": ("cases.change_partnerengagement",),
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Correspondence.objects.none()
        user = self.request.user
        if self.action in ("triage", "attach"):
            return correspondence_rows().filter(pk__in=triage_messages(user=user).values("pk"))
        rows = correspondence_rows().filter(pk__in=correspondence_visible_to(user=user).values("pk"))
        if self.action in (*NOTICE_ACTIONS, "approvals"):
            rows = rows.filter(direction=Direction.OUTBOUND, incident__isnull=False)
        return rows

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            self._paginator = OldestFirst() if self.action == "approvals" else Cursor()
        return self._paginator

    def _answer(self, row: Correspondence) -> Response:
        return Response(CorrespondenceSerializer(correspondence_rows().get(pk=row.pk)).data)

    @_decision("Edit a draft notice (its author only)", request=NoticeEditSerializer)
    def partial_update(self, request, pk=None):
        notice = self.get_object()
        incoming = NoticeEditSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        return self._answer(notice_edit(correspondence=notice, actor=request.user, **incoming.validated_data))

    @_decision(
        "Submit a draft that needs a lead's approval",
        "A notice needs approval when its incident was SEV1 or SEV2 at any moment since it was drafted "
        "(`peak_severity`) or is now. Its author, a partner manager or a lead may submit it.",
    )
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self._answer(notice_submit(correspondence=self.get_object(), actor=request.user))

    @_decision(
        "Approve a pending notice, which sends it", "Leads only, and never the notice's author.", DecisionSerializer
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        incoming = DecisionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        notice = notice_approve(
            correspondence=self.get_object(), actor=request.user, comment=incoming.validated_data.get("comment", "")
        )
        return self._answer(notice)

    @_decision(
        "Send a pending notice back to its author, saying why", "Leads only, never the author.", DecisionSerializer
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        incoming = DecisionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        notice = notice_reject(
            correspondence=self.get_object(), actor=request.user, comment=incoming.validated_data.get("comment", "")
        )
        return self._answer(notice)

    @_decision(
        "Queue a draft that needs no approval for delivery",
        "A notice whose incident was SEV1 or SEV2 since it was drafted, or is now, is sent by approving it (400).",
    )
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        return self._answer(notice_send(correspondence=self.get_object(), actor=request.user))

    @_decision("Send a draft, or submit it for approval when it needs one")
    @action(detail=True, methods=["post"])
    def release(self, request, pk=None):
        return self._answer(notice_release(correspondence=self.get_object(), actor=request.user))

    @_decision("Queue a failed notice again (same Message-ID)")
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        return self._answer(notice_retry(correspondence=self.get_object(), actor=request.user))

    @_decision(
        "Revoke a notice's acknowledgement link",
        "The partner's signed link to the acknowledgement page stops working at once (410); "
        "partner managers and leads. A notice without a link, or with one revoked already, is a 400.",
    )
    @action(detail=True, methods=["post"], url_path="revoke-ack-link")
    def revoke_ack_link(self, request, pk=None):
        notice = self.get_object()
        ack_link_revoke(correspondence=notice, actor=request.user)
        return self._answer(notice)

    @extend_schema(
        summary="Notices waiting for a lead's approval, oldest first", responses=CorrespondenceSerializer(many=True)
    )
    @action(detail=False, methods=["get"])
    def approvals(self, request):
        page = self.paginate_queryset(self.get_queryset().filter(status=Status.PENDING_APPROVAL))
        return self.get_paginated_response(CorrespondenceSerializer(page, many=True).data)

    @extend_schema(
        summary="The triage inbox: received messages that match no incident, newest first",
        responses=CorrespondenceSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def triage(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CorrespondenceSerializer(page, many=True).data)

    @_decision("Attach an unmatched message to an incident (and a partner's thread)", request=AttachSerializer)
    @action(detail=True, methods=["post"])
    def attach(self, request, pk=None):
        message = self.get_object()
        incoming = AttachSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        incident = incident_visible_by_reference(user=request.user, reference=incoming.validated_data["incident"])
        if incident is None:
            raise ValidationError({"incident": _("There is no incident with this reference.")}, code="unknown_incident")
        partner, engagement = incoming.validated_data.get("partner"), None
        if partner is not None:
            engagement = (
                PartnerEngagement.objects.select_related("partner").filter(incident=incident, partner=partner).first()
            )
            if engagement is None:
                raise ValidationError(
                    {
                        "partner": _("%(partner)s is not engaged on %(reference)s.")
                        % {"partner": partner, "reference": incident.reference}
                    },
                    code="not_engaged",
                )
        row = inbound_attach(correspondence=message, incident=incident, engagement=engagement, actor=request.user)
        return self._answer(row)

    @_decision(
        "Confirm a folio or ETA a received reply names",
        "Sets the partner engagement's `folio` or `eta` from the reply's candidate `index`, and records it on "
        "the incident's timeline with who confirmed it.",
        ConfirmCandidateSerializer,
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        reply = self.get_object()
        incoming = ConfirmCandidateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        reply_candidate_confirm(correspondence=reply, index=incoming.validated_data["candidate"], actor=request.user)
        return self._answer(reply)


class NextKindSerializer(Serializer):
    partner = PartnerRefSerializer()
    kind = serializers.ChoiceField(choices=NoticeTemplate.Kind.choices)
    reason = serializers.CharField()
    breakage_sent = serializers.BooleanField(help_text="A breakage notice already went to this partner.")


class NoticeNextKindsView(APIView):
    """The next logical notice kind in each engaged partner's thread, and why."""

    action_permissions = {"get": ("cases.view_correspondence",)}

    @extend_schema(
        summary="The next notice kind for each engaged partner",
        description="breakage → update → resolution (once the incident is mitigated or resolved) → RCA request → "
        "follow-up, from the notices on their way to each partner. `breakage_sent`: composing another breakage "
        "notice to it needs `confirm_repeat`.",
        responses=NextKindSerializer(many=True),
    )
    def get(self, request, reference: str):
        incident = incident_visible_or_404(user=request.user, reference=reference)
        suggestions = next_notice_kinds(incident)
        broken = set(partners_with_breakage(incident))
        rows = [
            {
                "partner": partner,
                "kind": suggestions[partner.pk].kind,
                "reason": suggestions[partner.pk].reason,
                "breakage_sent": partner.name in broken,
            }
            for partner in Partner.objects.filter(pk__in=suggestions).order_by("name")
        ]
        return Response(NextKindSerializer(rows, many=True).data)
