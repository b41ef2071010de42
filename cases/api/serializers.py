"""Input and output shapes of the cases API.

Input serializers check shape only (types, lengths, choices, that a named merchant or partner
exists); the services decide every business rule and their ValidationErrors become 400s with
field messages. Approval rates are shares between 0 and 1 (0.925 is 92.5%), sent and returned
as JSON numbers; money amounts are decimal strings.
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import UserRefSerializer
from cases.models import (
    AffectedMerchant,
    CaseEvent,
    Incident,
    IncidentDeclineCode,
    InvestigationNote,
    Merchant,
    MerchantRoute,
    PartnerEngagement,
    ResponseCode,
    SavedView,
)
from cases.models.incident import (
    MAX_BIN_PREFIXES,
    MAX_DECLINE_CODES,
    MAX_MERCHANTS_PER_INCIDENT,
    MAX_PARTNERS_PER_INCIDENT,
    CardNetwork,
    Category,
    EntryMode,
    Severity,
    Status,
)
from cases.services import BulkAction
from cases.services.bulk import MAX_BULK_ROWS
from cases.services.scope import engagement_scope
from partners.api.serializers import PartnerByIdOrCodeField, PartnerRefSerializer
from payhealth.api.fields import ByIdOrKeyField, DateTimeField
from payhealth.api.serializers import ModelSerializer, Serializer
from payhealth.i18n import Language
from payhealth.ids import BIG, parse_id

RATE_HELP = _("Approval rate as a share between 0 and 1 (0.925 means 92.5%).")


# References to other objects ------------------------------------------------------------------


class MerchantRefSerializer(Serializer):
    id = serializers.IntegerField()
    account_id = serializers.CharField()
    name = serializers.CharField()


class MerchantByIdOrAccountField(ByIdOrKeyField):
    model = Merchant
    key = "account_id"
    default_error_messages = {
        "missing": _("No merchant has the id or account id %(value)s."),
        "invalid": _("Give the merchant's id or account id."),
    }


@extend_schema_field({"type": "integer", "minimum": 1})
class OwnerField(serializers.PrimaryKeyRelatedField):
    """A user by id; whether they may own incidents is the service's rule."""

    def get_queryset(self):
        return get_user_model().objects.filter(is_active=True)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if parse_id(data) is None:
            self.fail("does_not_exist", pk_value=str(data)[:64])
        return super().to_internal_value(parse_id(data))


class CodeListField(serializers.ListField):
    child = serializers.CharField(max_length=64)
    max_length = MAX_DECLINE_CODES


class BinPrefixListField(serializers.ListField):
    """BIN prefixes as strings; spaces and dashes are dropped, the service refuses card numbers."""

    child = serializers.CharField(max_length=32)
    max_length = MAX_BIN_PREFIXES

    def to_internal_value(self, data):
        items = super().to_internal_value(data)
        return list(dict.fromkeys(re.sub(r"[\s-]", "", item) for item in items if item.strip()))


# Incidents ------------------------------------------------------------------------------------


class IncidentListSerializer(ModelSerializer):
    """One row of the incident list (what the queue shows)."""

    url = serializers.SerializerMethodField()
    owner = UserRefSerializer(allow_null=True)
    partner_names = serializers.ListField(child=serializers.CharField())
    merchant_names = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "url",
            "title",
            "category",
            "severity",
            "status",
            "source",
            "owner",
            "partner_names",
            "merchant_names",
            "created_at",
            "updated_at",
            "closed_at",
        ]
        read_only_fields = fields

    def get_url(self, incident) -> str:
        return reverse("api:incident-detail", args=[incident.reference])


class AffectedMerchantSerializer(ModelSerializer):
    """A merchant on an incident with its measured impact; excess declines are computed by the database."""

    merchant = MerchantRefSerializer()
    baseline_rate = serializers.DecimalField(
        max_digits=5, decimal_places=4, coerce_to_string=False, allow_null=True, help_text=RATE_HELP
    )
    observed_rate = serializers.DecimalField(
        max_digits=5, decimal_places=4, coerce_to_string=False, allow_null=True, help_text=RATE_HELP
    )
    excess_declines = serializers.IntegerField(allow_null=True)

    class Meta:
        model = AffectedMerchant
        fields = [
            "id",
            "merchant",
            "baseline_rate",
            "observed_rate",
            "attempts",
            "failed_attempts",
            "excess_declines",
            "volume_at_risk",
            "currency",
            "rate_definition",
            "notes",
            "updated_at",
        ]
        read_only_fields = fields


class EngagementScopeSerializer(Serializer):
    """What this partner's notices show of the incident; `edited` false: derived, not yet edited."""

    bin_prefixes = BinPrefixListField(required=False)
    networks = serializers.ListField(
        child=serializers.ChoiceField(choices=CardNetwork.choices), required=False, max_length=len(CardNetwork)
    )
    entry_modes = serializers.ListField(
        child=serializers.ChoiceField(choices=EntryMode.choices), required=False, max_length=len(EntryMode)
    )
    merchants = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=MAX_MERCHANTS_PER_INCIDENT
    )
    edited = serializers.BooleanField(read_only=True)


class EngagementSerializer(ModelSerializer):
    partner = PartnerRefSerializer()
    scope = serializers.SerializerMethodField()

    class Meta:
        model = PartnerEngagement
        fields = [
            "id",
            "partner",
            "partner_status",
            "folio",
            "escalation_level",
            "first_notified_at",
            "acknowledged_at",
            "resolved_at",
            "eta",
            "scope",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {"eta": {"help_text": "When the partner expects to restore service (confirmed from a reply)."}}

    @extend_schema_field(EngagementScopeSerializer)
    def get_scope(self, engagement) -> dict:
        scope = getattr(engagement, "api_scope", None) or engagement_scope(engagement)
        return {
            "bin_prefixes": scope.bin_prefixes,
            "networks": scope.networks,
            "entry_modes": scope.entry_modes,
            "merchants": [item.merchant.pk for item in scope.merchants],
            "edited": scope.edited,
        }


class IncidentLinksSerializer(Serializer):
    self = serializers.CharField()
    notes = serializers.CharField()
    merchants = serializers.CharField()
    engagements = serializers.CharField()
    timeline = serializers.CharField()
    transition = serializers.CharField()
    severity = serializers.CharField()
    assign = serializers.CharField()
    web = serializers.CharField()


class IncidentDetailSerializer(ModelSerializer):
    """An incident with its merchants, engagements, allowed next statuses and the links to its parts."""

    owner = UserRefSerializer(allow_null=True)
    created_by = UserRefSerializer(allow_null=True)
    allowed_transitions = serializers.ListField(child=serializers.ChoiceField(choices=Status.choices))
    merchants = AffectedMerchantSerializer(many=True, source="api_merchants")
    engagements = EngagementSerializer(many=True, source="api_engagements")
    excess_declines = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "title",
            "category",
            "severity",
            "status",
            "source",
            "owner",
            "created_by",
            "summary",
            "root_cause",
            "started_at",
            "detected_at",
            "mitigated_at",
            "resolved_at",
            "closed_at",
            "card_networks",
            "decline_codes",
            "bin_prefixes",
            "country",
            "entry_modes",
            "partner_title_en",
            "partner_title_es",
            "partner_summary_en",
            "partner_summary_es",
            "created_at",
            "updated_at",
            "allowed_transitions",
            "merchants",
            "engagements",
            "excess_declines",
            "links",
        ]
        read_only_fields = fields

    def get_excess_declines(self, incident) -> int:
        """Excess declines summed over the affected merchants (0 while none is measured)."""
        return sum(row.excess_declines or 0 for row in incident.api_merchants)

    @extend_schema_field(IncidentLinksSerializer)
    def get_links(self, incident) -> dict:
        ref = [incident.reference]
        return {
            "self": reverse("api:incident-detail", args=ref),
            "notes": reverse("api:incident-note-list", args=ref),
            "merchants": reverse("api:incident-merchant-list", args=ref),
            "engagements": reverse("api:incident-engagement-list", args=ref),
            "timeline": reverse("api:incident-timeline", args=ref),
            "transition": reverse("api:incident-transition", args=ref),
            "severity": reverse("api:incident-severity", args=ref),
            "assign": reverse("api:incident-assign", args=ref),
            "web": reverse("cases:incident_detail", args=ref),
        }


class IncidentCreateSerializer(Serializer):
    title = serializers.CharField(max_length=200)
    category = serializers.ChoiceField(choices=Category.choices)
    severity = serializers.ChoiceField(choices=Severity.choices)
    summary = serializers.CharField(required=False, allow_blank=True, max_length=20000, default="")
    owner = OwnerField(required=False, allow_null=True, default=None, help_text=_("A user id; empty means you."))
    started_at = DateTimeField(required=False, allow_null=True, default=None)
    detected_at = DateTimeField(required=False, allow_null=True, default=None, help_text=_("Empty means now."))
    card_networks = serializers.ListField(
        child=serializers.ChoiceField(choices=CardNetwork.choices), required=False, default=list, max_length=8
    )
    decline_codes = CodeListField(required=False, default=list)
    bin_prefixes = BinPrefixListField(
        required=False, default=list, help_text=_("6–8 digit prefixes only; card numbers are refused.")
    )
    country = serializers.CharField(max_length=2, required=False, allow_blank=True, default="")
    merchants = serializers.ListField(
        child=MerchantByIdOrAccountField(), required=False, default=list, max_length=MAX_MERCHANTS_PER_INCIDENT
    )
    partners = serializers.ListField(
        child=PartnerByIdOrCodeField(), required=False, default=list, max_length=MAX_PARTNERS_PER_INCIDENT
    )

    def validate_country(self, value: str) -> str:
        return value.strip().upper()

    def validate_merchants(self, value):
        return list(dict.fromkeys(value))

    def validate_partners(self, value):
        return list(dict.fromkeys(value))


class IncidentDetailsSerializer(Serializer):
    """The descriptive fields (incident_update_details); send only those that change."""

    title = serializers.CharField(max_length=200, required=False)
    category = serializers.ChoiceField(choices=Category.choices, required=False)
    summary = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    root_cause = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    started_at = DateTimeField(required=False, allow_null=True)
    detected_at = DateTimeField(required=False, allow_null=True)
    mitigated_at = DateTimeField(required=False, allow_null=True)
    card_networks = serializers.ListField(
        child=serializers.ChoiceField(choices=CardNetwork.choices), required=False, max_length=8
    )
    decline_codes = CodeListField(required=False)
    bin_prefixes = BinPrefixListField(required=False)
    country = serializers.CharField(max_length=2, required=False, allow_blank=True)
    entry_modes = serializers.ListField(
        child=serializers.ChoiceField(choices=EntryMode.choices), required=False, max_length=len(EntryMode)
    )
    partner_title_en = serializers.CharField(max_length=200, required=False, allow_blank=True)
    partner_title_es = serializers.CharField(max_length=200, required=False, allow_blank=True)
    partner_summary_en = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    partner_summary_es = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    def validate_country(self, value: str) -> str:
        return value.strip().upper()


class TransitionSerializer(Serializer):
    """Move to an allowed next status. Waiting on a partner names one engaged on the incident and
    says why; reopening a resolved or closed incident says why too."""

    to = serializers.ChoiceField(choices=Status.choices)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    partner = PartnerByIdOrCodeField(
        required=False, allow_null=True, default=None, help_text=_("Required when waiting on a partner.")
    )

    def validate(self, attrs):
        # The same requirement as the page's TransitionForm: waiting on a partner names whom.
        if attrs["to"] == Status.WAITING_ON_PARTNER and attrs.get("partner") is None:
            raise serializers.ValidationError({"partner": _("Choose one of the partners engaged on this incident.")})
        return attrs


class SeveritySerializer(Serializer):
    severity = serializers.ChoiceField(choices=Severity.choices)
    reason = serializers.CharField(max_length=500)


class AssignSerializer(Serializer):
    owner = OwnerField(allow_null=True, help_text=_("A user id, or null to leave the incident unowned."))


class BulkSerializer(Serializer):
    """One action on many incidents, each row on its own (the queue's bulk form)."""

    references = serializers.ListField(
        child=serializers.CharField(max_length=20), min_length=1, max_length=MAX_BULK_ROWS
    )
    action = serializers.ChoiceField(choices=BulkAction.choices)
    owner = OwnerField(required=False, allow_null=True, help_text=_("For assign: a user id, or null to unassign."))
    to = serializers.ChoiceField(choices=Status.choices, required=False, help_text=_("For status."))
    severity = serializers.ChoiceField(choices=Severity.choices, required=False, help_text=_("For severity."))
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    def validate(self, attrs):
        action = attrs["action"]
        needed = {
            BulkAction.ASSIGN: ("owner", _("Choose who to assign the incidents to.")),
            BulkAction.STATUS: ("to", _("Choose the status to move the incidents to.")),
            BulkAction.SEVERITY: ("severity", _("Choose the new severity.")),
        }[action]
        if needed[0] not in attrs:
            raise serializers.ValidationError({needed[0]: needed[1]})
        if action == BulkAction.SEVERITY and not attrs["reason"].strip():
            raise serializers.ValidationError({"reason": _("Say why the severity changes.")})
        return attrs

    def service_args(self) -> dict:
        data = self.validated_data
        action = data["action"]
        if action == BulkAction.ASSIGN:
            return {"owner": data["owner"]}
        if action == BulkAction.STATUS:
            return {"to": data["to"], "reason": data["reason"].strip()}
        return {"severity": data["severity"], "reason": data["reason"].strip()}


class BulkRowSerializer(Serializer):
    reference = serializers.CharField()
    ok = serializers.BooleanField()
    message = serializers.CharField()


class BulkResultSerializer(Serializer):
    results = BulkRowSerializer(many=True)


# Notes, timeline ------------------------------------------------------------------------------


class NoteSerializer(ModelSerializer):
    author = UserRefSerializer()

    class Meta:
        model = InvestigationNote
        fields = ["id", "author", "body", "created_at", "edited_at"]
        read_only_fields = fields


class NoteInputSerializer(Serializer):
    body = serializers.CharField(max_length=20000, help_text=_("Markdown."))


class CaseEventSerializer(ModelSerializer):
    actor = UserRefSerializer(allow_null=True, help_text=_("Empty for changes made by PayHealth itself."))
    data = serializers.DictField(help_text=_("What changed; the keys depend on the kind."))

    class Meta:
        model = CaseEvent
        fields = ["id", "kind", "actor", "created_at", "data"]
        read_only_fields = fields


# Affected merchants and engagements -----------------------------------------------------------


class MerchantImpactInputSerializer(Serializer):
    """Measured impact on one merchant. Rates are shares between 0 and 1 (0.925 is 92.5%)."""

    baseline_rate = serializers.DecimalField(
        max_digits=5, decimal_places=4, min_value=0, max_value=1, required=False, allow_null=True, help_text=RATE_HELP
    )
    observed_rate = serializers.DecimalField(
        max_digits=5, decimal_places=4, min_value=0, max_value=1, required=False, allow_null=True, help_text=RATE_HELP
    )
    attempts = serializers.IntegerField(min_value=0, max_value=BIG, required=False)
    failed_attempts = serializers.IntegerField(
        min_value=0,
        max_value=BIG,
        required=False,
        allow_null=True,
        help_text=_("Null derives them from the observed rate; given, they must agree with it within rounding."),
    )
    volume_at_risk = serializers.DecimalField(max_digits=16, decimal_places=2, min_value=0, required=False)
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, help_text=_("ISO 4217, e.g. MXN."))
    rate_definition = serializers.ChoiceField(choices=AffectedMerchant.RateDefinition.choices, required=False)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=20000)


class MerchantImpactCreateSerializer(MerchantImpactInputSerializer):
    merchant = MerchantByIdOrAccountField(help_text=_("The merchant's id or account id."))

    def measures(self) -> dict:
        return {key: value for key, value in self.validated_data.items() if key != "merchant"}


class EngagementCreateSerializer(Serializer):
    partner = PartnerByIdOrCodeField(help_text=_("The partner's id or code."))
    folio = serializers.CharField(required=False, allow_blank=True, max_length=80, default="")
    partner_status = serializers.ChoiceField(
        choices=PartnerEngagement.PartnerStatus.choices, required=False, default="not_notified"
    )


class EngagementUpdateSerializer(Serializer):
    partner_status = serializers.ChoiceField(choices=PartnerEngagement.PartnerStatus.choices, required=False)
    folio = serializers.CharField(required=False, allow_blank=True, max_length=80)
    escalation_level = serializers.IntegerField(min_value=1, max_value=32767, required=False)
    scope = EngagementScopeSerializer(
        required=False, help_text="What this partner's notices show; send all four lists (merchants by id)."
    )


# Merchants, response codes, saved views -------------------------------------------------------


class MerchantRouteSerializer(ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = MerchantRoute
        fields = ["partner", "affiliation"]
        read_only_fields = fields


class MerchantSerializer(ModelSerializer):
    routes = MerchantRouteSerializer(
        many=True,
        read_only=True,
        help_text=_("The partners it goes through, with the affiliation number each gave it."),
    )
    open_incidents = serializers.IntegerField(read_only=True, help_text=_("Open incidents affecting the merchant."))
    recent_incidents = serializers.IntegerField(read_only=True, help_text=_("Incidents opened in the last 90 days."))
    account_manager_email = serializers.CharField(read_only=True, help_text=_("An email address, or empty."))

    account_manager_language = serializers.ChoiceField(
        choices=Language.choices, allow_blank=True, read_only=True, help_text="Empty: English."
    )

    class Meta:
        model = Merchant
        fields = [
            "id",
            "account_id",
            "name",
            "country",
            "mcc",
            "segment",
            "account_manager",
            "account_manager_email",
            "account_manager_language",
            "routes",
            "created_at",
            "open_incidents",
            "recent_incidents",
        ]
        read_only_fields = fields


class MerchantInputSerializer(Serializer):
    account_id = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=160)
    country = serializers.CharField(min_length=2, max_length=2)
    mcc = serializers.CharField(max_length=4)
    segment = serializers.ChoiceField(choices=Merchant.Segment.choices, required=False)
    account_manager = serializers.CharField(max_length=160, required=False, allow_blank=True)
    account_manager_email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    account_manager_language = serializers.ChoiceField(
        choices=Merchant._meta.get_field("account_manager_language").choices,
        required=False,
        allow_blank=True,
        help_text=_("The language of the internal updates to the account manager; empty means English."),
    )


class ResponseCodeSerializer(ModelSerializer):
    class Meta:
        model = ResponseCode
        fields = ["id", "scheme", "code", "meaning", "meaning_es", "category", "retryable", "visa_category"]
        read_only_fields = fields


SHARE_HELP = "Share of the declines counted in that period (0.125 is 12.5%), to 0.1%; null when not counted."


class DeclineCountSerializer(ModelSerializer):
    """A decline code's counts on an incident, before (baseline) and during (impact window)."""

    share_before = serializers.SerializerMethodField(help_text=SHARE_HELP)
    share_during = serializers.SerializerMethodField(help_text=SHARE_HELP)

    class Meta:
        model = IncidentDeclineCode
        fields = [
            "id",
            "code",
            "count_before",
            "count_during",
            "share_before",
            "share_during",
            "window_start",
            "window_end",
            "source",
            "updated_at",
        ]
        read_only_fields = fields

    def _share(self, row, name):
        line = self.context.get("lines", {}).get(row.code)
        value = getattr(line, name, None) if line is not None else None
        return float(value) if value is not None else None

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_share_before(self, row):
        return self._share(row, "share_before")

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_share_during(self, row):
        return self._share(row, "share_during")


class DeclineCountInputSerializer(Serializer):
    """Set one code's counts; a code not on the incident yet joins its codes seen."""

    code = serializers.CharField(max_length=64)
    count_before = serializers.IntegerField(min_value=0, max_value=10**12, required=False, allow_null=True)
    count_during = serializers.IntegerField(min_value=0, max_value=10**12)
    window_start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    window_end = serializers.DateTimeField(required=False, allow_null=True, default=None)


class SavedViewSerializer(ModelSerializer):
    class Meta:
        model = SavedView
        fields = ["id", "name", "query", "created_at"]
        read_only_fields = fields


class SavedViewInputSerializer(Serializer):
    name = serializers.CharField(max_length=80)
    query = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, default="", help_text=_("The queue's query string.")
    )
