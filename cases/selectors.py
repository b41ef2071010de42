"""Reads for the cases app. Every selector takes the user, so visibility lives in one place."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import BooleanField, Case, Count, F, OuterRef, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from cases.filters import IncidentFilterSet
from cases.models import (
    AffectedMerchant,
    CaseEvent,
    Incident,
    InvestigationNote,
    Merchant,
    PartnerEngagement,
    ResponseCode,
    SavedView,
)
from cases.models.incident import OPEN_STATUSES, Severity, Status
from partners.models import Partner
from partners.selectors import partners_visible_to
from payhealth.db import Percentile
from payhealth.web import PageNumbers


def incident_list_visible_to(*, user) -> QuerySet[Incident]:
    """Incidents the user may see: every incident for desk members, nothing for anyone else."""
    if not user.has_perm("cases.view_incident"):
        return Incident.objects.none()
    return Incident.objects.select_related("owner")


def incident_overview(*, user) -> dict:
    """Counts of open incidents per severity, the user's own open ones, and the newest open ones."""
    visible = incident_list_visible_to(user=user)
    open_incidents = visible.filter(status__in=OPEN_STATUSES)
    counts = open_incidents.aggregate(
        total=Count("id"),
        mine=Count("id", filter=Q(owner=user)),
        **{sev.value: Count("id", filter=Q(severity=sev.value)) for sev in Severity},
    )
    by_severity = [(sev, counts[sev.value]) for sev in Severity]
    return {
        "open_total": counts["total"],
        "open_mine": counts["mine"],
        "by_severity": by_severity,
        "recent_open": list(open_incidents.order_by("severity", "-created_at")[:15]),
    }


# Merchants ---------------------------------------------------------------------------------
# "Recent" means opened in the last RECENT_DAYS days; merchant and partner pages share it.
RECENT_DAYS = 90


def recent_since(*, now: datetime | None = None) -> datetime:
    """The start of the "last 90 days" window the directory pages count incidents in."""
    return (now or timezone.now()) - timedelta(days=RECENT_DAYS)


def merchant_list_visible_to(*, user) -> QuerySet[Merchant]:
    """Merchants the user may see, each annotated with its open and recent incident counts.

    Both counts come from the one grouped query (an incident affects a merchant at most once,
    `affectedmerchant_unique`, so counting impact rows counts incidents): a page of 100
    merchants costs the same queries as a page of 10. Busiest first, then by name.
    """
    if not user.has_perm("cases.view_merchant"):
        return Merchant.objects.none()
    since = recent_since()
    return Merchant.objects.annotate(
        open_incidents=Count("impacts", filter=Q(impacts__incident__status__in=OPEN_STATUSES)),
        recent_incidents=Count("impacts", filter=Q(impacts__incident__created_at__gte=since)),
    ).order_by("-open_incidents", "name", "pk")


def merchant_figures(*, merchant: Merchant) -> dict:
    """Money at risk on the merchant's open incidents per currency, and its worst recent drop.

    Amounts in different currencies are never added together. The worst drop is the largest
    baseline − observed approval rate measured on an incident opened in the last 90 days, with
    that incident, so the page can link to it.
    """
    impacts = AffectedMerchant.objects.filter(merchant=merchant)
    volume_at_risk = list(
        impacts.filter(incident__status__in=OPEN_STATUSES, volume_at_risk__gt=0)
        .values("currency")
        .annotate(total=Sum("volume_at_risk"))
        .order_by("currency")
    )
    worst = (
        impacts.filter(
            incident__created_at__gte=recent_since(), baseline_rate__isnull=False, observed_rate__isnull=False
        )
        .annotate(drop=F("baseline_rate") - F("observed_rate"))
        .filter(drop__gt=0)
        .select_related("incident")
        .order_by("-drop", "-incident__created_at")
        .first()
    )
    return {"volume_at_risk": volume_at_risk, "worst_drop": worst}


def merchant_impact_rows(*, merchant: Merchant) -> QuerySet[AffectedMerchant]:
    """The merchant's incidents with what was measured for it on each: open ones first, then newest."""
    return (
        AffectedMerchant.objects.filter(merchant=merchant)
        .select_related("incident")
        .annotate(
            incident_is_open=Case(
                When(incident__status__in=OPEN_STATUSES, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
            baseline_percent=F("baseline_rate") * 100,
            observed_percent=F("observed_rate") * 100,
        )
        .order_by("-incident_is_open", "-incident__created_at", "-incident_id")
    )


# Partners ------------------------------------------------------------------------------------


def partner_directory(*, user) -> QuerySet[Partner]:
    """Partners the user may see, each annotated with its open and recent incident counts.

    An incident engages a partner at most once (`engagement_one_per_partner`), so counting
    engagement rows counts incidents; one grouped query whatever the page size. Every
    engagement counts, "not involved" ones included: the page lists them with that status.
    """
    since = recent_since()
    return (
        partners_visible_to(user=user)
        .annotate(
            open_incidents=Count("engagements", filter=Q(engagements__incident__status__in=OPEN_STATUSES)),
            recent_incidents=Count("engagements", filter=Q(engagements__incident__created_at__gte=since)),
        )
        .order_by("-open_incidents", "name", "pk")
    )


def partner_figures(*, partner: Partner) -> dict:
    """Acknowledgement figures over engagements first notified in the last 90 days.

    The median time to acknowledge runs from `first_notified_at` to `acknowledged_at`; an
    acknowledgement recorded before our first notice (the partner told us first) is not a
    response time and is left out of the median, though it still counts as acknowledged.
    """
    notified_recently = Q(first_notified_at__gte=recent_since())
    acknowledged = notified_recently & Q(acknowledged_at__isnull=False)
    return PartnerEngagement.objects.filter(partner=partner).aggregate(
        notified=Count("pk", filter=notified_recently),
        acknowledged=Count("pk", filter=acknowledged),
        median_time_to_acknowledge=Percentile(
            F("acknowledged_at") - F("first_notified_at"),
            0.5,
            filter=acknowledged & Q(acknowledged_at__gte=F("first_notified_at")),
        ),
    )


def partner_engagement_rows(*, partner: Partner) -> QuerySet[PartnerEngagement]:
    """The partner's incidents with its status and folio on each: open incidents first, then newest."""
    return (
        PartnerEngagement.objects.filter(partner=partner)
        .select_related("incident")
        .annotate(
            incident_is_open=Case(
                When(incident__status__in=OPEN_STATUSES, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .order_by("-incident_is_open", "-incident__created_at", "-incident_id")
    )


# Incident page -------------------------------------------------------------------------------
# Each reader is one query whatever the number of rows, so the page costs the same for an
# incident with 2 merchants and 5 events as for one with 20 merchants and 200 events.


def incident_visible_by_reference(*, user, reference: str) -> Incident | None:
    """The incident with this reference if the user may see it, with its owner and author."""
    return (
        incident_list_visible_to(user=user)
        .select_related("created_by")
        .filter(reference=(reference or "").strip().upper())
        .first()
    )


def incident_visible_or_404(*, user, reference: str) -> Incident:
    """The incident the user may see, else Http404 (also for one that exists but is not visible,
    and for a reference no incident can have)."""
    if not reference or "\x00" in reference or len(reference) > 64:
        raise Http404
    incident = incident_visible_by_reference(user=user, reference=reference)
    if incident is None:
        raise Http404
    return incident


def incident_timeline(*, user, incident: Incident) -> QuerySet[CaseEvent]:
    """The incident's timeline, newest first, each event with its actor."""
    if not user.has_perm("cases.view_caseevent"):
        return CaseEvent.objects.none()
    return CaseEvent.objects.filter(incident=incident).select_related("actor").order_by("-created_at", "-id")


def incident_notes(*, user, incident: Incident) -> QuerySet[InvestigationNote]:
    """Investigation notes in the order they were written, each with its author."""
    if not user.has_perm("cases.view_investigationnote"):
        return InvestigationNote.objects.none()
    return incident.notes.select_related("author").order_by("created_at", "id")


def incident_affected_merchants(*, user, incident: Incident) -> QuerySet[AffectedMerchant]:
    """Affected merchants by name, with the excess declines the database computed."""
    if not user.has_perm("cases.view_affectedmerchant"):
        return AffectedMerchant.objects.none()
    return incident.affected_merchants.select_related("merchant").order_by("merchant__name", "id")


def incident_engagements(*, user, incident: Incident) -> QuerySet[PartnerEngagement]:
    """Partners engaged on the incident, by name."""
    if not user.has_perm("cases.view_partnerengagement"):
        return PartnerEngagement.objects.none()
    return incident.engagements.select_related("partner").order_by("partner__name", "id")


def response_codes_by_code(*, codes) -> dict[str, list[ResponseCode]]:
    """What each code means, in one query: a code may exist in several schemes (ISO 8583 "05", Stripe)."""
    wanted = [code for code in dict.fromkeys(codes) if code]
    found: dict[str, list[ResponseCode]] = {code: [] for code in wanted}
    if not wanted:
        return found
    for row in ResponseCode.objects.filter(code__in=wanted).order_by("scheme", "code"):
        found[row.code].append(row)
    return found


def incident_owner_choices(*, user) -> QuerySet:
    """Active users who may own incidents (a desk role, a direct permission, or superuser)."""
    users = get_user_model().objects.filter(is_active=True)
    can_own = (
        Q(is_superuser=True)
        | Q(groups__permissions__codename="change_incident", groups__permissions__content_type__app_label="cases")
        | Q(user_permissions__codename="change_incident", user_permissions__content_type__app_label="cases")
    )
    ids = users.filter(can_own).values("pk")
    return users.filter(pk__in=ids).order_by("first_name", "last_name", "username")


def merchants_addable_to(*, user, incident: Incident) -> QuerySet[Merchant]:
    """Merchants not yet recorded on the incident, by name."""
    if not user.has_perm("cases.view_merchant"):
        return Merchant.objects.none()
    return Merchant.objects.exclude(impacts__incident=incident).order_by("name")


def partners_engageable_on(*, user, incident: Incident) -> QuerySet[Partner]:
    """Active partners not yet engaged on the incident, by name."""
    if not user.has_perm("partners.view_partner"):
        return Partner.objects.none()
    return Partner.objects.filter(active=True).exclude(engagements__incident=incident).order_by("name")


# --- The incident queue -------------------------------------------------------------------------

QUEUE_PAGE_SIZES = (25, 50, 100)
QUEUE_DEFAULT_SORT = "-created"
# Sort keys of the queue's `sort` parameter; anything else falls back to the default.
QUEUE_SORTS = ("reference", "severity", "status", "created", "updated", "owner")


def incident_name_lists() -> dict:
    """`partner_names` and `merchant_names` annotations: the names a list of incidents shows, as
    arrays computed per row in the list's one query. Cheaper than prefetching (and instantiating)
    every engagement and affected-merchant row."""
    return {
        "partner_names": ArraySubquery(
            PartnerEngagement.objects.filter(incident=OuterRef("pk"))
            .order_by("partner__name", "id")
            .values("partner__name")
        ),
        "merchant_names": ArraySubquery(
            AffectedMerchant.objects.filter(incident=OuterRef("pk"))
            .order_by("merchant__name", "id")
            .values("merchant__name")
        ),
    }


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


def _count_matches(queryset, *, cap: int) -> tuple[int, bool]:
    """(count, capped): an exact count when few rows are expected, else count up to `cap`.

    Measured on 100,000 incidents: an exact count of a broad search or network filter reads
    ~11,000 wide rows (150–200 ms); counting the newest `cap` matches walks the created_at
    index and stops early (a few ms). Few expected matches are counted exactly: bitmap plans
    are fast there, while a LIMIT would tempt the planner into walking the whole index when
    its guess is too high (a rare two-word search is guessed at ~2,000 rows and has 5).
    """
    plan = json.loads(queryset.order_by().values("pk").explain(format="json"))
    if plan[0]["Plan"]["Plan Rows"] <= QUEUE_EXACT_COUNT_ESTIMATE:
        return queryset.order_by().count(), False
    count = queryset.order_by("-created_at", "-id").values("pk")[: cap + 1].count()
    return min(count, cap), count > cap


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
        "status": [Case(*(When(status=value, then=Value(rank)) for rank, value in enumerate(Status.values)))],
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
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def incident_queue(*, user, params) -> IncidentQueuePage:
    """The analysts' queue: filtered, sorted and paginated incidents visible to `user`.

    Runs the same queries whatever the page size: the filter form's choices, one COUNT, one
    for the page's ids and one for its rows (owner joined, partner and merchant names
    aggregated). Invalid filters list nothing rather than silently widen to every incident.
    With a costly filter (QUEUE_COSTLY_COUNT_FILTERS) the count stops at QUEUE_COUNT_CAP.
    """
    filterset = IncidentFilterSet(params, queryset=incident_list_visible_to(user=user), user=user)
    sort = params.get("sort") or QUEUE_DEFAULT_SORT
    if sort.lstrip("-") not in QUEUE_SORTS or sort.count("-") > 1:
        sort = QUEUE_DEFAULT_SORT
    per_page = _positive_int(params.get("per_page"), QUEUE_PAGE_SIZES[0])
    if per_page not in QUEUE_PAGE_SIZES:
        per_page = QUEUE_PAGE_SIZES[0]
    number = _positive_int(params.get("page"), 1)
    if not filterset.is_valid():
        return IncidentQueuePage(filterset=filterset, incidents=[], count=0, number=1, per_page=per_page, sort=sort)

    queryset = filterset.qs
    if any(filterset.form.cleaned_data.get(name) for name in QUEUE_COSTLY_COUNT_FILTERS):
        count, capped = _count_matches(queryset, cap=max(QUEUE_COUNT_CAP, number * per_page))
    else:
        count, capped = queryset.order_by().count(), False
    last_page = max(1, -(-count // per_page))
    number = min(number, last_page)
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
    )


def saved_views_of(*, user) -> QuerySet[SavedView]:
    """The user's own saved views; nobody ever sees another user's."""
    if not user.is_authenticated:
        return SavedView.objects.none()
    return SavedView.objects.filter(owner=user).order_by("name", "id")
