"""Reads of the correspondence: an incident's threads, drafts under review, notices waiting for a
lead, the triage inbox, and who may see which message and attachment (one rule for all of them).

Messages of an incident are visible to desk members who see the incident and hold
`cases.view_correspondence`; received messages that belong to no incident yet (the triage inbox)
only to those who may triage them (`cases.triage_correspondence`): their senders are not known
partners yet. Attachments follow their message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import CharField, DateTimeField, F, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cases.correspondence.inbound.parse import sanitise_html
from cases.models import Attachment, CaseEvent, Correspondence, Incident
from cases.selectors import incident_list_visible_to

Status = Correspondence.Status
IN_FLIGHT = (Status.QUEUED, Status.SENDING)


def _attachment_names():
    """A message's attachments without their content (listed with a download link)."""
    return Prefetch("attachments", queryset=Attachment.objects.defer("content").order_by("id"))


def correspondence_visible_to(*, user) -> QuerySet[Correspondence]:
    """Every message the user may read: those of visible incidents, and unmatched ones for triagers."""
    if not user.has_perm("cases.view_correspondence"):
        return Correspondence.objects.none()
    visible = Q(incident__in=incident_list_visible_to(user=user))
    if user.has_perm("cases.triage_correspondence"):
        visible |= Q(incident__isnull=True)
    return Correspondence.objects.filter(visible)


def attachments_visible_to(*, user) -> QuerySet[Attachment]:
    """Attachments of the messages the user may read (`correspondence_visible_to`)."""
    return Attachment.objects.filter(correspondence__in=correspondence_visible_to(user=user).values("pk"))


def triage_messages(*, user) -> QuerySet[Correspondence]:
    """Received messages that belong to no incident yet, newest first (the triage inbox)."""
    if not user.has_perm("cases.triage_correspondence"):
        return Correspondence.objects.none()
    attachments = Prefetch("attachments", queryset=Attachment.objects.defer("content"))
    return (
        Correspondence.objects.filter(direction=Correspondence.Direction.INBOUND, incident__isnull=True)
        .prefetch_related(attachments)
        .order_by("-received_at", "-id")
    )


def replies_for_display(rows: Iterable[Correspondence]) -> list[Correspondence]:
    """Give each received message what `cases/_reply.html` shows: `safe_html`, sanitised now.

    Stored HTML is never trusted, even though it was parsed by us: it is sanitised on every
    display, so a stricter allow-list applies to old messages too.
    """
    rows = list(rows)
    for row in rows:
        row.safe_html = sanitise_html(row.body_html) if row.body_html else ""
    return rows


def notice_drafts(*, incident: Incident, ids: list[int]) -> list[Correspondence]:
    """The incident's draft notices (those of `ids` when given), by partner: the review page."""
    rows = Correspondence.objects.filter(
        incident=incident, direction=Correspondence.Direction.OUTBOUND, status=Status.DRAFT
    )
    if ids:
        rows = rows.filter(pk__in=ids)
    rows = rows.select_related("engagement__partner", "merchant", "created_by").prefetch_related(_attachment_names())
    return list(rows.order_by("engagement__partner__name", "id"))


def _pending(*, user) -> QuerySet[Correspondence]:
    return Correspondence.objects.filter(
        direction=Correspondence.Direction.OUTBOUND,
        status=Status.PENDING_APPROVAL,
        incident__in=incident_list_visible_to(user=user),
    )


def notices_pending_approval(*, user) -> QuerySet[Correspondence]:
    """SEV1/SEV2 notices waiting for a lead, of incidents the user sees, oldest request first.

    Each carries `submitted_at` and `submitted_by_id` (the latest submission on the timeline; the
    notice's creation and author for one submitted before the timeline recorded it).
    """
    submissions = (
        CaseEvent.objects.filter(incident=OuterRef("incident"), kind=CaseEvent.Kind.NOTICE_SUBMITTED)
        .alias(notice=KT("data__correspondence"))
        .filter(notice=Cast(OuterRef("pk"), CharField()))
        .order_by("-created_at", "-id")
    )
    return (
        _pending(user=user)
        .annotate(
            submitted_at=Coalesce(
                Subquery(submissions.values("created_at")[:1]), F("created_at"), output_field=DateTimeField()
            ),
            submitted_by_id=Coalesce(
                Subquery(submissions.values("actor")[:1]), F("created_by"), output_field=IntegerField()
            ),
        )
        .select_related("incident", "engagement__partner", "merchant", "created_by")
        .prefetch_related(_attachment_names())
        .order_by("submitted_at", "id")
    )


def notices_pending_count(*, user) -> int:
    """How many notices wait for a lead (the navigation's badge): one count."""
    return _pending(user=user).count()


@dataclass
class NoticeThread:
    """The messages exchanged with one partner on an incident, oldest first."""

    partner: object  # a Partner, or None for replies not tied to a partner yet
    messages: list = field(default_factory=list)
    account_team: str = ""  # an internal thread with a merchant's account team ("Laura Gómez · Farmacias Nube")


@dataclass
class IncidentNotices:
    threads: list[NoticeThread]
    in_flight: bool  # something is queued or sending: the section keeps polling


def reply_candidates_for_display(row: Correspondence) -> list[dict]:
    """A received reply's folio and ETA candidates as the page shows them: `index` (what the
    confirm button posts), `kind`, `value`, `when` (an ETA as a datetime), `excerpt`, and
    `confirmed_at` / `confirmed_by` once confirmed. Unreadable entries are left out."""
    if row.direction != Correspondence.Direction.INBOUND:
        return []
    shown = []
    for index, item in enumerate(row.candidates or []):
        if not isinstance(item, dict) or item.get("kind") not in ("folio", "eta"):
            continue
        value = str(item.get("value") or "")
        when = _aware(value) if item["kind"] == "eta" else None
        if not value or (item["kind"] == "eta" and when is None):
            continue
        shown.append(
            {
                "index": index,
                "kind": item["kind"],
                "value": value,
                "when": when,
                "excerpt": str(item.get("excerpt") or ""),
                "confirmed_at": _aware(str(item.get("confirmed_at") or "")),
                "confirmed_by": str(item.get("confirmed_by") or ""),
            }
        )
    return shown


def _aware(value: str):
    try:
        parsed = parse_datetime(value) if value else None
    except ValueError:
        return None
    return parsed if parsed is not None and timezone.is_aware(parsed) else None


def incident_notices(*, user, incident: Incident) -> IncidentNotices:
    """Every message of the incident (out and in), grouped per partner thread, in one query."""
    if not user.has_perm("cases.view_correspondence"):
        return IncidentNotices(threads=[], in_flight=False)
    rows = (
        Correspondence.objects.filter(incident=incident)
        .select_related("engagement__partner", "merchant", "created_by", "approved_by", "sent_by", "ack_link")
        .prefetch_related(_attachment_names())
        .defer("body_html")
        .order_by("created_at", "id")
    )
    threads: dict[object, NoticeThread] = {}
    for row in rows:
        row.candidate_list = reply_candidates_for_display(row)
        key = ("merchant", row.merchant_id) if row.merchant_id else row.engagement_id
        if key not in threads:
            threads[key] = NoticeThread(
                partner=row.engagement.partner if row.engagement_id else None,
                account_team=row.addressee_name if row.merchant_id else "",
            )
        threads[key].messages.append(row)
    ordered = sorted(
        threads.values(), key=lambda t: (t.partner is None, t.partner.name if t.partner else t.account_team)
    )
    return IncidentNotices(
        threads=ordered,
        in_flight=any(row.status in IN_FLIGHT for thread in ordered for row in thread.messages),
    )
