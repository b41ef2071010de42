"""The partner's acknowledgement page (public: the signed link of a notice, no login) and the
desk's button that revokes a link.

The page is in the notice's language (English or Spanish, with a switch), shows only what the
notice told this partner about this incident, and its form goes through
`cases.correspondence.portal.portal_answer`. It is CSRF-protected, never indexed, never framed,
never cached, and rate-limited per link and per address (429). A forged, tampered, unknown or
other incident's token is a 404, an expired or revoked one a 410, each with a page that says so
in both languages.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from cases.correspondence.acklinks import AckLinkRefused, ack_link_for_token
from cases.correspondence.context import zone_label
from cases.correspondence.forms import AckAnswerForm
from cases.correspondence.portal import ALLOWED_FILE_TYPES, PortalAnswer, PortalFile, ack_link_revoke, portal_answer
from cases.correspondence.views.notices import _notice, _section
from payhealth.i18n import Language
from payhealth.web import add_service_errors, client_ip, desk_permission

PAGE = "cases/ack_page.html"
REFUSED = "cases/ack_refused.html"
WINDOW = 3600  # seconds of each rate-limit window


def _over_limit(name: str, limit: int) -> bool:
    """Count one request against `name` in this hour's window; True once over `limit`."""
    key = f"ack-rate:{hashlib.sha256(name.encode()).hexdigest()}:{int(time.time() // WINDOW)}"
    cache.add(key, 0, timeout=WINDOW)
    try:
        return cache.incr(key) > limit
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=WINDOW)
        return False


def _private(response):
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["X-Frame-Options"] = "DENY"
    response["Cache-Control"] = "no-store"
    # The token is in the address: never sent to another site (a form posted with "no-referrer"
    # would carry "Origin: null", which the CSRF check refuses).
    response["Referrer-Policy"] = "same-origin"
    return response


def _language(request, default: str) -> str:
    asked = request.GET.get("lang", "")
    return asked if asked in Language.values else default


def _refused(request, reason: str, status: int):
    language = _language(request, translation.get_language_from_request(request)[:2])
    with translation.override(language if language in Language.values else Language.ENGLISH):
        response = render(request, REFUSED, {"reason": reason}, status=status)
    if status == 429:
        response["Retry-After"] = str(WINDOW)
    return _private(response)


@require_http_methods(["GET", "POST"])
def ack_page(request, reference: str, token: str):
    if _over_limit(f"ip:{client_ip(request)}", settings.PAYHEALTH_ACK_LINK_RATE_PER_IP) or _over_limit(
        f"token:{token}", settings.PAYHEALTH_ACK_LINK_RATE_PER_TOKEN
    ):
        return _refused(request, "too_many", 429)
    now = timezone.now()
    try:
        link = ack_link_for_token(token, reference=reference, now=now)
    except AckLinkRefused as refused:
        return _refused(request, refused.reason, 404 if refused.reason == "forged" else 410)
    engagement, notice = link.engagement, link.correspondence
    incident, partner = engagement.incident, engagement.partner
    language = _language(request, notice.language)
    with translation.override(language), timezone.override(partner.timezone):
        form = AckAnswerForm(
            request.POST or None,
            request.FILES or None,
            recipients=link.recipients,
            max_file_bytes=settings.PAYHEALTH_ACK_LINK_MAX_FILE_BYTES,
            allowed_types=ALLOWED_FILE_TYPES,
        )
        status = 200
        if request.method == "POST":
            if form.is_valid():
                try:
                    portal_answer(link=link, answer=_answer(form, language), now=now)
                except ValidationError as error:
                    add_service_errors(form, error)
                else:
                    messages.success(request, _("Thank you: your answer is on its way to the desk."))
                    return _private(redirect(f"{request.path}?lang={language}"))
            status = 400
        context = {
            "link": link,
            "incident": incident,
            # What the partner reads: the partner-facing title and summary in the page's language.
            "title": incident.partner_title(language) or incident.title,
            "summary": incident.partner_summary(language),
            "engagement": engagement,
            "partner": partner,
            "form": form,
            "language": language,
            "other_language": Language.SPANISH if language == Language.ENGLISH else Language.ENGLISH,
            "zone": zone_label(partner.timezone),
        }
        return _private(render(request, PAGE, context, status=status))


def _answer(form: AckAnswerForm, language: str) -> PortalAnswer:
    data = form.cleaned_data
    upload = data.get("file")
    file = None
    if upload is not None:
        content_type = upload.content_type.split(";")[0].strip().lower()
        file = PortalFile(filename=upload.name, content_type=content_type, content=upload.read())
    return PortalAnswer(
        contact=data["contact"],
        language=language,
        folio=data.get("folio") or "",
        eta=data.get("eta"),
        update=data.get("update") or "",
        file=file,
    )


@desk_permission("cases.send_correspondence")
@require_POST
def ack_link_revoke_view(request, pk: int):
    """Close a notice's acknowledgement link (the button on the notice, on the incident page)."""
    notice = _notice(request, pk)
    try:
        ack_link_revoke(correspondence=notice, actor=request.user)
    except ValidationError as error:
        messages.warning(request, " ".join(error.messages))
    else:
        messages.success(request, _("The acknowledgement link is revoked."))
    if request.htmx:
        return _section(request, notice.incident)
    return redirect(reverse("cases:incident_detail", args=[notice.incident.reference]) + "#incident-notices")


urlpatterns = [
    path("ack/<str:reference>/<str:token>/", ack_page, name="ack_page"),
    path("notices/<int:pk>/ack-link/revoke/", ack_link_revoke_view, name="notice_ack_link_revoke"),
]
