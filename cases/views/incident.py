"""The incident page and the "open an incident" form.

Thin views: form in → service → re-render the part that changed
(htmx, with the header and timeline swapped out of band) or redirect back to the page. A form
with errors comes back in place: the part for htmx, the whole page otherwise, both HTTP 200.
Every write checks its permission on the server; a refused request answers 403 and changes
nothing.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from urllib.parse import parse_qs, urlsplit

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from cases.forms import (
    DeclineCountForm,
    EngagementForm,
    EngagementScopeForm,
    IncidentDetailsForm,
    IncidentOpenForm,
    MerchantImpactForm,
    NoteForm,
    OwnerForm,
    SeverityForm,
    TransitionForm,
)
from cases.models import CaseEvent, Incident
from cases.models.incident import Status
from cases.selectors import (
    FEED_PAGE,
    incident_decline_lines,
    incident_page_lists,
    incident_visible_or_404,
)
from cases.services import (
    decline_count_remove,
    decline_counts_record,
    engagement_add,
    engagement_update,
    incident_assign,
    incident_change_severity,
    incident_open,
    incident_transition,
    incident_update_details,
    merchant_impact_add,
    merchant_impact_remove,
    merchant_impact_update,
    note_add,
    note_edit,
)
from cases.services.scope import engagement_scope, engagement_scope_edit
from cases.sla.selectors import incident_sla
from cases.views.followthrough import followthrough
from payhealth.web import add_service_errors, desk_permission

PAGE = "cases/incident_detail.html"
NEW = "new"  # the key of a form adding a row, beside the keys of rows being edited
FORM_PAGE = "cases/incident_form.html"

# The activity feed's filters (the `feed` query parameter); anything else shows everything.
FEED_FILTERS = ("all", "notes", "messages", "events")
TOP_CODES = 3  # decline codes in the header


@dataclass(frozen=True)
class FeedItem:
    """One entry of the activity feed: a note, a partner message or a timeline event."""

    kind: str  # "note", "message" or "event"
    at: datetime
    pk: int
    obj: object


def _weighted_rate(rows, attribute: str) -> Decimal | None:
    """The approval rate over the merchants measured, weighted by their attempts."""
    measured = [row for row in rows if getattr(row, attribute) is not None and row.attempts]
    attempts = sum(row.attempts for row in measured)
    if not attempts:
        return None
    return (sum(getattr(row, attribute) * row.attempts for row in measured) / attempts).quantize(Decimal("0.0001"))


class IncidentPage:
    """Everything the incident page shows, read lazily: a part renders only what it uses.

    Edit forms are rendered only for the one thing being edited (`editing`: "details",
    ("note", pk), ("merchant", pk), ("merchant", NEW), ("engagement", pk), ("engagement", NEW)):
    forms with long choice lists are what a page of this size spends its time on.
    `forms` holds bound forms with errors, shown instead of fresh ones, keyed the same way.
    """

    def __init__(self, request, incident: Incident, *, editing=None, forms=None):
        self.request = request
        self.user = request.user
        self.incident = incident
        self.editing = editing
        self.forms = forms or {}
        self.transition_error = ""

    def _form(self, key, build):
        if key in self.forms:
            return self.forms[key]
        return build() if self.editing == key else None

    @cached_property
    def lists(self):
        """Every list the page shows, read in one query (cases.selectors.incident_page_lists): for
        the feed's first page, only the newest events. The feed shows its newest FEED_PAGE entries
        and all of them on request (`feed_show=all`): an incident a monitor updates every minute
        gathers thousands of events, and the page stays the same size. A note being edited is
        shown however old, with every entry before it."""
        editing_note = self._editing_note()
        limit = None if self.feed_everything or editing_note else FEED_PAGE
        return incident_page_lists(user=self.user, incident=self.incident, feed_limit=limit)

    def _editing_note(self) -> bool:
        keys = [self.editing, *self.forms]
        return any(isinstance(key, tuple) and key and key[0] == "note" for key in keys)

    @cached_property
    def events(self):
        return self.lists.events

    @cached_property
    def notes(self):
        notes = self.lists.notes
        can_edit = self.user.has_perm("cases.change_investigationnote")
        for note in notes:
            note.editable = can_edit and note.author_id == self.user.pk
            if note.editable:
                note.form = self._form(
                    ("note", note.pk), lambda n=note: NoteForm(initial={"body": n.body}, auto_id=f"id_note{n.pk}_%s")
                )
        return notes

    @cached_property
    def note_form(self):
        return self.forms.get("note") or NoteForm(auto_id="id_note_new_%s")

    @cached_property
    def merchants(self):
        rows = self.lists.merchants
        for row in rows:
            row.form = self._form(
                ("merchant", row.pk), lambda r=row: MerchantImpactForm(incident=self.incident, user=self.user, row=r)
            )
        return rows

    @cached_property
    def merchant_totals(self) -> dict:
        """Attempts and excess declines summed; volume at risk per currency (never added across)."""
        volumes: dict[str, object] = {}
        for row in self.merchants:
            if row.volume_at_risk:
                volumes[row.currency] = volumes.get(row.currency, 0) + row.volume_at_risk
        return {
            "attempts": sum(row.attempts for row in self.merchants),
            "failed_attempts": sum(row.failed_attempts for row in self.merchants),
            "excess_declines": sum(row.excess_declines or 0 for row in self.merchants),
            "volumes": sorted(volumes.items()),
        }

    @cached_property
    def impact(self) -> dict:
        """The header's figures, each only when recorded: the approval-rate drop (weighted by
        attempts), excess declines, volume at risk per currency and the top decline codes."""
        rows = self.merchants
        before, during = _weighted_rate(rows, "baseline_rate"), _weighted_rate(rows, "observed_rate")
        drop = (before - during) * 100 if before is not None and during is not None else None
        measured = [row.excess_declines for row in rows if row.excess_declines is not None]
        codes = sorted(
            (line for line in self.decline_codes if line.count_during),
            key=lambda line: -line.count_during,
        )[:TOP_CODES]
        figures = {
            "before": before,
            "during": during,
            "drop_pp": drop,
            "excess_declines": sum(measured) if measured else None,
            "volumes": self.merchant_totals["volumes"],
            "codes": codes,
        }
        figures["any"] = drop is not None or bool(measured) or bool(figures["volumes"]) or bool(codes)
        return figures

    @cached_property
    def partner_board(self) -> list[dict]:
        """Each engaged partner with its most urgent running clock, else its latest one."""
        clocks: dict[int, list] = {}
        for badge in self.sla.clocks:
            if badge.clock.engagement_id:
                clocks.setdefault(badge.clock.engagement_id, []).append(badge)
        active = {id(badge) for badge in self.sla.active}
        board = []
        for engagement in self.engagements:
            badges = clocks.get(engagement.pk, [])
            running = [badge for badge in badges if id(badge) in active]
            clock = min(running, key=lambda badge: badge.time_left) if running else (badges[-1] if badges else None)
            board.append({"engagement": engagement, "clock": clock})
        return board

    @cached_property
    def scope_open(self) -> bool:
        return any(engagement.scope_form for engagement in self.engagements)

    @cached_property
    def messages(self):
        return self.lists.messages

    def _feed_parameter(self, name: str) -> str | None:
        """A parameter of the feed: the page's, or for a write over htmx the one of the page it
        came from."""
        value = self.request.GET.get(name)
        if value is None and getattr(self.request, "htmx", False) and self.request.htmx.current_url:
            value = parse_qs(urlsplit(self.request.htmx.current_url).query).get(name, [""])[0]
        return value

    @cached_property
    def feed_filter(self) -> str:
        """The feed's filter (`feed`); an unknown value shows everything."""
        value = self._feed_parameter("feed")
        return value if value in FEED_FILTERS else "all"

    @cached_property
    def feed_everything(self) -> bool:
        """Every entry asked for (`feed_show=all`), not only the newest FEED_PAGE."""
        return self._feed_parameter("feed_show") == "all"

    @cached_property
    def _feed_items(self) -> dict[str, list[FeedItem]]:
        notes = [FeedItem("note", note.created_at, note.pk, note) for note in self.notes]
        messages = [FeedItem("message", _message_time(message), message.pk, message) for message in self.messages]
        events = [FeedItem("event", event.created_at, event.pk, event) for event in self.events]
        return {"notes": notes, "messages": messages, "events": events}

    @cached_property
    def _feed_merged(self) -> list[FeedItem]:
        items = self._feed_items
        events = [FeedItem("event", event.created_at, event.pk, event) for event in self.lists.feed_events]
        merged = items["notes"] + items["messages"] + events
        return sorted(merged, key=lambda item: (item.at, item.pk), reverse=True)

    @cached_property
    def _feed_counts(self) -> dict[str, int]:
        """Every entry of each filter, whether read or not (the chips, and what is left to show)."""
        counts = {"notes": len(self.notes), "messages": len(self.messages), "events": self.lists.event_count}
        counts["all"] = counts["notes"] + counts["messages"] + self.lists.feed_event_count
        return counts

    @cached_property
    def _feed_matching(self) -> list[FeedItem]:
        """Notes, partner messages and timeline events, newest first, as the filter asks."""
        if self.feed_filter == "all":
            return self._feed_merged
        return sorted(self._feed_items[self.feed_filter], key=lambda item: (item.at, item.pk), reverse=True)

    @cached_property
    def feed(self) -> list[FeedItem]:
        """The entries shown: the newest FEED_PAGE, down to a note being edited, or all of them."""
        items = self._feed_matching
        if self.feed_everything:
            return items
        shown = FEED_PAGE
        for index, item in enumerate(items):
            if item.kind == "note" and getattr(item.obj, "form", None) is not None:
                shown = max(shown, index + 1)  # its form stays on the page, however old the note
        return items[:shown]

    @cached_property
    def feed_hidden(self) -> int:
        """How many older entries the feed does not show."""
        return self._feed_counts[self.feed_filter] - len(self.feed)

    @cached_property
    def feed_choices(self) -> list[dict]:
        labels = {
            "all": _("All"),
            "notes": _("Notes"),
            "messages": _("Partner messages"),
            "events": _("Events"),
        }
        counts = self._feed_counts
        return [
            {"value": name, "label": labels[name], "count": counts[name], "current": name == self.feed_filter}
            for name in FEED_FILTERS
        ]

    @cached_property
    def merchant_add_form(self):
        return self._form(("merchant", NEW), lambda: MerchantImpactForm(incident=self.incident, user=self.user))

    @cached_property
    def engagements(self):
        rows = self.lists.engagements
        for row in rows:
            row.incident = self.incident
            row.form = self._form(
                ("engagement", row.pk),
                lambda r=row: EngagementForm(incident=self.incident, user=self.user, engagement=r),
            )
            # The scope is derived (a few queries) only for the one being edited.
            row.scope_form = self._form(
                ("scope", row.pk), lambda r=row: EngagementScopeForm(engagement=r, scope=engagement_scope(r))
            )
        return rows

    @cached_property
    def engagement_add_form(self):
        return self._form(("engagement", NEW), lambda: EngagementForm(incident=self.incident, user=self.user))

    @cached_property
    def decline_codes(self):
        """Each code seen with its meanings, counts and shares before and during."""
        return incident_decline_lines(
            incident=self.incident, rows=self.lists.decline_rows, meanings=self.lists.meanings
        )

    @cached_property
    def decline_count_form(self):
        return self.forms.get("decline_count") or DeclineCountForm()

    @cached_property
    def transition_forms(self):
        errored = self.forms.get("transition")
        return [
            errored
            if errored is not None and errored.target == target
            else TransitionForm(incident=self.incident, target=target, engagements=self.engagements)
            for target in self.incident.allowed_transitions()
        ]

    @cached_property
    def resolution_proposal(self):
        """The detector's proposal to resolve, with the lifecycle's own form for it, while
        resolving is one of the next steps."""
        if Status.RESOLVED not in self.incident.allowed_transitions():
            return None
        # The latest proposal made since the last status change (cases.selectors.incident_resolution_proposal),
        # read with the page's lists: the newest of both kinds, none without view_caseevent.
        latest = self.lists.proposal
        event = latest if latest is not None and latest.kind == CaseEvent.Kind.RESOLUTION_PROPOSED else None
        form = next((form for form in self.transition_forms if form.target == Status.RESOLVED), None)
        if event is None or form is None:
            return None
        return {"event": event, "form": form}

    @cached_property
    def severity_form(self):
        return self.forms.get("severity") or SeverityForm(incident=self.incident)

    @cached_property
    def owner_form(self):
        return self.forms.get("owner") or OwnerForm(
            incident=self.incident, user=self.user, owners=self.lists.owner_choices
        )

    @cached_property
    def details_form(self):
        return self._form("details", lambda: IncidentDetailsForm(incident=self.incident))

    @cached_property
    def followthrough(self):
        """The RCAs asked of partners and the action items (cases.views.followthrough)."""
        return followthrough(self.incident, rcas=self.lists.rcas, items=self.lists.action_items)

    @cached_property
    def sla(self):
        """Every SLA clock with its history (cases.sla.selectors): the header's badges and the SLA section."""
        return incident_sla(user=self.user, incident=self.incident)

    @property
    def url(self) -> str:
        return reverse("cases:incident_detail", args=[self.incident.reference])


def _message_time(message) -> datetime:
    """When a message happened: received, sent, queued, else written."""
    return message.received_at or message.sent_at or message.queued_at or message.created_at


def _render_part(request, page: IncidentPage, part: str, *, oob=()) -> HttpResponse:
    html = render_to_string(f"{PAGE}#{part}", {"page": page, "incident": page.incident}, request)
    for name in oob:
        html += render_to_string(f"{PAGE}#{name}", {"page": page, "incident": page.incident, "oob": True}, request)
    if "timeline" in oob or (part == "timeline" and request.method == "POST"):
        # A write that reaches the timeline (the activity feed) may have paused, resumed or stopped SLA clocks.
        html += render_to_string(
            "cases/_sla.html#section", {"sla": page.sla, "incident": page.incident, "oob": True}, request
        )
    return HttpResponse(html)


def _done(request, incident: Incident, part: str, *, oob=("header", "timeline")) -> HttpResponse:
    """After a successful write: the fresh part (htmx) or back to the page at that part."""
    fresh = Incident.objects.select_related("owner", "created_by").get(pk=incident.pk)
    page = IncidentPage(request, fresh)
    if request.htmx:
        return _render_part(request, page, part, oob=oob)
    return redirect(f"{page.url}#incident-{part}")


def _part_or_page(request, page: IncidentPage, part: str) -> HttpResponse:
    """The part alone for htmx, else the whole page (a form with errors, or one opened for editing)."""
    if request.htmx:
        return _render_part(request, page, part)
    return render(request, PAGE, {"page": page, "incident": page.incident})


def _save(request, incident: Incident, part: str, form, write, *, key, oob=("header", "timeline"), page=None):
    """Form in → service → the fresh part; an invalid form, or one the service refuses, comes back.

    `write` calls the service with the form's cleaned data; a ValidationError it raises is shown
    on the form (through the form's `field_map` where it has one). `key` is the form's place in
    `IncidentPage.forms`; `page` is one the view already built.
    """
    if form.is_valid():
        try:
            write(form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error, getattr(form, "field_map", None))
        else:
            return _done(request, incident, part, oob=oob)
    page = page or IncidentPage(request, incident)
    page.forms[key] = form
    return _part_or_page(request, page, part)


# Open an incident -----------------------------------------------------------------------------


@desk_permission("cases.add_incident")
@require_http_methods(["GET", "POST"])
def incident_create(request):
    """Open an incident by hand; the service issues the reference and records the opening."""
    form = IncidentOpenForm(request.POST if request.method == "POST" else None, user=request.user)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            incident = incident_open(
                actor=request.user,
                title=data["title"],
                category=data["category"],
                severity=data["severity"],
                summary=data["summary"],
                owner=data["owner"],
                started_at=data["started_at"],
                detected_at=data["detected_at"],
                card_networks=data["card_networks"],
                decline_codes=data["decline_codes"],
                bin_prefixes=data["bin_prefixes"],
                country=data["country"],
                merchants=data["merchants"],
                partners=data["partners"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            url = reverse("cases:incident_detail", args=[incident.reference])
            if request.htmx:
                return HttpResponseClientRedirect(url)
            return redirect(url)
    template = f"{FORM_PAGE}#form" if request.htmx and form.is_bound else FORM_PAGE
    return render(request, template, {"form": form})


# The page -------------------------------------------------------------------------------------


@desk_permission("cases.view_incident")
@require_safe
def incident_detail(request, reference: str):
    page = IncidentPage(request, incident_visible_or_404(user=request.user, reference=reference))
    if request.htmx and "feed" in request.GET:  # a filter of the activity feed: the feed alone
        return _render_part(request, page, "timeline")
    return render(request, PAGE, {"page": page, "incident": page.incident})


# Status, severity, owner, details ------------------------------------------------------------


@desk_permission("cases.change_incident")
@require_POST
def incident_transition_view(request, reference: str):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    page = IncidentPage(request, incident)
    target = request.POST.get("to", "")
    if target not in incident.allowed_transitions():
        # Usually a page left open while someone else moved the incident: show what is possible now.
        page.transition_error = _("%(reference)s cannot move to that status from %(status)s.") % {
            "reference": incident.reference,
            "status": incident.get_status_display(),
        }
        return _part_or_page(request, page, "actions")
    form = TransitionForm(request.POST, incident=incident, target=target, engagements=page.engagements)

    def write(data):
        reason, partner = data.get("reason", ""), data.get("partner")
        incident_transition(incident=incident, actor=request.user, to=target, reason=reason, partner=partner)

    return _save(request, incident, "actions", form, write, key="transition", page=page)


@desk_permission("cases.change_incident")
@require_POST
def incident_severity_view(request, reference: str):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    form = SeverityForm(request.POST, incident=incident)

    def write(data):
        incident_change_severity(
            incident=incident, actor=request.user, severity=data["severity"], reason=data["reason"]
        )

    return _save(request, incident, "actions", form, write, key="severity")


@desk_permission("cases.change_incident")
@require_POST
def incident_owner_view(request, reference: str):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    form = OwnerForm(request.POST, incident=incident, user=request.user)

    def write(data):
        incident_assign(incident=incident, actor=request.user, owner=data["owner"])

    return _save(request, incident, "actions", form, write, key="owner")


@desk_permission("cases.change_incident")
@require_http_methods(["GET", "POST"])
def incident_details_view(request, reference: str):
    """GET: the details in edit mode. POST: save the fields that changed."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    if request.method == "GET":
        return _part_or_page(request, IncidentPage(request, incident, editing="details"), "details")
    form = IncidentDetailsForm(data=request.POST, incident=incident)

    def write(data):
        changes = {name: data[name] for name in form.changed_data}
        incident_update_details(incident=incident, actor=request.user, **changes)

    return _save(request, incident, "details", form, write, key="details")


# Notes ----------------------------------------------------------------------------------------


@desk_permission("cases.add_investigationnote")
@require_POST
def incident_note_add_view(request, reference: str):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    form = NoteForm(request.POST, auto_id="id_note_new_%s")

    def write(data):
        note_add(incident=incident, actor=request.user, body=data["body"])
        messages.success(request, _("Your note was added to the incident."))

    return _save(request, incident, "timeline", form, write, key="note", oob=())


@desk_permission("cases.change_investigationnote")
@require_http_methods(["GET", "POST"])
def incident_note_edit_view(request, reference: str, note_id: int):
    """GET: the note in edit mode (for its author; others just see the notes). POST: author only."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    note = get_object_or_404(incident.notes, pk=note_id)
    key = ("note", note.pk)
    if request.method == "GET":
        return _part_or_page(request, IncidentPage(request, incident, editing=key), "timeline")
    if note.author_id != request.user.pk:
        raise PermissionDenied
    form = NoteForm(request.POST, auto_id=f"id_note{note.pk}_%s")

    def write(data):
        note_edit(note=note, actor=request.user, body=data["body"])

    return _save(request, incident, "timeline", form, write, key=key, oob=())


# Affected merchants ---------------------------------------------------------------------------


@desk_permission("cases.view_affectedmerchant")
@require_safe
def incident_merchants_view(request, reference: str):
    return _part_or_page(
        request, IncidentPage(request, incident_visible_or_404(user=request.user, reference=reference)), "merchants"
    )


@desk_permission("cases.add_affectedmerchant")
@require_http_methods(["GET", "POST"])
def incident_merchant_add_view(request, reference: str):
    """GET: the merchants with the add form open. POST: record the merchant and its impact."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    key = ("merchant", NEW)
    if request.method == "GET":
        return _part_or_page(request, IncidentPage(request, incident, editing=key), "merchants")
    form = MerchantImpactForm(request.POST, incident=incident, user=request.user)

    def write(data):
        merchant_impact_add(incident=incident, actor=request.user, merchant=data["merchant"], **form.measures())

    return _save(request, incident, "merchants", form, write, key=key)


@desk_permission("cases.change_affectedmerchant")
@require_http_methods(["GET", "POST"])
def incident_merchant_edit_view(request, reference: str, row_id: int):
    """GET: the row in edit mode. POST: save the measured impact."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    row = get_object_or_404(incident.affected_merchants.select_related("merchant"), pk=row_id)
    key = ("merchant", row.pk)
    if request.method == "GET":
        return _part_or_page(request, IncidentPage(request, incident, editing=key), "merchants")
    form = MerchantImpactForm(request.POST, incident=incident, user=request.user, row=row)

    def write(data):
        merchant_impact_update(affected=row, actor=request.user, **form.measures())

    return _save(request, incident, "merchants", form, write, key=key)


@desk_permission("cases.delete_affectedmerchant")
@require_POST
def incident_merchant_remove_view(request, reference: str, row_id: int):
    incident = incident_visible_or_404(user=request.user, reference=reference)
    row = get_object_or_404(incident.affected_merchants, pk=row_id)
    # Removed by someone else meanwhile: nothing to do, the fresh table shows it is gone.
    with suppress(ValidationError):
        merchant_impact_remove(affected=row, actor=request.user)
    return _done(request, incident, "merchants")


# Partner engagements --------------------------------------------------------------------------


@desk_permission("cases.view_partnerengagement")
@require_safe
def incident_engagements_view(request, reference: str):
    return _part_or_page(
        request, IncidentPage(request, incident_visible_or_404(user=request.user, reference=reference)), "partners"
    )


@desk_permission("cases.add_partnerengagement")
@require_http_methods(["GET", "POST"])
def incident_engagement_add_view(request, reference: str):
    """GET: the partners with the add form open. POST: engage the partner."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    key = ("engagement", NEW)
    if request.method == "GET":
        return _part_or_page(request, IncidentPage(request, incident, editing=key), "partners")
    form = EngagementForm(request.POST, incident=incident, user=request.user)

    def write(data):
        engagement_add(
            incident=incident,
            actor=request.user,
            partner=data["partner"],
            folio=data["folio"],
            partner_status=data["partner_status"],
        )

    # The waiting-on-partner choice lists engaged partners: refresh the actions too.
    return _save(request, incident, "partners", form, write, key=key, oob=("header", "actions", "timeline"))


@desk_permission("cases.change_partnerengagement")
@require_http_methods(["GET", "POST"])
def incident_engagement_edit_view(request, reference: str, engagement_id: int):
    """GET: the row in edit mode. POST: save the partner's status and folio."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    engagement = get_object_or_404(incident.engagements.select_related("partner"), pk=engagement_id)
    key = ("engagement", engagement.pk)
    if request.method == "GET":
        return _part_or_page(request, IncidentPage(request, incident, editing=key), "partners")
    form = EngagementForm(request.POST, incident=incident, user=request.user, engagement=engagement)

    def write(data):
        engagement_update(
            engagement=engagement, actor=request.user, partner_status=data["partner_status"], folio=data["folio"]
        )

    return _save(request, incident, "partners", form, write, key=key)


# Decline-code counts ---------------------------------------------------------------------------


@desk_permission("cases.change_incident")
@require_POST
def incident_decline_count_view(request, reference: str):
    """Set one code's counts before and during (a new code joins the codes seen)."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    form = DeclineCountForm(request.POST)

    def write(data):
        counts = {"code": data["code"], "count_before": data["count_before"], "count_during": data["count_during"]}
        decline_counts_record(incident=incident, actor=request.user, counts=[counts])

    return _save(request, incident, "details", form, write, key="decline_count")


@desk_permission("cases.change_incident")
@require_POST
def incident_decline_count_remove_view(request, reference: str):
    """Take a code (posted as `code`: codes may hold any character) off the incident."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    # Removed by someone else meanwhile: nothing to do, the fresh table shows it is gone.
    with suppress(ValidationError):
        decline_count_remove(incident=incident, actor=request.user, code=request.POST.get("code", "").strip())
    return _done(request, incident, "details")


@desk_permission("cases.change_partnerengagement")
@require_http_methods(["GET", "POST"])
def incident_engagement_scope_view(request, reference: str, engagement_id: int):
    """GET: the partner's scope in edit mode. POST: save what its notices show."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    engagement = get_object_or_404(incident.engagements.select_related("partner"), pk=engagement_id)
    key = ("scope", engagement.pk)
    if request.method == "GET":
        return _part_or_page(request, IncidentPage(request, incident, editing=key), "partners")
    form = EngagementScopeForm(request.POST, engagement=engagement)

    def write(data):
        engagement_scope_edit(
            engagement=engagement,
            actor=request.user,
            bin_prefixes=data["bin_prefixes"],
            networks=data["networks"],
            entry_modes=data["entry_modes"],
            merchants=list(data["merchants"]),
        )

    return _save(request, incident, "partners", form, write, key=key, oob=("timeline",))


_ON_INCIDENT = "incidents/<str:reference>/"

urlpatterns = [
    # Before the detail pattern: "new" is not a reference.
    path("incidents/new/", incident_create, name="incident_create"),
    path(_ON_INCIDENT, incident_detail, name="incident_detail"),
    path(f"{_ON_INCIDENT}transition/", incident_transition_view, name="incident_transition"),
    path(f"{_ON_INCIDENT}severity/", incident_severity_view, name="incident_severity"),
    path(f"{_ON_INCIDENT}owner/", incident_owner_view, name="incident_owner"),
    path(f"{_ON_INCIDENT}details/", incident_details_view, name="incident_details"),
    path(f"{_ON_INCIDENT}decline-codes/", incident_decline_count_view, name="incident_decline_count"),
    path(
        f"{_ON_INCIDENT}decline-codes/remove/",
        incident_decline_count_remove_view,
        name="incident_decline_count_remove",
    ),
    path(f"{_ON_INCIDENT}notes/", incident_note_add_view, name="incident_note_add"),
    path(f"{_ON_INCIDENT}notes/<int:note_id>/edit/", incident_note_edit_view, name="incident_note_edit"),
    path(f"{_ON_INCIDENT}merchants/", incident_merchants_view, name="incident_merchants"),
    path(f"{_ON_INCIDENT}merchants/add/", incident_merchant_add_view, name="incident_merchant_add"),
    path(f"{_ON_INCIDENT}merchants/<int:row_id>/edit/", incident_merchant_edit_view, name="incident_merchant_edit"),
    path(
        f"{_ON_INCIDENT}merchants/<int:row_id>/remove/", incident_merchant_remove_view, name="incident_merchant_remove"
    ),
    path(f"{_ON_INCIDENT}partners/", incident_engagements_view, name="incident_engagements"),
    path(f"{_ON_INCIDENT}partners/add/", incident_engagement_add_view, name="incident_engagement_add"),
    path(
        f"{_ON_INCIDENT}partners/<int:engagement_id>/edit/",
        incident_engagement_edit_view,
        name="incident_engagement_edit",
    ),
    path(
        f"{_ON_INCIDENT}partners/<int:engagement_id>/scope/",
        incident_engagement_scope_view,
        name="incident_engagement_scope",
    ),
]
