"""SLA pages and the fragments SLA badges refresh themselves with.

- `incidents/<reference>/sla/`: the incident page's SLA section, with the header's badges out of
  band; the section polls it.
- `sla/badges/?id=…`: the queue's SLA cells for the ids of the page on screen, each an out-of-band
  swap, so the table itself is not re-rendered.
- `sla/at-risk/`: running clocks of open incidents by severity, overdue first (most overdue
  first) then soonest due; paused ones apart. Its results poll the same URL (htmx gets only the
  results part).
- `sla/at-risk/count/`: what needs the viewer (their own overdue clocks, and SEV1/SEV2 clocks at
  risk), for the navigation's badge (loaded by htmx after the page, so no page pays for it).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.views.decorators.http import require_GET

from cases.models import SlaClock
from cases.models.incident import Severity
from cases.rca.services import rca_overdue
from cases.selectors import incident_list_visible_to, incident_visible_or_404
from cases.sla.selectors import OVERDUE_COUNT_CAP, incident_sla, sla_at_risk, sla_attention_count, sla_badges_for_ids
from partners.models import Partner
from payhealth.ids import parse_ids
from payhealth.pan import masked
from payhealth.web import desk_permission, wants_fragment

SLA = "cases/_sla.html"
AT_RISK = "cases/sla_at_risk.html"
RCA_ROWS = 50
AT_RISK_PARAMS = ("family", "severity", "partner", "mine", "page")


def sla_open_ids(request: HttpRequest) -> set[int]:
    """Clocks whose history the viewer has expanded (the poll sends them), kept open on refresh."""
    return set(parse_ids(request.GET.getlist("open")))


def incident_sla_html(request: HttpRequest, incident, *, sla=None, oob: bool = False) -> str:
    """The SLA section, and the header's badges out of band: what a poll or a write refreshes."""
    sla = sla or incident_sla(user=request.user, incident=incident)
    context = {"incident": incident, "sla": sla, "sla_open": sla_open_ids(request), "oob": oob}
    # Rendered without the request: the fragments need no context processor (each costs queries).
    html = render_to_string(f"{SLA}#section", context)
    return html + render_to_string(f"{SLA}#header_badges", {**context, "badges_oob": True})


@desk_permission("cases.view_incident", "cases.view_slaclock")
@require_GET
def incident_sla_view(request: HttpRequest, reference: str) -> HttpResponse:
    return HttpResponse(incident_sla_html(request, incident_visible_or_404(user=request.user, reference=reference)))


@desk_permission("cases.view_incident", "cases.view_slaclock")
@require_GET
def sla_badges_view(request: HttpRequest) -> HttpResponse:
    """The queue's SLA cells for `id=…` (at most 100), each swapped out of band by its own id."""
    badges = sla_badges_for_ids(user=request.user, ids=request.GET.getlist("id"))
    return HttpResponse(render_to_string(f"{SLA}#queue_badges", {"badges": badges, "oob": True}))


def _at_risk_params(source: QueryDict) -> QueryDict:
    params = QueryDict(mutable=True)
    for key in AT_RISK_PARAMS:
        values = [
            masked(value) for value in source.getlist(key) if value not in ("",)
        ]  # links never carry a card number
        if values and not (key == "page" and values == ["1"]):
            params.setlist(key, values)
    return params


def _with(params: QueryDict, **changes) -> str:
    changed = params.copy()
    for key, value in changes.items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = str(value)
    return changed.urlencode()


@desk_permission("cases.view_incident", "cases.view_slaclock")
@require_GET
def sla_at_risk_view(request: HttpRequest) -> HttpResponse:
    """Clocks about to breach, across every open incident; filters and page live in the query string."""
    params = _at_risk_params(request.GET)
    page = sla_at_risk(user=request.user, params=params)
    url = reverse("cases:sla_at_risk")
    query = params.urlencode()
    filters = page.filters
    context = {
        "page": page,
        "filters": filters,
        "self_url": f"{url}?{query}" if query else url,
        "families": [(value, label) for value, label in SlaClock.Family.choices],
        "severities": [
            {"value": value, "label": label, "selected": value in filters.severity} for value, label in Severity.choices
        ],
        # A callable: only the whole page (not the htmx refresh) lists the partners.
        "partner_options": lambda: Partner.objects.order_by("name").values_list("code", "name"),
        "previous_query": _with(params, page=page.number - 1 if page.number > 2 else None)
        if page.has_previous
        else None,
        "next_query": _with(params, page=page.number + 1) if page.has_next else None,
        # Partners' RCAs past their due date (a callable: the whole page only, not the htmx refresh).
        "overdue_rcas": lambda: list(
            rca_overdue().filter(incident__in=incident_list_visible_to(user=request.user))[:RCA_ROWS]
        ),
    }
    return render(request, f"{AT_RISK}#results" if wants_fragment(request) else AT_RISK, context)


@desk_permission("cases.view_incident", "cases.view_slaclock")
@require_GET
def sla_overdue_count_view(request: HttpRequest) -> HttpResponse:
    """The navigation's badge: the viewer's own overdue clocks and every SEV1/SEV2 clock at risk."""
    count = sla_attention_count(user=request.user)
    context = {"attention_count": count, "attention_capped": count > OVERDUE_COUNT_CAP}
    return render(request, f"{AT_RISK}#nav_count", context)


urlpatterns = [
    path("incidents/<str:reference>/sla/", incident_sla_view, name="incident_sla"),
    path("sla/badges/", sla_badges_view, name="sla_badges"),
    path("sla/at-risk/", sla_at_risk_view, name="sla_at_risk"),
    path("sla/at-risk/count/", sla_overdue_count_view, name="sla_overdue_count"),
]
