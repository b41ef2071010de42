"""Admin for incidents and everything that hangs off them.

The admin is the superusers' tool, but it writes through the same rules as the
desk: a new incident is opened by `incident_open` (reference, `opened` event), the status only
moves through `incident_transition` on the incident page or the API, and every other edit of an
incident or of what hangs off it (merchants, partners, notes) calls the service the incident page
calls, so it is locked, checked and put on the timeline in the same way. The timeline and SLA
clock events are append-only, here as everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import forms
from django.contrib import admin
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.correspondence import admin as correspondence_admin  # noqa: F401 - registers on import
from cases.models import (
    ActionItem,
    AffectedMerchant,
    CardNetwork,
    CaseEvent,
    Incident,
    IncidentDeclineCode,
    InvestigationNote,
    Merchant,
    MerchantRoute,
    OverviewHour,
    OverviewHourDelta,
    OverviewOpen,
    OverviewOpenDelta,
    OverviewWeekMedian,
    PartnerEngagement,
    RcaRequest,
    ReferenceCounter,
    ResponseCode,
    SampleTransaction,
    SavedView,
)
from cases.services import (
    engagement_add,
    engagement_update,
    incident_assign,
    incident_change_severity,
    incident_open,
    incident_update_details,
    merchant_impact_add,
    merchant_impact_remove,
    merchant_impact_update,
    merchant_route_delete,
    merchant_route_save,
    note_add,
    note_edit,
)
from cases.services.impact import ENGAGEMENT_TIMES, IMPACT_FIELDS
from cases.services.incidents import EDITABLE_DETAILS
from cases.services.merchants import MERCHANT_FIELDS, merchant_create, merchant_update
from cases.sla import admin as sla_admin  # noqa: F401 - registers on import
from payhealth.admin_forms import LockedFieldsMixin, ReadOnlyAdminMixin, ServiceAdminMixin, ServiceFormMixin, become
from payhealth.forms import ModelForm

# --- What hangs off an incident: written by the same services as the incident page ---------
# The services lock the incident, check the row, put the change on the timeline and refresh the
# search document; the admin only turns its forms into their arguments.


def _values(obj, names: Iterable[str]) -> dict:
    return {name: getattr(obj, name) for name in names}


def _child_add(actor, obj):
    """Create the row the admin form built (unsaved) through its service; the row as saved."""
    if isinstance(obj, AffectedMerchant):
        measures = _values(obj, IMPACT_FIELDS)  # what the form does not offer holds the model's default
        return merchant_impact_add(incident=obj.incident, actor=actor, merchant=obj.merchant, **measures)
    if isinstance(obj, PartnerEngagement):
        engagement = engagement_add(
            incident=obj.incident, actor=actor, partner=obj.partner, folio=obj.folio, partner_status=obj.partner_status
        )
        # engagement_add takes no level and stamps the times itself; what the form set differently
        # is an update on top (a time left blank keeps the stamp).
        extra = _values(obj, ["escalation_level", *(name for name in ENGAGEMENT_TIMES if getattr(obj, name))])
        return engagement_update(engagement=engagement, actor=actor, **extra)
    return note_add(incident=obj.incident, actor=actor, body=obj.body)


def _child_change(actor, obj, changed: Iterable[str]):
    """Save the fields the admin form changed through the row's service; the row as saved."""
    changes = _values(obj, changed)
    if not changes:
        return obj
    if isinstance(obj, AffectedMerchant):
        return merchant_impact_update(affected=obj, actor=actor, **changes)
    if isinstance(obj, PartnerEngagement):
        return engagement_update(engagement=obj, actor=actor, **changes)
    return note_edit(note=obj, actor=actor, body=obj.body)  # the body is a note's only editable field


def _child_remove(actor, obj) -> None:
    # Only merchants come off an incident; engagements and notes have no delete permission.
    merchant_impact_remove(affected=obj, actor=actor)


def _child_locked_fields(obj, editor) -> tuple[str, ...]:
    """What no service changes on a saved row: its incident, who it is about, a note by someone else."""
    if isinstance(obj, AffectedMerchant):
        return ("incident", "merchant")
    if isinstance(obj, PartnerEngagement):
        return ("incident", "partner")
    if obj.author_id != getattr(editor, "pk", None):
        return ("incident", "body")  # note_edit: only the author may change a note's words
    return ("incident",)


# --- Reference data -------------------------------------------------------------------------


class MerchantAdminForm(ServiceFormMixin, ModelForm):
    # No Meta: the admin builds the form class with the model and its fields.

    def save_through_service(self, actor):
        values = {name: self.cleaned_data[name] for name in MERCHANT_FIELDS if name in self.cleaned_data}
        if self.instance.pk:
            return merchant_update(merchant=self.instance, actor=actor, **values)
        return merchant_create(actor=actor, **values)


@admin.register(Merchant)
class MerchantAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """Saved by `merchant_create` / `merchant_update`, like the API; merchants are never deleted here
    (their incidents keep them)."""

    form = MerchantAdminForm
    fields = [*MERCHANT_FIELDS, "created_at"]
    list_display = ["name", "account_id", "country", "mcc", "segment", "account_manager"]
    list_filter = ["segment", "country"]
    search_fields = ["name", "account_id", "account_manager", "account_manager_email"]
    ordering = ["name"]
    readonly_fields = ["created_at"]

    def has_delete_permission(self, request, obj=None):
        return False


class MerchantRouteAdminForm(ServiceFormMixin, ModelForm):
    def save_through_service(self, actor):
        data = self.cleaned_data
        return merchant_route_save(
            actor=actor,
            merchant=data.get("merchant") or self.instance.merchant,
            partner=data.get("partner") or self.instance.partner,
            affiliation=data.get("affiliation", ""),
        )


@admin.register(MerchantRoute)
class MerchantRouteAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """Which partners a merchant's authorizations go through, with the affiliation number each gave it
    (a switch's or acquirer's notice shows it); saved by `merchant_route_save`."""

    form = MerchantRouteAdminForm
    fields = ["merchant", "partner", "affiliation", "created_at"]
    list_display = ["merchant", "partner", "affiliation", "created_at"]
    list_filter = ["partner__kind"]
    search_fields = ["merchant__name", "merchant__account_id", "partner__name", "affiliation"]
    list_select_related = ["merchant", "partner"]
    autocomplete_fields = ["merchant", "partner"]
    ordering = ["merchant__name", "partner__name"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request, obj=None):
        return ["merchant", "partner", "created_at"] if obj is not None else ["created_at"]

    def delete_model(self, request, obj):
        merchant_route_delete(actor=request.user, route=obj)

    def delete_queryset(self, request, queryset):
        for route in queryset:
            merchant_route_delete(actor=request.user, route=route)


@admin.register(ResponseCode)
class ResponseCodeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Reference data shipped with PayHealth (`cases/data/decline_codes.csv`, loaded by a migration)."""

    list_display = ["scheme", "code", "meaning", "meaning_es", "category", "retryable", "visa_category"]
    list_filter = ["scheme", "category", "retryable", "visa_category"]
    search_fields = ["code", "meaning", "meaning_es"]
    ordering = ["scheme", "code"]


@admin.register(IncidentDeclineCode)
class IncidentDeclineCodeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written by alert intake and the incident page's services, which keep the incident's codes
    seen and its timeline in step."""

    list_display = ["incident", "code", "count_before", "count_during", "source", "updated_at"]
    list_filter = ["source"]
    search_fields = ["incident__reference", "code"]
    list_select_related = ["incident"]


@admin.register(ReferenceCounter)
class ReferenceCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written only by `cases.numbering`; a hand edit could hand out a reference twice."""

    list_display = ["year", "last"]
    ordering = ["-year"]


@admin.register(OverviewHour)
class OverviewHourAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Kept by the incident and clock tables' triggers; `manage.py rebuild_overview_counters` recomputes them."""

    list_display = ["hour", "opened", "resolved", "acknowledged", "met", "breached", "changes"]
    date_hierarchy = "hour"
    ordering = ["-hour"]


@admin.register(OverviewOpen)
class OverviewOpenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Kept by the incident table's triggers; `manage.py rebuild_overview_counters` recomputes them."""

    list_display = ["severity", "owner_id", "count"]
    list_filter = ["severity"]
    ordering = ["severity", "owner_id"]


@admin.register(OverviewHourDelta)
class OverviewHourDeltaAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Appended by the incident and clock tables' triggers; the fold moves them into the hours every minute."""

    list_display = ["hour", "opened", "resolved", "acknowledged", "met", "breached", "changes"]
    ordering = ["-id"]


@admin.register(OverviewOpenDelta)
class OverviewOpenDeltaAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Appended by the incident table's triggers; the fold moves them into the open counters every minute."""

    list_display = ["severity", "owner_id", "count"]
    list_filter = ["severity"]
    ordering = ["-id"]


@admin.register(OverviewWeekMedian)
class OverviewWeekMedianAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Medians the overview stored, each reused only while its week is unchanged."""

    list_display = ["zone", "week", "mtta", "mttr", "signature"]
    list_filter = ["zone"]
    ordering = ["zone", "-week"]


@admin.register(RcaRequest)
class RcaRequestAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written by the RCA services on the incident page, which keep its timeline and clock."""

    list_display = ["incident", "engagement", "status", "requested_at", "due_at"]
    list_filter = ["status"]
    raw_id_fields = ["incident", "engagement", "correspondence"]


@admin.register(ActionItem)
class ActionItemAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written by the action-item services on the incident page, which keep its timeline."""

    list_display = ["title", "incident", "owner", "partner", "due_date", "status"]
    list_filter = ["status"]
    raw_id_fields = ["incident", "rca"]


@admin.register(SampleTransaction)
class SampleTransactionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Uploaded and removed on the incident page or the API (`cases.services.samples`), which keep
    the timeline and refuse a file holding a card number."""

    list_display = ["incident", "occurred_at", "amount", "currency", "card", "response_code", "engagement"]
    raw_id_fields = ["incident", "engagement", "merchant"]


# --- Incidents ------------------------------------------------------------------------------


class IncidentChildInlineForm(ModelForm):
    """A saved row shows what its service cannot change as disabled (see `_child_locked_fields`)."""

    # No Meta: the admin builds the form class with the inline's model and fields.

    def __init__(self, *args, editor=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for name in _child_locked_fields(self.instance, editor):
                if name in self.fields:
                    self.fields[name].disabled = True


class IncidentChildInlineMixin:
    """An inline on the incident page whose rows `IncidentAdmin.save_formset` writes through services."""

    form = IncidentChildInlineForm
    extra = 0
    related: tuple[str, ...] = ()  # what each row's __str__ and widgets read

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.related)


class AffectedMerchantInline(IncidentChildInlineMixin, admin.TabularInline):
    model = AffectedMerchant
    fields = [
        "merchant",
        "baseline_rate",
        "observed_rate",
        "attempts",
        "failed_attempts",
        "excess_declines",
        "volume_at_risk",
        "currency",
        "rate_definition",
    ]
    readonly_fields = ["excess_declines"]
    autocomplete_fields = ["merchant"]
    related = ("merchant",)


class PartnerEngagementInline(IncidentChildInlineMixin, admin.TabularInline):
    model = PartnerEngagement
    can_delete = False  # the engagement carries the partner's correspondence and SLA clocks
    fields = [
        "partner",
        "partner_status",
        "folio",
        "escalation_level",
        "first_notified_at",
        "acknowledged_at",
        "resolved_at",
    ]
    autocomplete_fields = ["partner"]
    related = ("partner",)


class InvestigationNoteInline(IncidentChildInlineMixin, admin.StackedInline):
    model = InvestigationNote
    can_delete = False
    fields = ["body", "author", "created_at", "edited_at"]
    readonly_fields = ["author", "created_at", "edited_at"]
    related = ("author",)


class CaseEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CaseEvent
    extra = 0
    fields = ["created_at", "kind", "actor", "data"]
    readonly_fields = fields
    ordering = ["created_at", "id"]
    verbose_name_plural = _("timeline")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class IncidentAdminForm(ModelForm):
    card_networks = forms.MultipleChoiceField(
        label=_("card networks"),
        choices=CardNetwork.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    # No Meta: the admin builds the form class with the model and the fields of its fieldsets.

    def clean_owner(self):
        # The rule of incident_assign, checked here so the service cannot refuse after validation.
        owner = self.cleaned_data.get("owner")
        if owner is not None and not owner.has_perm("cases.change_incident"):
            raise forms.ValidationError(
                _("%(user)s cannot own incidents (no desk role)."),
                params={"user": owner.get_username()},
                code="owner_without_role",
            )
        return owner


class IncidentAddForm(IncidentAdminForm):
    """Validates exactly what `incident_open` will write, so the service cannot refuse it later."""

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("detected_at"):
            # incident_open defaults detection to now; the form checks the impact window with it.
            cleaned["detected_at"] = timezone.now()
        return cleaned


class IncidentChangeForm(IncidentAdminForm):
    severity_reason = forms.CharField(
        label=_("reason for the severity change"),
        required=False,
        max_length=500,
        help_text=_("Required when the severity changes; kept on the timeline."),
    )

    def clean(self):
        cleaned = super().clean()
        if "severity" in self.changed_data and not cleaned.get("severity_reason", "").strip():
            self.add_error("severity_reason", _("Say why the severity changes."))
        return cleaned


# The arguments of incident_open that the add form offers.
_OPEN_FIELDS = (
    "title",
    "category",
    "severity",
    "owner",
    "summary",
    "started_at",
    "detected_at",
    "card_networks",
    "decline_codes",
    "bin_prefixes",
    "country",
    "source",
    "fingerprint",
)


@admin.register(Incident)
class IncidentAdmin(LockedFieldsMixin, admin.ModelAdmin):
    """Every write goes through the incident services, as on the desk's own pages.

    Adding calls `incident_open` (reference, `opened` event); a change calls
    `incident_update_details`, `incident_change_severity` (with its reason) and `incident_assign`.
    The status is shown but locked: transitions are made on the incident page or through the
    API, where the lifecycle is checked and a reason asked when one is required; the resolved
    and closed instants those transitions set are locked with it.
    """

    list_display = ["reference", "title", "severity", "status", "category", "owner", "source", "created_at"]
    list_display_links = ["reference", "title"]
    list_filter = ["status", "severity", "category", "source"]
    search_fields = [
        "reference",
        "title",
        "summary",
        "fingerprint",
        "affected_merchants__merchant__name",
        "affected_merchants__merchant__account_id",
        "engagements__partner__name",
        "engagements__folio",
    ]
    list_select_related = ["owner"]
    autocomplete_fields = ["owner"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]

    add_fieldsets = [
        (None, {"fields": ["title", "category", "severity", "status", "owner", "summary"]}),
        (
            _("Impact"),
            {"fields": ["started_at", "detected_at", "card_networks", "decline_codes", "bin_prefixes", "country"]},
        ),
        (_("Origin"), {"fields": ["source", "fingerprint"]}),
    ]
    change_fieldsets = [
        (
            None,
            {
                "fields": [
                    "reference",
                    "title",
                    "category",
                    "severity",
                    "severity_reason",
                    "status",
                    "owner",
                    "summary",
                    "root_cause",
                ]
            },
        ),
        (_("Impact window"), {"fields": ["started_at", "detected_at", "mitigated_at", "resolved_at", "closed_at"]}),
        (_("Scope"), {"fields": ["card_networks", "decline_codes", "bin_prefixes", "country"]}),
        (_("Origin"), {"fields": ["source", "fingerprint", "created_by", "created_at", "updated_at"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.change_fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["reference", "source", "fingerprint", "created_by", "created_at", "updated_at"]

    def get_locked_fields(self, request, obj=None):
        if obj is None:
            return ("status",)  # always opens as new
        return ("status", "resolved_at", "closed_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = IncidentAddForm if obj is None else IncidentChangeForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if "status" in form.base_fields:
            form.base_fields["status"].help_text = _(
                "Status changes are made on the incident page or through the API, which check the "
                "lifecycle and record them on the timeline."
            )
        return form

    def get_inlines(self, request, obj):
        # On the add page the service opens the incident; what hangs off it is added afterwards.
        if obj is None:
            return []
        return [AffectedMerchantInline, PartnerEngagementInline, InvestigationNoteInline, CaseEventInline]

    def save_model(self, request, obj, form, change):
        data, changed = form.cleaned_data, set(form.changed_data)
        if not change:
            saved = incident_open(actor=request.user, **{name: data[name] for name in _OPEN_FIELDS if name in data})
        else:
            saved = obj
            details = {name: data[name] for name in EDITABLE_DETAILS if name in changed}
            if details:
                saved = incident_update_details(incident=saved, actor=request.user, **details)
            if "severity" in changed:
                saved = incident_change_severity(
                    incident=saved, actor=request.user, severity=data["severity"], reason=data["severity_reason"]
                )
            if "owner" in changed:
                saved = incident_assign(incident=saved, actor=request.user, owner=data["owner"])
            saved.refresh_from_db()
        become(obj, saved)

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, IncidentChildInlineMixin):
            kwargs["form_kwargs"] = {"editor": request.user}
        return kwargs

    def save_formset(self, request, form, formset, change):
        if not issubclass(formset.form, IncidentChildInlineForm):
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)  # builds the rows; the services write them
        for obj in formset.deleted_objects:
            _child_remove(request.user, obj)
        for obj in formset.new_objects:
            become(obj, _child_add(request.user, obj))
        for obj, changed in formset.changed_objects:
            become(obj, _child_change(request.user, obj, changed))

    def has_delete_permission(self, request, obj=None):
        return False  # an incident is the desk's record: close it instead


class IncidentChildAdmin(LockedFieldsMixin, admin.ModelAdmin):
    """Something that hangs off one incident, written through its services like the inlines."""

    autocomplete_fields = ["incident"]

    def get_locked_fields(self, request, obj=None):
        return _child_locked_fields(obj, request.user) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        saved = _child_change(request.user, obj, form.changed_data) if change else _child_add(request.user, obj)
        become(obj, saved)

    def delete_model(self, request, obj):
        _child_remove(request.user, obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for obj in queryset:
            _child_remove(request.user, obj)


@admin.register(AffectedMerchant)
class AffectedMerchantAdmin(IncidentChildAdmin):
    list_display = [
        "incident",
        "merchant",
        "baseline_rate",
        "observed_rate",
        "attempts",
        "failed_attempts",
        "excess_declines",
        "volume_at_risk",
        "currency",
        "rate_definition",
    ]
    list_filter = ["rate_definition", "currency", "incident__status", "merchant__segment"]
    search_fields = ["incident__reference", "incident__title", "merchant__name", "merchant__account_id"]
    list_select_related = ["incident", "merchant"]
    autocomplete_fields = ["incident", "merchant"]
    ordering = ["-incident__created_at", "merchant__name"]
    readonly_fields = ["excess_declines", "updated_at"]

    def get_queryset(self, request):
        # __str__ names the incident and the merchant (autocomplete and change pages too).
        return super().get_queryset(request).select_related("incident", "merchant")


@admin.register(PartnerEngagement)
class PartnerEngagementAdmin(IncidentChildAdmin):
    list_display = [
        "incident",
        "partner",
        "partner_status",
        "folio",
        "escalation_level",
        "first_notified_at",
        "acknowledged_at",
        "resolved_at",
    ]
    list_filter = ["partner_status", "partner__kind", "incident__status"]
    search_fields = ["incident__reference", "incident__title", "partner__name", "partner__code", "folio"]
    list_select_related = ["incident", "partner"]
    autocomplete_fields = ["incident", "partner"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    readonly_fields = ["eta", "created_at", "updated_at"]  # the ETA is confirmed from a partner's reply

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("incident", "partner")

    def has_delete_permission(self, request, obj=None):
        # Deleting would take the partner's correspondence and SLA clocks with it; mark the
        # partner "not involved" instead.
        return False


@admin.register(InvestigationNote)
class InvestigationNoteAdmin(IncidentChildAdmin):
    list_display = ["incident", "author", "excerpt", "created_at", "edited_at"]
    list_filter = ["created_at"]
    search_fields = ["incident__reference", "incident__title", "body", "author__username"]
    list_select_related = ["incident", "author"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    fields = ["incident", "body", "author", "created_at", "edited_at"]
    readonly_fields = ["author", "created_at", "edited_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("incident", "author")

    def has_delete_permission(self, request, obj=None):
        return False  # notes are the investigation's record; edit them instead

    @admin.display(description=_("note"))
    def excerpt(self, obj: InvestigationNote) -> str:
        return obj.body if len(obj.body) <= 80 else f"{obj.body[:79]}…"


@admin.register(SavedView)
class SavedViewAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Private to their owners, who save and delete them on the queue."""

    list_display = ["name", "owner", "query", "created_at"]
    search_fields = ["name", "query", "owner__username"]
    list_select_related = ["owner"]
    autocomplete_fields = ["owner"]
    ordering = ["owner__username", "name"]
    readonly_fields = ["created_at"]


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "incident", "kind", "actor"]
    list_filter = ["kind"]
    search_fields = ["incident__reference", "incident__title"]
    list_select_related = ["incident", "actor"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
