"""Partner notices on screen: compose from an incident, review and edit every message side by
side, send or submit for approval, the leads' approvals list, and the incident's messages with
their live delivery status.

Thin views: every write is a service of `cases.services`, which also
decides who may do what; the views check the same permissions first, so a refused request
answers 403 and changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from cases.correspondence.compose import NEEDS_APPROVAL, notice_compose, notice_edit
from cases.correspondence.dispatch import (
    notice_approval_severity,
    notice_approve,
    notice_may_release,
    notice_needs_approval,
    notice_reject,
    notice_retry,
    notices_release,
    partner_text_missing,
)
from cases.correspondence.followup import next_notice_kinds, partners_with_breakage, suggested_kind
from cases.correspondence.forms import NoticeComposeForm, NoticeDecisionForm, NoticeEditForm
from cases.correspondence.inbound.confirm import reply_candidate_confirm
from cases.correspondence.selectors import (
    incident_notices,
    notice_drafts,
    notices_pending_approval,
    notices_pending_count,
)
from cases.models import Correspondence, Incident, Severity
from cases.models.incident import most_severe
from cases.selectors import incident_list_visible_to, incident_visible_or_404
from partners.models import NoticeTemplate, Partner
from payhealth.i18n import Language
from payhealth.ids import parse_ids
from payhealth.web import add_service_errors, desk_permission

Status = Correspondence.Status
COMPOSE = "cases/notice_compose.html"
APPROVALS = "cases/notice_approvals.html"
SECTION = "cases/_incident_notices.html"


def _notice(request, pk: int) -> Correspondence:
    """An outbound notice of an incident the user may see."""
    return get_object_or_404(
        Correspondence.objects.select_related("incident", "engagement__partner", "created_by"),
        pk=pk,
        direction=Correspondence.Direction.OUTBOUND,
        incident__in=incident_list_visible_to(user=request.user),
    )


def _ids(values) -> list[int]:
    return parse_ids(values)


def _review_url(incident: Incident, ids: list[int]) -> str:
    url = reverse("cases:notice_review", args=[incident.reference])
    return f"{url}?{urlencode({'ids': ','.join(map(str, ids))})}" if ids else url


def _go(request, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _section(request, incident: Incident, *, status: int = 200) -> HttpResponse:
    context = {"incident": incident, "notices": incident_notices(user=request.user, incident=incident)}
    return HttpResponse(render_to_string(SECTION, context, request), status=status)


# The incident's messages ------------------------------------------------------------------------


@desk_permission("cases.view_correspondence")
@require_safe
def incident_notices_view(request, reference: str):
    """The incident page's messages section (htmx polls it while something is on its way); without
    htmx, a page of its own (the incident page's link when JavaScript is off)."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    if not request.htmx:
        return render(request, COMPOSE, _compose_context(request, incident, mode="messages"))
    return _section(request, incident)


@desk_permission("cases.send_correspondence")
@require_POST
def notice_retry_view(request, pk: int):
    """Queue a failed notice again (same Message-ID)."""
    notice = _notice(request, pk)
    try:
        notice_retry(correspondence=notice, actor=request.user)
    except ValidationError as error:  # no longer failed (retried by someone else): show what it is now
        messages.warning(request, " ".join(error.messages))
    else:
        messages.success(request, _("The notice is queued again."))
    if request.htmx:
        return _section(request, notice.incident)
    return redirect(reverse("cases:incident_detail", args=[notice.incident.reference]) + "#incident-notices")


@desk_permission("cases.change_partnerengagement")
@require_POST
def reply_candidate_confirm_view(request, reference: str, pk: int):
    """One click on a folio or ETA a partner's reply names: it becomes the engagement's."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    reply = get_object_or_404(Correspondence, pk=pk, incident=incident, direction=Correspondence.Direction.INBOUND)
    value = request.POST.get("candidate", "")
    index = int(value) if value.isascii() and value.isdigit() and len(value) <= 3 else -1
    try:
        reply_candidate_confirm(correspondence=reply, index=index, actor=request.user)
    except ValidationError as error:
        problem = {"reply": reply.pk, "message": " ".join(error.messages)}  # shown under the reply's candidates
        if request.htmx:
            context = {"incident": incident, "notices": incident_notices(user=request.user, incident=incident)}
            return HttpResponse(render_to_string(SECTION, {**context, "candidate_error": problem}, request))
        context = _compose_context(request, incident, mode="messages", candidate_error=problem)
        return render(request, COMPOSE, context, status=400)
    if request.htmx:
        return _section(request, incident)
    messages.success(request, _("Confirmed; the partner's engagement now shows it."))
    return redirect(reverse("cases:incident_detail", args=[incident.reference]) + "#incident-notices")


# Compose, review, send --------------------------------------------------------------------------


def _compose_context(request, incident, **extra) -> dict:
    return {
        "incident": incident,
        "needs_approval": incident.severity in NEEDS_APPROVAL,
        # What partners read is missing in these languages: drafts are made, but not sent, until filled in.
        "partner_text_missing": [
            reason for reason in (partner_text_missing(incident, language) for language in Language.values) if reason
        ],
        "notices": incident_notices(user=request.user, incident=incident),
        **extra,
    }


@desk_permission("cases.add_correspondence")
@require_http_methods(["GET", "POST"])
def notice_compose_view(request, reference: str):
    """Pick the kind and the partners; one draft per partner and language group, then the review."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    suggestions = next_notice_kinds(incident)
    form = NoticeComposeForm(
        request.POST if request.method == "POST" else None,
        incident=incident,
        suggested_kind=suggested_kind(suggestions),
    )
    if form.is_bound and form.is_valid():
        try:
            result = notice_compose(
                incident=incident,
                actor=request.user,
                kind=form.cleaned_data["kind"],
                partners=form.chosen_partners(),
                next_update=form.cleaned_data["next_update"],
                confirm_repeat=form.cleaned_data["confirm_repeat"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if result.drafts:
                for skipped in result.skipped:
                    messages.warning(request, skipped.reason)
                return _go(request, _review_url(incident, [draft.pk for draft in result.drafts]))
            for skipped in result.skipped:
                form.add_error(None, skipped.reason)
            if not result.skipped:
                form.add_error(None, _("No partner is engaged on this incident yet."))
    names = dict(Partner.objects.filter(pk__in=suggestions).values_list("pk", "name"))
    context = _compose_context(
        request,
        incident,
        form=form,
        mode="compose",
        next_kinds=sorted(
            (
                (names[pk], NoticeTemplate.Kind(next_kind.kind).label, next_kind.reason)
                for pk, next_kind in suggestions.items()
            ),
        ),
        already_broken=partners_with_breakage(incident),
    )
    return render(request, COMPOSE, context)


def _review(request, incident, ids, *, editing=None, forms=None, errors=(), status=200) -> HttpResponse:
    drafts = notice_drafts(incident=incident, ids=ids)
    forms = forms or {}
    for draft in drafts:
        draft.incident = incident
        draft.editable = draft.created_by_id in (None, request.user.pk) and request.user.has_perm(
            "cases.change_correspondence"
        )
        draft.form = forms.get(draft.pk) or (NoticeEditForm(notice=draft) if editing == draft.pk else None)
    # Each draft answers to the most severe its incident was since it was drafted, not only to now.
    approvals = [notice_approval_severity(draft) for draft in drafts if notice_needs_approval(draft)]
    context = _compose_context(
        request,
        incident,
        mode="review",
        drafts=drafts,
        ids=",".join(str(draft.pk) for draft in drafts),
        errors=list(errors),
        can_release=all(notice_may_release(request.user, draft) for draft in drafts),
        needs_approval=bool(approvals),
        approval_label=Severity(most_severe(*approvals)).label if approvals else "",
    )
    return render(request, COMPOSE, context, status=status)


def _message(request, notice, ids, form) -> HttpResponse:
    """One message of the review, shown or in edit mode (htmx swaps it in place)."""
    notice.editable, notice.form = True, form
    context = {"draft": notice, "incident": notice.incident, "ids": ",".join(map(str, ids))}
    return render(request, f"{COMPOSE}#message", context)


@desk_permission("cases.view_correspondence")
@require_safe
def notice_review_view(request, reference: str):
    """Every draft message side by side: recipients, language, subject and text."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    return _review(request, incident, _ids(request.GET.get("ids", "").split(",")))


@desk_permission("cases.change_correspondence")
@require_http_methods(["GET", "POST"])
def notice_edit_view(request, pk: int):
    """GET: one message in edit mode. POST: keep the edit (only its author may)."""
    notice = _notice(request, pk)
    incident = notice.incident
    ids = _ids(request.POST.get("ids", request.GET.get("ids", "")).split(","))
    if notice.created_by_id not in (None, request.user.pk):
        if request.method == "POST":
            raise PermissionDenied
        return _review(request, incident, ids)  # others just read the messages
    if request.method == "GET":
        if request.htmx:
            return _message(request, notice, ids, NoticeEditForm(notice=notice))
        return _review(request, incident, ids, editing=notice.pk)
    form = NoticeEditForm(request.POST, notice=notice)
    if form.is_valid():
        try:
            notice = notice_edit(
                correspondence=notice,
                actor=request.user,
                subject=form.cleaned_data["subject"],
                body_text=form.cleaned_data["body_text"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            if request.htmx:
                return _message(request, notice, ids, None)
            return redirect(_review_url(incident, ids))
    if request.htmx:
        return _message(request, notice, ids, form)
    return _review(request, incident, ids, forms={notice.pk: form})


@desk_permission("cases.add_correspondence")
@require_POST
def notice_release_view(request, reference: str):
    """Send the reviewed drafts, and submit those that need a lead's approval (all or none)."""
    incident = incident_visible_or_404(user=request.user, reference=reference)
    ids = _ids(request.POST.getlist("ids"))
    drafts = notice_drafts(incident=incident, ids=ids) if ids else []
    if not drafts:
        return _review(request, incident, ids, errors=[_("There is no draft to send.")])
    try:
        released = notices_release(correspondences=drafts, actor=request.user)
    except ValidationError as error:
        return _review(request, incident, ids, errors=error.messages)
    submitted = sum(1 for row in released if row.status == Status.PENDING_APPROVAL)
    if submitted:
        text = ngettext(
            "%(count)s notice waits for a lead's approval.", "%(count)s notices wait for a lead's approval.", submitted
        )
        messages.success(request, text % {"count": submitted})
    if len(released) > submitted:
        queued = len(released) - submitted
        text = ngettext("%(count)s notice is on its way.", "%(count)s notices are on their way.", queued)
        messages.success(request, text % {"count": queued})
    return _go(request, reverse("cases:incident_detail", args=[incident.reference]) + "#incident-notices")


# Approvals --------------------------------------------------------------------------------------


def _approvals(request, *, forms=None, error: str = "", status: int = 200) -> HttpResponse:
    """The pending notices by severity (SEV1 first), then the longest waiting first, each with who
    asked and for how long."""
    pending = list(notices_pending_approval(user=request.user))
    forms = forms or {}
    now = timezone.now()
    people = get_user_model().objects.in_bulk({notice.submitted_by_id for notice in pending} - {None})
    for notice in pending:
        notice.own = notice.created_by_id == request.user.pk
        notice.approval_severity = notice_approval_severity(notice)
        notice.approval_label = Severity(notice.approval_severity).label
        notice.submitted_by = people.get(notice.submitted_by_id)
        notice.waiting = max(now - notice.submitted_at, timedelta(0))
        notice.form = forms.get(notice.pk) or NoticeDecisionForm(notice=notice)
    pending.sort(key=lambda notice: (Severity.values.index(notice.approval_severity), notice.submitted_at, notice.pk))
    return render(request, APPROVALS, {"pending": pending, "error": error}, status=status)


@desk_permission("cases.approve_correspondence")
@require_safe
def notice_approvals_view(request):
    """SEV1/SEV2 notices waiting for a lead, one compact row each with the full text a click away."""
    return _approvals(request)


@desk_permission("cases.approve_correspondence")
@require_safe
def notice_approvals_count_view(request):
    """The navigation's badge on Approvals: how many notices wait (nothing when none)."""
    context = {"pending_count": notices_pending_count(user=request.user)}
    return render(request, f"{APPROVALS}#nav_count", context)


def _decide(request, pk: int, service, done_message: str):
    notice = _notice(request, pk)
    form = NoticeDecisionForm(request.POST, notice=notice)
    form.is_valid()
    try:
        service(correspondence=notice, actor=request.user, comment=form.cleaned_data.get("comment", ""))
    except PermissionDenied as refusal:  # the author cannot decide on their own notice
        return _approvals(request, error=str(refusal), status=403)
    except ValidationError as error:
        add_service_errors(form, error)
        return _approvals(request, forms={notice.pk: form})
    messages.success(request, done_message % {"subject": notice.subject})
    return _go(request, reverse("cases:notice_approvals"))


@desk_permission("cases.approve_correspondence")
@require_POST
def notice_approve_view(request, pk: int):
    return _decide(request, pk, notice_approve, _("Approved and on its way: %(subject)s"))


@desk_permission("cases.approve_correspondence")
@require_POST
def notice_reject_view(request, pk: int):
    return _decide(request, pk, notice_reject, _("Sent back to its author: %(subject)s"))


_ON_INCIDENT = "incidents/<str:reference>/notices/"

urlpatterns = [
    path(_ON_INCIDENT, incident_notices_view, name="incident_notices"),
    path(f"{_ON_INCIDENT}new/", notice_compose_view, name="notice_compose"),
    path(f"{_ON_INCIDENT}review/", notice_review_view, name="notice_review"),
    path(f"{_ON_INCIDENT}send/", notice_release_view, name="notice_release"),
    path(f"{_ON_INCIDENT}replies/<int:pk>/confirm/", reply_candidate_confirm_view, name="reply_candidate_confirm"),
    path("notices/approvals/", notice_approvals_view, name="notice_approvals"),
    path("notices/approvals/count/", notice_approvals_count_view, name="notice_approvals_count"),
    path("notices/<int:pk>/edit/", notice_edit_view, name="notice_edit"),
    path("notices/<int:pk>/approve/", notice_approve_view, name="notice_approve"),
    path("notices/<int:pk>/reject/", notice_reject_view, name="notice_reject"),
    path("notices/<int:pk>/retry/", notice_retry_view, name="notice_retry"),
]
