"""Admin for the correspondence: every message and attachment, to look at.

A notice is drafted, edited, approved and sent on the incident's pages or through the API, and a
reply is stored by the inbound pipeline; the admin writes none of it, so no message reaches a
partner (or changes its words or recipients) without the services' checks and timeline events.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from cases.models import AckLink, Attachment, Correspondence
from payhealth.admin_forms import ReadOnlyAdminMixin


class AttachmentInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Attachments arrive with inbound mail; the admin only shows them."""

    model = Attachment
    fields = ["filename", "content_type", "size", "omitted", "created_at"]
    readonly_fields = fields
    extra = 0


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["filename", "content_type", "size", "omitted", "correspondence", "created_at"]
    list_filter = ["omitted", "content_type"]
    search_fields = ["filename", "correspondence__subject", "correspondence__message_id"]
    list_select_related = ["correspondence"]
    fields = ["correspondence", "filename", "content_type", "size", "omitted", "created_at"]
    readonly_fields = fields


@admin.register(Correspondence)
class CorrespondenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    inlines = [AttachmentInline]
    list_display = [
        "subject",
        "incident",
        "partner",
        "direction",
        "channel",
        "status",
        "language",
        "created_at",
        "sent_at",
    ]
    list_filter = ["direction", "status", "channel", "language", "kind", "is_auto_reply"]
    search_fields = [
        "subject",
        "message_id",
        "in_reply_to",
        "from_address",
        "incident__reference",
        "engagement__partner__name",
        "engagement__folio",
    ]
    list_select_related = ["incident", "engagement__partner"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    fieldsets = [
        (None, {"fields": ["incident", "engagement", "direction", "channel", "status", "kind", "language"]}),
        (_("Message"), {"fields": ["subject", "body_text", "body_html", "template", "template_version"]}),
        (
            _("Addressing"),
            {
                "fields": [
                    "from_address",
                    "to_addresses",
                    "cc_addresses",
                    "message_id",
                    "in_reply_to",
                    "references",
                    "is_auto_reply",
                ]
            },
        ),
        (
            _("Delivery"),
            {
                "fields": [
                    "created_by",
                    "created_at",
                    "peak_severity",
                    "approved_by",
                    "approved_at",
                    "sent_by",
                    "queued_at",
                    "sent_at",
                    "received_at",
                    "attempts",
                    "last_error",
                ]
            },
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("incident", "engagement__partner")

    @admin.display(description=_("partner"), ordering="engagement__partner__name")
    def partner(self, obj: Correspondence):
        return obj.engagement.partner if obj.engagement_id else None


@admin.register(AckLink)
class AckLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """A notice's acknowledgement link: made when the notice is drafted, revoked on the incident's
    page or through the API; its key is never shown (the token is signed from it)."""

    list_display = ["correspondence", "engagement", "expires_at", "revoked_at", "uses", "created_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["correspondence", "engagement__incident", "engagement__partner"]
    fields = ["correspondence", "engagement", "recipients", "expires_at", "revoked_at", "revoked_by", "uses"]
    fields += ["last_used_at", "created_at"]
    readonly_fields = fields
