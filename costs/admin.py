"""Partner costs in the admin, read-only: rate cards are created and approved through their
services (a lead approves; an approved card never changes), imports and findings by the import
and the checks."""

from django.contrib import admin

from costs.models import (
    BillingCase,
    CostFinding,
    CostThresholds,
    CreditNote,
    FeeImport,
    FeeImportMapping,
    FeeRecord,
    FeeRule,
    Giro,
    InvoiceLine,
    RateCard,
)
from payhealth.admin_forms import ReadOnlyAdminMixin


@admin.register(Giro)
class GiroAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("code", "name_es", "name_en", "zero_rated")
    list_filter = ("zero_rated",)


class FeeRuleInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = FeeRule
    extra = 0
    fields = ("fee_type", "network", "funding", "product", "region", "giro", "entry_mode", "program_code")
    fields += ("rate_bps", "fixed_fee", "minimum_fee", "cap_fee", "priority", "specificity")
    readonly_fields = fields


@admin.register(RateCard)
class RateCardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("partner", "version", "state", "effective_from", "effective_to", "currency", "approved_by")
    list_filter = ("state",)
    list_select_related = ("partner", "approved_by")
    inlines = [FeeRuleInline]


@admin.register(FeeRule)
class FeeRuleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("rate_card", "fee_type", "rate_bps", "fixed_fee", "specificity", "priority")
    list_filter = ("fee_type",)
    list_select_related = ("rate_card__partner",)


@admin.register(FeeImport)
class FeeImportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("imported_at", "partner", "shape", "file_name", "rows", "imported_by")
    list_filter = ("shape",)
    list_select_related = ("partner", "imported_by")


@admin.register(InvoiceLine)
class InvoiceLineAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("partner", "period_start", "period_end", "fee_code", "fee_type", "count", "amount", "currency")
    list_select_related = ("partner",)


@admin.register(FeeRecord)
class FeeRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("partner", "reference", "txn_date", "merchant", "network", "funding", "amount", "interchange_fee")
    search_fields = ("reference", "merchant")
    list_select_related = ("partner",)


@admin.register(CostThresholds)
class CostThresholdsAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("partner", "deviation_bps", "deviation_amount", "deviation_count", "regression_bps")
    list_select_related = ("partner",)


@admin.register(CostFinding)
class CostFindingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "period",
        "kind",
        "partner",
        "fee_type",
        "billed_bps",
        "expected_bps",
        "amount",
        "severity",
        "state",
    )
    list_filter = ("kind", "severity", "state")
    list_select_related = ("partner",)


@admin.register(FeeImportMapping)
class FeeImportMappingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("partner", "shape", "updated_by", "updated_at")
    list_select_related = ("partner", "updated_by")


class CreditNoteInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CreditNote
    extra = 0
    fields = ("reference", "amount", "currency", "issued_on", "final", "recorded_by", "recorded_at")
    readonly_fields = fields


@admin.register(BillingCase)
class BillingCaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("incident", "partner", "period", "amount_disputed", "currency", "dispute_deadline", "settled_at")
    list_select_related = ("incident", "partner")
    inlines = [CreditNoteInline]


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("billing_case", "reference", "amount", "currency", "issued_on", "final", "recorded_by")
    list_select_related = ("billing_case__partner", "recorded_by")
