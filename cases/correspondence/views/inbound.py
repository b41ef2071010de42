"""Inbound replies: the mail gateway's endpoint, the triage inbox and attachment downloads.

`POST /inbound/raw/` takes one raw RFC 822 message (Content-Type: message/rfc822). A mail
gateway authenticates with `Authorization: Bearer <PAYHEALTH_INBOUND_TOKEN>` (no token
configured: that path is off and answers 404); a person may also post a message while logged in
with `cases.triage_correspondence`, and then the usual CSRF check applies. Answers: 201 with
where the message went, 200 for a message already stored, 400 for bytes that are not a message,
413 over PAYHEALTH_INBOUND_MAX_MESSAGE_BYTES, 415 for another content type.
"""

from __future__ import annotations

import hmac
from email.utils import parseaddr

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models.functions import Lower
from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from cases.correspondence.forms import InboundAttachForm
from cases.correspondence.inbound.parse import InboundParseError
from cases.correspondence.inbound.store import InboundTooLargeError, inbound_attach, inbound_receive
from cases.correspondence.selectors import attachments_visible_to, replies_for_display, triage_messages
from cases.models import Correspondence
from partners.models import PartnerContact
from payhealth.web import add_service_errors, desk_permission

MESSAGES_PER_PAGE = 20
RAW_CONTENT_TYPE = "message/rfc822"


def _bearer_token(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _space, token = header.partition(" ")
    return token.strip() if header and scheme.lower() == "bearer" else None


def _csrf_failure(request) -> HttpResponse | None:
    """The CSRF check the middleware skipped because the view is exempt (for the token path)."""
    check = CsrfViewMiddleware(lambda request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {})


def _problem(status: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


@csrf_exempt  # only for the gateway's bearer token; a session is checked for CSRF below
@require_POST
def inbound_raw(request):
    """A raw message from the mail gateway (or a triager): stored on its thread or for triage."""
    expected = settings.PAYHEALTH_INBOUND_TOKEN
    token = _bearer_token(request)
    if token is not None:
        if not expected:
            return _problem(404, "Not found.")
        if not hmac.compare_digest(token.encode(), expected.encode()):
            return _problem(401, "Invalid token.")
    elif request.user.is_authenticated:
        if not request.user.has_perm("cases.triage_correspondence"):
            return _problem(403, "You may not submit messages.")
        refused = _csrf_failure(request)
        if refused is not None:
            return refused
    else:
        if not expected:
            return _problem(404, "Not found.")
        response = _problem(401, "Authentication required.")
        response["WWW-Authenticate"] = 'Bearer realm="inbound"'
        return response

    limit = settings.PAYHEALTH_INBOUND_MAX_MESSAGE_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _problem(400, "Invalid Content-Length.")
    if declared <= 0:
        return _problem(400, "Not an RFC 822 message: the message is empty.")
    if request.content_type != RAW_CONTENT_TYPE:
        return _problem(415, f"Send the message as {RAW_CONTENT_TYPE}.")
    if declared > limit:
        return _problem(413, f"The message is larger than {limit} bytes.")
    raw = request.read(limit + 1)  # not request.body: DATA_UPLOAD_MAX_MEMORY_SIZE is for forms
    try:
        result = inbound_receive(raw=raw, source="gateway" if token is not None else "upload")
    except InboundTooLargeError as exc:
        return _problem(413, str(exc))
    except InboundParseError as exc:
        return _problem(400, f"Not an RFC 822 message: {exc}.")
    return JsonResponse(result.as_dict(), status=201 if result.created else 200)


def _guessed_partners(messages: list[Correspondence]) -> dict[int, int | None]:
    """The partner whose contact wrote each message (by message id), to preselect in its form:
    one query for the whole page (the first contact by id when several share an address)."""
    senders = {message.pk: parseaddr(message.from_address)[1].lower() for message in messages}
    found: dict[str, int] = {}
    wanted = {sender for sender in senders.values() if sender}
    if wanted:
        contacts = (
            PartnerContact.objects.annotate(address=Lower("email"))
            .filter(address__in=wanted)
            .order_by("pk")
            .values_list("address", "partner_id")
        )
        for address, partner_id in contacts:
            found.setdefault(address, partner_id)
    return {pk: found.get(sender) for pk, sender in senders.items()}


def _inbox(request, forms_by_id: dict | None = None, status: int = 200):
    page = Paginator(triage_messages(user=request.user), MESSAGES_PER_PAGE).get_page(request.GET.get("page"))
    forms_by_id = forms_by_id or {}
    messages_shown = list(replies_for_display(page.object_list))
    guessed = _guessed_partners(messages_shown)
    partner_choices = None
    for message in messages_shown:
        form = forms_by_id.get(message.pk) or InboundAttachForm(
            user=request.user, initial={"partner": guessed[message.pk]}, prefix=f"m{message.pk}"
        )
        # The partner options are the same in every row's form: read once for the page.
        if partner_choices is None:
            partner_choices = list(form.fields["partner"].choices)
        form.fields["partner"].choices = partner_choices
        message.attach_form = form
    return render(request, "cases/triage_inbox.html", {"page": page}, status=status)


@login_required
@permission_required("cases.triage_correspondence", raise_exception=True)
@require_safe
def triage_inbox(request):
    """Replies that matched no incident, newest first, each ready to attach to one."""
    return _inbox(request)


@login_required
@permission_required("cases.triage_correspondence", raise_exception=True)
@require_POST
def triage_attach(request, message_id: int):
    message = get_object_or_404(Correspondence, pk=message_id, direction=Correspondence.Direction.INBOUND)
    form = InboundAttachForm(request.POST, user=request.user, prefix=f"m{message.pk}")
    if form.is_valid():
        try:
            inbound_attach(
                correspondence=message, incident=form.incident, engagement=form.engagement, actor=request.user
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("The message is now part of %(reference)s.") % {"reference": form.incident.reference},
            )
            return redirect("cases:triage_inbox")
    return _inbox(request, {message.pk: form}, status=200)


@desk_permission("cases.view_correspondence")
@require_safe
def attachment_download(request, attachment_id: int):
    """An attachment as a download, never displayed inline: a reply's content came from outside (a
    notice's files, e.g. a billing-discrepancy CSV, are served the same way).

    Only of a message the user may read: an unmatched reply's attachments are for triagers alone.
    """
    visible = attachments_visible_to(user=request.user).filter(omitted=False)
    attachment = get_object_or_404(visible, pk=attachment_id)
    response = HttpResponse(bytes(attachment.content), content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=attachment.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


urlpatterns = [
    path("inbound/raw/", inbound_raw, name="inbound_raw"),
    path("inbound/triage/", triage_inbox, name="triage_inbox"),
    path("inbound/triage/<int:message_id>/attach/", triage_attach, name="triage_attach"),
    path("inbound/attachments/<int:attachment_id>/", attachment_download, name="inbound_attachment"),
]
