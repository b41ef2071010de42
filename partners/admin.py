"""Admin for partners, their contacts, business calendars and notice templates.

The admin is the superusers' tool (DESIGN.md §1); the desk works in the PayHealth pages.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from partners.models import BusinessCalendar, Holiday, NoticeTemplate, Partner, PartnerContact, WorkingHours
from partners.notices import notice_template_errors
from partners.services import notice_template_save
from payhealth.admin_forms import LockedFieldsMixin


class WorkingHoursInline(admin.TabularInline):
    model = WorkingHours
    extra = 0
    ordering = ["weekday", "opens"]


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0
    ordering = ["-date"]


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "timezone", "is_24x7"]
    list_filter = ["is_24x7", "timezone"]
    search_fields = ["name", "code"]
    ordering = ["name"]
    prepopulated_fields = {"code": ["name"]}
    inlines = [WorkingHoursInline, HolidayInline]


class PartnerContactInline(admin.TabularInline):
    model = PartnerContact
    extra = 0
    fields = ["name", "email", "phone", "role", "language", "escalation_level", "receives_notices", "active"]
    ordering = ["escalation_level", "name"]


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "kind", "country", "language", "timezone", "calendar", "active"]
    list_filter = ["kind", "language", "active", "country"]
    search_fields = ["name", "code"]
    list_select_related = ["calendar"]
    autocomplete_fields = ["calendar"]
    ordering = ["name"]
    prepopulated_fields = {"code": ["name"]}
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "code", "kind", "country", "active"]}),
        (_("Language and hours"), {"fields": ["language", "timezone", "calendar"]}),
        (_("Notes"), {"fields": ["notes"]}),
        (_("Audit"), {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    inlines = [PartnerContactInline]


@admin.register(PartnerContact)
class PartnerContactAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "email",
        "partner",
        "role",
        "language",
        "escalation_level",
        "receives_notices",
        "active",
    ]
    list_filter = ["role", "language", "receives_notices", "active", "partner__kind"]
    search_fields = ["name", "email", "phone", "partner__name", "partner__code"]
    list_select_related = ["partner"]
    autocomplete_fields = ["partner"]
    ordering = ["partner__name", "escalation_level", "name"]


class NoticeTemplateAdminForm(forms.ModelForm):
    """Refuses a template that does not compile or names a variable outside the allowed context."""

    class Meta:
        model = NoticeTemplate
        fields = ["kind", "language", "active", "subject", "body"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:
            # The service decides activity (the new text becomes the active version); keep the
            # unsaved instance inactive so the one-active constraint is not checked against it.
            self.instance.active = False

    def clean(self):
        cleaned = super().clean()
        problems = notice_template_errors(subject=cleaned.get("subject") or "", body=cleaned.get("body") or "")
        for field, messages_ in problems.items():
            for message in messages_:
                self.add_error(field if field in self.fields else None, message)
        return cleaned


@admin.register(NoticeTemplate)
class NoticeTemplateAdmin(LockedFieldsMixin, admin.ModelAdmin):
    """Versions are append-only (see the model): a new or edited text is saved by the same
    service as the template editor, as the next active version."""

    form = NoticeTemplateAdminForm
    list_display = ["__str__", "kind", "language", "version", "subject", "active", "author", "created_at"]
    list_filter = ["kind", "language", "active"]
    search_fields = ["subject", "body"]
    list_select_related = ["author"]
    date_hierarchy = "created_at"
    ordering = ["kind", "language", "-version"]
    readonly_fields = ["version", "author", "created_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["kind", "language", "subject", "body"]
        return ["kind", "language", "version", "active", "subject", "body", "author", "created_at"]

    def get_locked_fields(self, request, obj=None):
        # Another kind or language is another template, not another version of this one.
        return ("kind", "language") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if change and not {"subject", "body"} & set(form.changed_data):
            super().save_model(request, obj, form, change)  # only "active" changed
            return
        saved = notice_template_save(
            actor=request.user, kind=obj.kind, language=obj.language, subject=obj.subject, body=obj.body
        )
        if change:
            self.message_user(
                request,
                _("The text changed, so it was saved as version %(version)s; the previous version is inactive.")
                % {"version": saved.version},
                messages.INFO,
            )
        obj.pk, obj.version, obj.active, obj._state.adding = saved.pk, saved.version, saved.active, False
