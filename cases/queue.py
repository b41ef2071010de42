"""The incident queue: the analysts' home, filtered, sorted and paginated, fast deep into a large desk.

Reads only (the queue's writes are the incident services and `services.bulk`). It combines the
shared FilterSet (`cases.filters`, also the API list's) with the visibility of `cases.selectors`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from django.db.models import Count, F, Window
from django.db.models.functions import Coalesce

from cases.filters import FILTER_PARAMS, OWNER_ME, OWNER_NONE, STATUS_OPEN, IncidentFilterSet
from cases.models import Incident
from cases.models.incident import status_rank
from cases.selectors import incident_list_visible_to, incident_name_lists, open_incident_count
from payhealth.ids import parse_page
from payhealth.web import PageNumbers

QUEUE_PAGE_SIZES = (25, 50, 100)
QUEUE_DEFAULT_SORT = "-created"
# Sort keys of the queue's `sort` parameter; anything else falls back to the default.
QUEUE_SORTS = ("reference", "severity", "status", "created", "updated", "owner")
# A whole incident reference typed in the search box: that incident is listed whatever the
# other filters say (the status filter's default "open" included), so a closed one is found too.
EXACT_REFERENCE = re.compile(r"PH-\d{4}-\d{6}", re.IGNORECASE)


@dataclass
class IncidentQueuePage(PageNumbers):
    """One page of the queue, with the filters that produced it."""

    filterset: IncidentFilterSet
    incidents: list[Incident]
    count: int
    number: int
    per_page: int
    sort: str
    # True when counting stopped at `count`: there are more matches than that.
    count_capped: bool = False
    # True when the search was a whole reference, listed whatever the other filters.
    reference_match: bool = False

    @property
    def on_page(self) -> int:
        return len(self.incidents)


# Below this many matches the page is sorted in memory instead of walking an index in order.
QUEUE_SMALL_RESULT = 1000
# Filters whose exact COUNT reads (and re-checks) every matching row of the wide incident table:
# full-text search, card networks, partners and merchants. With one of them, when PostgreSQL
# expects many matches, the queue counts up to QUEUE_COUNT_CAP (or up to the page asked for)
# and says "more than".
QUEUE_COUNT_CAP = 1000
QUEUE_COSTLY_COUNT_FILTERS = ("q", "network", "partner", "merchant")
QUEUE_EXACT_COUNT_ESTIMATE = 5000


def _expected_matches(queryset) -> int:
    """PostgreSQL's estimate of the rows a filter matches (0 when Django knows it matches none)."""
    explained = queryset.order_by().values("pk").explain(format="json")
    if not explained:  # Django knows the filter matches nothing (an empty id list): no plan, no rows
        return 0
    return json.loads(explained)[0]["Plan"]["Plan Rows"]


def _capped_count(queryset, *, cap: int) -> tuple[int, bool]:
    """(count, capped) of a filter expected to match many rows: counted up to `cap`.

    Measured on 100,000 incidents: an exact count of a broad search or network filter reads
    ~11,000 wide rows (150–200 ms); counting any `cap` + 1 matches stops early (a few ms).
    The capped count has no ORDER BY: which matches are counted does not matter, and with one
    the planner may walk the whole created_at index backwards looking for them whenever its
    guess is too high (a rare search guessed at thousands of rows and having 5: 698 ms on
    500,000 incidents, against 19 ms on the search index without it).
    """
    count = queryset.order_by().values("pk")[: cap + 1].count()
    return min(count, cap), count > cap


def _few_matches_page(queryset, *, sort: str, number: int, per_page: int) -> tuple[int, list[int], int]:
    """(count, the page's ids, its number) of a filter expected to match few rows, read once.

    Counting them and then reading the page would read every match twice (the same join, the
    same search), as sorting a page in memory reads them all: at 1,000,002 incidents, open SEV1
    incidents engaging one partner took 14 ms to count and 15 ms more for the page. Here the page
    carries the count beside it (`COUNT(id) OVER ()`, computed over every match before the LIMIT):
    one reading. A page past the last one holds no row to carry it: the matches are counted and
    the last page read.
    """
    rows = queryset.annotate(matches=Window(Count("pk"))).order_by(*_queue_order(sort, walk_index=False))

    def page(at: int) -> list[tuple[int, int]]:
        return list(rows.values_list("pk", "matches")[(at - 1) * per_page : at * per_page])

    found = page(number)
    if not found and number > 1:
        count = queryset.order_by().count()
        number = max(1, -(-count // per_page))
        found = page(number)
    return (found[0][1] if found else 0), [pk for pk, _matches in found], number


def _queue_order(sort: str, *, walk_index: bool = True) -> list:
    """ORDER BY for a whitelisted sort key, always ending on the id so pages are stable.

    With `walk_index=False` each sort column is wrapped in COALESCE(column, column), which
    PostgreSQL cannot match to an index. For a few matches that is the fast plan: the planner
    overestimates full-text matches (a rare two-word search is guessed at thousands of rows) and
    would otherwise walk the whole created_at index backwards looking for them.
    """
    descending = sort.startswith("-")
    key = sort.lstrip("-")

    def direction(expression, nullable=False):
        if not walk_index:
            expression = Coalesce(expression, expression)
        # NULLS LAST only where a column can be null: on the others it would stop PostgreSQL
        # from walking the (created_at DESC, id DESC) index and force a sort of every row.
        nulls = {"nulls_last": True} if nullable else {}
        return expression.desc(**nulls) if descending else expression.asc(**nulls)

    columns = {
        "reference": [F("reference")],
        "severity": [F("severity")],
        "status": [status_rank()],
        "created": [F("created_at")],
        "updated": [F("updated_at")],
        "owner": [F("owner__first_name"), F("owner__last_name"), F("owner__username")],
    }[key]
    nullable = key == "owner"  # unassigned incidents come last in both directions
    order = [direction(column, nullable) for column in columns]
    if key in ("created", "updated"):
        return [*order, direction(F("id"))]
    # Within one severity, status or owner: newest first, then the id, whatever the direction.
    newest = [F("created_at"), F("id")]
    if not walk_index:
        newest = [Coalesce(column, column) for column in newest]
    return [*order, *(column.desc() for column in newest)]


def _positive_int(value, default: int) -> int:
    return parse_page(value, default)


def exact_reference(params) -> str | None:
    """The whole incident reference searched for (upper case), or None."""
    value = (params.get("q") or "").strip()
    return value.upper() if EXACT_REFERENCE.fullmatch(value) else None


# Filters the open-incident counters answer (severity × owner); any other narrows the count.
_COUNTED_FILTERS = ("status", "severity", "owner")


def _open_count_from_counters(data: dict, user) -> int | None:
    """The count of a queue of open incidents narrowed by nothing but severities and an owner (the
    queue as it opens, the most asked page) from the overview's counters, instead of counting every
    open incident (3 ms at 100,000 open, growing with them). None when it asks for more."""
    if list(data.get("status") or []) != [STATUS_OPEN]:
        return None
    if any(data.get(name) for name in FILTER_PARAMS if name not in _COUNTED_FILTERS):
        return None
    owner = data.get("owner") or None
    if owner == OWNER_ME:
        owner_id = user.pk
    elif owner == OWNER_NONE:
        owner_id = 0  # the counters' "nobody"
    else:
        owner_id = int(owner) if owner else None
    return open_incident_count(user=user, severities=data.get("severity") or (), owner_id=owner_id)


def incident_queue(*, user, params) -> IncidentQueuePage:
    """The analysts' queue: filtered, sorted and paginated incidents visible to `user`.

    Runs the same queries whatever the page size: the filter form's choices, one COUNT, one
    for the page's ids and one for its rows (owner joined, partner and merchant names
    aggregated). Invalid filters list nothing rather than silently widen to every incident.
    With a costly filter (QUEUE_COSTLY_COUNT_FILTERS) the count stops at QUEUE_COUNT_CAP when
    PostgreSQL expects many matches, and comes with the page's ids when it expects few.
    A search for a whole reference lists that incident (when the user may see it) whatever the
    other filters, with the same queries.
    """
    filterset = IncidentFilterSet(params, queryset=incident_list_visible_to(user=user), user=user)
    sort = params.get("sort") or QUEUE_DEFAULT_SORT
    if sort.lstrip("-") not in QUEUE_SORTS or sort.count("-") > 1:
        sort = QUEUE_DEFAULT_SORT
    per_page = _positive_int(params.get("per_page"), QUEUE_PAGE_SIZES[0])
    if per_page not in QUEUE_PAGE_SIZES:
        per_page = QUEUE_PAGE_SIZES[0]
    number = _positive_int(params.get("page"), 1)
    reference = exact_reference(params)
    if not filterset.is_valid() and reference is None:
        return IncidentQueuePage(filterset=filterset, incidents=[], count=0, number=1, per_page=per_page, sort=sort)

    page_ids = None  # read with the count, or after it
    if reference is not None:
        # The reference's unique index: at most one row, whatever the filters.
        queryset = incident_list_visible_to(user=user).filter(reference=reference)
        count, capped = queryset.order_by().count(), False
    elif any(filterset.form.cleaned_data.get(name) for name in QUEUE_COSTLY_COUNT_FILTERS):
        queryset = filterset.qs
        if _expected_matches(queryset) <= QUEUE_EXACT_COUNT_ESTIMATE:
            count, page_ids, number = _few_matches_page(queryset, sort=sort, number=number, per_page=per_page)
            capped = False
        else:
            count, capped = _capped_count(queryset, cap=max(QUEUE_COUNT_CAP, number * per_page))
    else:
        queryset = filterset.qs
        counted = _open_count_from_counters(filterset.form.cleaned_data, user)
        count, capped = (queryset.order_by().count() if counted is None else counted), False
    if page_ids is None:
        number = min(number, max(1, -(-count // per_page)))
        offset = (number - 1) * per_page
        order = _queue_order(sort, walk_index=capped or count > QUEUE_SMALL_RESULT)
        # Deferred join in two queries: the OFFSET walks only narrow (id, sort key) tuples, and the
        # wide rows, the owner and the related rows are read for the page alone. Not one query with
        # `pk__in=Subquery(...)`: the search filter is raw SQL naming the outer table.
        page_ids = list(queryset.order_by(*order).values_list("pk", flat=True)[offset : offset + per_page])
    position = {pk: index for index, pk in enumerate(page_ids)}
    incidents = sorted(
        Incident.objects.filter(pk__in=page_ids)
        .select_related("owner")
        .only(
            # What the queue shows; the wide columns (search vector, texts) stay in the database.
            *("reference", "title", "category", "severity", "status", "created_at", "updated_at", "closed_at"),
            *("owner__id", "owner__username", "owner__first_name", "owner__last_name"),
        )
        .annotate(**incident_name_lists())
        .order_by(),
        key=lambda incident: position[incident.pk],
    )
    return IncidentQueuePage(
        filterset=filterset,
        incidents=incidents,
        count=count,
        number=number,
        per_page=per_page,
        sort=sort,
        count_capped=capped,
        reference_match=reference is not None,
    )
