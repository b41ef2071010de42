"""What people decide about the detector: triage of its findings, suppression windows and its
settings. One function per action, each in one transaction, each checking the actor's
permission itself (the pages and the API check it too, before they get here).

A decision is recorded on the finding (`decided_by`, `decided_at`, `decision_note`) and, when
the finding belongs to an incident, on that incident's timeline (`FindingDecided`).

- `finding_suppress`: a `Suppression` of the finding's segment from the finding's window start
  until `until` (at most `MAX_SUPPRESSION_DAYS` from now), the finding `suppressed`. The detector
  tests nothing there and leaves those buckets out of every baseline.
- `finding_mark_false_positive`: the finding `false_positive`; its window feeds the baseline again.
- `suppression_create` / `suppression_delete`: planned windows (a maintenance, a test).
- `monitor_settings_update` / `monitor_settings_delete`: the global row and per-merchant
  overrides, field by field (None = inherit), validated as a whole against the effective values.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import timeline
from cases.models import Incident, Merchant
from cases.timeline.events import FindingDecided
from monitoring.detection.config import TUNABLES, detector_config, detector_configs
from monitoring.models import (
    ACTIVE_FINDING_STATES,
    Finding,
    FindingState,
    MonitorSettings,
    Segment,
    Suppression,
)

MAX_SUPPRESSION_DAYS = 30
REASON_MAX = 500
NOTE_MAX = 2000
DECIDABLE_STATES = (*ACTIVE_FINDING_STATES, FindingState.RECOVERED)

# Field → (smallest, largest, whether the smallest itself is allowed). Decimals and counts alike.
SETTING_BOUNDS: dict[str, tuple[Decimal, Decimal, bool]] = {
    "min_bucket_attempts": (Decimal(1), Decimal(10_000_000), True),
    "min_hour_attempts": (Decimal(1), Decimal(10_000_000), True),
    "min_drop_pp": (Decimal(0), Decimal(100), False),
    "min_excess_declines": (Decimal(1), Decimal(10_000_000), True),
    "watch_q": (Decimal(0), Decimal("0.99999"), False),
    "alert_q": (Decimal(0), Decimal("0.99999"), False),
    "alert_consecutive": (Decimal(1), Decimal(96), True),
    "baseline_weeks": (Decimal(1), Decimal(12), True),
    "baseline_slot_radius": (Decimal(0), Decimal(8), True),
    "dispersion_floor": (Decimal(0), Decimal("0.9999999"), True),
    "code_min_count": (Decimal(1), Decimal(10_000_000), True),
    "code_min_ratio": (Decimal(1), Decimal("999.99"), True),
    "code_min_share_pp": (Decimal(0), Decimal(100), True),
    "recovery_buckets": (Decimal(1), Decimal(96), True),
    "recovery_within_pp": (Decimal(0), Decimal(100), True),
}


def _require(actor, permission: str) -> None:
    if actor is None or not actor.has_perm(permission):
        raise PermissionDenied(_("You may not do this."))


def _person(actor):
    return actor if getattr(actor, "pk", None) else None


def _clean_text(value, *, field: str, limit: int, required: bool) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else None
    if text is None:
        raise ValidationError({field: _("Write text.")})
    if required and not text:
        raise ValidationError({field: _("Say why.")})
    if len(text) > limit:
        raise ValidationError({field: _("At most %(limit)d characters.") % {"limit": limit}})
    if "\x00" in text:
        raise ValidationError({field: _("Remove the null character.")})
    return text


def _locked_decidable(finding: Finding) -> Finding:
    locked = Finding.objects.select_for_update().select_related("segment__merchant").get(pk=finding.pk)
    if locked.state not in DECIDABLE_STATES:
        raise ValidationError(
            {"state": _("This finding was already decided: %(state)s.") % {"state": locked.get_state_display()}}
        )
    return locked


def _record_decision(finding: Finding, *, actor, decision: str, until: datetime | None, note: str, at) -> None:
    if finding.incident_id is None:
        return
    incident = Incident.objects.select_for_update().get(pk=finding.incident_id)
    payload = FindingDecided(
        finding=finding.pk,
        decision=decision,
        segment=str(finding.segment),
        until=until.isoformat() if until else None,
        note=note,
    )
    timeline.record(payload, incident=incident, actor=actor, at=at)


@transaction.atomic
def finding_suppress(*, finding: Finding, actor, until: datetime, reason: str) -> Suppression:
    """Suppress the finding's segment from the finding's window start until `until`; the finding
    becomes `suppressed`."""
    _require(actor, "monitoring.decide_finding")
    _require(actor, "monitoring.add_suppression")
    reason = _clean_text(reason, field="reason", limit=REASON_MAX, required=True)
    locked = _locked_decidable(finding)
    now = timezone.now()
    suppression = _suppression_insert(
        segment=locked.segment,
        start=locked.window_start,
        end=until,
        reason=reason,
        actor=actor,
        now=now,
        finding=locked,
    )
    locked.state = FindingState.SUPPRESSED
    locked.decided_by = _person(actor)
    locked.decided_at = now
    locked.decision_note = reason
    locked.save(update_fields=["state", "decided_by", "decided_at", "decision_note", "updated_at"])
    _record_decision(locked, actor=actor, decision=FindingState.SUPPRESSED, until=until, note=reason, at=now)
    return suppression


@transaction.atomic
def finding_mark_false_positive(*, finding: Finding, actor, note: str) -> Finding:
    """The finding was not a real problem: `false_positive`; the detector lets its window feed
    the baseline again."""
    _require(actor, "monitoring.decide_finding")
    note = _clean_text(note, field="note", limit=NOTE_MAX, required=True)
    locked = _locked_decidable(finding)
    now = timezone.now()
    locked.state = FindingState.FALSE_POSITIVE
    locked.decided_by = _person(actor)
    locked.decided_at = now
    locked.decision_note = note
    locked.save(update_fields=["state", "decided_by", "decided_at", "decision_note", "updated_at"])
    _record_decision(locked, actor=actor, decision=FindingState.FALSE_POSITIVE, until=None, note=note, at=now)
    return locked


def _check_window(start, end, *, now: datetime) -> None:
    if not isinstance(start, datetime) or timezone.is_naive(start):
        raise ValidationError({"start": _("Give a date and time with its offset.")})
    if not isinstance(end, datetime) or timezone.is_naive(end):
        raise ValidationError({"end": _("Give a date and time with its offset.")})
    if end <= start:
        raise ValidationError({"end": _("The end is after the start.")})
    if end <= now:
        raise ValidationError({"end": _("The end is in the future.")})
    if end > now + timedelta(days=MAX_SUPPRESSION_DAYS):
        raise ValidationError(
            {"end": _("At most %(days)d days from now.") % {"days": MAX_SUPPRESSION_DAYS}},
        )
    if end - start > timedelta(days=2 * MAX_SUPPRESSION_DAYS):
        raise ValidationError(
            {"start": _("A window lasts at most %(days)d days.") % {"days": 2 * MAX_SUPPRESSION_DAYS}}
        )


def _suppression_insert(*, segment, start, end, reason, actor, now, finding=None) -> Suppression:
    field_end = "until" if finding is not None else "end"
    try:
        _check_window(start, end, now=now)
    except ValidationError as error:
        if finding is not None and hasattr(error, "error_dict"):
            raise ValidationError({field_end: [m for ms in error.message_dict.values() for m in ms]}) from error
        raise
    return Suppression.objects.create(
        segment=segment, start=start, end=end, reason=reason, finding=finding, created_by=_person(actor)
    )


@transaction.atomic
def suppression_create(*, segment: Segment, start: datetime, end: datetime, reason: str, actor) -> Suppression:
    """A planned window in which the segment (and, for a merchant-level segment, all its slices)
    raises nothing. It may start in the past (to keep a known bad stretch out of the baselines)
    and ends in the future, at most MAX_SUPPRESSION_DAYS from now."""
    _require(actor, "monitoring.add_suppression")
    reason = _clean_text(reason, field="reason", limit=REASON_MAX, required=True)
    return _suppression_insert(segment=segment, start=start, end=end, reason=reason, actor=actor, now=timezone.now())


@transaction.atomic
def suppression_delete(*, suppression: Suppression, actor) -> None:
    """End a suppression window early by removing it (its finding keeps its decision)."""
    _require(actor, "monitoring.delete_suppression")
    Suppression.objects.filter(pk=suppression.pk).delete()


def _check_value(name: str, value):
    """The value as stored, or a ValidationError naming the field."""
    if value is None:
        return None
    if name == "enabled":
        if not isinstance(value, bool):
            raise ValidationError({name: _("Say yes or no.")})
        return value
    if isinstance(value, bool):
        raise ValidationError({name: _("Give a number.")})
    try:
        number = Decimal(str(value))
    except ArithmeticError as error:
        raise ValidationError({name: _("Give a number.")}) from error
    if not number.is_finite():
        raise ValidationError({name: _("Give a number.")})
    low, high, low_allowed = SETTING_BOUNDS[name]
    if number < low or (number == low and not low_allowed) or number > high:
        message = (
            _("Give a number from %(low)s to %(high)s.")
            if low_allowed
            else _("Give a number above %(low)s and at most %(high)s.")
        )
        raise ValidationError({name: message % {"low": low, "high": high}})
    field = MonitorSettings._meta.get_field(name)
    if field.get_internal_type() == "DecimalField":
        places = -number.as_tuple().exponent if number.as_tuple().exponent < 0 else 0
        if places > field.decimal_places:
            raise ValidationError({name: _("At most %(places)d decimal places.") % {"places": field.decimal_places}})
        return number
    if number != number.to_integral_value():
        raise ValidationError({name: _("Give a whole number.")})
    return int(number)


def _check_effective(merchant: Merchant | None) -> None:
    """The merged settings hold together: an alert needs a smaller q than a watch."""
    configs = (
        [detector_config(merchant.pk)]
        if merchant is not None
        else [
            detector_config(None),
            *detector_configs(
                MonitorSettings.objects.filter(merchant__isnull=False).values_list("merchant_id", flat=True)
            ).values(),
        ]
    )
    for config in configs:
        if config.alert_q > config.watch_q:
            raise ValidationError(
                {
                    "alert_q": _("The q-value for an alert is at most the q-value for a watch (%(watch)s).")
                    % {"watch": config.watch_q}
                }
            )


@transaction.atomic
def monitor_settings_update(*, merchant: Merchant | None = None, actor, **changes) -> MonitorSettings:
    """Change the global settings (no merchant) or one merchant's overrides. Each change names a
    tunable; None means inherit (the global value for a merchant, the built-in default for the
    global row). Fields not named keep their value."""
    _require(actor, "monitoring.change_monitorsettings")
    unknown = sorted(set(changes) - set(TUNABLES))
    if unknown:
        raise ValidationError({name: _("Not a detector setting.") for name in unknown})
    cleaned = {name: _check_value(name, value) for name, value in changes.items()}
    row = MonitorSettings.objects.select_for_update().filter(merchant=merchant).first()
    if row is None:
        try:
            with transaction.atomic():
                row = MonitorSettings.objects.create(merchant=merchant, updated_by=_person(actor))
        except IntegrityError:  # created meanwhile by someone else: take theirs
            row = MonitorSettings.objects.select_for_update().get(merchant=merchant)
    for name, value in cleaned.items():
        setattr(row, name, value)
    row.updated_by = _person(actor)
    row.full_clean(exclude=["merchant"], validate_unique=False)
    row.save()
    _check_effective(merchant)
    return row


@transaction.atomic
def monitor_settings_delete(*, merchant: Merchant, actor) -> None:
    """Remove a merchant's overrides: the merchant inherits every global setting again."""
    _require(actor, "monitoring.delete_monitorsettings")
    MonitorSettings.objects.filter(merchant=merchant).delete()
