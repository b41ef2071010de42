"""The detector's pages: the findings queue and a finding's page with the triage actions, and the
Monitors page (segment states, the last run, the settings and the suppression windows).

Every desk role reads them; the triage actions need `monitoring.decide_finding` (and
`monitoring.add_suppression` to suppress), the settings `monitoring.change_monitorsettings`.
An htmx action answers the finding's row (or its actions block on the finding's page) again.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases.models import Merchant
from monitoring import findings as finding_flow
from monitoring.attribution import attribution_sentence
from monitoring.detection.config import TUNABLES, detector_config, detector_configs
from monitoring.forms import (
    AttachForm,
    FalsePositiveForm,
    FindingFilterForm,
    MonitorFilterForm,
    MonitorSettingsForm,
    SuppressForm,
    SuppressionForm,
)
from monitoring.models import DETECTOR_DEFAULTS, Finding, MonitorSettings, Segment, SegmentState, Suppression
from monitoring.selectors import (
    FINDING_TABS,
    finding_tab_counts,
    findings_filtered,
    findings_visible_to,
    incidents_attachable,
    last_detector_run,
    monitor_settings_visible_to,
    segment_monitors_visible_to,
    segment_state_counts,
    suppressions_visible_to,
)
from monitoring.triage import (
    finding_mark_false_positive,
    finding_suppress,
    monitor_settings_delete,
    monitor_settings_update,
    suppression_create,
    suppression_delete,
)
from payhealth.web import add_service_errors, desk_permission, page_of, results_only, wants_fragment

FINDINGS_PER_PAGE = 25
MONITORS_PER_PAGE = 50
ATTACHABLE_INCIDENTS = 50
QUEUE = "monitoring/finding_list.html"
DIMENSION_LABELS = {
    "issuer": gettext_lazy("Issuer"),
    "route": gettext_lazy("Route (acquirer or switch)"),
    "bin_prefix": gettext_lazy("BIN prefix"),
    "network": gettext_lazy("Network"),
    "country": gettext_lazy("Country"),
    "funding": gettext_lazy("Funding"),
    "entry_mode": gettext_lazy("Entry mode"),
    "decline_code": gettext_lazy("Decline code"),
}
TAB_LABELS = {"watch": gettext_lazy("Watch"), "alert": gettext_lazy("Alert"), "recent": gettext_lazy("Recent")}
DETAIL = "monitoring/finding_detail.html"
VIEW_FINDING = "monitoring.view_finding"
DECIDE = "monitoring.decide_finding"


def _language() -> str:
    return (translation.get_language() or "en")[:2]


def _with_sentences(findings) -> list[Finding]:
    rows = list(findings)
    language = _language()
    for finding in rows:
        finding.sentence = attribution_sentence(finding, language=language)
    return rows


def _attachable(user):
    return incidents_attachable(user=user)[:ATTACHABLE_INCIDENTS]


# The findings queue ------------------------------------------------------------------------------


@desk_permission(VIEW_FINDING)
@require_GET
def finding_list(request):
    """Tabs Watch / Alert / Recent, filtered by merchant and kind, newest first."""
    tab = request.GET.get("tab") if request.GET.get("tab") in FINDING_TABS else "alert"
    filters = FindingFilterForm(request.GET or None)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    merchant = chosen.get("merchant")
    findings = findings_filtered(
        findings_visible_to(user=request.user),
        states=FINDING_TABS[tab],
        kind=chosen.get("kind") or "",
        merchant=merchant.account_id if merchant else "",
    )
    page = page_of(request, findings, FINDINGS_PER_PAGE)
    page.object_list = _with_sentences(page.object_list)
    context = {
        "tab": tab,
        "tabs": [(name, TAB_LABELS[name]) for name in FINDING_TABS],
        "counts": finding_tab_counts(user=request.user),
        "filters": filters,
        "page": page,
        "incidents": _attachable(request.user),
    }
    template = f"{QUEUE}#results" if results_only(request) else QUEUE
    return render(request, template, context)


@desk_permission(VIEW_FINDING)
@require_GET
def finding_detail(request, finding_id: int):
    finding = get_object_or_404(findings_visible_to(user=request.user), pk=finding_id)
    finding.sentence = attribution_sentence(finding, language=_language())
    return render(
        request,
        DETAIL,
        {
            "finding": finding,
            "attribution": _attribution_rows(finding),
            "suppressions": suppressions_visible_to(user=request.user).filter(finding=finding),
            "incidents": _attachable(request.user),
        },
    )


def _attribution_rows(finding: Finding) -> list[dict]:
    """The stored attribution rows with their dimension as people read it."""
    rows = finding.attribution if isinstance(finding.attribution, list) else []
    return [
        row | {"dimension_label": DIMENSION_LABELS.get(row.get("dimension"), row.get("dimension", ""))}
        for row in rows
        if isinstance(row, dict)
    ]


def _action_answer(request, finding: Finding, *, forms: dict | None = None, error: str = ""):
    """htmx: the finding's row in the queue, or its actions block on the finding's page, with any
    form errors in place. Without htmx: back to where the person came from, or the finding's page
    with the errors (400)."""
    fresh = findings_visible_to(user=request.user).get(pk=finding.pk)
    fresh.sentence = attribution_sentence(fresh, language=_language())
    context = {"finding": fresh, "incidents": _attachable(request.user), "action_error": error, **(forms or {})}
    on_page = request.POST.get("on") == "detail"
    if wants_fragment(request):
        return render(request, f"{DETAIL}#actions" if on_page else f"{QUEUE}#row", context)
    if forms or error:
        context |= {
            "attribution": _attribution_rows(fresh),
            "suppressions": suppressions_visible_to(user=request.user).filter(finding=fresh),
        }
        return render(request, DETAIL, context, status=400)
    return redirect(
        reverse("monitoring:finding_detail", args=[finding.pk]) if on_page else reverse("monitoring:finding_list")
    )


def _decidable_finding(request, finding_id: int) -> Finding:
    return get_object_or_404(findings_visible_to(user=request.user), pk=finding_id)


@desk_permission(VIEW_FINDING, DECIDE, "monitoring.add_suppression")
@require_POST
def finding_suppress_view(request, finding_id: int):
    finding = _decidable_finding(request, finding_id)
    form = SuppressForm(request.POST)
    if form.is_valid():
        try:
            finding_suppress(finding=finding, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Finding suppressed."))
            return _action_answer(request, finding)
    return _action_answer(request, finding, forms={"suppress_form": form})


@desk_permission(VIEW_FINDING, DECIDE)
@require_POST
def finding_false_positive_view(request, finding_id: int):
    finding = _decidable_finding(request, finding_id)
    form = FalsePositiveForm(request.POST)
    if form.is_valid():
        try:
            finding_mark_false_positive(finding=finding, actor=request.user, note=form.cleaned_data["note"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Finding marked a false positive."))
            return _action_answer(request, finding)
    return _action_answer(request, finding, forms={"false_positive_form": form})


@desk_permission(VIEW_FINDING, DECIDE, "cases.add_incident", "cases.change_incident")
@require_POST
def finding_open_incident_view(request, finding_id: int):
    finding = _decidable_finding(request, finding_id)
    try:
        finding_flow.finding_open_incident(finding=finding, actor=request.user)
    except ValidationError as error:
        return _action_answer(request, finding, error=" ".join(error.messages))
    return _action_answer(request, finding)


@desk_permission(VIEW_FINDING, DECIDE, "cases.change_incident")
@require_POST
def finding_attach_view(request, finding_id: int):
    finding = _decidable_finding(request, finding_id)
    form = AttachForm(request.POST, incidents=incidents_attachable(user=request.user))
    if not form.is_valid():
        return _action_answer(request, finding, forms={"attach_form": form})
    try:
        finding_flow.finding_attach(finding=finding, incident=form.cleaned_data["incident"], actor=request.user)
    except ValidationError as error:
        return _action_answer(request, finding, error=" ".join(error.messages))
    return _action_answer(request, finding)


# The Monitors page -------------------------------------------------------------------------------


def _shown(value) -> str:
    """A setting as the page shows it: on/off for the switch, the number otherwise."""
    if isinstance(value, bool):
        return _("on") if value else _("off")
    return "—" if value is None else str(value)


def _setting_rows(row: MonitorSettings | None, effective) -> list[dict]:
    return [
        {
            "name": name,
            "label": MonitorSettings._meta.get_field(name).verbose_name,
            "default": _shown(DETECTOR_DEFAULTS[name]),
            "effective": _shown(getattr(effective, name)),
        }
        for name in TUNABLES
    ]


def _overrides(user) -> list[dict]:
    rows = list(monitor_settings_visible_to(user=user).filter(merchant__isnull=False).order_by("merchant__name"))
    configs = detector_configs(row.merchant_id for row in rows)
    return [
        {
            "row": row,
            "set": [
                {"label": MonitorSettings._meta.get_field(name).verbose_name, "value": _shown(getattr(row, name))}
                for name in TUNABLES
                if getattr(row, name) is not None
            ],
            "effective": configs[row.merchant_id],
        }
        for row in rows
    ]


@desk_permission("monitoring.view_segmentmonitor", "monitoring.view_monitorsettings")
@require_GET
def monitor_list(request):
    """Each segment's state with counts per state, the last run, the settings and the windows."""
    filters = MonitorFilterForm(request.GET or None)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    monitors = segment_monitors_visible_to(user=request.user)
    if chosen.get("merchant"):
        monitors = monitors.filter(segment__merchant=chosen["merchant"])
    counts = segment_state_counts(monitors)
    if chosen.get("state"):
        monitors = monitors.filter(state=chosen["state"])
    page = page_of(request, monitors, MONITORS_PER_PAGE)
    if results_only(request):
        return render(request, "monitoring/monitor_list.html#results", {"page": page})
    global_row = monitor_settings_visible_to(user=request.user).filter(merchant__isnull=True).first()
    effective = detector_config(None)
    can_edit = request.user.has_perm("monitoring.change_monitorsettings")
    context = {
        "filters": filters,
        "page": page,
        "counts": [(state, label, counts[state]) for state, label in SegmentState.choices],
        "run": last_detector_run(user=request.user),
        "global_row": global_row,
        "settings_rows": _setting_rows(global_row, effective),
        "settings_form": MonitorSettingsForm(
            inherited=DETECTOR_DEFAULTS, row=global_row, read_only=not can_edit, prefix="global"
        ),
        "overrides": _overrides(request.user),
        "merchants": Merchant.objects.order_by("name").only("account_id", "name"),
        "suppressions": suppressions_visible_to(user=request.user)[:100],
        "suppression_form": SuppressionForm(),
    }
    return render(request, "monitoring/monitor_list.html", context)


@desk_permission("monitoring.view_monitorsettings", "monitoring.change_monitorsettings")
@require_POST
def monitor_settings_global(request):
    global_row = MonitorSettings.objects.filter(merchant__isnull=True).first()
    form = MonitorSettingsForm(request.POST, inherited=DETECTOR_DEFAULTS, row=global_row, prefix="global")
    if form.is_valid():
        try:
            monitor_settings_update(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Detector settings saved."))
            return redirect(reverse("monitoring:monitor_list") + "#settings")
    return render(request, "monitoring/settings_form.html", {"form": form, "merchant": None}, status=400)


@desk_permission("monitoring.view_monitorsettings")
@require_http_methods(["GET", "POST"])
def monitor_settings_merchant(request, account_id: str):
    """One merchant's overrides: a form for leads, the same fields read-only for everyone else."""
    merchant = get_object_or_404(Merchant, account_id=account_id)
    row = monitor_settings_visible_to(user=request.user).filter(merchant=merchant).first()
    inherited = detector_config(None).__dict__
    can_edit = request.user.has_perm("monitoring.change_monitorsettings")
    if request.method == "POST" and not can_edit:
        raise PermissionDenied
    form = MonitorSettingsForm(request.POST or None, inherited=inherited, row=row, read_only=not can_edit)
    if request.method == "POST" and form.is_valid():
        try:
            monitor_settings_update(merchant=merchant, actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Settings for %(merchant)s saved.") % {"merchant": merchant.name})
            return redirect(reverse("monitoring:monitor_list") + "#overrides")
    status = 400 if request.method == "POST" else 200
    effective = detector_config(merchant.pk)
    context = {"form": form, "merchant": merchant, "row": row, "can_edit": can_edit, "effective": effective}
    return render(request, "monitoring/settings_form.html", context, status=status)


@desk_permission("monitoring.view_monitorsettings")
@require_GET
def monitor_settings_pick(request):
    """The merchant chosen in "Override a merchant" → its settings page; without one, the choice."""
    chosen = request.GET.get("merchant", "")
    merchant = Merchant.objects.filter(account_id=chosen).first() if chosen and "\x00" not in chosen else None
    if merchant is not None:
        return redirect(reverse("monitoring:monitor_settings_merchant", args=[merchant.account_id]))
    merchants = Merchant.objects.order_by("name").only("account_id", "name")
    return render(request, "monitoring/settings_pick.html", {"merchants": merchants, "chosen": chosen})


@desk_permission("monitoring.view_monitorsettings", "monitoring.delete_monitorsettings")
@require_POST
def monitor_settings_remove(request, account_id: str):
    merchant = get_object_or_404(Merchant, account_id=account_id)
    monitor_settings_delete(merchant=merchant, actor=request.user)
    messages.success(request, _("%(merchant)s inherits every global setting again.") % {"merchant": merchant.name})
    return redirect(reverse("monitoring:monitor_list") + "#overrides")


@desk_permission("monitoring.view_suppression", "monitoring.add_suppression")
@require_POST
def suppression_add(request):
    form = SuppressionForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        segments = Segment.objects.filter(merchant=data["merchant"])
        segment = (
            segments.filter(pk=data["segment"]).first()
            if data.get("segment")
            else segments.filter(parent__isnull=True).first()
        )
        if segment is None:
            form.add_error("segment", _("This merchant has no such segment (no payment data yet)."))
        else:
            try:
                suppression_create(
                    segment=segment, start=data["start"], end=data["end"], reason=data["reason"], actor=request.user
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Suppression window added."))
                return redirect(reverse("monitoring:monitor_list") + "#suppressions")
    return render(request, "monitoring/suppression_form.html", {"form": form}, status=400)


@desk_permission("monitoring.view_suppression", "monitoring.delete_suppression")
@require_POST
def suppression_remove(request, suppression_id: int):
    suppression = get_object_or_404(Suppression, pk=suppression_id)
    suppression_delete(suppression=suppression, actor=request.user)
    messages.success(request, _("Suppression window removed."))
    return redirect(reverse("monitoring:monitor_list") + "#suppressions")
