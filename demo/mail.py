"""The demo's partner threads: notices per language group, replies, updates and resolutions.

Message-IDs follow the desk's own pattern (`<ph-PH-2026-000123-1@payhealth.local>`) for outbound
mail; replies carry a partner-side Message-ID and thread onto the notice they answer through
In-Reply-To and References, as real mail does.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime, timedelta
from email.utils import parseaddr

from django.conf import settings

from cases.correspondence.email import message_id
from cases.models import AffectedMerchant, CardNetwork, CaseEvent, Correspondence, PartnerEngagement, Severity, Status
from cases.timeline import events as ev
from demo import stories, texts
from demo.rows import Story
from demo.stories import ACKNOWLEDGING, PartnerStatus

Kind = CaseEvent.Kind


def _amount(affected: list[AffectedMerchant]) -> str:
    totals: dict[str, float] = defaultdict(float)
    for row in affected:
        totals[row.currency] += float(row.volume_at_risk)
    return " + ".join(f"{currency} {total:,.2f}" for currency, total in sorted(totals.items())) or "—"


def _message_id(story: Story) -> str:
    return message_id("ph", story.incident.reference, len(story.messages) + 1)


def _partner_message_id(story: Story, domain: str) -> str:
    token = hashlib.sha1(f"{story.incident.reference}/{len(story.messages)}".encode()).hexdigest()[:20]
    return message_id(token, domain=f"mail.{domain}")


def _language_groups(engagement: PartnerEngagement, contacts) -> dict[str, list]:
    """Who gets the notice, by language: each contact's own, else the partner's, as the desk sends them."""
    groups: dict[str, list] = {}
    for contact in contacts:
        if contact.active and contact.receives_notices and contact.escalation_level <= engagement.escalation_level:
            groups.setdefault(contact.effective_language, []).append(contact)
    return groups


def correspond(rng, story: Story, engagement: PartnerEngagement, *, desk, life, context, author, lead, manager):
    """The partner thread: breakage notice per language group, the partner's acknowledgement,
    an update for SEV1/SEV2 and the resolution notice, each on the timeline."""
    incident, partner = story.incident, engagement.partner
    groups = _language_groups(engagement, desk.contacts[partner.pk])
    if not groups:
        return
    desk_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    needs_approval = incident.severity in (Severity.SEV1, Severity.SEV2)
    author = author if author != lead else manager  # the approver is never the author
    domain = groups[next(iter(groups))][0].email.rsplit("@", 1)[1]

    def notice_context(language: str, sent: datetime) -> dict:
        merchants = [row.merchant.name for row in story.affected]
        scope = ", ".join(merchants[:3]) + (f" (+{len(merchants) - 3})" if len(merchants) > 3 else "")
        networks = ", ".join(CardNetwork(value).label for value in incident.card_networks)
        scope += f"; {networks}; BIN {', '.join(incident.bin_prefixes) or '—'}; "
        scope += incident.country
        return {
            **context,
            "partner": partner.name,
            "title": story.titles[language],
            "symptoms": texts.SYMPTOMS[language]["codes" if incident.decline_codes else "cost"].format(**context),
            "severity": incident.severity.upper(),
            "scope": scope,
            "start_partner": stories.local_time(life.started_at, partner.timezone, language),
            "next_partner": stories.local_time(sent + stories.HOUR, partner.timezone, language),
            "end_partner": stories.local_time(life.resolved_at or life.anchor, partner.timezone, language),
            "excess": f"{sum(stories.excess_of(row) for row in story.affected):,}",
            "amount": _amount(story.affected),
            "owner": author.get_full_name(),
            "folio": engagement.folio or "—",
        }

    def outbound(kind, language, contacts, sent, floor, *, status=Correspondence.Status.SENT, reply_to=None):
        """One notice; drafted, approved and queued between `floor` (the last thing before it) and `sent`."""
        ctx = notice_context(language, sent)
        drafted = max(sent - stories.MINUTE * 12, floor + (sent - floor) * 0.3)
        references = f"{reply_to.references} {reply_to.message_id}".strip() if reply_to else ""
        message = Correspondence(
            incident=incident,
            engagement=engagement,
            direction=Correspondence.Direction.OUTBOUND,
            kind=kind,
            language=language,
            subject=texts.NOTICE_SUBJECTS[language][kind].format(**ctx)[:300],
            body_text=texts.NOTICE_BODIES[language][kind].format(**ctx),
            from_address=settings.DEFAULT_FROM_EMAIL,
            to_addresses=[c.email for c in contacts],
            status=status,
            peak_severity=incident.severity,
            message_id=_message_id(story),
            in_reply_to=reply_to.message_id if reply_to else "",
            references=references,
            created_by=author,
            created_at=drafted,
        )
        story.messages.append(message)
        story.event(
            drafted,
            author,
            ev.NoticeDrafted,
            pk_of=message,
            pk_key="correspondence",
            notice_kind=kind,
            language=language,
            partner=partner.name,
            to=message.to_addresses,
            template_version=1,
        )
        if status == Correspondence.Status.PENDING_APPROVAL:
            return message
        if needs_approval:
            message.approved_by, message.approved_at = lead, drafted + (sent - drafted) * 0.5
            story.event(
                message.approved_at,
                lead,
                ev.NoticeApproved,
                pk_of=message,
                pk_key="correspondence",
                partner=partner.name,
                comment="",
            )
        message.sent_by = manager if rng.random() < 0.7 else lead
        message.queued_at = sent - (sent - drafted) * 0.1
        message.attempts = 1
        if status == Correspondence.Status.FAILED:
            message.attempts, message.last_error = 5, texts.FAILED_DELIVERY_ERROR
            story.event(
                sent,
                None,
                ev.NoticeFailed,
                pk_of=message,
                pk_key="correspondence",
                partner=partner.name,
                error=texts.FAILED_DELIVERY_ERROR,
                attempts=message.attempts,
            )
            return message
        message.sent_at = sent
        story.event(
            sent,
            message.sent_by,
            ev.NoticeSent,
            pk_of=message,
            pk_key="correspondence",
            partner=partner.name,
            language=language,
            to=message.to_addresses,
            message_id=message.message_id,
            attempts=message.attempts,
            refused="",
        )
        return message

    if engagement.partner_status == PartnerStatus.NOT_NOTIFIED:
        if needs_approval and rng.random() < 0.6:
            language, contacts = next(iter(groups.items()))
            sent = life.at(rng.uniform(0.3, 0.9))
            outbound(
                "breakage",
                language,
                contacts,
                sent,
                engagement.created_at,
                status=Correspondence.Status.PENDING_APPROVAL,
            )
        return

    threads = []
    for offset, (language, contacts) in enumerate(groups.items()):
        sent = engagement.first_notified_at + timedelta(seconds=20 * offset)
        floor = engagement.created_at
        if rng.random() < 0.04:
            failed = floor + (sent - floor) * 0.5
            outbound("breakage", language, contacts, failed, floor, status=Correspondence.Status.FAILED)
            floor = failed
        threads.append(outbound("breakage", language, contacts, sent, floor))

    last = threads[0]
    if engagement.partner_status in ACKNOWLEDGING:
        contact = groups[last.language][0]
        reply_context = {"folio": engagement.folio, "contact": contact.name, "partner": partner.name}
        reply = Correspondence(
            incident=incident,
            engagement=engagement,
            direction=Correspondence.Direction.INBOUND,
            language=last.language,
            subject=f"RE: {last.subject}"[:300],
            body_text=texts.REPLY_BODIES[last.language].format(**reply_context),
            from_address=f"{contact.name} <{contact.email}>",
            to_addresses=[desk_address],
            status=Correspondence.Status.RECEIVED,
            message_id=_partner_message_id(story, domain),
            in_reply_to=last.message_id,
            references=last.message_id,
            received_at=engagement.acknowledged_at,
            created_at=engagement.acknowledged_at,
        )
        story.messages.append(reply)
        story.event(
            reply.received_at,
            None,
            ev.ReplyReceived,
            pk_of=reply,
            pk_key="correspondence",
            partner=partner.name,
            engagement=engagement.pk,
            subject=reply.subject,
            matched_by="header",
            source="imap",
            auto_reply=False,
            sender=contact.email,
            partner_reply=True,
        )
        story.event(
            reply.received_at,
            None,
            ev.PartnerAcknowledged,
            pk_of=reply,
            pk_key="correspondence",
            partner=partner.name,
            code=partner.code,
            folio=engagement.folio,
            changes={"acknowledged_at": {"from": None, "to": reply.received_at}},
        )
        last = reply

    late_status = life.status in (Status.WAITING_ON_PARTNER, Status.MITIGATED, Status.RESOLVED, Status.CLOSED)
    if incident.severity in (Severity.SEV1, Severity.SEV2) and late_status and last.direction == "in":
        sent = last.created_at + (life.at(0.8) - last.created_at) * rng.uniform(0.3, 0.9)
        last = outbound("update", last.language, groups[last.language], sent, last.created_at, reply_to=last)

    if engagement.partner_status == PartnerStatus.RESOLVED and life.resolved_at:
        sent = life.resolved_at + (life.horizon - life.resolved_at) * rng.uniform(0.02, 0.2)
        outbound("resolution", last.language, groups[last.language], sent, life.resolved_at, reply_to=last)
