"""Reads for the cases app. Every selector takes the user, so visibility lives in one place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncWeek
from django.http import Http404
from django.utils import timezone

from cases.models import (
    ActionItem,
    AffectedMerchant,
    CaseEvent,
    Correspondence,
    Incident,
    IncidentDeclineCode,
    InvestigationNote,
    Merchant,
    OverviewOpen,
    OverviewOpenDelta,
    PartnerEngagement,
    RcaRequest,
    ResponseCode,
    SavedView,
    SlaClock,
)
from cases.models.incident import OPEN_STATUSES, Severity
from partners.models import Partner
from partners.selectors import partners_visible_to
from payhealth.db import Percentile, compiled, from_json, json_of, prepared_row


def incident_list_visible_to(*, user) -> QuerySet[Incident]:
    """Incidents the user may see: every incident for desk members, nothing for anyone else."""
    if not user.has_perm("cases.view_incident"):
        return Incident.objects.none()
    return Incident.objects.select_related("owner")


def incident_overview(*, user) -> dict:
    """Counts of open incidents per severity, the user's own open ones, and the newest open ones.

    Two queries whatever the size of the desk: the counts read the open-incident counters (a few
    rows per severity and owner; a viewer who sees only some incidents counts the partial index
    of open incidents, `incident_open_severity_idx`), and the most urgent fifteen are that
    index's first fifteen entries, read with the few columns the page shows.
    """
    visible = incident_list_visible_to(user=user)
    open_incidents = visible.filter(status__in=OPEN_STATUSES)
    if _sees_every_incident(visible):
        # The counters the incident table's triggers keep (`cases.overview`): a few rows per
        # severity and owner, however many incidents are open, plus the deltas not folded yet.
        # summed here: an aggregate of six filtered sums costs more to compile than to run.
        counts = dict.fromkeys(["total", "mine", *Severity.values], 0)
        for severity, owner_id, count in _open_counters():
            counts["total"] += count
            counts[severity] += count
            if owner_id == user.pk:
                counts["mine"] += count
    else:
        counts = open_incidents.order_by().aggregate(
            # Counting a column of the index (never null) keeps the scan index only.
            total=Count("severity"),
            mine=Count("severity", filter=Q(owner=user)),
            **{sev.value: Count("severity", filter=Q(severity=sev.value)) for sev in Severity},
        )
    by_severity = [(sev, counts[sev.value]) for sev in Severity]
    recent_open = open_incidents.only(
        *("reference", "title", "severity", "status", "created_at"),
        *("owner__id", "owner__username", "owner__first_name", "owner__last_name"),
    ).order_by("severity", "-created_at")[:OVERVIEW_URGENT]
    return {
        "open_total": counts["total"],
        "open_mine": counts["mine"],
        "by_severity": by_severity,
        "recent_open": list(recent_open),
    }


OVERVIEW_URGENT = 15


# The overview's trends ------------------------------------------------------------------------
TREND_WEEKS = 12


@dataclass
class WeekTrend:
    """One week (Monday to Sunday in the viewer's zone) of the overview's trends."""

    start: date
    opened: int = 0
    resolved: int = 0
    mtta: timedelta | None = None  # median, acknowledgements in the week
    mttr: timedelta | None = None  # median, resolutions in the week
    acknowledged: int = 0
    met: int = 0
    breached: int = 0

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)

    @property
    def attainment(self) -> Decimal | None:
        """met / (met + breached) as a percent with one decimal; None without an outcome."""
        whole = self.met + self.breached
        if not whole:
            return None
        return (Decimal(self.met) * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def trend_weeks_start(*, now: datetime | None = None, weeks: int = TREND_WEEKS) -> datetime:
    """Midnight of the Monday `weeks − 1` weeks before this week's, in the viewer's zone."""
    zone = timezone.get_current_timezone()
    today = timezone.localtime(now or timezone.now(), zone).date()
    first = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    return timezone.make_aware(datetime.combine(first, time.min), zone)


def incident_trends(*, user, now: datetime | None = None, weeks: int = TREND_WEEKS) -> list[WeekTrend]:
    """The last `weeks` weeks (this one included), oldest first, in the viewer's time zone.

    - opened: incidents created in the week; resolved: incidents whose `resolved_at` falls in it;
    - MTTR: median of `resolved_at − created_at` of the week's resolutions;
    - MTTA: median of our acknowledge clocks' wall time (`stopped_at − started_at`: from the
      incident's opening to its leaving "new") of those stopped met or breached in the week;
    - SLA attainment: met / (met + breached) of the clocks whose outcome fell in the week (met: stopped
      met; breached: the breach instant, or the stop of a clock stopped breached).

    One query on the hourly counters (`cases.overview`) for a viewer who sees every incident in
    a zone whose weeks start on a whole UTC hour (every zone today but a few with half-hour
    offsets); otherwise four grouped queries on the incidents and clocks. Both give the same
    figures (tests/cases/test_signals.py).
    """
    zone = timezone.get_current_timezone()
    since = trend_weeks_start(now=now, weeks=weeks)
    first = timezone.localtime(since, zone).date()
    rows = {
        first + timedelta(days=7 * index): WeekTrend(start=first + timedelta(days=7 * index)) for index in range(weeks)
    }
    visible = incident_list_visible_to(user=user).order_by()
    if _sees_every_incident(visible) and _weeks_on_utc_hours(list(rows), zone):
        return _trends_from_counters(rows, zone)
    return _trends_from_rows(rows, zone, since, visible)


def _open_counters():
    """(severity, owner id or 0, count) rows of the open-incident counters and their deltas not
    folded yet (`cases.overview`): summed, the open incidents per severity and owner."""
    return OverviewOpen.objects.values_list("severity", "owner_id", "count").union(
        OverviewOpenDelta.objects.values_list("severity", "owner_id", "count"), all=True
    )


def open_incident_count(*, user, severities=(), owner_id: int | None = None) -> int | None:
    """How many incidents are open, of `severities` (all when empty) and owned by `owner_id` (0:
    nobody; None: anyone), from the counters: a few rows summed, however many are open. None for
    a user who does not see every incident (the counters are the whole desk's)."""
    if not _sees_every_incident(incident_list_visible_to(user=user)):
        return None
    wanted = set(severities)
    return sum(
        count
        for severity, owner, count in _open_counters()
        if (not wanted or severity in wanted) and (owner_id is None or owner == owner_id)
    )


def _sees_every_incident(visible: QuerySet[Incident]) -> bool:
    """Whether `visible` is every incident: the overview's counters are the whole desk's."""
    return not visible.query.is_empty() and not visible.query.where


def _weeks_on_utc_hours(starts: list[date], zone) -> bool:
    """Whether each week of `starts` begins and ends on a whole UTC hour in `zone` (hourly
    counters then add up to the week exactly)."""
    for start in [*starts, starts[-1] + timedelta(days=7)]:
        offset = timezone.make_aware(datetime.combine(start, time.min), zone).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
    return True


# One statement, so the counts, the changes totals and any median re-computed are of one snapshot.
# Each hour is its counter plus its deltas not folded yet (`cases.overview`): a fold moves deltas
# in one statement, so the sums, the `changes` totals included, are the same before and after it.
# A week's medians are re-computed only when its `changes` total differs from the one they were
# stored with (a resolution or an acknowledgement of the week written or changed raises it), on
# the week's range of the partial indexes of resolutions and acknowledgements, and stored for the
# next reader.
TRENDS_SQL = """
WITH weeks AS MATERIALIZED (
    SELECT (date_trunc('week', h.hour AT TIME ZONE %(zone)s))::date AS week,
           sum(h.opened) AS opened, sum(h.resolved) AS resolved, sum(h.acknowledged) AS acknowledged,
           sum(h.met) AS met, sum(h.breached) AS breached, sum(h.changes) AS signature
    FROM (
        SELECT hour, opened, resolved, acknowledged, met, breached, changes FROM cases_overviewhour
        WHERE hour >= %(since)s AND hour < %(until)s
        UNION ALL
        SELECT hour, opened, resolved, acknowledged, met, breached, changes FROM cases_overviewhourdelta
        WHERE hour >= %(since)s AND hour < %(until)s
    ) AS h
    GROUP BY 1
),
cached AS MATERIALIZED (
    SELECT m.week, m.mtta, m.mttr FROM cases_overviewweekmedian m
    JOIN weeks w ON w.week = m.week AND w.signature = m.signature
    WHERE m.zone = %(zone)s AND m.week >= %(first)s
),
stale AS MATERIALIZED (
    SELECT w.week, w.signature, (w.week::timestamp AT TIME ZONE %(zone)s) AS lo,
           ((w.week + 7)::timestamp AT TIME ZONE %(zone)s) AS hi
    FROM weeks w WHERE w.week NOT IN (SELECT week FROM cached)
),
computed AS MATERIALIZED (
    SELECT s.week, s.signature,
        (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY c.stopped_at - c.started_at) FROM cases_slaclock c
         WHERE c.family = 'ours' AND c.metric = 'acknowledge' AND c.state IN ('met', 'breached')
           AND c.stopped_at >= s.lo AND c.stopped_at < s.hi) AS mtta,
        (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY i.resolved_at - i.created_at) FROM cases_incident i
         WHERE i.resolved_at >= s.lo AND i.resolved_at < s.hi) AS mttr
    FROM stale s
),
stored AS (
    INSERT INTO cases_overviewweekmedian AS m (zone, week, signature, mtta, mttr)
    SELECT %(zone)s, week, signature, mtta, mttr FROM computed ORDER BY week
    ON CONFLICT (zone, week) DO UPDATE SET signature = EXCLUDED.signature, mtta = EXCLUDED.mtta,
        mttr = EXCLUDED.mttr
    WHERE m.signature < EXCLUDED.signature
)
SELECT w.week, w.opened, w.resolved, w.acknowledged, w.met, w.breached,
       coalesce(c.mtta, n.mtta), coalesce(c.mttr, n.mttr)
FROM weeks w LEFT JOIN cached c ON c.week = w.week LEFT JOIN computed n ON n.week = w.week
"""


def _trends_from_counters(rows: dict[date, WeekTrend], zone) -> list[WeekTrend]:
    first = min(rows)
    until = timezone.make_aware(datetime.combine(max(rows) + timedelta(days=7), time.min), zone)
    since = timezone.make_aware(datetime.combine(first, time.min), zone)
    with connection.cursor() as cursor:
        name = getattr(zone, "key", None) or str(zone)  # a zoneinfo zone's name, as PostgreSQL knows it
        cursor.execute(TRENDS_SQL, {"zone": name, "since": since, "until": until, "first": first})
        for start, opened, resolved, acknowledged, met, breached, mtta, mttr in cursor.fetchall():
            if (week := rows.get(start)) is not None:
                week.opened, week.resolved, week.acknowledged = int(opened), int(resolved), int(acknowledged)
                week.met, week.breached = int(met), int(breached)
                week.mtta = mtta if acknowledged else None
                week.mttr = mttr if resolved else None
    return list(rows.values())


def _trends_from_rows(rows: dict[date, WeekTrend], zone, since: datetime, visible) -> list[WeekTrend]:
    """The trends grouped from the incidents and clocks themselves (four queries)."""

    def week_of(value: datetime) -> date:
        return timezone.localtime(value, zone).date()

    for row in (
        visible.filter(created_at__gte=since)
        .annotate(week=TruncWeek("created_at", tzinfo=zone))
        .values("week")
        .annotate(opened=Count("id"))
    ):
        if (week := rows.get(week_of(row["week"]))) is not None:
            week.opened = row["opened"]
    for row in (
        visible.filter(resolved_at__gte=since)
        .annotate(week=TruncWeek("resolved_at", tzinfo=zone))
        .values("week")
        .annotate(resolved=Count("resolved_at"), mttr=Percentile(F("resolved_at") - F("created_at"), 0.5))
    ):
        if (week := rows.get(week_of(row["week"]))) is not None:
            week.resolved, week.mttr = row["resolved"], row["mttr"]

    clocks = _clocks_of_visible_incidents(visible)
    for row in (
        clocks.filter(
            family=SlaClock.Family.OURS,
            metric=SlaClock.Metric.ACKNOWLEDGE,
            state__in=[SlaClock.State.MET, SlaClock.State.BREACHED],
            stopped_at__gte=since,
        )
        .annotate(week=TruncWeek("stopped_at", tzinfo=zone))
        .values("week")
        .annotate(acknowledged=Count("stopped_at"), mtta=Percentile(F("stopped_at") - F("started_at"), 0.5))
    ):
        if (week := rows.get(week_of(row["week"]))) is not None:
            week.acknowledged, week.mtta = row["acknowledged"], row["mtta"]

    met = Q(state=SlaClock.State.MET)
    breached = Q(state=SlaClock.State.BREACHED) | Q(breached_at__isnull=False)
    outcome_at = Case(
        When(met, then=F("stopped_at")),
        When(breached, then=Coalesce("breached_at", "stopped_at")),
        output_field=DateTimeField(),
    )
    # The same rows as `outcome_at >= since`, written so that each branch is a range of its
    # partial index (`slaclock_met_stopped_idx`, `slaclock_breach_outcome_idx`): a filter on
    # the CASE itself reads every clock ever started.
    recent_outcome = (met & Q(stopped_at__gte=since)) | (~met & breached & Q(breach_outcome_at__gte=since))
    for row in (
        clocks.alias(breach_outcome_at=Coalesce("breached_at", "stopped_at"))
        .filter(recent_outcome)
        .annotate(outcome_at=outcome_at)
        .annotate(week=TruncWeek("outcome_at", tzinfo=zone))
        .values("week")
        .annotate(met=Count("id", filter=met), breached=Count("id", filter=~met))
    ):
        if (week := rows.get(week_of(row["week"]))) is not None:
            week.met, week.breached = row["met"], row["breached"]
    return list(rows.values())


def _clocks_of_visible_incidents(visible: QuerySet[Incident]) -> QuerySet[SlaClock]:
    """The SLA clocks of the incidents in `visible`.

    Visibility is all or nothing today (`incident_list_visible_to`): for someone who sees
    every incident, a semi-join to the whole incident table would only cost a scan of it, so
    it is left out; any narrower visibility joins.
    """
    if visible.query.is_empty():
        return SlaClock.objects.none()
    if visible.query.where:
        return SlaClock.objects.filter(incident__in=visible.values("pk")).order_by()
    return SlaClock.objects.order_by()


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


def incident_resolution_proposal(*, user, incident: Incident) -> CaseEvent | None:
    """The latest proposal to resolve (a recovered detector finding) made since the incident's
    last status change, or None: a reopened incident shows none until a new one comes."""
    if not user.has_perm("cases.view_caseevent"):
        return None
    latest = (
        CaseEvent.objects.filter(
            incident=incident, kind__in=[CaseEvent.Kind.RESOLUTION_PROPOSED, CaseEvent.Kind.STATUS_CHANGED]
        )
        .select_related("actor")
        .order_by("-created_at", "-id")
        .first()
    )
    return latest if latest is not None and latest.kind == CaseEvent.Kind.RESOLUTION_PROPOSED else None


def incident_notes(*, user, incident: Incident) -> QuerySet[InvestigationNote]:
    """Investigation notes in the order they were written, each with its author."""
    if not user.has_perm("cases.view_investigationnote"):
        return InvestigationNote.objects.none()
    return incident.notes.select_related("author").order_by("created_at", "id")


def incident_feed_messages(*, user, incident: Incident) -> QuerySet[Correspondence]:
    """The partner messages the activity feed shows: sent or on their way, failed, and received
    (drafts and those awaiting approval stay on the messages section), each with its partner."""
    if not user.has_perm("cases.view_correspondence"):
        return Correspondence.objects.none()
    return (
        Correspondence.objects.filter(incident=incident)
        .exclude(status__in=[Correspondence.Status.DRAFT, Correspondence.Status.PENDING_APPROVAL])
        .select_related("engagement__partner", "created_by")
        .defer("body_text", "body_html", "references", "candidates")
        .order_by("-created_at", "-id")
    )


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


# What the page never shows of a person (the login's secrets stay in the database).
_USER_ROW = (get_user_model(), ("password",))


# The activity feed shows its newest FEED_PAGE entries (all of them on request); under "all", an
# event that only repeats an entry the feed shows itself (the note) is left out.
FEED_PAGE = 50
FEED_REPEATS = (CaseEvent.Kind.NOTE_ADDED,)
# What the resolution proposal is read from: the newest of these events.
_PROPOSAL_KINDS = (CaseEvent.Kind.RESOLUTION_PROPOSED, CaseEvent.Kind.STATUS_CHANGED)


@dataclass
class IncidentPageLists:
    """The incident page's lists, each as its own selector above returns it (empty where the user
    may not see it).

    `events` is the timeline newest first: all of it, or only its newest FEED_PAGE events when the
    lists are read for the feed's first page (`feed_limit`); `feed_events` the same without the
    events that repeat a note; `event_count` and `feed_event_count` count them all either way;
    `proposal` is the newest resolution proposal or status change."""

    merchants: list[AffectedMerchant]
    engagements: list[PartnerEngagement]
    events: list[CaseEvent]
    feed_events: list[CaseEvent]
    event_count: int
    feed_event_count: int
    proposal: CaseEvent | None
    notes: list[InvestigationNote]
    messages: list[Correspondence]
    decline_rows: list[IncidentDeclineCode]
    meanings: dict[str, list[ResponseCode]]
    rcas: list[RcaRequest]
    action_items: list[ActionItem]
    owner_choices: list | None  # who may own incidents, for a user who may change the owner


_PAGE_LIST_PERMISSIONS = (
    "cases.view_affectedmerchant",
    "cases.view_partnerengagement",
    "cases.view_caseevent",
    "cases.view_investigationnote",
    "cases.view_correspondence",
    "cases.change_incident",
)
_PAGE_LIST_SENTINEL = -7_000_000_001  # the incident id the cached SQL is compiled with
_page_list_queries: dict[tuple, tuple[str, list, int, dict]] = {}


def _page_list_query(user, feed_limit: int | None) -> tuple[str, list, int, dict]:
    """The SQL of `incident_page_lists` for what this user may see, compiled once per process per
    set of permissions and feed limit (building and compiling a query of this size costs more
    than running it): the SQL, its parameters, the index of the incident id among them, and each
    list's model."""
    held = tuple(user.has_perm(permission) for permission in _PAGE_LIST_PERMISSIONS)
    key = (*held, feed_limit)
    if key in _page_list_queries:
        return _page_list_queries[key]
    allowed = {permission for permission, has in zip(_PAGE_LIST_PERMISSIONS, held, strict=True) if has}
    user_model, user_exclude = _USER_ROW
    lists = {
        "decline_rows": (
            IncidentDeclineCode.objects.filter(incident=OuterRef("pk")).order_by("id"),
            IncidentDeclineCode,
            {},
        ),
        "meanings": (
            # The codes of the incident's `decline_codes` array, as `response_codes_by_code` reads them.
            ResponseCode.objects.filter(
                Func(
                    F("code"),
                    OuterRef("decline_codes"),
                    arg_joiner=" = ANY(",
                    template="%(expressions)s)",
                    output_field=BooleanField(),
                )
            )
            .exclude(scheme__in=ResponseCode.ADVICE_SCHEMES)
            .order_by("scheme", "code"),
            ResponseCode,
            {},
        ),
        "rcas": (
            RcaRequest.objects.filter(incident=OuterRef("pk")).order_by("requested_at", "pk"),
            RcaRequest,
            {"engagement": (PartnerEngagement, (), {"partner": (Partner, ())}), "decided_by": (*_USER_ROW, {})},
        ),
        "action_items": (
            ActionItem.objects.filter(incident=OuterRef("pk")).order_by("due_date", "pk"),
            ActionItem,
            {"owner": _USER_ROW, "partner": (Partner, ())},
        ),
    }
    if _held(allowed, "cases.view_affectedmerchant"):
        lists["merchants"] = (
            AffectedMerchant.objects.filter(incident=OuterRef("pk")).order_by("merchant__name", "id"),
            AffectedMerchant,
            {"merchant": (Merchant, ())},
        )
    if _held(allowed, "cases.view_partnerengagement"):
        lists["engagements"] = (
            PartnerEngagement.objects.filter(incident=OuterRef("pk")).order_by("partner__name", "id"),
            PartnerEngagement,
            {"partner": (Partner, ())},
        )
    counts = {}
    if _held(allowed, "cases.view_caseevent"):
        events = CaseEvent.objects.filter(incident=OuterRef("pk")).order_by("-created_at", "-id")
        lists["events"] = (events, CaseEvent, {"actor": _USER_ROW})
        if feed_limit is not None:  # the newest only, the counts apart, and the proposal's event
            # The ids are chosen first and only their rows are turned into JSON: the planner, which
            # cannot know that an incident has thousands of events, would otherwise build every
            # row's JSON before sorting them to keep the newest.
            mine = CaseEvent.objects.filter(incident=OuterRef(OuterRef("pk"))).order_by("-created_at", "-id")

            def newest(rows, count: int):
                chosen = CaseEvent.objects.filter(pk__in=rows.values("pk")[:count])
                return (chosen.order_by("-created_at", "-id"), CaseEvent, {"actor": _USER_ROW})

            lists["events"] = newest(mine, feed_limit)
            lists["feed_events"] = newest(mine.exclude(kind__in=FEED_REPEATS), feed_limit)
            lists["proposal"] = newest(mine.filter(kind__in=_PROPOSAL_KINDS), 1)
            counted = CaseEvent.objects.filter(incident=OuterRef("pk")).order_by().values("incident")
            counts["event_count"] = counted.annotate(n=Count("id")).values("n")
            counts["feed_event_count"] = counted.exclude(kind__in=FEED_REPEATS).annotate(n=Count("id")).values("n")
    if _held(allowed, "cases.view_investigationnote"):
        lists["notes"] = (
            InvestigationNote.objects.filter(incident=OuterRef("pk")).order_by("created_at", "id"),
            InvestigationNote,
            {"author": _USER_ROW},
        )
    if _held(allowed, "cases.view_correspondence"):
        lists["messages"] = (
            Correspondence.objects.filter(incident=OuterRef("pk"))
            .exclude(status__in=[Correspondence.Status.DRAFT, Correspondence.Status.PENDING_APPROVAL])
            .order_by("-created_at", "-id"),
            Correspondence,
            {"engagement": (PartnerEngagement, (), {"partner": (Partner, ())}), "created_by": _USER_ROW},
            ("body_text", "body_html", "references", "candidates"),
        )
    if _held(allowed, "cases.change_incident"):
        lists["owner_choices"] = (incident_owner_choices(user=user), user_model, {}, user_exclude)
    annotations = {}
    for name, (rows, model, related, *exclude) in lists.items():
        annotations[f"page_{name}"] = ArraySubquery(
            rows.values(json=json_of(model, exclude=exclude[0] if exclude else (), related=related))
        )
    for name, count in counts.items():
        annotations[name] = Coalesce(Subquery(count), 0)
    query = Incident.objects.filter(pk=_PAGE_LIST_SENTINEL).values(**annotations).query
    sql, params = query.sql_with_params()
    params = list(params)
    compiled = (
        sql,
        params,
        params.index(_PAGE_LIST_SENTINEL),
        {f"page_{name}": spec[1] for name, spec in lists.items()},
    )
    _page_list_queries[key] = compiled
    return compiled


def _held(allowed: set[str], permission: str) -> bool:
    return permission in allowed


def incident_page_lists(*, user, incident: Incident, feed_limit: int | None = None) -> IncidentPageLists:
    """Every list the incident page shows, read in one query.

    Each list is an array of JSON rows computed by PostgreSQL for this incident (`json_of`), so a
    page costs one round trip for them, whatever their sizes, instead of one per list. The rows,
    orders and visibility are those of `incident_affected_merchants`, `incident_engagements`,
    `incident_timeline`, `incident_notes`, `incident_feed_messages` and `incident_decline_lines`.
    With `feed_limit`, only the timeline's newest `feed_limit` events are read (an incident a
    monitor updates every minute has thousands), and their counts beside them.
    """
    sql, params, at, models = _page_list_query(user, feed_limit)
    params = [*params[:at], incident.pk, *params[at + 1 :]]
    values = prepared_row(sql, params) or {}
    joined: dict = {}  # the joined rows that recur (authors, partners) made once
    read = {
        name[len("page_") :]: [from_json(model, item, joined=joined) for item in values.get(name) or []]
        for name, model in models.items()
    }
    meanings: dict[str, list[ResponseCode]] = {code: [] for code in dict.fromkeys(incident.decline_codes) if code}
    for row in read["meanings"]:
        meanings.setdefault(row.code, []).append(row)
    events = read.get("events", [])
    if "feed_events" in read:
        feed_events, proposal = read["feed_events"], next(iter(read["proposal"]), None)
        event_count, feed_event_count = values["event_count"], values["feed_event_count"]
    else:
        feed_events = [event for event in events if event.kind not in FEED_REPEATS]
        proposal = next((event for event in events if event.kind in _PROPOSAL_KINDS), None)
        event_count, feed_event_count = len(events), len(feed_events)
    return IncidentPageLists(
        merchants=read.get("merchants", []),
        engagements=read.get("engagements", []),
        events=events,
        feed_events=feed_events,
        event_count=event_count,
        feed_event_count=feed_event_count,
        proposal=proposal,
        notes=read.get("notes", []),
        messages=read.get("messages", []),
        decline_rows=read["decline_rows"],
        meanings=meanings,
        rcas=read["rcas"],
        action_items=read["action_items"],
        owner_choices=read.get("owner_choices"),
    )


def response_codes_by_code(*, codes) -> dict[str, list[ResponseCode]]:
    """What each code means, in one query: a code may exist in several schemes (ISO 8583 "05", Stripe)."""
    wanted = [code for code in dict.fromkeys(codes) if code]
    found: dict[str, list[ResponseCode]] = {code: [] for code in wanted}
    if not wanted:
        return found
    rows = ResponseCode.objects.filter(code__in=wanted).exclude(scheme__in=ResponseCode.ADVICE_SCHEMES)
    for row in rows.order_by("scheme", "code"):
        found[row.code].append(row)
    return found


SHARE_STEP = Decimal("0.001")  # a share to a tenth of a percent


def decline_share(count: int | None, total: int) -> Decimal | None:
    """`count` of `total` declines as a share rounded half up to 0.1 %; None when not measured."""
    if count is None or not total:
        return None
    return (Decimal(count) / Decimal(total)).quantize(SHARE_STEP, rounding=ROUND_HALF_UP)


@dataclass
class DeclineCodeLine:
    """One code seen on an incident: what it means (one row per scheme that has it), its counts
    before and during, and its share of the declines counted in each period."""

    code: str
    meanings: list[ResponseCode]
    row: IncidentDeclineCode | None
    count_before: int | None = None
    count_during: int | None = None
    share_before: Decimal | None = None
    share_during: Decimal | None = None


def incident_decline_lines(*, incident: Incident, rows=None, meanings=None) -> list[DeclineCodeLine]:
    """The incident's codes seen, in their order, with meanings, counts and shares. A period's
    shares are over the codes counted in it: before only where the count before is known.
    `rows` and `meanings`, when given, are the incident's decline-code rows and what its codes mean
    (`incident_page_lists` reads them with the page's other lists)."""
    codes = list(dict.fromkeys(incident.decline_codes))
    if rows is None:
        rows = IncidentDeclineCode.objects.filter(incident=incident)
    rows = {row.code: row for row in rows}
    if meanings is None:
        meanings = response_codes_by_code(codes=codes)
    total_before = sum(row.count_before for row in rows.values() if row.code in codes and row.count_before is not None)
    total_during = sum(row.count_during for row in rows.values() if row.code in codes)
    lines = []
    for code in codes:
        row = rows.get(code)
        before = row.count_before if row is not None else None
        # Nothing counted during for any code: codes typed in without figures, not zero declines.
        during = row.count_during if row is not None and total_during else None
        lines.append(
            DeclineCodeLine(
                code=code,
                meanings=meanings.get(code, []),
                row=row,
                count_before=before,
                count_during=during,
                share_before=decline_share(before, total_before),
                share_during=decline_share(during, total_during),
            )
        )
    return lines


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


def incident_owner_list(*, user) -> list:
    """`incident_owner_choices` read as a list (the queue's owner filter), by a query compiled once
    per process: building the ORM query cost more than running it, on every queue page."""
    user_model, exclude = _USER_ROW
    query = compiled(
        "cases:incident-owners",
        lambda: incident_owner_choices(user=user).values(row=json_of(user_model, exclude=exclude)),
    )
    return [from_json(user_model, row) for (row,) in query.rows()]


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


def saved_views_of(*, user) -> QuerySet[SavedView]:
    """The user's own saved views; nobody ever sees another user's."""
    if not user.is_authenticated:
        return SavedView.objects.none()
    return SavedView.objects.filter(owner=user).order_by("name", "id")
