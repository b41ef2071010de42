"""Admin for partners, their contacts, business calendars and notice templates.

The admin is the superusers' tool; the desk works in the PayHealth pages. Partners, contacts and
notice templates are saved by the same services as the pages and the API. Business calendars
(hours and holidays) have no page of their own: they are edited here.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from partners.models import BusinessCalendar, Holiday, NoticeTemplate, Partner, PartnerContact, WorkingHours
from partners.notices import notice_template_errors
from partners.services import (
    CONTACT_FIELDS,
    PARTNER_FIELDS,
    contact_delete,
    contact_save,
    notice_template_activate,
    notice_template_save,
    partner_save,
)
from payhealth.admin_forms import LockedFieldsMixin, ReadOnlyAdminMixin, ServiceAdminMixin, ServiceFormMixin
from payhealth.forms import ModelForm


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


class PartnerContactInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The partner's contacts at a glance; each is edited on its own page (through `contact_save`)."""

    model = PartnerContact
    extra = 0
    fields = ["name", "email", "phone", "role", "language", "escalation_level", "receives_notices", "active"]
    readonly_fields = fields
    ordering = ["escalation_level", "name"]
    show_change_link = True


class PartnerAdminForm(ServiceFormMixin, ModelForm):
    # No Meta: the admin builds the form class with the model and the fields of its fieldsets.

    def save_through_service(self, actor):
        values = {name: self.cleaned_data[name] for name in PARTNER_FIELDS if name in self.cleaned_data}
        if self.instance.pk:
            values.pop("code", None)  # set once
            return partner_save(actor=actor, partner=self.instance, values=values)
        return partner_save(actor=actor, values=values)


@admin.register(Partner)
class PartnerAdmin(ServiceAdminMixin, LockedFieldsMixin, admin.ModelAdmin):
    """Saved by `partner_save`, like the API; the code is the partner's address, set once.
    Partners are deactivated, never deleted (their incidents and notices keep them)."""

    form = PartnerAdminForm
    list_display = ["name", "code", "kind", "country", "language", "timezone", "calendar", "active"]
    list_filter = ["kind", "language", "active", "country"]
    search_fields = ["name", "code"]
    list_select_related = ["calendar"]
    autocomplete_fields = ["calendar"]
    ordering = ["name"]
    prepopulated_fields = {"code": ["name"]}
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "code", "kind", "country", "active", "bin_prefixes"]}),
        (_("Language and hours"), {"fields": ["language", "timezone", "calendar"]}),
        (_("Notes"), {"fields": ["notes"]}),
        (_("Audit"), {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
    inlines = [PartnerContactInline]

    def get_locked_fields(self, request, obj=None):
        return ("code",) if obj is not None else ()

    def get_prepopulated_fields(self, request, obj=None):
        return {} if obj is not None else self.prepopulated_fields

    def has_delete_permission(self, request, obj=None):
        return False


class PartnerContactAdminForm(ServiceFormMixin, ModelForm):
    # No Meta: the admin builds the form class with the model and its fields.

    def save_through_service(self, actor):
        values = {name: self.cleaned_data[name] for name in CONTACT_FIELDS if name in self.cleaned_data}
        if self.instance.pk:
            return contact_save(actor=actor, contact=self.instance, values=values)
        return contact_save(actor=actor, partner=self.cleaned_data.get("partner"), values=values)


@admin.register(PartnerContact)
class PartnerContactAdmin(ServiceAdminMixin, LockedFieldsMixin, admin.ModelAdmin):
    """Saved by `contact_save` and removed by `contact_delete`, like the API; a contact stays with
    its partner."""

    form = PartnerContactAdminForm
    fields = ["partner", *CONTACT_FIELDS]
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

    def get_locked_fields(self, request, obj=None):
        return ("partner",) if obj is not None else ()

    def delete_model(self, request, obj):
        contact_delete(actor=request.user, contact=obj)

    def delete_queryset(self, request, queryset):
        for contact in queryset:
            contact_delete(actor=request.user, contact=contact)


class NoticeTemplateAdminForm(ModelForm):
    """Refuses a template that does not compile or names a variable outside the allowed context."""

    class Meta:
        model = NoticeTemplate
        fields = ["kind", "language", "partner_kind", "active", "subject", "body"]

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
    list_display = [
        "__str__",
        "kind",
        "partner_kind",
        "language",
        "version",
        "subject",
        "active",
        "author",
        "created_at",
    ]
    list_filter = ["kind", "partner_kind", "language", "active"]
    search_fields = ["subject", "body"]
    list_select_related = ["author"]
    date_hierarchy = "created_at"
    ordering = ["kind", "partner_kind", "language", "-version"]
    readonly_fields = ["version", "author", "created_at"]
    actions = ["activate"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["kind", "language", "partner_kind", "subject", "body"]
        return ["kind", "language", "partner_kind", "version", "active", "subject", "body", "author", "created_at"]

    def get_locked_fields(self, request, obj=None):
        # Another kind or language is another template, not another version of this one; a version
        # becomes active by saving a new text or through the "activate" action (one service each).
        return ("kind", "language", "partner_kind", "active") if obj is not None else ()

    @admin.action(description=_("Make the selected version the active one of its kind and language"))
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version to make active."), messages.ERROR)
            return
        try:
            template = notice_template_activate(actor=request.user, template=queryset.get())
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return
        self.message_user(request, _("%(template)s is the active version.") % {"template": template})

    def save_model(self, request, obj, form, change):
        if change and not {"subject", "body"} & set(form.changed_data):
            return  # nothing else is editable on a saved version
        saved = notice_template_save(
            actor=request.user,
            kind=obj.kind,
            language=obj.language,
            partner_kind=obj.partner_kind,
            subject=obj.subject,
            body=obj.body,
        )
        if change:
            self.message_user(
                request,
                _("The text changed, so it was saved as version %(version)s; the previous version is inactive.")
                % {"version": saved.version},
                messages.INFO,
            )
        obj.pk, obj.version, obj.active, obj._state.adding = saved.pk, saved.version, saved.active, False

    def has_delete_permission(self, request, obj=None):
        return False  # sent notices name their version: make another version active instead
