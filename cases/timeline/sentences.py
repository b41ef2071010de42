"""How each timeline event reads: one translated sentence per kind, from its typed payload.

Each renderer is registered for the payload class of its kind (`@renders(StatusChanged)`) and
reads that class's fields, so a sentence can only use facts the writer recorded. A test renders
every kind in both languages, so a kind without a sentence fails at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from decimal import Decimal, InvalidOperation

from django.utils import formats, timezone, translation
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cases.models import ActionItem, AffectedMerchant, CaseEvent, Incident, PartnerEngagement, RcaRequest, SlaClock
from cases.models.incident import Category, Severity, Status
from cases.timeline import events as ev
from partners.models import NoticeTemplate
from payhealth.i18n import Language, language_name

Renderer = Callable[[ev.Payload, str], SafeString]
RENDERERS: dict[type[ev.Payload], Renderer] = {}


def renders(*payload_classes: type[ev.Payload]):
    def register(function: Renderer) -> Renderer:
        for payload_class in payload_classes:
            RENDERERS[payload_class] = function
        return function

    return register


def sentence(event: CaseEvent) -> SafeString:
    """The event as one readable sentence in the active language ("Ana moved the incident from …")."""
    payload = ev.read(event)
    return RENDERERS[type(payload)](payload, person(event.actor))


# --- words ---------------------------------------------------------------------------------------


def person(user) -> str:
    """A user's display name: the full name, else the username; PayHealth itself without one."""
    if user is None:
        return "PayHealth"
    return user.get_full_name() or user.get_username()


def share_as_percent(value, digits: int = 2) -> str:
    """0.9250 → "92.50 %" in the active language's number format; empty for an unmeasured rate."""
    if value in (None, ""):
        return ""
    try:
        number = Decimal(str(value)) * 100
    except InvalidOperation:
        return str(value)
    return f"{formats.number_format(number, int(digits), use_l10n=True)} %"


# (choices class, value, language) → the translated label: a timeline of hundreds of events
# names the same few statuses and severities again and again. Known choices only, so it stays small.
_LABELS: dict[tuple, str] = {}


def label(choices, value) -> str:
    """A choice's translated label; a dash for nothing, the raw value for an unknown one."""
    if value in (None, ""):
        return "—"
    key = (choices, value, translation.get_language())
    try:
        return _LABELS[key]
    except (KeyError, TypeError):  # TypeError: an unhashable value from an old payload
        pass
    try:
        text = str(choices(value).label)
    except ValueError:
        return str(value)
    _LABELS[key] = text
    return text


def _sentence(message: str, **params) -> SafeString:
    """Fill a translated sentence with escaped values (the translation itself is trusted text)."""
    return mark_safe(escape(message) % {name: conditional_escape(value) for name, value in params.items()})  # noqa: S308


def _with_reason(sentence: SafeString, reason: str | None) -> SafeString:
    if not (reason or "").strip():
        return mark_safe(f"{sentence}.")  # noqa: S308 - already escaped
    because = _sentence(_("reason: %(reason)s"), reason=reason.strip())
    return mark_safe(f"{sentence} — {because}")  # noqa: S308 - both parts already escaped


def _field_label(model, name: str) -> str:
    try:
        return str(model._meta.get_field(name).verbose_name)
    except Exception:  # a field since renamed or removed: show its old name
        return name


_RATE_FIELDS = {"baseline_rate", "observed_rate"}
_CHOICE_FIELDS = {
    "rate_definition": AffectedMerchant.RateDefinition,
    "partner_status": PartnerEngagement.PartnerStatus,
    "category": Category,
}


def _value(field: str, value) -> str:
    if value in (None, "", []):
        return "—"
    if field in _RATE_FIELDS:
        return share_as_percent(value)
    if field in _CHOICE_FIELDS:
        return label(_CHOICE_FIELDS[field], value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return formats.number_format(value, use_l10n=True, force_grouping=True)
    if (field.endswith("_at") or field == "eta") and isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed, UTC)
            return formats.date_format(timezone.localtime(parsed), "SHORT_DATETIME_FORMAT")
    return str(value)


def _changes(model, changes: dict | None) -> str:
    """ "baseline approval rate 92.00 % → 90.00 %; attempts 1,000 → 1,200", or the names alone."""
    parts = []
    for field, change in (changes or {}).items():
        if isinstance(change, dict) and ("from" in change or "to" in change):
            parts.append(
                _("%(field)s %(old)s → %(new)s")
                % {
                    "field": _field_label(model, field),
                    "old": _value(field, change.get("from")),
                    "new": _value(field, change.get("to")),
                }
            )
        else:
            parts.append(_field_label(model, field))
    return "; ".join(parts)


# --- the incident ----------------------------------------------------------------------------------


@renders(ev.IncidentOpened)
def _opened(payload: ev.IncidentOpened, actor: str) -> SafeString:
    return _sentence(
        _("%(actor)s opened the incident as %(severity)s (%(category)s)."),
        actor=actor,
        severity=label(Severity, payload.severity),
        category=label(Category, payload.category),
    )


@renders(ev.StatusChanged)
def _status(payload: ev.StatusChanged, actor: str) -> SafeString:
    if payload.partner:
        sentence = _sentence(
            _("%(actor)s moved the incident from %(old)s to %(new)s (waiting on %(partner)s)"),
            actor=actor,
            old=label(Status, payload.was),
            new=label(Status, payload.to),
            partner=payload.partner,
        )
    else:
        sentence = _sentence(
            _("%(actor)s moved the incident from %(old)s to %(new)s"),
            actor=actor,
            old=label(Status, payload.was),
            new=label(Status, payload.to),
        )
    return _with_reason(sentence, payload.reason)


@renders(ev.SeverityChanged)
def _severity(payload: ev.SeverityChanged, actor: str) -> SafeString:
    sentence = _sentence(
        _("%(actor)s changed the severity from %(old)s to %(new)s"),
        actor=actor,
        old=label(Severity, payload.was),
        new=label(Severity, payload.to),
    )
    return _with_reason(sentence, payload.reason)


@renders(ev.OwnerChanged)
def _owner(payload: ev.OwnerChanged, actor: str) -> SafeString:
    if not payload.to:
        return _sentence(_("%(actor)s left the incident without an owner."), actor=actor)
    if not payload.was:
        return _sentence(_("%(actor)s gave the incident to %(new)s."), actor=actor, new=payload.to)
    return _sentence(
        _("%(actor)s gave the incident from %(old)s to %(new)s."), actor=actor, old=payload.was, new=payload.to
    )


@renders(ev.DetailsChanged)
def _details(payload: ev.DetailsChanged, actor: str) -> SafeString:
    fields = ", ".join(_field_label(Incident, name) for name in payload.changes or {})
    return _sentence(_("%(actor)s changed %(fields)s."), actor=actor, fields=fields)


@renders(ev.NoteAdded)
def _note_added(payload: ev.NoteAdded, actor: str) -> SafeString:
    return _sentence(_("%(actor)s added a note."), actor=actor)


@renders(ev.NoteEdited)
def _note_edited(payload: ev.NoteEdited, actor: str) -> SafeString:
    return _sentence(_("%(actor)s edited a note."), actor=actor)


# --- merchants and partners ----------------------------------------------------------------------


@renders(ev.MerchantAdded)
def _merchant_added(payload: ev.MerchantAdded, actor: str) -> SafeString:
    return _sentence(_("%(actor)s added merchant %(merchant)s."), actor=actor, merchant=payload.merchant or "")


@renders(ev.MerchantUpdated)
def _merchant_updated(payload: ev.MerchantUpdated, actor: str) -> SafeString:
    changes = _changes(AffectedMerchant, payload.changes)
    if not changes:
        return _sentence(
            _("%(actor)s updated the impact on %(merchant)s."), actor=actor, merchant=payload.merchant or ""
        )
    return _sentence(
        _("%(actor)s updated the impact on %(merchant)s: %(changes)s."),
        actor=actor,
        merchant=payload.merchant or "",
        changes=changes,
    )


@renders(ev.MerchantRemoved)
def _merchant_removed(payload: ev.MerchantRemoved, actor: str) -> SafeString:
    return _sentence(_("%(actor)s removed merchant %(merchant)s."), actor=actor, merchant=payload.merchant or "")


@renders(ev.PartnerEngaged)
def _partner_engaged(payload: ev.PartnerEngaged, actor: str) -> SafeString:
    if payload.folio:
        return _sentence(
            _("%(actor)s engaged %(partner)s (folio %(folio)s)."),
            actor=actor,
            partner=payload.partner or "",
            folio=payload.folio,
        )
    return _sentence(_("%(actor)s engaged %(partner)s."), actor=actor, partner=payload.partner or "")


@renders(ev.PartnerUpdated)
def _partner_updated(payload: ev.PartnerUpdated, actor: str) -> SafeString:
    changes = _changes(PartnerEngagement, payload.changes)
    if not changes:
        return _sentence(_("%(actor)s updated %(partner)s."), actor=actor, partner=payload.partner or "")
    return _sentence(
        _("%(actor)s updated %(partner)s: %(changes)s."), actor=actor, partner=payload.partner or "", changes=changes
    )


@renders(ev.PartnerAcknowledged)
def _partner_acknowledged(payload: ev.PartnerAcknowledged, actor: str) -> SafeString:
    if payload.folio:
        return _sentence(
            _("%(partner)s acknowledged the incident, folio %(folio)s."),
            partner=payload.partner or "",
            folio=payload.folio,
        )
    return _sentence(_("%(partner)s acknowledged the incident."), partner=payload.partner or "")


@renders(ev.ReplyFactConfirmed)
def _reply_fact_confirmed(payload: ev.ReplyFactConfirmed, actor: str) -> SafeString:
    value = ((payload.changes or {}).get(payload.fact) or {}).get("to")
    if payload.fact == "eta":
        return _sentence(
            _("%(actor)s confirmed from %(partner)s's reply its estimated time of restoration: %(eta)s."),
            actor=actor,
            partner=payload.partner or "",
            eta=_value("eta_at", value),  # formatted as a time, in the viewer's zone
        )
    return _sentence(
        _("%(actor)s confirmed from %(partner)s's reply its folio %(folio)s."),
        actor=actor,
        partner=payload.partner or "",
        folio=value or "",
    )


# --- notices and replies --------------------------------------------------------------------------


@renders(ev.NoticeDrafted)
def _notice_drafted(payload: ev.NoticeDrafted, actor: str) -> SafeString:
    return _sentence(
        _("%(actor)s drafted a notice to %(partner)s: %(notice)s, in %(language)s."),
        actor=actor,
        partner=payload.partner or "",
        notice=label(NoticeTemplate.Kind, payload.notice_kind),
        language=label(Language, payload.language),
    )


@renders(ev.NoticeEdited)
def _notice_edited(payload: ev.NoticeEdited, actor: str) -> SafeString:
    return _sentence(_("%(actor)s edited the notice to %(partner)s."), actor=actor, partner=payload.partner or "")


@renders(ev.NoticeSubmitted)
def _notice_submitted(payload: ev.NoticeSubmitted, actor: str) -> SafeString:
    return _sentence(
        _("%(actor)s submitted the notice to %(partner)s for a lead's approval."),
        actor=actor,
        partner=payload.partner or "",
    )


@renders(ev.NoticeApproved)
def _notice_approved(payload: ev.NoticeApproved, actor: str) -> SafeString:
    return _sentence(_("%(actor)s approved a notice."), actor=actor)


@renders(ev.NoticeRejected)
def _notice_rejected(payload: ev.NoticeRejected, actor: str) -> SafeString:
    return _with_reason(_sentence(_("%(actor)s sent a notice back"), actor=actor), payload.comment)


@renders(ev.NoticeQueued)
def _notice_queued(payload: ev.NoticeQueued, actor: str) -> SafeString:
    return _sentence(_("%(actor)s queued a notice for sending."), actor=actor)


@renders(ev.NoticeSent)
def _notice_sent(payload: ev.NoticeSent, actor: str) -> SafeString:
    recipients = payload.to or []
    if isinstance(recipients, str):
        recipients = [recipients]
    return _sentence(
        _("Notice sent to %(partner)s (%(recipients)s)."),
        partner=payload.partner or "",
        recipients=", ".join(recipients),
    )


@renders(ev.NoticeFailed)
def _notice_failed(payload: ev.NoticeFailed, actor: str) -> SafeString:
    return _sentence(_("A notice could not be sent: %(error)s"), error=payload.error or "")


@renders(ev.ReplyReceived)
def _reply(payload: ev.ReplyReceived, actor: str) -> SafeString:
    return _sentence(
        _("%(partner)s replied (from %(sender)s)."), partner=payload.partner or "", sender=payload.sender or ""
    )


@renders(ev.ReportAttached)
def _report_attached(payload: ev.ReportAttached, actor: str) -> SafeString:
    return _sentence(
        _("%(actor)s attached the post-incident report (%(filename)s) to the draft notice for %(partner)s."),
        actor=actor,
        filename=payload.filename or "",
        partner=payload.partner or "",
    )


@renders(ev.PartnerPortalAnswered)
def _portal_answered(payload: ev.PartnerPortalAnswered, actor: str) -> SafeString:
    changes = _changes(PartnerEngagement, payload.changes)
    facts = [changes] if changes else []
    if payload.update:
        facts.append(_("an update"))
    if payload.file:
        facts.append(_("the file %(file)s") % {"file": payload.file})
    if not facts:
        return _sentence(
            _("%(contact)s (%(partner)s) answered through the acknowledgement link."),
            contact=payload.contact or "",
            partner=payload.partner or "",
        )
    return _sentence(
        _("%(contact)s (%(partner)s) answered through the acknowledgement link: %(facts)s."),
        contact=payload.contact or "",
        partner=payload.partner or "",
        facts="; ".join(facts),
    )


@renders(ev.AckLinkRevoked)
def _ack_link_revoked(payload: ev.AckLinkRevoked, actor: str) -> SafeString:
    return _sentence(
        _("%(actor)s revoked the acknowledgement link of the notice to %(partner)s."),
        actor=actor,
        partner=payload.partner or "",
    )


# --- monitoring ------------------------------------------------------------------------------------


@renders(ev.AlertReceived)
def _alert(payload: ev.AlertReceived, actor: str) -> SafeString:
    """ "Monitoring alert for Cinépolis: approval rate 71.00 % against 93.00 % (−22.00 pp) on 1,200
    attempts; it opened the incident." Older events without figures keep the short sentence."""
    if not payload.merchant or payload.observed_rate in (None, ""):
        return _sentence(_("A monitoring alert was received."))
    message = (
        _(
            "Monitoring alert for %(merchant)s: approval rate %(observed)s against %(baseline)s "
            "(−%(drop)s pp) on %(attempts)s attempts; it opened the incident."
        )
        if payload.outcome == "opened"
        else _(
            "Monitoring alert for %(merchant)s: approval rate %(observed)s against %(baseline)s "
            "(−%(drop)s pp) on %(attempts)s attempts; the impact was updated."
        )
    )
    return _sentence(
        message,
        merchant=payload.merchant,
        observed=share_as_percent(payload.observed_rate),
        baseline=share_as_percent(payload.baseline_rate),
        drop=formats.number_format(Decimal(str(payload.drop_pp or 0)), 2, use_l10n=True),
        attempts=formats.number_format(payload.attempts or 0, use_l10n=True, force_grouping=True),
    )


def _number(value, digits: int) -> str:
    """A decimal string in the active language's format; the raw text if it is not a number."""
    try:
        number = Decimal(str(value if value not in (None, "") else 0))
        return formats.number_format(number, digits, use_l10n=True, force_grouping=True)
    except InvalidOperation:
        return str(value)


def _in_reader_language(english: str | None, spanish: str | None) -> str:
    """A text stored in both languages, in the reader's (English for any other)."""
    if (translation.get_language() or "").startswith(Language.SPANISH) and spanish:
        return spanish
    return english or ""


@renders(ev.FindingLinked)
def _finding_linked(payload: ev.FindingLinked, actor: str) -> SafeString:
    """ "Detector finding on Cinépolis · Visa · 415231: approval rate 61.00 % against 86.00 % on
    1,200 attempts, 300 excess declines (MXN 183,720.00 at risk); it was linked by Ana. Prosa
    explains 90 % of the excess declines (codes 91, 96)." """
    messages = {
        "alerted": _(
            "Detector alert on %(segment)s: approval rate %(observed)s against %(baseline)s on %(attempts)s "
            "attempts, %(excess)s excess declines (%(currency)s %(volume)s at risk)."
        ),
        "opened": _(
            "%(actor)s opened the incident from a detector finding on %(segment)s: approval rate %(observed)s "
            "against %(baseline)s on %(attempts)s attempts, %(excess)s excess declines (%(currency)s %(volume)s "
            "at risk)."
        ),
        "attached": _(
            "%(actor)s attached a detector finding on %(segment)s: approval rate %(observed)s against "
            "%(baseline)s on %(attempts)s attempts, %(excess)s excess declines (%(currency)s %(volume)s at risk)."
        ),
    }
    text = _sentence(
        messages.get(payload.how or "", messages["alerted"]),
        actor=actor,
        segment=_in_reader_language(payload.segment, payload.segment_es) or payload.merchant or "—",
        observed=share_as_percent(payload.observed_rate),
        baseline=share_as_percent(payload.baseline_rate),
        attempts=formats.number_format(payload.attempts or 0, use_l10n=True, force_grouping=True),
        excess=formats.number_format(payload.excess_declines or 0, use_l10n=True, force_grouping=True),
        currency=payload.currency or "",
        volume=_number(payload.volume_at_risk, 2),
    )
    codes = _rising_codes(payload)
    if codes:
        text = mark_safe(f"{text} {codes}")  # noqa: S308 - both parts escaped
    explained = _in_reader_language(payload.sentence_en, payload.sentence_es).strip()
    if payload.attribution_kind == "mix_shift" and not explained:
        explained = _(
            "The drop is a mix shift: volume moved to weaker slices whose own rates did not change, so no "
            "partner was engaged."
        )
    if not explained:
        return text
    return mark_safe(f"{text} {escape(explained)}")  # noqa: S308 - both parts escaped


def _rising_codes(payload: ev.FindingLinked, limit: int = 3) -> SafeString | str:
    """ "Decline codes, expected from the baseline → seen: 91 12 → 340; 96 8 → 210." for the codes
    that rose most (the baseline's counts scaled to the window's attempts); "" when none rose."""
    before, during = payload.codes_before or {}, payload.codes_during or {}
    attempts, base = payload.attempts or 0, payload.baseline_attempts or 0
    if not isinstance(before, dict) or not isinstance(during, dict) or not attempts or not base:
        return ""
    try:
        expected = {code: Decimal(before.get(code, 0)) * attempts / base for code in during}
        rising = sorted(
            (code for code in during if Decimal(during[code]) > expected[code]),
            key=lambda code: (expected[code] - Decimal(during[code]), code),
        )[:limit]
    except (InvalidOperation, TypeError, ValueError):
        return ""
    if not rising:
        return ""
    parts = "; ".join(
        f"{code} {formats.number_format(round(expected[code]), use_l10n=True, force_grouping=True)} → "
        f"{formats.number_format(int(during[code]), use_l10n=True, force_grouping=True)}"
        for code in rising
    )
    return _sentence(_("Decline codes, expected from the baseline → seen: %(codes)s."), codes=parts)


@renders(ev.ResolutionProposed)
def _resolution_proposed(payload: ev.ResolutionProposed, actor: str) -> SafeString:
    message = (
        _(
            "The approval rate of %(segment)s is back within %(pp)s pp of the baseline for %(buckets)s buckets "
            "(%(observed)s against %(baseline)s): the incident can be resolved."
        )
        if not payload.open_findings
        else _(
            "The approval rate of %(segment)s is back within %(pp)s pp of the baseline for %(buckets)s buckets "
            "(%(observed)s against %(baseline)s); other findings of the incident are still active."
        )
    )
    return _sentence(
        message,
        segment=_in_reader_language(payload.segment, payload.segment_es) or payload.merchant or "—",
        pp=_number(payload.within_pp, 0 if str(payload.within_pp or "").endswith(".00") else 2),
        buckets=formats.number_format(payload.buckets or 0, use_l10n=True),
        observed=share_as_percent(payload.observed_rate),
        baseline=share_as_percent(payload.baseline_rate),
    )


@renders(ev.FindingDecided)
def _finding_decided(payload: ev.FindingDecided, actor: str) -> SafeString:
    """ "Ana Ruiz suppressed the detector finding on Cinépolis · Visa until 6 Dec 2026 14:00: planned
    maintenance." / "... marked the detector finding on ... a false positive: ..." """
    if payload.decision == "suppressed":
        until = parse_datetime(payload.until or "")
        sentence = _sentence(
            _("%(actor)s suppressed the detector finding on %(segment)s until %(until)s"),
            actor=actor,
            segment=payload.segment or "",
            until=formats.date_format(timezone.localtime(until), "SHORT_DATETIME_FORMAT") if until else "—",
        )
    else:
        sentence = _sentence(
            _("%(actor)s marked the detector finding on %(segment)s a false positive"),
            actor=actor,
            segment=payload.segment or "",
        )
    return _with_reason(sentence, payload.note)


# --- billing cases ---------------------------------------------------------------------------------


def _money(value) -> str:
    """A decimal string as money in the active language's format (two decimals, grouped)."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError):
        return str(value or "—")
    return formats.number_format(number, 2, use_l10n=True, force_grouping=True)


def _iso_date(value) -> str:
    day = parse_date(value or "") if isinstance(value, str) else None
    return formats.date_format(day, "SHORT_DATE_FORMAT") if day else "—"


@renders(ev.SamplesUploaded)
def _samples_uploaded(payload: ev.SamplesUploaded, actor: str) -> SafeString:
    count = payload.count or 0
    message = ngettext(
        "%(actor)s uploaded %(count)s sample transaction (%(file)s).",
        "%(actor)s uploaded %(count)s sample transactions (%(file)s).",
        count,
    )
    return _sentence(message, actor=actor, count=count, file=payload.filename or "—")


@renders(ev.SamplesRemoved)
def _samples_removed(payload: ev.SamplesRemoved, actor: str) -> SafeString:
    count = payload.count or 0
    message = ngettext(
        "%(actor)s removed %(count)s sample transaction.",
        "%(actor)s removed %(count)s sample transactions.",
        count,
    )
    return _sentence(message, actor=actor, count=count)


@renders(ev.BillingCaseOpened)
def _billing_case_opened(payload: ev.BillingCaseOpened, actor: str) -> SafeString:
    """ "Ana Ruiz opened a billing case with Adquirente MX for 2026-06: MXN 17,500.00 in dispute
    over 2 findings, dispute deadline 30/08/2026." """
    count = len(payload.findings or [])
    message = ngettext(
        "%(actor)s opened a billing case with %(partner)s for %(period)s: %(currency)s %(amount)s in dispute "
        "over %(count)s finding, dispute deadline %(deadline)s.",
        "%(actor)s opened a billing case with %(partner)s for %(period)s: %(currency)s %(amount)s in dispute "
        "over %(count)s findings, dispute deadline %(deadline)s.",
        count,
    )
    return _sentence(
        message,
        actor=actor,
        partner=payload.partner or "—",
        period=payload.period or "—",
        currency=payload.currency or "",
        amount=_money(payload.amount),
        count=count,
        deadline=_iso_date(payload.deadline),
    )


@renders(ev.BillingCaseAmended)
def _billing_case_amended(payload: ev.BillingCaseAmended, actor: str) -> SafeString:
    """ "Ana Ruiz amended the billing case: amount in dispute MXN 17,500.00 → MXN 15,000.00." """
    parts = []
    changes = payload.changes or {}
    if "amount_disputed" in changes:
        change = changes["amount_disputed"]
        parts.append(
            _("amount in dispute %(currency)s %(old)s → %(currency)s %(new)s")
            % {"currency": payload.currency or "", "old": _money(change.get("from")), "new": _money(change.get("to"))}
        )
    if "dispute_deadline" in changes:
        change = changes["dispute_deadline"]
        parts.append(
            _("dispute deadline %(old)s → %(new)s")
            % {"old": _iso_date(change.get("from")), "new": _iso_date(change.get("to"))}
        )
    return _sentence(
        _("%(actor)s amended the billing case: %(changes)s."), actor=actor, changes="; ".join(parts) or "—"
    )


@renders(ev.DeclineCountsChanged)
def _decline_counts_changed(payload: ev.DeclineCountsChanged, actor: str) -> SafeString:
    """ "Ana Ruiz changed the decline-code counts: 91 (before 3, during 1,200); 05 removed." """
    parts = []
    for code, change in (payload.changes or {}).items():
        after = (change or {}).get("to")
        if after is None:
            parts.append(_("%(code)s removed") % {"code": code})
            continue
        before = after.get("count_before")
        parts.append(
            _("%(code)s (before %(before)s, during %(during)s)")
            % {
                "code": code,
                "before": "—" if before is None else formats.number_format(before, force_grouping=True),
                "during": formats.number_format(after.get("count_during") or 0, force_grouping=True),
            }
        )
    return _sentence(
        _("%(actor)s changed the decline-code counts: %(changes)s."), actor=actor, changes="; ".join(parts)
    )


@renders(ev.CreditNoteRecorded)
def _credit_note_recorded(payload: ev.CreditNoteRecorded, actor: str) -> SafeString:
    """ "Ana Ruiz recorded credit note NC-1 of Adquirente MX for MXN 10,000.00 (MXN 10,000.00 of
    MXN 17,500.00 credited)." """
    params = {
        "actor": actor,
        "reference": payload.reference or "—",
        "partner": payload.partner or "—",
        "currency": payload.currency or "",
        "amount": _money(payload.amount),
        "credited": _money(payload.credited),
        "disputed": _money(payload.disputed),
    }
    if payload.settled:
        message = _(
            "%(actor)s recorded credit note %(reference)s of %(partner)s for %(currency)s %(amount)s "
            "(%(currency)s %(credited)s of %(currency)s %(disputed)s credited); the billing case is settled."
        )
    else:
        message = _(
            "%(actor)s recorded credit note %(reference)s of %(partner)s for %(currency)s %(amount)s "
            "(%(currency)s %(credited)s of %(currency)s %(disputed)s credited)."
        )
    return _sentence(message, **params)


# --- card data -------------------------------------------------------------------------------------


@renders(ev.CardNumbersMasked)
def _card_numbers_masked(payload: ev.CardNumbersMasked, actor: str) -> SafeString:
    count = payload.count or 0
    if payload.origin == "alert":
        message = ngettext(
            "PayHealth masked a card number in a monitoring alert before storing it; only its first 6 and "
            "last 4 digits are kept.",
            "PayHealth masked %(count)s card numbers in a monitoring alert before storing it; only their "
            "first 6 and last 4 digits are kept.",
            count,
        )
    else:
        message = ngettext(
            "PayHealth masked a card number in a received message before storing it; only its first 6 and "
            "last 4 digits are kept.",
            "PayHealth masked %(count)s card numbers in a received message before storing it; only their "
            "first 6 and last 4 digits are kept.",
            count,
        )
    return _sentence(message, count=formats.number_format(count, use_l10n=True, force_grouping=True))


# --- SLA clocks ------------------------------------------------------------------------------------

# (ours, a partner's)
_SLA_SENTENCES = {
    ev.SlaPaused: (
        gettext_lazy("The SLA clock “%(metric)s” paused"),
        gettext_lazy("%(partner)s's SLA clock “%(metric)s” paused"),
    ),
    ev.SlaResumed: (
        gettext_lazy("The SLA clock “%(metric)s” resumed"),
        gettext_lazy("%(partner)s's SLA clock “%(metric)s” resumed"),
    ),
    ev.SlaWarning: (
        gettext_lazy("SLA warning: “%(metric)s” is close to its target"),
        gettext_lazy("SLA warning: %(partner)s's “%(metric)s” is close to its target"),
    ),
    ev.SlaBreached: (
        gettext_lazy("SLA breached: “%(metric)s” passed its target"),
        gettext_lazy("SLA breached: %(partner)s's “%(metric)s” passed its target"),
    ),
}


@renders(*_SLA_SENTENCES)
def _sla(payload: ev.SlaClockChange, actor: str) -> SafeString:
    if not payload.metric:  # rows from before clocks named their metric: the kind's label
        return _with_reason(_sentence("%(label)s", label=CaseEvent.Kind(payload.kind).label), payload.reason)
    ours, partners = _SLA_SENTENCES[type(payload)]
    metric = label(SlaClock.Metric, payload.metric)
    if payload.partner:
        sentence = _sentence(str(partners), partner=payload.partner, metric=metric)
    else:
        sentence = _sentence(str(ours), metric=metric)
    return _with_reason(sentence, payload.reason)


@renders(ev.SlaEscalationWaiting)
def _sla_escalation_waiting(payload: ev.SlaEscalationWaiting, actor: str) -> SafeString:
    return _sentence(
        _(
            "%(actor)s kept the SLA escalation to %(partner)s as a draft: the incident's partner-facing title or "
            "summary in %(language)s is empty. Fill them in and send it."
        ),
        actor=actor,
        partner=payload.partner or "",
        language=language_name(payload.language or ""),
    )


# --- follow-through: RCAs and action items -------------------------------------------------------


def _local_date(value: str | None) -> str:
    moment = parse_datetime(value or "")
    if moment is None:
        day = parse_date(value or "")
        return formats.date_format(day, "SHORT_DATE_FORMAT") if day else "—"
    return formats.date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


@renders(ev.RcaRequested)
def _rca_requested(payload: ev.RcaRequested, actor: str) -> SafeString:
    if payload.reminder == "overdue":
        message = _("%(actor)s drafted a reminder to %(partner)s: their RCA was due %(due)s.")
    elif payload.reminder:
        message = _("%(actor)s drafted a reminder to %(partner)s: their RCA is due %(due)s.")
    else:
        message = _("RCA requested from %(partner)s, due %(due)s.")
    return _sentence(message, actor=actor, partner=payload.partner or "", due=_local_date(payload.due))


@renders(ev.RcaChanged)
def _rca_changed(payload: ev.RcaChanged, actor: str) -> SafeString:
    sentence = _sentence(
        _("%(actor)s marked the RCA of %(partner)s %(status)s"),
        actor=actor,
        partner=payload.partner or "",
        status=label(RcaRequest.Status, payload.to).lower(),
    )
    return _with_reason(sentence, payload.note)


@renders(ev.ActionItemAdded)
def _action_item_added(payload: ev.ActionItemAdded, actor: str) -> SafeString:
    return _sentence(
        _("%(actor)s added the action item “%(title)s” (owner: %(owner)s, due %(due)s)."),
        actor=actor,
        title=payload.title or "",
        owner=payload.owner or "—",
        due=_local_date(payload.due),
    )


@renders(ev.ActionItemChanged)
def _action_item_changed(payload: ev.ActionItemChanged, actor: str) -> SafeString:
    return _sentence(
        _("%(actor)s changed the action item “%(title)s” (%(status)s)."),
        actor=actor,
        title=payload.title or "",
        status=label(ActionItem.Status, payload.status).lower(),
    )
