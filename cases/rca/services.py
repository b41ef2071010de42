"""Root-cause analyses asked of partners, and the incident's action items: one service per action,
called by the incident page, the API and the sweep alike.

An RCA request row is made when an RCA request notice goes out (`on_case_events`, a timeline
listener: the notice's `notice_sent` row), with the due date the notice stated (the close of the
PAYHEALTH_RCA_DUE_BUSINESS_DAYS-th business day on the partner's calendar after the day it was
drafted). Its life: `requested → received → accepted | rejected`, and a rejected RCA may be
received again; each move records who, when and a note on the timeline.

`rca_sweep` (run with the SLA sweep) drafts a reminder for review, by PayHealth (`actor=None`),
once when the due date is one business day away and once when it has passed; `reminders_sent`
on the locked row keeps each reminder to one draft however often the sweep runs.

Action items are ours (a desk user) or a partner's, with an optional due date, and are open,
done or cancelled. Writing any of this needs a desk role (`cases.change_incident`).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import timeline
from cases.correspondence.compose import notice_compose
from cases.correspondence.followup import open_rca, partner_schedule, rca_due
from cases.models import ActionItem, CaseEvent, Correspondence, Incident, PartnerEngagement, RcaRequest
from cases.timeline.events import ActionItemAdded, ActionItemChanged, RcaChanged, RcaRequested
from partners.businesstime import open_intervals
from partners.models import NoticeTemplate, Partner

logger = logging.getLogger(__name__)

Status = RcaRequest.Status
# Which moves each status allows.
MOVES = {
    Status.REQUESTED: (Status.RECEIVED,),
    Status.RECEIVED: (Status.ACCEPTED, Status.REJECTED),
    Status.REJECTED: (Status.RECEIVED,),
    Status.ACCEPTED: (),
}
DUE_SOON, OVERDUE = "due_soon", "overdue"
NOTE_MAX = 4000


def require_desk(actor) -> None:
    if actor is not None and not actor.has_perm("cases.change_incident"):
        raise PermissionDenied(_("This needs a desk role."))


def _locked_incident(incident_id: int) -> Incident:
    locked = Incident.objects.select_for_update().get(pk=incident_id)
    locked.save(update_fields=["updated_at"])
    return locked


# --- the request ---------------------------------------------------------------------------------


def on_case_events(rows) -> None:
    """Timeline listener: an RCA request notice that went out opens the partner's RCA (a reminder of
    an open one does not open another)."""
    sent = {timeline.read(row).correspondence: row for row in rows if row.kind == CaseEvent.Kind.NOTICE_SENT}
    if not sent:
        return
    requests = Correspondence.objects.select_related("engagement__partner").filter(
        pk__in=sent, kind=NoticeTemplate.Kind.RCA_REQUEST, engagement__isnull=False
    )  # one query for notices sent together, most of them no RCA request
    order = {pk: position for position, pk in enumerate(sent)}  # the timeline's order
    for notice in sorted(requests, key=lambda notice: order[notice.pk]):
        _notice_sent(sent[notice.pk], notice)


def _notice_sent(row: CaseEvent, notice: Correspondence) -> None:
    engagement = (
        PartnerEngagement.objects.select_for_update(of=("self",)).select_related("partner").get(pk=notice.engagement_id)
    )
    if open_rca(engagement) is not None:
        return
    requested_at = row.created_at
    # The date the notice stated: computed from when it was drafted, the same on every resend.
    due = max(rca_due(engagement.partner, notice.created_at), requested_at)
    rca = RcaRequest.objects.create(
        incident_id=row.incident_id,
        engagement=engagement,
        correspondence=notice,
        requested_at=requested_at,
        due_at=due,
    )
    event = RcaRequested(
        rca=rca.pk, partner=engagement.partner.name, due=due.isoformat(), correspondence=notice.pk, reminder=""
    )
    timeline.record(event, incident=Incident.objects.get(pk=row.incident_id), actor=row.actor, at=requested_at)


def _note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationError({"note": _("A note has at most %(max)s characters.") % {"max": NOTE_MAX}})
    return note


@transaction.atomic
def rca_change(
    *,
    rca: RcaRequest,
    actor,
    to: str,
    note: str = "",
    root_cause: str | None = None,
    received_at: datetime | None = None,
) -> RcaRequest:
    """Move an RCA: received (when it arrived, the root cause the partner states), then accepted or
    rejected (a rejection says why). Who, when and the note go on the timeline."""
    require_desk(actor)
    note = _note(note)
    if to not in Status.values:
        raise ValidationError({"status": _("Unknown RCA status %(status)s.") % {"status": to}}, code="invalid")
    incident = _locked_incident(rca.incident_id)
    locked = RcaRequest.objects.select_for_update(of=("self",)).select_related("engagement__partner").get(pk=rca.pk)
    if to not in MOVES[locked.status]:
        raise ValidationError(
            {
                "status": _("An RCA that is %(was)s cannot become %(to)s.")
                % {"was": locked.get_status_display().lower(), "to": Status(to).label.lower()}
            },
            code="wrong_status",
        )
    now = timezone.now()
    was = locked.status
    if to == Status.REJECTED and not note:
        raise ValidationError({"note": _("Say why the RCA is rejected.")}, code="required")
    if to == Status.RECEIVED:
        if received_at is not None and received_at > now + timedelta(minutes=5):
            raise ValidationError({"received_at": _("An RCA cannot arrive in the future.")}, code="future")
        locked.received_at = received_at or now
        locked.decided_at, locked.decided_by = None, None
        if root_cause is not None:
            locked.root_cause = root_cause.strip()
    else:
        locked.decided_at, locked.decided_by = now, actor if getattr(actor, "pk", None) else None
        locked.decision_note = note
    locked.status = to
    locked.full_clean()
    locked.save()
    payload = RcaChanged(rca=locked.pk, partner=locked.engagement.partner.name, was=was, to=to, note=note)
    timeline.record(payload, incident=incident, actor=actor, at=now)
    return locked


def reminder_from(partner: Partner, due: datetime) -> datetime:
    """One business day before the due day: the opening of the partner's business day before it."""
    schedule = partner_schedule(partner)
    if schedule.always_open:
        return due - timedelta(days=1)
    due_day = due.astimezone(schedule.tz).date()
    openings: dict[date, datetime] = {}
    for opens, _closes in open_intervals(schedule, due - timedelta(days=14)):
        if opens >= due:
            break
        openings.setdefault(opens.astimezone(schedule.tz).date(), opens)
    before = [day for day in openings if day < due_day]
    return openings[max(before)] if before else due - timedelta(days=1)


def rca_overdue(*, now: datetime | None = None):
    """Requested RCAs past their due date, oldest due first (the SLA at-risk page lists them)."""
    now = now or timezone.now()
    return (
        RcaRequest.objects.filter(status=Status.REQUESTED, due_at__lte=now)
        .select_related("incident", "engagement__partner")
        .order_by("due_at", "pk")
    )


def rca_sweep(*, now: datetime | None = None) -> int:
    """Draft the reminders due by `now` (one business day before, and overdue), each once; how many."""
    now = now or timezone.now()
    candidates = RcaRequest.objects.filter(
        status=Status.REQUESTED, reminders_sent__lt=2, due_at__lte=now + timedelta(days=7)
    )
    drafted = 0
    for pk in candidates.order_by("due_at", "pk").values_list("pk", flat=True):
        drafted += _remind(pk, now)
    return drafted


@transaction.atomic
def _remind(pk: int, now: datetime) -> int:
    row = RcaRequest.objects.filter(pk=pk).only("incident_id").first()
    if row is None:
        return 0
    incident = Incident.objects.select_for_update().get(pk=row.incident_id)
    rca = (
        RcaRequest.objects.select_for_update(of=("self",), skip_locked=True)
        .select_related("engagement__partner")
        .filter(pk=pk, status=Status.REQUESTED)
        .first()
    )
    if rca is None:
        return 0
    partner = rca.engagement.partner
    if now >= rca.due_at and rca.reminders_sent < 2:
        which, sent = OVERDUE, 2
    elif rca.reminders_sent < 1 and now >= reminder_from(partner, rca.due_at):
        which, sent = DUE_SOON, 1
    else:
        return 0
    rca.reminders_sent = sent
    rca.save(update_fields=["reminders_sent", "updated_at"])
    try:
        with transaction.atomic():
            result = notice_compose(
                incident=incident, actor=None, kind=NoticeTemplate.Kind.RCA_REQUEST, partners=[partner]
            )
    except ValidationError as error:  # no template: counted as done, the desk sees the overdue RCA
        logger.warning("RCA reminder to %s on %s not drafted: %s", partner, incident.reference, error.messages)
        return 0
    notice = result.drafts[0].pk if result.drafts else None
    event = RcaRequested(
        rca=rca.pk, partner=partner.name, due=rca.due_at.isoformat(), correspondence=notice, reminder=which
    )
    timeline.record(event, incident=incident, actor=None, at=now)
    return len(result.drafts)


# --- action items --------------------------------------------------------------------------------


def _owner_text(item: ActionItem) -> str | None:
    if item.owner_id:
        return item.owner.get_username()
    if item.partner_id:
        return item.partner.name
    return None


def _check_owner(incident: Incident, owner, partner) -> None:
    if owner is not None and partner is not None:
        raise ValidationError(
            {"owner": _("An action item has one owner: a desk user or a partner.")}, code="two_owners"
        )
    if owner is not None and not (owner.is_active and owner.groups.exists()):
        raise ValidationError({"owner": _("The owner must be an active desk user.")}, code="not_desk")
    if partner is not None and not PartnerEngagement.objects.filter(incident=incident, partner=partner).exists():
        raise ValidationError(
            {"partner": _("%(partner)s is not engaged on this incident.") % {"partner": partner.name}},
            code="not_engaged",
        )


def _title(title: str | None) -> str:
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": _("Say what is to be done.")}, code="required")
    return title


@transaction.atomic
def action_item_add(
    *, incident: Incident, actor, title: str, owner=None, partner: Partner | None = None, due_date: date | None = None
) -> ActionItem:
    require_desk(actor)
    title = _title(title)
    locked = _locked_incident(incident.pk)
    _check_owner(locked, owner, partner)
    item = ActionItem(
        incident=locked,
        title=title,
        owner=owner,
        partner=partner,
        due_date=due_date,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    item.full_clean()
    item.save()
    event = ActionItemAdded(
        item=item.pk, title=item.title, owner=_owner_text(item), due=due_date.isoformat() if due_date else None
    )
    timeline.record(event, incident=locked, actor=actor)
    return item


_UNSET = object()


@transaction.atomic
def action_item_update(
    *, item: ActionItem, actor, title=_UNSET, owner=_UNSET, partner=_UNSET, due_date=_UNSET, status=_UNSET
) -> ActionItem:
    """Change an action item: what, who, when, or its status (done records when)."""
    require_desk(actor)
    locked_incident = _locked_incident(item.incident_id)
    locked = ActionItem.objects.select_for_update(of=("self",)).select_related("owner", "partner").get(pk=item.pk)
    before = {
        "title": locked.title,
        "owner": _owner_text(locked),
        "due_date": locked.due_date.isoformat() if locked.due_date else None,
        "status": locked.status,
    }
    if title is not _UNSET:
        locked.title = _title(title)
    if owner is not _UNSET or partner is not _UNSET:
        new_owner = locked.owner if owner is _UNSET else owner
        new_partner = locked.partner if partner is _UNSET else partner
        if owner is not _UNSET and owner is not None and partner is _UNSET:
            new_partner = None  # a new desk owner replaces a partner owner
        if partner is not _UNSET and partner is not None and owner is _UNSET:
            new_owner = None
        _check_owner(locked_incident, new_owner, new_partner)
        locked.owner, locked.partner = new_owner, new_partner
    if due_date is not _UNSET:
        locked.due_date = due_date
    if status is not _UNSET:
        if status not in ActionItem.Status.values:
            raise ValidationError({"status": _("Unknown status %(status)s.") % {"status": status}}, code="invalid")
        locked.status = status
        locked.done_at = (locked.done_at or timezone.now()) if status == ActionItem.Status.DONE else None
    after = {
        "title": locked.title,
        "owner": _owner_text(locked),
        "due_date": locked.due_date.isoformat() if locked.due_date else None,
        "status": locked.status,
    }
    changes = {name: {"from": before[name], "to": after[name]} for name in before if before[name] != after[name]}
    if not changes:
        return locked
    locked.full_clean()
    locked.save()
    event = ActionItemChanged(item=locked.pk, title=locked.title, status=locked.status, changes=changes)
    timeline.record(event, incident=locked_incident, actor=actor)
    return locked


def desk_users():
    """People who may own an action item: active users with a desk role."""
    return get_user_model().objects.filter(is_active=True, groups__isnull=False).distinct().order_by("username")
