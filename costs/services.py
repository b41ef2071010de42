"""Rate cards: create a draft version, approve it (a lead; an approved card never changes, and it
supersedes the partner's earlier versions from its effective date)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from costs.models import MATCH_KEYS, FeeRule, FeeType, Funding, RateCard, Region
from partners.models import Partner

RULE_FIELDS = (*MATCH_KEYS, "fee_type", "rate_bps", "fixed_fee", "minimum_fee", "cap_fee", "priority")


def _decimal(value, name: str, index: int, *, optional: bool = False) -> Decimal | None:
    if value in (None, "") and optional:
        return None
    try:
        number = Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite() or number < 0:
        raise ValidationError(
            {"rules": _("Rule %(n)d: %(field)s is a number of zero or more.") % {"n": index, "field": name}}
        )
    return number


def _rule(card: RateCard, spec: dict, index: int) -> FeeRule:
    unknown = set(spec) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError(
            {"rules": _("Rule %(n)d: unknown fields %(fields)s.") % {"n": index, "fields": sorted(unknown)}}
        )
    if spec.get("fee_type") not in FeeType.values:
        raise ValidationError({"rules": _("Rule %(n)d: choose a fee type.") % {"n": index}})
    if spec.get("funding", "") not in ("", *Funding.values):
        raise ValidationError({"rules": _("Rule %(n)d: unknown funding.") % {"n": index}})
    if spec.get("region", "") not in ("", *Region.values):
        raise ValidationError({"rules": _("Rule %(n)d: domestic or cross-border only.") % {"n": index}})
    if any("\x00" in str(spec.get(key) or "") for key in MATCH_KEYS):
        raise ValidationError({"rules": _("Rule %(n)d: keys are plain text.") % {"n": index}})
    try:
        priority = int(str(spec.get("priority") or 0))
    except ValueError:
        raise ValidationError({"rules": _("Rule %(n)d: the priority is a whole number.") % {"n": index}}) from None
    rule = FeeRule(
        rate_card=card,
        fee_type=spec["fee_type"],
        rate_bps=_decimal(spec.get("rate_bps"), "rate_bps", index),
        fixed_fee=_decimal(spec.get("fixed_fee"), "fixed_fee", index),
        minimum_fee=_decimal(spec.get("minimum_fee"), "minimum_fee", index, optional=True),
        cap_fee=_decimal(spec.get("cap_fee"), "cap_fee", index, optional=True),
        priority=priority,
        **{key: str(spec.get(key) or "").strip() for key in MATCH_KEYS},
    )
    if rule.minimum_fee is not None and rule.cap_fee is not None and rule.cap_fee < rule.minimum_fee:
        raise ValidationError({"rules": _("Rule %(n)d: the cap is below the minimum.") % {"n": index}})
    try:
        rule.full_clean(exclude=["rate_card"])
    except ValidationError as invalid:
        raise ValidationError(
            {"rules": _("Rule %(n)d: %(errors)s") % {"n": index, "errors": invalid.messages}}
        ) from None
    return rule


@transaction.atomic
def rate_card_create(
    *,
    partner: Partner,
    effective_from: date,
    rules: list[dict],
    actor=None,
    currency: str = "MXN",
    notes: str = "",
) -> RateCard:
    """A new draft version of the partner's rate card with its rules (each a dict of FeeRule fields)."""
    Partner.objects.select_for_update().get(pk=partner.pk)  # versions numbered one at a time
    version = (RateCard.objects.filter(partner=partner).aggregate(v=Max("version"))["v"] or 0) + 1
    card = RateCard(
        partner=partner,
        version=version,
        effective_from=effective_from,
        currency=currency,
        notes=notes,
        created_by=actor,
    )
    card.full_clean()
    card.save()
    built = [_rule(card, spec, n) for n, spec in enumerate(rules, start=1)]
    for rule in built:
        rule.save()
    return card


def _draft(card: RateCard) -> None:
    if card.state != RateCard.State.DRAFT:
        raise ValidationError(_("An approved or retired rate card never changes: create a new version."))


@transaction.atomic
def fee_rule_add(*, rate_card: RateCard, actor=None, **spec) -> FeeRule:
    card = RateCard.objects.select_for_update().get(pk=rate_card.pk)
    _draft(card)
    rule = _rule(card, spec, card.rules.count() + 1)
    rule.save()
    return rule


@transaction.atomic
def rate_card_approve(*, rate_card: RateCard, actor) -> RateCard:
    """A lead approves a draft (never their own): from its effective date it supersedes the
    partner's earlier versions (their `effective_to` ends there) and retires approved versions
    that would start on or after it."""
    if actor is None or not actor.has_perm("costs.approve_ratecard"):
        raise PermissionDenied(_("Only a lead approves rate cards."))
    card = RateCard.objects.select_for_update().get(pk=rate_card.pk)
    _draft(card)
    if card.created_by_id is not None and card.created_by_id == actor.pk:
        raise PermissionDenied(_("A rate card is approved by another lead than its author."))
    if not card.rules.exists():
        raise ValidationError(_("A rate card without rules cannot be approved."))
    others = RateCard.objects.select_for_update().filter(partner=card.partner, state=RateCard.State.APPROVED)
    now = timezone.now()
    for other in others:
        if other.effective_from >= card.effective_from:
            other.state = RateCard.State.RETIRED
            other.save(update_fields=["state"])
        elif other.effective_to is None or other.effective_to > card.effective_from:
            other.effective_to = card.effective_from
            other.save(update_fields=["effective_to"])
    card.state = RateCard.State.APPROVED
    card.approved_by = actor
    card.approved_at = now
    card.save(update_fields=["state", "approved_by", "approved_at"])
    return card


def billing_import(source, *, partner: Partner, shape: str, mapping: dict | None = None, actor=None):
    """Import a partner's billing (a CSV/Parquet path or rows) and check the months it holds.

    Without `mapping`, the partner's saved column mapping for the shape is used (none: the columns
    carry the fields' own names). The checks run in the worker once the import commits
    (`costs.check_import_task`); raises `FeeImportRefused` like `fee_import`."""
    from costs.importing import fee_import
    from costs.models import FeeImportMapping
    from payhealth.outbox import publish_on_commit

    if mapping is None:
        saved = FeeImportMapping.objects.filter(partner=partner, shape=shape).first()
        mapping = saved.as_mapping() if saved else None
    with transaction.atomic():
        imported = fee_import(source, partner=partner, shape=shape, mapping=mapping, actor=actor)
        publish_on_commit("costs.check_import_task", [imported.pk])
    return imported


def fee_import_months(imported) -> list[date]:
    """The first days of the months an import's rows fall in."""
    from django.db.models.functions import TruncMonth

    from costs.models import FeeImport, FeeRecord, InvoiceLine

    if imported.shape == FeeImport.Shape.RECORDS:
        rows = FeeRecord.objects.filter(fee_import=imported).annotate(month=TruncMonth("txn_date"))
    else:
        rows = InvoiceLine.objects.filter(fee_import=imported).annotate(month=TruncMonth("period_start"))
    return sorted(rows.values_list("month", flat=True).distinct())


def fee_imports_months(imports) -> dict[int, list[date]]:
    """`fee_import_months` of many imports at once: two grouped queries (records, invoice lines)
    whatever the number of imports, for lists and their CSV (not a query per import)."""
    from django.db.models.functions import TruncMonth

    from costs.models import FeeImport, FeeRecord, InvoiceLine

    imports = list(imports)
    months: dict[int, set[date]] = {imported.pk: set() for imported in imports}
    records = [i.pk for i in imports if i.shape == FeeImport.Shape.RECORDS]
    lines = [i.pk for i in imports if i.shape != FeeImport.Shape.RECORDS]
    for model, ids, field in ((FeeRecord, records, "txn_date"), (InvoiceLine, lines, "period_start")):
        if not ids:
            continue
        grouped = (
            model.objects.filter(fee_import_id__in=ids)
            .annotate(month=TruncMonth(field))
            .values_list("fee_import_id", "month")
            .distinct()
        )
        for pk, month in grouped:
            months[pk].add(month)
    return {pk: sorted(found) for pk, found in months.items()}


def fee_import_check(imported) -> list[dict]:
    """Run the checks for every month an import holds, for its partner; idempotent (a re-run replaces
    the months' open findings)."""
    from costs.checks import costs_check

    results = []
    for month in fee_import_months(imported):
        result = costs_check(partner=imported.partner, period=month)
        results.append({"period": result.period.isoformat(), "findings": result.findings, "by_kind": result.by_kind})
    type(imported).objects.filter(pk=imported.pk).update(checked_at=timezone.now())
    return results


@transaction.atomic
def fee_rule_remove(*, rule: FeeRule, actor=None) -> None:
    """Remove a rule from a draft (an approved or retired card never changes)."""
    card = RateCard.objects.select_for_update().get(pk=rule.rate_card_id)
    _draft(card)
    FeeRule.objects.filter(pk=rule.pk, rate_card=card).delete()


def rule_specs(card: RateCard) -> list[dict]:
    """A card's rules as `rate_card_create` takes them: to start a new draft from a version."""
    return [
        {name: getattr(rule, name) for name in RULE_FIELDS if getattr(rule, name) not in (None, "")}
        for rule in card.rules.order_by("fee_type", "-specificity", "-priority", "id")
    ]


def _rule_key(rule: FeeRule) -> tuple:
    return (rule.fee_type, *(getattr(rule, key) for key in MATCH_KEYS))


DIFF_FIELDS = ("rate_bps", "fixed_fee", "minimum_fee", "cap_fee", "priority")


def rate_card_diff(old: RateCard, new: RateCard) -> dict:
    """What changed from `old` to `new` (two versions of the same partner): rules added, removed
    and changed, each rule known by its fee type and match keys, with old → new figures; and the
    effective dates of both."""
    if old.partner_id != new.partner_id:
        raise ValidationError({"against": _("Compare two versions of the same partner's rate card.")})
    before = {_rule_key(rule): rule for rule in old.rules.all()}
    after = {_rule_key(rule): rule for rule in new.rules.all()}

    def keys(key: tuple) -> dict:
        return {name: value for name, value in zip(MATCH_KEYS, key[1:], strict=True) if value}

    def order(key: tuple) -> tuple:
        return (key[0], key[1:])

    added = [
        {"fee_type": k[0], "keys": keys(k), "rule": after[k]} for k in sorted(after.keys() - before.keys(), key=order)
    ]
    removed = [
        {"fee_type": k[0], "keys": keys(k), "rule": before[k]} for k in sorted(before.keys() - after.keys(), key=order)
    ]
    changed = []
    for k in sorted(before.keys() & after.keys(), key=order):
        changes = {
            name: (getattr(before[k], name), getattr(after[k], name))
            for name in DIFF_FIELDS
            if getattr(before[k], name) != getattr(after[k], name)
        }
        if changes:
            changed.append({"fee_type": k[0], "keys": keys(k), "changes": changes, "old": before[k], "new": after[k]})
    return {
        "old": old,
        "new": new,
        "effective": {
            "old": (old.effective_from, old.effective_to),
            "new": (new.effective_from, new.effective_to),
        },
        "added": added,
        "removed": removed,
        "changed": changed,
    }


MAPPING_VALUE_MAX = 120


@transaction.atomic
def fee_import_mapping_save(*, partner: Partner, shape: str, columns: dict, fee_codes: dict, actor=None):
    """Save how the partner's files of one shape name their columns (field → column; a field left
    out or mapped to its own name is read from the column of its own name) and their fee codes
    (partner's code → fee type). Replaces the partner's mapping for the shape."""
    from costs.importing import INVOICE_FIELDS, RECORD_FIELDS
    from costs.models import FeeImport, FeeImportMapping

    if shape not in FeeImport.Shape.values:
        raise ValidationError({"shape": _("Choose invoice or records.")})
    fields = INVOICE_FIELDS if shape == FeeImport.Shape.INVOICE else RECORD_FIELDS
    errors: dict[str, list[str]] = {}
    clean_columns = {}
    for field, column in (columns or {}).items():
        column = str(column or "").strip()
        if field not in fields:
            errors.setdefault("columns", []).append(_("%(field)s is not a field of this shape.") % {"field": field})
        elif len(column) > MAPPING_VALUE_MAX or "\x00" in column:
            errors.setdefault(field, []).append(_("Too long, or not text."))
        elif column and column != field:
            clean_columns[field] = column
    clean_codes = {}
    for code, fee_type in (fee_codes or {}).items():
        code = str(code or "").strip()
        if not code or len(code) > 60 or "\x00" in code:
            errors.setdefault("fee_codes", []).append(_("A fee code is 1 to 60 characters of text."))
        elif fee_type not in FeeType.values:
            errors.setdefault("fee_codes", []).append(
                _("%(code)s: choose one of %(choices)s.") % {"code": code, "choices": ", ".join(FeeType.values)}
            )
        else:
            clean_codes[code] = fee_type
    if errors:
        raise ValidationError(errors)
    mapping, _created = FeeImportMapping.objects.select_for_update().get_or_create(partner=partner, shape=shape)
    mapping.columns = clean_columns
    mapping.fee_codes = clean_codes
    mapping.updated_by = actor
    mapping.full_clean()
    mapping.save()
    return mapping


THRESHOLD_FIELDS = (
    "deviation_bps",
    "deviation_amount",
    "deviation_count",
    "regression_bps",
    "downgrade_pp",
    "downgrade_q",
    "unknown_fee_amount",
    "spike_bps",
    "dispute_window_days",
)


@transaction.atomic
def cost_thresholds_save(*, partner: Partner, actor, **values):
    """A lead sets the partner's thresholds for the checks (a field not given keeps its value, or the default)."""
    from costs.models import CostThresholds

    if actor is None or not actor.has_perm("costs.change_costthresholds"):
        raise PermissionDenied(_("Only a lead changes the thresholds."))
    unknown = set(values) - set(THRESHOLD_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown thresholds: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    thresholds, _created = CostThresholds.objects.select_for_update().get_or_create(partner=partner)
    for name, value in values.items():
        setattr(thresholds, name, value)
    errors = {}
    for name in THRESHOLD_FIELDS:
        value = getattr(thresholds, name)
        if value is None or (value < 0 if name != "downgrade_q" else not (0 < value <= 1)):
            errors[name] = [
                _("Enter a number above 0 and at most 1.") if name == "downgrade_q" else _("Enter zero or more.")
            ]
    if errors:
        raise ValidationError(errors)
    thresholds.full_clean()
    thresholds.save()
    return thresholds


def fee_import_recheck(imported, *, actor=None) -> None:
    """Run the checks of an import's months again, in the worker: the task the import queued."""
    from payhealth.outbox import publish_on_commit

    with transaction.atomic():
        publish_on_commit("costs.check_import_task", [imported.pk])
