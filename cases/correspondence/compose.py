"""Partner notices: compose, preview and edit; approval and sending are
in `cases.correspondence.dispatch`.

A notice is one outbound `Correspondence` per partner and language group. Its life:
`draft → (pending_approval →) queued → sending → sent | failed`. A notice whose incident was
SEV1 or SEV2 at any moment since it was drafted waits for a lead's approval (the rule and who
may submit are in `cases.correspondence.dispatch`); a draft records the incident's severity it
was drafted at. Sending needs `cases.send_correspondence` (partner managers and leads);
analysts draft. Queued rows are published to Celery by name after the transaction commits
(`payhealth.outbox`); delivery itself is `cases.correspondence.delivery`.

`actor=None` means PayHealth itself (an SLA sweep composing an escalation, say): it drafts and
sends without a permission check but can never approve.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import timeline
from cases.correspondence.acklinks import ack_link_add_to_notice
from cases.correspondence.context import IncidentFacts, incident_facts, notice_context
from cases.correspondence.email import new_message_id, subject_with_token, thread_references
from cases.correspondence.extensions import missing_for_kind, notice_files
from cases.correspondence.followup import EMPTY_RCA, partners_with_breakage, rca_context
from cases.models import Attachment, Correspondence, Incident, PartnerEngagement, Severity
from cases.timeline.events import NoticeDrafted, NoticeEdited
from partners.models import NoticeTemplate, Partner, PartnerContact
from partners.notices import (
    INTERNAL_KINDS,
    NoticeRenderError,
    RenderedNotice,
    notice_template_errors,
    render_notice,
    sample_notice_contexts,
)
from payhealth.i18n import Language

NEEDS_APPROVAL = (Severity.SEV1, Severity.SEV2)
Status = Correspondence.Status


@dataclass(frozen=True)
class SkippedPartner:
    """A partner that got no notice, and why (shown to the person composing)."""

    partner: Partner
    code: str  # not_engaged, not_involved, no_contacts, not_applicable
    reason: str


@dataclass
class NoticeComposeResult:
    drafts: list[Correspondence] = field(default_factory=list)
    skipped: list[SkippedPartner] = field(default_factory=list)


def require_permission(actor, permission: str, message: str) -> None:
    """Refuse a person without `permission`; `actor=None` is PayHealth itself."""
    if actor is None:
        return
    if not actor.has_perm(permission):
        raise PermissionDenied(message)


def notice_addressee(row: Correspondence) -> str:
    """Whom a notice goes to, as the timeline names it: the partner, or a merchant's account team."""
    return row.addressee_name


def acting_person(actor):
    """The user to record (None for PayHealth itself)."""
    return actor if getattr(actor, "pk", None) else None


def notice_recipients(engagement: PartnerEngagement, *, level: int | None = None) -> dict[str, list[PartnerContact]]:
    """The partner's contacts that receive notices at the engagement's escalation level, by language.

    Each contact reads its own language, else the partner's, else English; the partner's own
    language group comes first. `level` addresses that escalation level only (an SLA escalation
    goes to the next level up, not again to the first line).
    """
    partner = engagement.partner
    by_level = (
        {"escalation_level": level} if level is not None else {"escalation_level__lte": engagement.escalation_level}
    )
    contacts = PartnerContact.objects.filter(partner=partner, active=True, receives_notices=True, **by_level).order_by(
        "escalation_level", "name", "pk"
    )
    groups: dict[str, list[PartnerContact]] = {}
    for contact in contacts:
        contact.partner = partner
        groups.setdefault(contact.effective_language, []).append(contact)
    return dict(sorted(groups.items(), key=lambda item: (item[0] != partner.language, item[0])))


def active_template(kind: str, language: str, partner_kind: str = "") -> NoticeTemplate:
    """The active version for the kind in `language`, else the English one: the variant for the
    partner's kind when there is one (its own asks), else the one for any kind."""
    for candidate in dict.fromkeys((language, Language.ENGLISH)):
        for for_kind in dict.fromkeys((partner_kind, "")):
            template = NoticeTemplate.objects.filter(
                kind=kind, language=candidate, partner_kind=for_kind, active=True
            ).first()
            if template is not None:
                return template
    raise ValidationError(
        _("There is no active %(kind)s template; load the defaults or write one.")
        % {"kind": NoticeTemplate.Kind(kind).label},
        code="no_template",
    )


def render_template(template: NoticeTemplate, context: dict) -> RenderedNotice:
    try:
        return render_notice(subject=template.subject, body=template.body, context=context, language=template.language)
    except NoticeRenderError as exc:
        raise ValidationError(
            _("Template %(template)s cannot be rendered: %(error)s") % {"template": template, "error": exc},
            code="template_broken",
        ) from exc


def thread_parent(engagement: PartnerEngagement, language: str) -> Correspondence | None:
    """The message a new notice to this partner answers: the latest one of the thread.

    Outbound messages count once they are on their way (queued, sending, sent); replies count
    as received. The latest one in the notice's language wins, so each language group keeps its
    own thread; without one, the latest of the partner's thread.
    """
    thread = Correspondence.objects.filter(engagement=engagement).filter(
        # an auto-reply or a bounce is never what a follow-up answers
        Q(direction=Correspondence.Direction.INBOUND, is_auto_reply=False)
        | Q(direction=Correspondence.Direction.OUTBOUND, status__in=[Status.QUEUED, Status.SENDING, Status.SENT])
    )
    thread = thread.order_by("-created_at", "-id")
    return thread.filter(language=language).first() or thread.first()


def _thread_headers(parent: Correspondence | None) -> tuple[str, str]:
    if parent is None:
        return "", ""
    return parent.message_id, thread_references(parent.references, parent.message_id)


@transaction.atomic
def notice_compose(
    *,
    incident: Incident,
    actor,
    kind: str,
    partners: Iterable[Partner] | None = None,
    next_update: datetime | None = None,
    escalation_level: int | None = None,
    confirm_repeat: bool = False,
) -> NoticeComposeResult:
    """Draft one notice per partner and language group from the active templates.

    `partners=None` means every engaged partner not marked "not involved" (the bulk action).
    `escalation_level` addresses only the contacts of that level (SLA escalations).
    A partner without an engagement or without a contact that receives notices is reported in
    `skipped`, never dropped silently. The Message-ID is fixed here, once.
    A second breakage notice to a partner that already got one needs `confirm_repeat`.
    """
    require_permission(actor, "cases.add_correspondence", _("Drafting notices needs a desk role."))
    if kind not in NoticeTemplate.Kind.values:
        raise ValidationError({"kind": _("Unknown notice kind %(kind)s.") % {"kind": kind}}, code="invalid")
    if kind in INTERNAL_KINDS:
        raise ValidationError(
            {
                "kind": _("%(kind)s is internal: it goes to a merchant's account team, never to a partner.")
                % {"kind": NoticeTemplate.Kind(kind).label}
            },
            code="internal_kind",
        )
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    engagements = {
        engagement.partner_id: engagement
        for engagement in PartnerEngagement.objects.filter(incident=locked).select_related("partner")
    }
    if partners is None:
        chosen = [
            engagement.partner
            for engagement in sorted(engagements.values(), key=lambda e: e.partner.name)
            if engagement.partner_status != PartnerEngagement.PartnerStatus.NOT_INVOLVED
        ]
    else:
        chosen = list(dict.fromkeys(partners))
    if kind == NoticeTemplate.Kind.BREAKAGE and not confirm_repeat:
        repeated = partners_with_breakage(locked, [partner.pk for partner in chosen])
        if repeated:
            raise ValidationError(
                {
                    "confirm_repeat": _(
                        "%(partners)s already got a breakage notice on this incident; confirm to send another."
                    )
                    % {"partners": ", ".join(repeated)}
                },
                code="repeat_breakage",
            )
    now = timezone.now()
    result = NoticeComposeResult()
    shared = _ComposeCache(kind=kind, incident=locked)
    for partner in chosen:
        engagement = engagements.get(partner.pk)
        if engagement is None:
            result.skipped.append(
                SkippedPartner(
                    partner,
                    "not_engaged",
                    _("%(partner)s is not engaged on %(reference)s.")
                    % {"partner": partner.name, "reference": locked.reference},
                )
            )
            continue
        if engagement.partner_status == PartnerEngagement.PartnerStatus.NOT_INVOLVED:
            result.skipped.append(
                SkippedPartner(
                    partner, "not_involved", _("%(partner)s is marked as not involved.") % {"partner": partner.name}
                )
            )
            continue
        engagement.incident = locked
        groups = notice_recipients(engagement, level=escalation_level)
        if not groups:
            result.skipped.append(
                SkippedPartner(
                    partner,
                    "no_contacts",
                    _("%(partner)s has no active contact that receives notices at escalation level %(level)s.")
                    % {"partner": partner.name, "level": escalation_level or engagement.escalation_level},
                )
            )
            continue
        first_language = shared.template(next(iter(groups)), partner.kind).language
        missing = missing_for_kind(shared.facts(first_language).extensions, kind=kind, partner_id=partner.pk)
        if missing is not None:
            result.skipped.append(SkippedPartner(partner, "not_applicable", str(missing) % {"partner": partner.name}))
            continue
        for language, contacts in groups.items():
            result.drafts.append(
                _draft(
                    engagement,
                    actor=actor,
                    language=language,
                    contacts=contacts,
                    now=now,
                    next_update=next_update,
                    shared=shared,
                )
            )
    if result.drafts:
        locked.save(update_fields=["updated_at"])
    return result


class _ComposeCache:
    """Templates and incident facts per language, read once per compose (200 partners, one query each)."""

    def __init__(self, *, kind: str, incident: Incident) -> None:
        self.kind, self.incident = kind, incident
        self._templates: dict[tuple[str, str], NoticeTemplate] = {}
        self._facts: dict[str, IncidentFacts] = {}

    def template(self, language: str, partner_kind: str = "") -> NoticeTemplate:
        if (language, partner_kind) not in self._templates:
            self._templates[language, partner_kind] = active_template(self.kind, language, partner_kind)
        return self._templates[language, partner_kind]

    def facts(self, language: str) -> IncidentFacts:
        if language not in self._facts:
            self._facts[language] = incident_facts(self.incident, language)
        return self._facts[language]


def _draft(engagement, *, actor, language, contacts, now, next_update, shared: _ComposeCache) -> Correspondence:
    incident = engagement.incident
    kind = shared.kind
    template = shared.template(language, engagement.partner.kind)
    context = notice_context(
        engagement=engagement,
        language=template.language,
        author=actor,
        now=now,
        next_update=next_update,
        facts=shared.facts(template.language),
    )
    context["rca"] = (
        rca_context(engagement, language=template.language, now=now)
        if kind == NoticeTemplate.Kind.RCA_REQUEST
        else dict(EMPTY_RCA)
    )
    rendered = render_template(template, context)
    in_reply_to, references = _thread_headers(thread_parent(engagement, template.language))
    row = Correspondence(
        incident=incident,
        engagement=engagement,
        direction=Correspondence.Direction.OUTBOUND,
        channel=Correspondence.Channel.EMAIL,
        kind=kind,
        template=template,
        template_version=template.version,
        language=template.language,
        subject=subject_with_token(rendered.subject, incident.reference),
        body_text=rendered.body,
        from_address=settings.DEFAULT_FROM_EMAIL,
        to_addresses=[contact.email for contact in contacts],
        status=Status.DRAFT,
        peak_severity=incident.severity,
        message_id=new_message_id(incident.reference),
        in_reply_to=in_reply_to,
        references=references,
        created_by=acting_person(actor),
    )
    # Fields only: the Message-ID is fresh and the check constraints hold by construction (the
    # database still enforces both); validating them here costs six queries per notice.
    row.full_clean(validate_unique=False, validate_constraints=False)
    row.save()
    for file in notice_files(engagement, kind=kind, language=row.language):
        # Made once, here: the text a lead approves and the mail delivered carry this same file.
        Attachment.kept(row, filename=file.filename, content_type=file.content_type, content=file.content)
    ack_link_add_to_notice(row, now=now)  # the partner's signed link, in the text a lead approves
    drafted = NoticeDrafted(
        correspondence=row.pk,
        notice_kind=kind,
        partner=engagement.partner.name,
        language=row.language,
        to=row.to_addresses,
        template_version=template.version,
    )
    timeline.record(drafted, incident=incident, actor=actor, at=now)
    return row


def notice_template_preview(
    *, subject: str, body: str, language: str, engagement: PartnerEngagement | None = None, actor=None
) -> RenderedNotice:
    """A template text checked as on save, then rendered for an engaged partner of an incident (or
    against sample data without one); nothing saved. The editor's live preview, on pages and API."""
    problems = notice_template_errors(subject=(subject or "").strip(), body=body or "")
    if problems:
        raise ValidationError(problems, code="invalid_template")
    if engagement is None:
        context = sample_notice_contexts()[0]
    else:
        context = notice_context(engagement=engagement, language=language, author=actor)
    try:
        rendered = render_notice(subject=subject, body=body, context=context, language=language)
    except NoticeRenderError as exc:  # within the checks for the sample, beyond a limit for this incident
        raise ValidationError({"body": [str(exc)]}, code="template_broken") from exc
    return RenderedNotice(subject=subject_with_token(rendered.subject, context["reference"]), body=rendered.body)


def locked_notice(correspondence: Correspondence) -> Correspondence:
    """Lock the incident, then the notice (the order every notice service uses)."""
    if correspondence.direction != Correspondence.Direction.OUTBOUND or correspondence.incident_id is None:
        raise ValidationError(_("Only outbound notices of an incident can be changed here."), code="not_a_notice")
    incident = Incident.objects.select_for_update().get(pk=correspondence.incident_id)
    row = (
        Correspondence.objects.select_for_update(of=("self",))
        .select_related("engagement__partner", "merchant")
        .get(pk=correspondence.pk)
    )
    row.incident = incident
    return row


def expect_status(row: Correspondence, *statuses: str) -> None:
    if row.status not in statuses:
        raise ValidationError(
            _("This notice is %(status)s; it cannot be changed that way.") % {"status": row.get_status_display()},
            code="wrong_status",
        )


@transaction.atomic
def notice_edit(*, correspondence: Correspondence, actor, subject: str, body_text: str) -> Correspondence:
    """Change one draft's subject or text; the edit is what gets sent. Only the author edits.

    A draft PayHealth composed by itself (no author) becomes the editor's.
    """
    require_permission(actor, "cases.change_correspondence", _("Editing notices needs a desk role."))
    row = locked_notice(correspondence)
    expect_status(row, Status.DRAFT)
    if row.created_by_id is not None and row.created_by_id != getattr(actor, "pk", None):
        raise PermissionDenied(_("Only the author of a notice can edit it."))
    body_text = (body_text or "").strip()
    if not body_text:
        raise ValidationError({"body_text": _("A notice cannot be empty.")}, code="required")
    subject = subject_with_token(subject, row.incident.reference)
    before = {"subject": row.subject, "body_text": row.body_text.strip()}
    changed = [field for field, value in (("subject", subject), ("body_text", body_text)) if value != before[field]]
    if not changed:
        return row
    row.subject, row.body_text = subject, body_text + "\n"
    fields = ["subject", "body_text"]
    if row.created_by_id is None and acting_person(actor):
        row.created_by = actor
        fields.append("created_by")
    row.full_clean()
    row.save(update_fields=fields)
    edited = NoticeEdited(correspondence=row.pk, partner=notice_addressee(row), changed=changed)
    timeline.record(edited, incident=row.incident, actor=actor)
    return row
