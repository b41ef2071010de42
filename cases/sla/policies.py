"""Leads edit SLA policies: targets per severity, optionally per partner kind or per
partner, a calendar, and the share of a target at which a warning fires.

A policy's targets are copied onto each clock when it starts, so an edit applies to clocks started
afterwards, and to running clocks only when an incident's severity changes to a severity whose
policy re-targets. Policies are never deleted: clocks and reports
keep pointing at the policy they ran under, so a lead deactivates one instead.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from cases.models import SlaPolicy

EDITABLE_FIELDS = (
    "name",
    "severity",
    "partner_kind",
    "partner",
    "category",
    "acknowledge_target",
    "first_notice_target",
    "update_every",
    "resolve_target",
    "calendar",
    "warn_at",
    "retarget_on_severity_change",
    "active",
)
TARGET_FIELDS = ("acknowledge_target", "first_notice_target", "update_every", "resolve_target")
# Clocks of both families time acknowledgement and resolution, so every policy needs those two.
REQUIRED_TARGETS = ("acknowledge_target", "resolve_target")
MAX_TARGET = timedelta(days=366)
SCOPE_CONSTRAINT = "slapolicy_one_active_per_scope"


def _is_default(policy: SlaPolicy) -> bool:
    """The generic policy of a severity: the one every incident's own clocks use."""
    return policy.partner_id is None and not policy.partner_kind and not policy.category


def _scope_taken_message(policy: SlaPolicy) -> str:
    if policy.category:
        return _("An active policy for %(severity)s, this scope and the category %(category)s already exists.") % {
            "severity": policy.get_severity_display(),
            "category": policy.get_category_display(),
        }
    if policy.partner_id:
        return _("An active policy for %(severity)s and the partner %(partner)s already exists.") % {
            "severity": policy.get_severity_display(),
            "partner": policy.partner,
        }
    if policy.partner_kind:
        return _("An active policy for %(severity)s and the partner kind %(kind)s already exists.") % {
            "severity": policy.get_severity_display(),
            "kind": policy.get_partner_kind_display(),
        }
    return _("An active default policy for %(severity)s already exists.") % {"severity": policy.get_severity_display()}


def _scope_taken(policy: SlaPolicy) -> bool:
    others = SlaPolicy.objects.filter(
        active=True,
        severity=policy.severity,
        partner_kind=policy.partner_kind,
        partner_id=policy.partner_id,
        category=policy.category or "",
    )
    if policy.pk:
        others = others.exclude(pk=policy.pk)
    return others.exists()


def _errors(policy: SlaPolicy, was_active_default: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if policy.partner_id and policy.partner_kind:
        errors["partner_kind"] = [
            _("Choose a partner kind or a single partner, not both: a partner already has a kind.")
        ]
    for field in TARGET_FIELDS:
        value = getattr(policy, field)
        if value is None:
            if field in REQUIRED_TARGETS:
                errors[field] = [_("Give a target: acknowledgement and resolution are always timed.")]
        elif value <= timedelta(0):
            errors[field] = [_("A target must be longer than zero.")]
        elif value > MAX_TARGET:
            errors[field] = [_("A target can be at most 366 days.")]
    if was_active_default and not (_is_default(policy) and policy.active):
        errors[NON_FIELD_ERRORS] = [
            _(
                "This is the default policy of its severity, which every incident's own clocks use: "
                "change its targets or calendar, not its scope, and keep it active."
            )
        ]
    if policy.active and "partner_kind" not in errors and _scope_taken(policy):
        errors.setdefault(NON_FIELD_ERRORS, []).append(_scope_taken_message(policy))
    return errors


@transaction.atomic
def sla_policy_save(*, actor, policy: SlaPolicy | None = None, **fields) -> SlaPolicy:
    """Create a policy (no `policy`) or change one; `fields` are SlaPolicy field values.

    Leads only (cases.add_slapolicy / cases.change_slapolicy). A policy is scoped to a partner
    kind or to one partner, never both; one active policy per severity and scope; a severity's
    default policy keeps its scope and stays active, since new incidents' clocks need it.
    """
    permission = "cases.add_slapolicy" if policy is None else "cases.change_slapolicy"
    if not actor.has_perm(permission):
        raise PermissionDenied(_("Only leads can change SLA policies."))
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"sla_policy_save() got fields it cannot set: {', '.join(sorted(unknown))}")
    if policy is None:
        policy, was_active_default = SlaPolicy(), False
    else:
        policy = SlaPolicy.objects.select_for_update().get(pk=policy.pk)
        was_active_default = policy.active and _is_default(policy)
    for name, value in fields.items():
        setattr(policy, name, value)
    if policy.partner_kind is None:
        policy.partner_kind = ""
    if policy.category is None:
        policy.category = ""
    policy.name = (policy.name or "").strip()
    errors = _errors(policy, was_active_default)
    try:
        policy.full_clean(exclude=[field for field in errors if field != NON_FIELD_ERRORS])
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            if any(SCOPE_CONSTRAINT in message for message in messages):
                continue  # already explained by _scope_taken_message
            if field == NON_FIELD_ERRORS or field not in errors:
                errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            policy.save()
    except IntegrityError as error:  # a concurrent save took the scope between check and insert
        if SCOPE_CONSTRAINT in str(error):
            raise ValidationError({NON_FIELD_ERRORS: [_scope_taken_message(policy)]}) from None
        raise
    return policy


@transaction.atomic
def sla_policy_deactivate(*, actor, policy: SlaPolicy) -> SlaPolicy:
    """Stop using a partner-kind or partner policy for clocks started from now on.

    Its clocks keep it (reports stay reproducible). A severity's default policy cannot be
    deactivated: new incidents' own clocks need it.
    """
    if not actor.has_perm("cases.change_slapolicy"):
        raise PermissionDenied(_("Only leads can change SLA policies."))
    policy = SlaPolicy.objects.select_for_update().get(pk=policy.pk)
    if _is_default(policy) and policy.active:
        raise ValidationError(
            _("The default policy of a severity cannot be deactivated; change its targets instead."),
            code="default_policy",
        )
    if policy.active:
        policy.active = False
        policy.save(update_fields=["active"])
    return policy


# --- the shipped defaults ------------------------------------------------------------------------

H = timedelta(hours=1)
M = timedelta(minutes=1)
BUSINESS_DAY = 9 * H  # 09:00–18:00

# The shipped defaults (docs/sla.md): severity → (acknowledge, first notice, update every, resolve,
# calendar code). Leads change them on the policies page; a migration loads them once.
DEFAULT_SLA_TARGETS = {
    "sev1": (15 * M, 30 * M, 30 * M, 4 * H, "24x7"),
    "sev2": (30 * M, 1 * H, 2 * H, 8 * H, "24x7"),
    "sev3": (4 * H, BUSINESS_DAY, BUSINESS_DAY, 5 * BUSINESS_DAY, "mx-banking"),
    "sev4": (BUSINESS_DAY, None, 5 * BUSINESS_DAY, 20 * BUSINESS_DAY, "mx-banking"),
}


def load_default_sla_policies(SlaPolicy, BusinessCalendar) -> None:  # noqa: N803 - model classes
    for severity, (ack, notice, update, resolve, calendar_code) in DEFAULT_SLA_TARGETS.items():
        SlaPolicy.objects.get_or_create(
            severity=severity,
            partner_kind="",
            partner=None,
            active=True,
            defaults={
                "name": f"{severity.upper()} default",
                "acknowledge_target": ack,
                "first_notice_target": notice,
                "update_every": update,
                "resolve_target": resolve,
                "calendar": BusinessCalendar.objects.get(code=calendar_code),
            },
        )


# Billing cases (incidents of category cost_rate) by severity: the partner acknowledges within 5
# business days, the desk updates it every week (5 business days), the partner resolves (credits
# back) within 40 business days, about the 60-day dispute window; the first notice within 2
# business days (SEV4: as needed, as its default policy); on Mexico City banking hours, or the
# partner's own calendar. Loaded once by a migration (docs/sla.md).
BILLING_CATEGORY = "cost_rate"
BILLING_SLA_TARGETS = {
    "sev2": (5 * BUSINESS_DAY, 2 * BUSINESS_DAY, 5 * BUSINESS_DAY, 40 * BUSINESS_DAY, "mx-banking"),
    "sev3": (5 * BUSINESS_DAY, 2 * BUSINESS_DAY, 5 * BUSINESS_DAY, 40 * BUSINESS_DAY, "mx-banking"),
    "sev4": (5 * BUSINESS_DAY, None, 5 * BUSINESS_DAY, 40 * BUSINESS_DAY, "mx-banking"),  # notices as needed
}


def load_billing_sla_policies(SlaPolicy, BusinessCalendar) -> None:  # noqa: N803 - model classes
    for severity, (ack, notice, update, resolve, calendar_code) in BILLING_SLA_TARGETS.items():
        SlaPolicy.objects.get_or_create(
            severity=severity,
            partner_kind="",
            partner=None,
            category=BILLING_CATEGORY,
            active=True,
            defaults={
                "name": f"{severity.upper()} billing case",
                "acknowledge_target": ack,
                "first_notice_target": notice,
                "update_every": update,
                "resolve_target": resolve,
                "calendar": BusinessCalendar.objects.get(code=calendar_code),
            },
        )
