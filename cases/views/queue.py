"""The incident queue: the analysts' home page, its saved views and its bulk actions.

All list state (filters, order, page, page size) lives in the query string, so a queue URL can
be shared and the back button works. A search for a card number is refused by the filters' form
(`payhealth.forms`); the links, the address bar, saved views and the bulk form then carry the
query with the number masked, never the number. An htmx request gets only the results part of the page
("cases/incident_list.html#results"); the same links and forms work without JavaScript.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timesince import timesince
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from accounts.models import QUEUE_COLUMNS, QUEUE_COLUMNS_DEFAULT
from accounts.services import profile_queue_columns_update
from cases.filters import FILTER_PARAMS, STATUS_ALL, STATUS_OPEN, user_label
from cases.forms import IncidentBulkForm, QueueColumnsForm, SavedViewForm
from cases.models import Merchant
from cases.models.incident import Category, Severity, Status
from cases.queue import QUEUE_DEFAULT_SORT, QUEUE_PAGE_SIZES, incident_queue
from cases.selectors import saved_views_of
from cases.services import incidents_bulk_apply, saved_view_create, saved_view_delete
from cases.services.saved_views import saved_view_query
from cases.sla.selectors import attach_sla_badges
from payhealth.web import masked_query, wants_fragment

QUEUE_PARAMS = (*FILTER_PARAMS, "sort", "per_page", "page")
RESULTS = "cases/incident_list.html#results"
SAVED_VIEWS = "cases/incident_list.html#saved_views"

# Column headers that sort: the column, the sort key it sorts by, the direction of a first click,
# and whether the column reads the key backwards (the youngest incident has the smallest age).
SORTABLE_COLUMNS = {
    "reference": ("reference", "reference", False),
    "severity": ("severity", "severity", False),
    "status": ("status", "status", False),
    "owner": ("owner", "owner", False),
    "opened": ("created", "-created", False),
    "age": ("created", "-created", True),
    "updated": ("updated", "-updated", False),
}

# The optional columns' headers (the column chooser's labels too).
COLUMN_LABELS = {
    "severity": _("Severity"),
    "status": _("Status"),
    "sla": _("SLA"),
    "category": _("Category"),
    "owner": _("Owner"),
    "partners": _("Partners"),
    "merchants": _("Merchants"),
    "opened": _("Opened"),
    "age": _("Age"),
    "updated": _("Last update"),
}


# Values that mean the same as leaving the parameter out; dropped so that URLs stay short and
# one queue state has one URL.
QUEUE_DEFAULTS = {
    "status": [STATUS_OPEN],
    "sort": [QUEUE_DEFAULT_SORT],
    "per_page": [str(QUEUE_PAGE_SIZES[0])],
    "page": ["1"],
}


def _queue_params(query) -> QueryDict:
    """Only the parameters the queue understands, without defaults, from a QueryDict or a string."""
    source = query if isinstance(query, QueryDict) else QueryDict((query or "").lstrip("?"))
    params = QueryDict(mutable=True)
    for key in QUEUE_PARAMS:
        values = [value for value in source.getlist(key) if value != ""]
        if values and values != QUEUE_DEFAULTS.get(key):
            params.setlist(key, values)
    return params


def _saved_query(query: str) -> str:
    """A submitted saved-view query as the page shows it again: card numbers masked."""
    return saved_view_query(masked_query(QueryDict((query or "").lstrip("?"))).urlencode())


def _with(params: QueryDict, **changes) -> str:
    """The query string with some parameters replaced (None removes one)."""
    changed = params.copy()
    for key, value in changes.items():
        if value is None or [str(value)] == QUEUE_DEFAULTS.get(key):
            changed.pop(key, None)
        else:
            changed[key] = str(value)
    return changed.urlencode()


def _sort_columns(params: QueryDict, sort: str) -> dict[str, dict]:
    columns = {}
    for column, (key, first, backwards) in SORTABLE_COLUMNS.items():
        current = sort.lstrip("-") == key
        descending = sort.startswith("-")
        # A second click on the sorted column reverses it; a first click uses its natural order.
        target = (key if descending else f"-{key}") if current else first
        shown_descending = descending != backwards
        columns[column] = {
            "query": _with(params, sort=None if target == QUEUE_DEFAULT_SORT else target, page=None),
            "aria_sort": ("descending" if shown_descending else "ascending") if current else "none",
        }
    return columns


def _user_columns(user) -> tuple[str, ...]:
    """The optional columns the user chose (their profile, loaded with the request), else the default."""
    profile = getattr(user, "profile", None)
    return profile.chosen_queue_columns if profile is not None else QUEUE_COLUMNS_DEFAULT


def _column_choices(shown) -> list[dict]:
    return [{"key": key, "label": COLUMN_LABELS[key], "shown": key in shown} for key in QUEUE_COLUMNS]


def _names_cell(names: list[str]) -> dict:
    """A list of names as one cell: the first name and how many more ("BBVA México +2"), with the
    whole list for the cell's title."""
    names = [name for name in names or [] if name]
    return {"first": names[0] if names else "", "more": max(0, len(names) - 1), "all": ", ".join(names)}


def _page_links(params: QueryDict, page) -> list[dict]:
    """First, previous, a window around the current page, next and last."""
    numbers = {1, *range(max(1, page.number - 2), min(page.num_pages, page.number + 2) + 1)}
    if not page.count_capped:
        numbers.add(page.num_pages)
    links, previous = [], 0
    for number in sorted(numbers):
        if number - previous > 1:
            links.append({"gap": True})
        links.append({"number": number, "query": _with(params, page=number), "current": number == page.number})
        previous = number
    if page.count_capped:
        # The count stopped early, so the last page is unknown: no link claims to be the last.
        links.append({"gap": True})
    return links


def _options(choices, chosen) -> list[dict]:
    chosen = {str(value) for value in chosen if value not in (None, "")}
    return [{"value": str(value), "label": label, "selected": str(value) in chosen} for value, label in choices]


def _filter_controls(form) -> dict:
    """What the filter form shows, read from the bound data.

    The template writes the inputs itself instead of rendering Django widgets: a widget renders
    every option through its own templates, which cost more than all of the queue's queries.
    """
    data = form.data
    fields = form.fields
    multi = [
        {"name": name, "label": fields[name].label, "options": _options(fields[name].choices, data.getlist(name))}
        for name in ("status", "severity", "category", "network")
    ]
    for group in multi:
        group["chosen"] = sum(option["selected"] for option in group["options"])
    partners = fields["partner"].queryset
    return {
        "fields": fields,
        "q": data.get("q", ""),
        "multi": multi,
        # Callables: the template calls them only when it renders the whole page.
        "partner_options": lambda: _options(partners.values_list("code", "name"), data.getlist("partner")),
        "owner_options": _options(fields["owner"].choices, data.getlist("owner")),
        "merchant": data.get("merchant", ""),
        "created_from": data.get("created_from", ""),
        "created_to": data.get("created_to", ""),
    }


def _bulk_controls(form: IncidentBulkForm) -> dict:
    data = form.data if form.is_bound else QueryDict()
    return {
        name: _options(form.fields[name].choices, data.getlist(name))
        for name in ("to_owner", "to_status", "to_severity")
    } | {"reason": data.get("reason", "")}


def _prepare_rows(incidents) -> None:
    """Everything a row shows, worked out once per page in Python.

    Up to 100 rows: template filters, `{% url %}` and `get_FOO_display` per cell cost more than
    the page's queries, so labels are looked up in per-page dictionaries and dates formatted here
    (in the viewer's zone and language, as the `date` filter would).
    """
    now = timezone.now()
    labels = {
        "severity": {value: str(label) for value, label in Severity.choices},
        "status": {value: str(label) for value, label in Status.choices},
        "category": {value: str(label) for value, label in Category.choices},
    }
    ago = gettext("%(ago)s ago")  # "3 hours ago": the message the template's blocktranslate had
    select = gettext("Select %(reference)s")
    marker = "PH-0000-000000"
    detail_url = reverse("cases:incident_detail", args=[marker])
    for incident in incidents:
        incident.url = detail_url.replace(marker, incident.reference)
        incident.select_label = select % {"reference": incident.reference}
        incident.severity_label = labels["severity"].get(incident.severity, incident.severity)
        # "SEV1" on the badge, the rest of the label ("– critical") for screen readers and the title.
        incident.severity_short = incident.severity.upper()
        label = incident.severity_label
        incident.severity_rest = (
            label[len(incident.severity_short) :] if label.startswith(incident.severity_short) else f" ({label})"
        )
        incident.status_label = labels["status"].get(incident.status, incident.status)
        incident.category_label = labels["category"].get(incident.category, incident.category)
        incident.owner_label = user_label(incident.owner) if incident.owner else ""
        for name in ("created", "updated"):
            moment = timezone.localtime(getattr(incident, f"{name}_at"))
            setattr(incident, f"{name}_iso", moment.isoformat())
            setattr(incident, f"{name}_display", date_format(moment, "SHORT_DATETIME_FORMAT"))
        incident.age = timesince(incident.created_at, incident.closed_at or now, depth=1)
        incident.updated_ago = ago % {"ago": timesince(incident.updated_at, now, depth=1)}
        incident.partners_cell = _names_cell(incident.partner_names)
        incident.merchants_cell = _names_cell(incident.merchant_names)


def _all_statuses_query(params: QueryDict, page) -> str | None:
    """The same search over every status, offered when a search found nothing."""
    if page.incidents or not params.get("q") or params.getlist("status") == [STATUS_ALL]:
        return None
    changed = params.copy()
    changed.setlist("status", [STATUS_ALL])
    changed.pop("page", None)
    return changed.urlencode()


def _queue_context(request: HttpRequest, params: QueryDict, **extra) -> dict:
    page = incident_queue(user=request.user, params=params)
    params = masked_query(params)
    _prepare_rows(page.incidents)
    columns = _user_columns(request.user)
    # The most urgent SLA clock of each row: one query for the page's clocks (cases.sla.selectors).
    if "sla" in columns:
        attach_sla_badges(user=request.user, incidents=page.incidents)
    saved_query = saved_view_query(params.urlencode())
    context = {
        "page": page,
        "params": params,
        "columns": columns,
        "shown": dict.fromkeys(columns, True),
        "column_choices": _column_choices(columns),
        # The reference and title always show; the checkbox column when rows can be changed.
        "column_count": 2 + len(columns) + request.user.has_perm("cases.change_incident"),
        "all_statuses_query": _all_statuses_query(params, page),
        "saved_query": saved_query,
        "sort_columns": _sort_columns(params, page.sort),
        "page_links": _page_links(params, page) if page.num_pages > 1 or page.count_capped else [],
        "previous_query": _with(params, page=page.number - 1) if page.has_previous else None,
        "next_query": _with(params, page=page.number + 1) if page.has_next else None,
        "page_sizes": QUEUE_PAGE_SIZES,
        "sla_badge_ids": "&".join(f"id={incident.pk}" for incident in page.incidents),
        "default_sort": QUEUE_DEFAULT_SORT,
        "can_change": request.user.has_perm("cases.change_incident"),
        "saved_views": saved_views_of(user=request.user),
        "save_form": SavedViewForm(),
        "bulk_form": IncidentBulkForm(
            user=request.user, owners=page.filterset.owner_choices, initial={"return_query": params.urlencode()}
        ),
        # Evaluated by the full page only (the merchant filter's suggestions).
        "merchant_options": Merchant.objects.order_by("name").values_list("account_id", "name"),
    }
    context.update(extra)
    context["filters"] = _filter_controls(page.filterset.form)
    context["bulk"] = _bulk_controls(context["bulk_form"])
    return context


@login_required
@permission_required("cases.view_incident", raise_exception=True)
@require_GET
def incident_list(request: HttpRequest) -> HttpResponse:
    """The queue. An htmx request (filters, sorting, paging) gets only the results."""
    params = _queue_params(request.GET)
    if not wants_fragment(request):
        return render(request, "cases/incident_list.html", _queue_context(request, params))
    response = render(request, RESULTS, _queue_context(request, params, oob_saved_list=True))
    # The form sends every field, empty ones too; the address bar gets the short, canonical URL.
    return push_url(response, _list_url(masked_query(params)))


@login_required
@permission_required("cases.change_incident", raise_exception=True)
@require_POST
def incident_bulk(request: HttpRequest) -> HttpResponse:
    """Apply one action to the checked rows, each row on its own, and report every row."""
    form = IncidentBulkForm(request.POST, user=request.user)
    params = masked_query(_queue_params(request.POST.get("return_query", "")))
    results = []
    if form.is_valid():
        results = incidents_bulk_apply(
            actor=request.user,
            incidents=form.cleaned_data["incident"],
            action=form.cleaned_data["action"],
            **form.service_args(),
        )
    if wants_fragment(request):
        extra = {"bulk_results": results, "oob_saved_list": True}
        if not form.is_valid():
            extra["bulk_form"] = form
            extra["selected_ids"] = set(request.POST.getlist("incident"))
        return render(request, RESULTS, _queue_context(request, params, **extra))
    if form.is_valid():
        for result in results:
            level = messages.SUCCESS if result.ok else messages.ERROR
            messages.add_message(request, level, f"{result.reference}: {result.message}")
    else:
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
    return redirect(_list_url(params))


@login_required
@permission_required("cases.view_incident", raise_exception=True)
@require_POST
def incident_columns(request: HttpRequest) -> HttpResponse:
    """Save the queue's columns on the user's profile, then show the queue with them."""
    form = QueueColumnsForm(request.POST)
    params = masked_query(_queue_params(request.POST.get("return_query", "")))
    saved = False
    if form.is_valid():
        try:
            # The request's user now carries the saved profile, which the page below reads.
            request.user.profile = profile_queue_columns_update(user=request.user, columns=form.chosen_columns())
            saved = True
        except ValidationError as error:
            form.add_error(None, error)
    if wants_fragment(request):
        extra = {"oob_saved_list": True}
        if not saved:
            extra["columns_errors"] = _form_errors(form)
        return render(request, RESULTS, _queue_context(request, params, **extra))
    if saved:
        messages.success(request, _("Columns saved."))
    else:
        for error in _form_errors(form):
            messages.error(request, error)
    return redirect(_list_url(params))


def _form_errors(form) -> list[str]:
    return [str(error) for errors in form.errors.values() for error in errors]


def _list_url(params: QueryDict | str) -> str:
    query = params.urlencode() if isinstance(params, QueryDict) else params
    url = reverse("cases:incident_list")
    return f"{url}?{query}" if query else url


@login_required
@permission_required("cases.view_incident", raise_exception=True)
@require_POST
def savedview_create(request: HttpRequest) -> HttpResponse:
    """Save the queue's current filters under a name (private to the user)."""
    form = SavedViewForm(request.POST)
    view = None
    if form.is_valid():
        try:
            view = saved_view_create(
                owner=request.user, name=form.cleaned_data["name"], query=form.cleaned_data["query"]
            )
        except ValidationError as error:
            form.add_error(None, error)
    if wants_fragment(request):
        context = {"saved_views": saved_views_of(user=request.user), "save_form": SavedViewForm() if view else form}
        context["saved_query"] = _saved_query(request.POST.get("query", ""))
        return render(request, SAVED_VIEWS, context)
    if view is not None:
        messages.success(request, _("View saved."))
        return redirect(_list_url(view.query))
    params = masked_query(_queue_params(request.POST.get("query", "")))
    return render(request, "cases/incident_list.html", _queue_context(request, params, save_form=form))


@login_required
@permission_required("cases.view_incident", raise_exception=True)
@require_POST
def savedview_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one of the user's saved views; anyone else's is a 404, as if it did not exist."""
    view = get_object_or_404(saved_views_of(user=request.user), pk=pk)
    saved_view_delete(view=view, actor=request.user)
    if wants_fragment(request):
        context = {"saved_views": saved_views_of(user=request.user), "save_form": SavedViewForm()}
        context["saved_query"] = _saved_query(request.POST.get("query", ""))
        return render(request, SAVED_VIEWS, context)
    messages.success(request, _("Saved view deleted."))
    return redirect("cases:incident_list")


urlpatterns = [
    path("incidents/", incident_list, name="incident_list"),
    path("incidents/bulk/", incident_bulk, name="incident_bulk"),
    path("incidents/columns/", incident_columns, name="incident_columns"),
    path("incidents/views/", savedview_create, name="savedview_create"),
    path("incidents/views/<int:pk>/delete/", savedview_delete, name="savedview_delete"),
]
