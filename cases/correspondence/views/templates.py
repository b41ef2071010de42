"""The notice template editor: every kind × language with its active version, and an editor
with a live preview (the same sandboxed renderer as sending) against an engaged partner of an
incident, the names a template may use, and the version history.

Saving calls `notice_template_save`, which refuses a template that does not compile, names a
variable outside the allowed context, cannot render or goes beyond the sandbox's limits, with
the line and the reason; the preview (`notice_template_preview`) applies the same checks.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from cases.correspondence.compose import notice_template_preview
from cases.correspondence.forms import NoticeTemplateForm
from partners.models import NoticeTemplate, Partner
from partners.notices import ALLOWED_FILTERS, ALLOWED_TAGS, CONTEXT_SCHEMA, ListOf
from partners.services import notice_template_save
from payhealth.i18n import Language
from payhealth.pan import CARD_NUMBER_CODE
from payhealth.web import add_service_errors

EDIT = "partners/notice_template_edit.html"


def editor_permission(view):
    return login_required(permission_required("partners.change_noticetemplate", raise_exception=True)(view))


def allowed_variables(schema: dict = CONTEXT_SCHEMA, prefix: str = "") -> list[tuple[str, str]]:
    """(name, what it is) for every name a template may use, e.g. ("window.start.local", "")."""
    names: list[tuple[str, str]] = []
    for key, value in schema.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            names.extend(allowed_variables(value, f"{name}."))
        elif isinstance(value, ListOf):
            if isinstance(value.item, dict):
                fields = ", ".join(item for item, _x in allowed_variables(value.item))
                names.append((name, _("a list; each item has %(fields)s") % {"fields": fields}))
            else:
                names.append((name, _("a list")))
        else:
            names.append((name, ""))
    return names


def _pair(kind: str, language: str) -> tuple[str, str]:
    if kind not in NoticeTemplate.Kind.values or language not in Language.values:
        raise Http404
    return kind, language


def _partner_kind(request) -> str:
    """The partner kind whose variant is edited (`?partner_kind=issuer`); "" is the one for any kind."""
    value = request.GET.get("partner_kind", "")
    if value and value not in Partner.Kind.values:
        raise Http404
    return value


@editor_permission
def notice_template_list(request):
    """Each kind in each language, with its active version; then each kind's variants per partner
    kind (filter with `?partner_kind=`)."""
    active = {
        (template.kind, template.partner_kind, template.language): template
        for template in NoticeTemplate.objects.filter(active=True).select_related("author")
    }
    wanted = _partner_kind(request)
    pairs = [(kind, "") for kind in NoticeTemplate.Kind.values] + sorted(
        {(kind, partner_kind) for kind, partner_kind, _language in active if partner_kind}
    )
    rows = [
        {
            "kind": kind,
            "partner_kind": partner_kind,
            "label": NoticeTemplate.Kind(kind).label,
            "partner_kind_label": Partner.Kind(partner_kind).label if partner_kind else "",
            "languages": [
                {"code": code, "label": language_label, "template": active.get((kind, partner_kind, code))}
                for code, language_label in Language.choices
            ],
        }
        for kind, partner_kind in pairs
        if not wanted or partner_kind == wanted
    ]
    context = {
        "rows": rows,
        "languages": Language.choices,
        "partner_kinds": Partner.Kind.choices,
        "partner_kind": wanted,
    }
    return render(request, "partners/notice_template_list.html", context)


@editor_permission
@require_http_methods(["GET", "POST"])
def notice_template_edit(request, kind: str, language: str):
    """GET: the active text (or an older version's, `?version=N`) in the editor. POST: save a new version."""
    kind, language = _pair(kind, language)
    partner_kind = _partner_kind(request)
    versions = list(
        NoticeTemplate.objects.filter(kind=kind, language=language, partner_kind=partner_kind)
        .select_related("author")
        .order_by("-version")
    )
    if request.method == "POST":
        form = NoticeTemplateForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                saved = notice_template_save(
                    actor=request.user,
                    kind=kind,
                    language=language,
                    partner_kind=partner_kind,
                    subject=form.cleaned_data["subject"],
                    body=form.cleaned_data["body"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Saved: version %(version)s is now in use.") % {"version": saved.version})
                url = reverse("partners:notice_template_edit", args=[kind, language])
                return redirect(f"{url}?partner_kind={partner_kind}" if partner_kind else url)
    else:
        wanted = request.GET.get("version", "")
        chosen = next((v for v in versions if str(v.version) == wanted), None) or next(
            (v for v in versions if v.active), None
        )
        initial = {"subject": chosen.subject, "body": chosen.body} if chosen else {}
        form = NoticeTemplateForm(initial=initial, user=request.user)
    context = {
        "form": form,
        "kind": kind,
        "kind_label": NoticeTemplate.Kind(kind).label,
        "partner_kind": partner_kind,
        "partner_kind_label": Partner.Kind(partner_kind).label if partner_kind else "",
        "language": language,
        "language_label": Language(language).label,
        "versions": versions,
        "variables": allowed_variables(),
        "allowed_tags": ALLOWED_TAGS,
        "allowed_filters": ALLOWED_FILTERS,
    }
    return render(request, EDIT, context, status=200)


@editor_permission
@require_POST
def notice_template_preview_view(request, kind: str, language: str):
    """The text being edited, checked and rendered (htmx, on every pause in typing); nothing saved."""
    kind, language = _pair(kind, language)
    form = NoticeTemplateForm(request.POST, user=request.user)
    form.is_valid()  # an unknown engagement falls back to the sample data
    # The form's data: a card number typed in the text is masked there, and said so.
    subject, body = form.data.get("subject", ""), form.data.get("body", "")
    problems = {name: list(form.errors[name]) for name in ("subject", "body") if form.has_error(name, CARD_NUMBER_CODE)}
    preview, engagement = None, form.cleaned_data.get("engagement")
    try:
        preview = notice_template_preview(
            subject=subject, body=body, language=language, engagement=engagement, actor=request.user
        )
    except ValidationError as error:
        found = error.message_dict if hasattr(error, "error_dict") else {"body": error.messages}
        problems = {name: [*found.get(name, []), *problems.get(name, [])] for name in {*found, *problems}}
    context = {"preview": preview, "problems": problems, "engagement": engagement, "language": language}
    return render(request, f"{EDIT}#preview", context)


urlpatterns = [
    path("notices/templates/", notice_template_list, name="notice_template_list"),
    path("notices/templates/<str:kind>/<str:language>/", notice_template_edit, name="notice_template_edit"),
    path(
        "notices/templates/<str:kind>/<str:language>/preview/",
        notice_template_preview_view,
        name="notice_template_preview",
    ),
]
