"""Template filters of the cases pages: sanitised Markdown, readable timeline sentences, rates."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal, InvalidOperation

from django import template
from django.template.defaultfilters import linebreaksbr
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cases.markdown import render_markdown
from cases.models import AffectedMerchant, CaseEvent, Incident, PartnerEngagement, SlaClock
from cases.models.incident import CardNetwork, Category, Severity, Status
from partners.models import NoticeTemplate
from payhealth.i18n import Language

register = template.Library()
Kind = CaseEvent.Kind


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Render a note's Markdown as sanitised HTML (cases.markdown)."""
    return mark_safe(render_markdown(text))  # sanitised by nh3 in render_markdown


@register.filter
def share_as_percent(value, digits: int = 2) -> str:
    """0.9250 → "92.50 %" in the active language's number format; empty for an unmeasured rate."""
    if value in (None, ""):
        return ""
    try:
        number = Decimal(str(value)) * 100
    except InvalidOperation:
        return str(value)
    return f"{formats.number_format(number, int(digits), use_l10n=True)} %"


@register.filter
def person(user) -> str:
    """A user's display name: the full name, else the username."""
    if user is None:
        return "PayHealth"
    return user.get_full_name() or user.get_username()


@register.filter
def card_network(value: str) -> str:
    """A card network code as its name: "amex" → "American Express"."""
    return _label(CardNetwork, value)


def _label(choices, value) -> str:
    if value in (None, ""):
        return "—"
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


def _sentence(message: str, **params) -> SafeString:
    """Fill a translated sentence with escaped values (the translation itself is trusted text)."""
    return mark_safe(escape(message) % {key: conditional_escape(value) for key, value in params.items()})


def _alert_sentence(data: dict) -> SafeString:
    """ "Monitoring alert for Cinépolis: approval rate 71.00 % against 93.00 % (−22.00 pp) on 1,200
    attempts; it opened the incident." Older events without figures keep the short sentence."""
    if not data.get("merchant") or data.get("observed_rate") in (None, ""):
        return _sentence(_("A monitoring alert was received."))
    message = (
        _(
            "Monitoring alert for %(merchant)s: approval rate %(observed)s against %(baseline)s "
            "(−%(drop)s pp) on %(attempts)s attempts; it opened the incident."
        )
        if data.get("outcome") == "opened"
        else _(
            "Monitoring alert for %(merchant)s: approval rate %(observed)s against %(baseline)s "
            "(−%(drop)s pp) on %(attempts)s attempts; the impact was updated."
        )
    )
    return _sentence(
        message,
        merchant=data["merchant"],
        observed=share_as_percent(data["observed_rate"]),
        baseline=share_as_percent(data.get("baseline_rate")),
        drop=formats.number_format(Decimal(str(data.get("drop_pp") or 0)), 2, use_l10n=True),
        attempts=formats.number_format(data.get("attempts") or 0, use_l10n=True, force_grouping=True),
    )


def _with_reason(sentence: SafeString, reason: str) -> SafeString:
    if not (reason or "").strip():
        return mark_safe(f"{sentence}.")  # both parts already escaped
    because = _sentence(_("reason: %(reason)s"), reason=reason.strip())
    return mark_safe(f"{sentence} — {because}")  # both parts already escaped


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
        return _label(_CHOICE_FIELDS[field], value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return formats.number_format(value, use_l10n=True, force_grouping=True)
    if field.endswith("_at") and isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is not None:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed, UTC)
            return formats.date_format(timezone.localtime(parsed), "SHORT_DATETIME_FORMAT")
    return str(value)


def _changes(model, changes: dict) -> str:
    parts = [
        _("%(field)s %(old)s → %(new)s")
        % {
            "field": _field_label(model, field),
            "old": _value(field, change.get("from")),
            "new": _value(field, change.get("to")),
        }
        for field, change in (changes or {}).items()
        if isinstance(change, dict)
    ]
    return "; ".join(parts)


def _fields(model, names) -> str:
    """The changed fields' names, for events that list them without values (admin edits)."""
    return ", ".join(_field_label(model, name) for name in names or ())


# SLA clock events (SLA_SPEC "Events": data clock, metric, family, partner, reason), ours and a partner's.
_SLA_SENTENCES = {
    Kind.SLA_PAUSED: (
        gettext_lazy("The SLA clock “%(metric)s” paused"),
        gettext_lazy("%(partner)s's SLA clock “%(metric)s” paused"),
    ),
    Kind.SLA_RESUMED: (
        gettext_lazy("The SLA clock “%(metric)s” resumed"),
        gettext_lazy("%(partner)s's SLA clock “%(metric)s” resumed"),
    ),
    Kind.SLA_WARNING: (
        gettext_lazy("SLA warning: “%(metric)s” is close to its target"),
        gettext_lazy("SLA warning: %(partner)s's “%(metric)s” is close to its target"),
    ),
    Kind.SLA_BREACHED: (
        gettext_lazy("SLA breached: “%(metric)s” passed its target"),
        gettext_lazy("SLA breached: %(partner)s's “%(metric)s” passed its target"),
    ),
}


def _sla_sentence(kind: str, data: dict) -> SafeString:
    ours, partners = _SLA_SENTENCES[kind]
    metric = _label(SlaClock.Metric, data.get("metric"))
    if data.get("partner"):
        sentence = _sentence(str(partners), partner=data["partner"], metric=metric)
    else:
        sentence = _sentence(str(ours), metric=metric)
    return _with_reason(sentence, data.get("reason", ""))


@register.filter
def event_sentence(event: CaseEvent) -> SafeString:
    """One readable, translated sentence per timeline event ("Ana moved the incident from …")."""
    data = event.data or {}
    actor = person(event.actor)
    kind = event.kind
    if kind == Kind.OPENED:
        return _sentence(
            _("%(actor)s opened the incident as %(severity)s (%(category)s)."),
            actor=actor,
            severity=_label(Severity, data.get("severity")),
            category=_label(Category, data.get("category")),
        )
    if kind == Kind.STATUS_CHANGED:
        if data.get("partner"):
            sentence = _sentence(
                _("%(actor)s moved the incident from %(old)s to %(new)s (waiting on %(partner)s)"),
                actor=actor,
                old=_label(Status, data.get("from")),
                new=_label(Status, data.get("to")),
                partner=data["partner"],
            )
        else:
            sentence = _sentence(
                _("%(actor)s moved the incident from %(old)s to %(new)s"),
                actor=actor,
                old=_label(Status, data.get("from")),
                new=_label(Status, data.get("to")),
            )
        return _with_reason(sentence, data.get("reason", ""))
    if kind == Kind.SEVERITY_CHANGED:
        sentence = _sentence(
            _("%(actor)s changed the severity from %(old)s to %(new)s"),
            actor=actor,
            old=_label(Severity, data.get("from")),
            new=_label(Severity, data.get("to")),
        )
        return _with_reason(sentence, data.get("reason", ""))
    if kind == Kind.OWNER_CHANGED:
        if not data.get("to"):
            return _sentence(_("%(actor)s left the incident without an owner."), actor=actor)
        if not data.get("from"):
            return _sentence(_("%(actor)s gave the incident to %(new)s."), actor=actor, new=data["to"])
        return _sentence(
            _("%(actor)s gave the incident from %(old)s to %(new)s."), actor=actor, old=data["from"], new=data["to"]
        )
    if kind == Kind.DETAILS_CHANGED:
        fields = _fields(Incident, data.get("changes") or data.get("fields"))
        return _sentence(_("%(actor)s changed %(fields)s."), actor=actor, fields=fields)
    if kind == Kind.NOTE_ADDED:
        return _sentence(_("%(actor)s added a note."), actor=actor)
    if kind == Kind.NOTE_EDITED:
        return _sentence(_("%(actor)s edited a note."), actor=actor)
    if kind == Kind.MERCHANT_ADDED:
        return _sentence(_("%(actor)s added merchant %(merchant)s."), actor=actor, merchant=data.get("merchant", ""))
    if kind == Kind.MERCHANT_UPDATED:
        changes = _changes(AffectedMerchant, data.get("changes")) or _fields(AffectedMerchant, data.get("fields"))
        if not changes:
            return _sentence(
                _("%(actor)s updated the impact on %(merchant)s."), actor=actor, merchant=data.get("merchant", "")
            )
        return _sentence(
            _("%(actor)s updated the impact on %(merchant)s: %(changes)s."),
            actor=actor,
            merchant=data.get("merchant", ""),
            changes=changes,
        )
    if kind == Kind.MERCHANT_REMOVED:
        return _sentence(_("%(actor)s removed merchant %(merchant)s."), actor=actor, merchant=data.get("merchant", ""))
    if kind == Kind.PARTNER_ENGAGED:
        if data.get("folio"):
            return _sentence(
                _("%(actor)s engaged %(partner)s (folio %(folio)s)."),
                actor=actor,
                partner=data.get("partner", ""),
                folio=data["folio"],
            )
        return _sentence(_("%(actor)s engaged %(partner)s."), actor=actor, partner=data.get("partner", ""))
    if kind == Kind.PARTNER_UPDATED:
        changes = _changes(PartnerEngagement, data.get("changes")) or _fields(PartnerEngagement, data.get("fields"))
        if not changes:
            return _sentence(_("%(actor)s updated %(partner)s."), actor=actor, partner=data.get("partner", ""))
        return _sentence(
            _("%(actor)s updated %(partner)s: %(changes)s."),
            actor=actor,
            partner=data.get("partner", ""),
            changes=changes,
        )
    if kind == Kind.NOTICE_DRAFTED:
        return _sentence(
            _("%(actor)s drafted a notice to %(partner)s: %(notice)s, in %(language)s."),
            actor=actor,
            partner=data.get("partner", ""),
            notice=_label(NoticeTemplate.Kind, data.get("kind")),
            language=_label(Language, data.get("language")),
        )
    if kind == Kind.NOTICE_APPROVED:
        return _sentence(_("%(actor)s approved a notice."), actor=actor)
    if kind == Kind.NOTICE_REJECTED:
        return _with_reason(_sentence(_("%(actor)s sent a notice back"), actor=actor), data.get("reason", ""))
    if kind == Kind.NOTICE_QUEUED:
        return _sentence(_("%(actor)s queued a notice for sending."), actor=actor)
    if kind == Kind.NOTICE_SENT:
        recipients = data.get("to") or []
        if isinstance(recipients, str):
            recipients = [recipients]
        return _sentence(
            _("Notice sent to %(partner)s (%(recipients)s)."),
            partner=data.get("partner", ""),
            recipients=", ".join(recipients),
        )
    if kind == Kind.NOTICE_FAILED:
        return _sentence(_("A notice could not be sent: %(error)s"), error=data.get("error", ""))
    if kind == Kind.REPLY_RECEIVED:
        return _sentence(
            _("%(partner)s replied (from %(sender)s)."), partner=data.get("partner", ""), sender=data.get("from", "")
        )
    if kind == Kind.PARTNER_ACKNOWLEDGED:
        if data.get("folio"):
            return _sentence(
                _("%(partner)s acknowledged the incident, folio %(folio)s."),
                partner=data.get("partner", ""),
                folio=data["folio"],
            )
        return _sentence(_("%(partner)s acknowledged the incident."), partner=data.get("partner", ""))
    if kind == Kind.ALERT_RECEIVED:
        return _alert_sentence(data)
    if kind in _SLA_SENTENCES and data.get("metric"):
        return _sla_sentence(kind, data)
    # SLA clock events and anything newer: the kind's label, with the reason when there is one.
    return _with_reason(_sentence("%(label)s", label=event.get_kind_display()), data.get("reason", ""))


@register.filter
def timeline_entry(event: CaseEvent) -> SafeString:
    """One `<li>` of the timeline: when (viewer's zone), the sentence, and an edited note's old text.

    Built here rather than in the template because a timeline has hundreds of rows and this
    is the page's hot loop (the page must stay fast with 200 events, issue 3 benchmark).
    """
    when = formats.date_format(timezone.localtime(event.created_at), "SHORT_DATETIME_FORMAT")
    previous = ""
    if event.kind == Kind.NOTE_EDITED and (event.data or {}).get("previous"):
        previous = format_html(
            '<details class="previous"><summary>{}</summary><div class="muted">{}</div></details>',
            _("Previous text"),
            linebreaksbr(event.data["previous"], autoescape=True),
        )
    return format_html(
        '<li class="event event-{}"><time datetime="{}">{}</time><p>{}</p>{}</li>',
        event.kind,
        event.created_at.isoformat(),
        when,
        event_sentence(event),
        previous,
    )
