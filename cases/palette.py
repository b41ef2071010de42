"""What the command palette offers for what the user typed: incidents, merchants, partners, pages
and actions, each group bounded and filtered by what the user may see and open.

Pages and actions are listed with the permission their view demands, so the palette never offers
a page the server would refuse; records come from the same visibility selectors as their pages.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from django.db.models import Q
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cases.search import reference_candidates, search
from cases.selectors import (
    incident_list_visible_to,
    incident_visible_by_reference,
    merchant_list_visible_to,
    partner_directory,
)

# At most this many incidents, merchants and partners; a longer query is refused by the view.
PER_GROUP = 6
MAX_QUERY_LENGTH = 200


@dataclass(frozen=True)
class Destination:
    """A page or an action: its label, the URL name (with the incident's reference when
    `on_incident`), the permissions its view demands, and other words it is known by (translated,
    space-separated, in the message context "command palette keywords")."""

    label: Promise
    url_name: str
    perms: tuple[str, ...] = ()
    superuser: bool = False
    on_incident: bool = False
    anchor: str = ""
    keywords: Promise | str = ""


# Every destination of the navigation bar and the user menu, with its view's permission.
PAGES = (
    Destination(
        _("Incident queue"),
        "cases:incident_list",
        ("cases.view_incident",),
        keywords=pgettext_lazy("command palette keywords", "queue home"),
    ),
    Destination(
        _("SLA at risk"),
        "cases:sla_at_risk",
        ("cases.view_slaclock",),
        keywords=pgettext_lazy("command palette keywords", "SLA clocks overdue"),
    ),
    Destination(
        _("Overview"),
        "overview",
        ("cases.view_incident",),
        keywords=pgettext_lazy("command palette keywords", "dashboard"),
    ),
    Destination(_("Merchants"), "cases:merchant_list", ("cases.view_merchant",)),
    Destination(_("Partners"), "partners:partner_list", ("partners.view_partner",)),
    Destination(
        _("Approvals"),
        "cases:notice_approvals",
        ("cases.approve_correspondence",),
        keywords=pgettext_lazy("command palette keywords", "notices"),
    ),
    Destination(_("Notice templates"), "partners:notice_template_list", ("partners.change_noticetemplate",)),
    Destination(
        _("Reply inbox"),
        "cases:triage_inbox",
        ("cases.triage_correspondence",),
        keywords=pgettext_lazy("command palette keywords", "mail"),
    ),
    Destination(
        _("Detector findings"),
        "monitoring:finding_list",
        ("monitoring.view_finding",),
        keywords=pgettext_lazy("command palette keywords", "detector"),
    ),
    Destination(_("Cost findings"), "costs:finding_list", ("costs.view_costfinding",)),
    Destination(_("Monitors"), "monitoring:monitor_list", ("monitoring.view_segmentmonitor",)),
    Destination(
        _("Rate cards"),
        "costs:ratecard_index",
        ("costs.view_ratecard",),
        keywords=pgettext_lazy("command palette keywords", "rate cards fees"),
    ),
    Destination(_("Alert severity rules"), "alerts:rule_list", ("alerts.view_alertseverityrule",)),
    Destination(_("Webhooks"), "webhooks:subscription_list", ("webhooks.view_webhooksubscription",)),
    Destination(
        _("Upload payment data"),
        "monitoring:upload_start",
        ("monitoring.submit_metrics",),
        keywords=pgettext_lazy("command palette keywords", "import"),
    ),
    Destination(_("SLA reports"), "cases:sla_report", ("cases.view_sla_reports",)),
    Destination(_("SLA policies"), "cases:sla_policy_list", ("cases.view_slapolicy",)),
    Destination(
        _("Your preferences"),
        "profile",
        keywords=pgettext_lazy("command palette keywords", "profile time zone language"),
    ),
    Destination(_("API tokens"), "api_tokens"),
    Destination(
        _("Administration"), "admin:index", superuser=True, keywords=pgettext_lazy("command palette keywords", "admin")
    ),
)

ACTIONS = (
    Destination(
        _("New incident"),
        "cases:incident_create",
        ("cases.add_incident",),
        keywords=pgettext_lazy("command palette keywords", "open create"),
    ),
    Destination(
        _("Record impact"),
        "cases:incident_merchant_add",
        ("cases.view_incident", "cases.add_affectedmerchant"),
        on_incident=True,
        keywords=pgettext_lazy("command palette keywords", "affected merchant"),
    ),
    Destination(
        _("Add a note"),
        "cases:incident_detail",
        ("cases.view_incident", "cases.add_investigationnote"),
        on_incident=True,
        anchor="incident-notes",
        keywords=pgettext_lazy("command palette keywords", "investigation note"),
    ),
)


def _folded(text: str) -> str:
    """Lower case without accents, for matching page names as the desk types them."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def _may_open(user, destination: Destination) -> bool:
    if destination.superuser:
        return user.is_superuser
    return user.has_perms(destination.perms)


def _matches(text: str, destination: Destination) -> bool:
    """Every word typed starts a word of the label or its keywords (none typed: all match)."""
    words = _folded(f"{destination.label} {destination.keywords}").split()
    return all(any(word.startswith(typed) for word in words) for typed in _folded(text).split())


def _destinations(user, text: str, destinations, incident) -> list[dict]:
    rows = []
    for destination in destinations:
        if destination.on_incident and incident is None:
            continue
        if not _may_open(user, destination) or not _matches(text, destination):
            continue
        args = [incident.reference] if destination.on_incident else []
        url = reverse(destination.url_name, args=args)
        if destination.anchor:
            url += f"#{destination.anchor}"
        detail = incident.reference if destination.on_incident else ""
        rows.append({"label": str(destination.label), "detail": detail, "url": url})
    return rows  # a fixed, short list: every page the user may open is offered


def _incidents(user, text: str) -> list[dict]:
    if not user.has_perm("cases.view_incident"):
        return []
    visible = incident_list_visible_to(user=user)
    candidates = reference_candidates(text)
    by_reference = list(visible.filter(reference__in=candidates).order_by("-reference")[:PER_GROUP])
    rows = by_reference
    if len(rows) < PER_GROUP and not (candidates and text.strip().upper().startswith("PH")):
        found = search(visible, text).exclude(pk__in=[incident.pk for incident in rows])
        rows += list(found.order_by("-search_rank", "-pk")[: PER_GROUP - len(rows)])
    return [
        {
            "label": incident.title,
            "detail": f"{incident.reference} · {incident.get_severity_display()} · {incident.get_status_display()}",
            "reference": incident.reference,
            "url": reverse("cases:incident_detail", args=[incident.reference]),
        }
        for incident in rows
    ]


def _merchants(user, text: str) -> list[dict]:
    if not user.has_perm("cases.view_merchant"):
        return []
    # unaccent() on the stored name, the typed text folded the same way here.
    matching = merchant_list_visible_to(user=user).filter(
        Q(name__unaccent__icontains=_folded(text)) | Q(account_id__icontains=text)
    )
    return [
        {
            "label": merchant.name,
            "detail": merchant.account_id,
            "url": reverse("cases:merchant_detail", args=[merchant.account_id]),
        }
        for merchant in matching.order_by("name", "pk")[:PER_GROUP]
    ]


def _partners(user, text: str) -> list[dict]:
    if not user.has_perm("partners.view_partner"):
        return []
    matching = partner_directory(user=user).filter(Q(name__unaccent__icontains=_folded(text)) | Q(code__icontains=text))
    return [
        {
            "label": partner.name,
            "detail": partner.code,
            "url": reverse("partners:partner_detail", args=[partner.code]),
        }
        for partner in matching.order_by("name", "pk")[:PER_GROUP]
    ]


def palette_results(*, user, text: str, incident_reference: str = "") -> list[dict]:
    """The palette's groups for `text`, in order, each `{"key", "label", "items"}`; empty groups left out.

    Without text only the pages and actions are offered. `incident_reference` is the incident the
    user is looking at: its actions (record impact, add a note) are offered when they may take them.
    """
    text = (text or "").replace("\x00", " ").strip()[:MAX_QUERY_LENGTH]
    incident = None
    if incident_reference and len(incident_reference) <= 20 and user.has_perm("cases.view_incident"):
        incident = incident_visible_by_reference(user=user, reference=incident_reference)
    groups = []
    if text:
        groups += [
            ("incidents", _("Incidents"), _incidents(user, text)),
            ("merchants", _("Merchants"), _merchants(user, text)),
            ("partners", _("Partners"), _partners(user, text)),
        ]
    groups += [
        ("actions", pgettext_lazy("command palette group", "Actions"), _destinations(user, text, ACTIONS, incident)),
        ("pages", pgettext_lazy("command palette group", "Pages"), _destinations(user, text, PAGES, None)),
    ]
    return [{"key": key, "label": str(label), "items": items} for key, label, items in groups if items]
