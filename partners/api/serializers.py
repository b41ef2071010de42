"""Shapes of the partners API. Input serializers check the shape only; the services check the rules."""

from __future__ import annotations

from datetime import timedelta

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from partners.models import BusinessCalendar, Holiday, NoticeTemplate, Partner, PartnerContact, WorkingHours
from payhealth.api.fields import ByIdOrKeyField, DateTimeField
from payhealth.api.serializers import ModelSerializer, Serializer
from payhealth.i18n import Language

MAX_SPAN = timedelta(days=3 * 366)  # business-time questions about more than this are refused


class PartnerContactSerializer(ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="code", read_only=True)
    language = serializers.ChoiceField(
        choices=Language.choices, allow_blank=True, read_only=True, help_text="Empty: the partner's language."
    )
    effective_language = serializers.ChoiceField(
        choices=Language.choices, read_only=True, help_text="The contact's language, else the partner's."
    )

    class Meta:
        model = PartnerContact
        fields = [
            "id",
            "partner",
            "name",
            "email",
            "phone",
            "role",
            "language",
            "effective_language",
            "receives_notices",
            "escalation_level",
            "active",
        ]
        read_only_fields = fields


class PartnerContactWriteSerializer(Serializer):
    """A new contact (with `partner`) or the fields of one to change (PATCH: any subset)."""

    partner = serializers.SlugRelatedField(
        slug_field="code", queryset=Partner.objects.all(), help_text="The partner's code (on creation only)."
    )
    name = serializers.CharField(max_length=160)
    email = serializers.EmailField(max_length=254)
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    role = serializers.ChoiceField(choices=PartnerContact.Role.choices, required=False)
    language = serializers.ChoiceField(choices=Language.choices, required=False, allow_blank=True)
    receives_notices = serializers.BooleanField(required=False)
    escalation_level = serializers.IntegerField(required=False, min_value=1, max_value=32767)
    active = serializers.BooleanField(required=False)


class PartnerContactUpdateSerializer(PartnerContactWriteSerializer):
    partner = None  # a contact stays with its partner


class PartnerSerializer(ModelSerializer):
    calendar = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    open_incidents = serializers.IntegerField(read_only=True, help_text="Open incidents engaging the partner.")
    recent_incidents = serializers.IntegerField(
        read_only=True, help_text="Incidents engaging the partner opened in the last 90 days."
    )

    class Meta:
        model = Partner
        fields = [
            "id",
            "code",
            "name",
            "kind",
            "country",
            "timezone",
            "language",
            "calendar",
            "bin_prefixes",
            "notes",
            "active",
            "open_incidents",
            "recent_incidents",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PartnerDetailSerializer(PartnerSerializer):
    contacts = PartnerContactSerializer(many=True, read_only=True, source="contact_rows")

    class Meta(PartnerSerializer.Meta):
        fields = [*PartnerSerializer.Meta.fields, "contacts"]
        read_only_fields = fields


class PartnerWriteSerializer(Serializer):
    """A new partner, or the fields of one to change (PATCH: any subset; the code stays)."""

    code = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=160)
    kind = serializers.ChoiceField(choices=Partner.Kind.choices)
    country = serializers.CharField(max_length=10, help_text="ISO country code, or GLOBAL / LATAM.")
    timezone = serializers.CharField(max_length=64, required=False, help_text="An IANA zone, e.g. America/New_York.")
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    calendar = serializers.SlugRelatedField(
        slug_field="code",
        queryset=BusinessCalendar.objects.all(),
        required=False,
        allow_null=True,
        help_text="A business calendar's code; null for the desk's default calendar.",
    )
    bin_prefixes = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        max_length=50,
        help_text="An issuer's own BIN prefixes (6–8 digits each): its notices show only these.",
    )
    notes = serializers.CharField(required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)


class PartnerUpdateSerializer(PartnerWriteSerializer):
    code = None


@extend_schema_field({"type": "string", "pattern": r"^\d{2}:\d{2}:\d{2}$", "example": "09:00:00"})
class WallTimeField(serializers.TimeField):
    """A local wall time of the calendar's zone, "HH:MM:SS" (no offset, so not RFC 3339 "time")."""


class WorkingHoursSerializer(ModelSerializer):
    opens = WallTimeField(read_only=True)
    closes = WallTimeField(read_only=True)

    class Meta:
        model = WorkingHours
        fields = ["weekday", "opens", "closes"]
        read_only_fields = fields


class HolidaySerializer(ModelSerializer):
    class Meta:
        model = Holiday
        fields = ["date", "name_en", "name_es"]
        read_only_fields = fields


class BusinessCalendarSerializer(ModelSerializer):
    working_hours = WorkingHoursSerializer(many=True, read_only=True)
    holidays = HolidaySerializer(many=True, read_only=True)

    class Meta:
        model = BusinessCalendar
        fields = ["id", "code", "name", "timezone", "is_24x7", "working_hours", "holidays"]
        read_only_fields = fields


class BusinessTimeQuerySerializer(Serializer):
    """`start` with `end` (how much business time lies between them) or with `duration` (when it ends)."""

    start = DateTimeField(help_text="ISO 8601 with an offset, e.g. 2026-03-02T09:00:00-06:00.")
    end = DateTimeField(required=False)
    duration = serializers.DurationField(
        required=False,
        min_value=timedelta(0),
        max_value=MAX_SPAN,
        help_text='Business time to add: seconds, "HH:MM:SS", "D HH:MM:SS" or ISO 8601 ("PT4H").',
    )

    def validate(self, attrs):
        has_end, has_duration = "end" in attrs, "duration" in attrs
        if has_end == has_duration:
            raise serializers.ValidationError(_("Give either end or duration."), code="end_or_duration")
        if has_end and attrs["end"] - attrs["start"] > MAX_SPAN:
            raise serializers.ValidationError({"end": _("Ask about at most three years at a time.")}, code="too_long")
        return attrs


class BusinessTimeSerializer(Serializer):
    calendar = serializers.CharField(help_text="The calendar's code.")
    start = DateTimeField()
    end = DateTimeField()
    business_seconds = serializers.IntegerField(help_text="Open time of the calendar between start and end.")
    wall_seconds = serializers.IntegerField(help_text="Elapsed real time between start and end.")


class NoticeTemplateSerializer(ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    partner_kind = serializers.ChoiceField(
        choices=Partner.Kind.choices, allow_blank=True, read_only=True, help_text="Empty: for partners of any kind."
    )

    class Meta:
        model = NoticeTemplate
        fields = [
            "id",
            "kind",
            "language",
            "partner_kind",
            "version",
            "subject",
            "body",
            "active",
            "author",
            "created_at",
        ]
        read_only_fields = fields


class NoticeTemplateWriteSerializer(Serializer):
    kind = serializers.ChoiceField(choices=NoticeTemplate.Kind.choices)
    language = serializers.ChoiceField(choices=Language.choices)
    partner_kind = serializers.ChoiceField(
        choices=Partner.Kind.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Empty: the template for partners of any kind; else the variant for that kind.",
    )
    subject = serializers.CharField(max_length=250, trim_whitespace=False)
    body = serializers.CharField(trim_whitespace=False)


class NoticeTemplatePreviewSerializer(Serializer):
    """A template text to render; for a partner engaged on an incident, or against sample data."""

    language = serializers.ChoiceField(choices=Language.choices)
    subject = serializers.CharField(max_length=250, trim_whitespace=False)
    body = serializers.CharField(trim_whitespace=False)
    incident = serializers.CharField(
        required=False, max_length=20, help_text="An incident reference; with `partner`, render for that partner."
    )
    partner = serializers.SlugField(required=False, max_length=50, help_text="The code of a partner engaged on it.")

    def validate(self, attrs):
        if ("incident" in attrs) != ("partner" in attrs):
            raise serializers.ValidationError(
                _("Give both incident and partner, or neither for sample data."), code="incident_and_partner"
            )
        return attrs


class RenderedNoticeSerializer(Serializer):
    subject = serializers.CharField()
    body = serializers.CharField()


# References to partners from other apps' resources ---------------------------------------------


class PartnerRefSerializer(Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class PartnerByIdOrCodeField(ByIdOrKeyField):
    model = Partner
    key = "code"
    default_error_messages = {
        "missing": _("No partner has the id or code %(value)s."),
        "invalid": _("Give the partner's id or code."),
    }
