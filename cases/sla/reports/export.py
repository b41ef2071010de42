"""Every report table as CSV: translated headers, durations in decimal hours, ISO 8601 instants.

Written for spreadsheets: the view prefixes a UTF-8 byte order mark so Excel reads accents
right; numbers use a point whatever the language, so the columns stay numeric. A text cell that
a spreadsheet would read as a formula (it starts with = + - @, a tab or a carriage return) is
written with a leading apostrophe.

The breach list is the one table whose size grows with the desk (a year of a busy desk: hundreds
of thousands of rows), so it is read differently from the page's 50-row breach list: ONE query
through a server-side cursor, the breach event's facts joined LATERALly (one index probe per row
inside the query instead of a correlated subquery), walked in the order of an index
(`slaclock_breach_order_idx`) so nothing is sorted, and rows written with label dictionaries
built once per export in the requester's language. docs/performance.md, "Breach CSV", has the
measurements and plans.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator

from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import SlaClock, SlaClockEvent
from cases.models.incident import Severity, Status
from cases.sla.reports.extensions import scorecard_columns
from cases.sla.reports.filters import ReportFilter
from cases.sla.reports.selectors import (
    BREACHED,
    clocks_in_range,
    reports_allowed,
    sla_attainment_all,
    sla_partner_scorecard,
    sla_time_to,
)

TABLES = ("attainment", "time_to", "breaches", "scorecard")


def hours(value: dt.timedelta | None) -> str:
    """A duration as decimal hours with two decimals ("1.25"); empty when there is none."""
    if value is None:
        return ""
    return f"{value.total_seconds() / 3600:.2f}"


def instant(value: dt.datetime | None) -> str:
    """An instant in ISO 8601 with the offset of the current (the viewer's) time zone."""
    if value is None:
        return ""
    return timezone.localtime(value).isoformat(timespec="seconds")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BREACH_FETCH_ROWS = 2000  # rows per round trip from the server-side cursor
FACTS_CACHE_SIZE = 10_000  # distinct breach facts whose cells an export keeps


def text_cell(value: str) -> str:
    """A text cell a spreadsheet shows as text, never runs as a formula (OWASP "CSV Injection")."""
    return f"'{value}" if value.startswith(FORMULA_START) else value


def _percent(value) -> str:
    return "" if value is None else f"{value:.1f}"


def _dimension_labels() -> dict[str, str]:
    return {"severity": _("Severity"), "partner": _("Partner"), "owner": _("Owner"), "month": _("Month")}


def attainment_table(*, user, filters: ReportFilter) -> tuple[list[str], Iterator[list[str]]]:
    header = [_("Dimension"), _("Value"), _("Metric"), _("Clocks"), _("Met"), _("Breached"), _("Attainment (%)")]

    def rows():
        labels = _dimension_labels()
        for dimension, found in sla_attainment_all(user=user, filters=filters).items():
            for row in found:
                value = row.key if dimension == "month" else row.label
                yield [
                    labels[dimension],
                    value,
                    row.metric_label,
                    str(row.clocks),
                    str(row.met),
                    str(row.breached),
                    _percent(row.attainment),
                ]

    return header, rows()


def time_to_table(*, user, filters: ReportFilter) -> tuple[list[str], Iterator[list[str]]]:
    header = [
        _("Metric"),
        _("Severity"),
        _("Clocks"),
        _("Wall time median (h)"),
        _("Wall time p90 (h)"),
        _("Business time median (h)"),
        _("Business time p90 (h)"),
    ]

    def rows():
        for row in sla_time_to(user=user, filters=filters):
            yield [
                row.metric_label,
                row.severity_label,
                str(row.clocks),
                hours(row.wall_p50),
                hours(row.wall_p90),
                hours(row.business_p50),
                hours(row.business_p90),
            ]

    return header, rows()


def _offset_text(seconds: int) -> str:
    """A UTC offset as `datetime.isoformat()` writes it: +HH:MM, with :SS when it has seconds."""
    sign = "-" if seconds < 0 else "+"
    hours_part, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours_part:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def breach_export_sql(*, filters: ReportFilter, now: dt.datetime, zone: str) -> tuple[str, tuple]:
    """The breach list's one query: the page's clocks (`clocks_in_range` + `BREACHED`, the same
    rules and order as `breach_queryset`) with their latest breach event's facts.

    Django builds the filtered clock rows (the filter rules stay in one place); PostgreSQL pulls
    that subquery up, so the ORDER BY is on the clock's own columns and matches
    `slaclock_breach_order_idx`. The breach event comes from a LATERAL subquery: Django cannot
    write one, hence the SQL around it.

    What Python would parse only to format again comes out ready: the instant as local text in
    `zone` (an IANA name, cut to the second like `instant()`) and its UTC offset in seconds; the
    durations as seconds in a double (`date_part`), which `seconds_as_hours` divides exactly like
    `hours()` does `timedelta.total_seconds()`. The breach facts come out as their three fields
    (`status`, `waiting_on` as JSON, `pause_reason`); a payload whose status or pause reason is
    not the string the writer writes comes whole as well (`odd_data`), read by the same Python as
    before.
    """
    clocks = (
        clocks_in_range(filters)
        .filter(BREACHED)
        .annotate(breach_at=Coalesce("breached_at", "stopped_at", output_field=DateTimeField()))
        .order_by()
        .values(
            clock_pk=F("pk"),
            reference=F("incident__reference"),
            title=F("incident__title"),
            severity=F("incident__severity"),
            owner=F("incident__owner_id"),
            owner_first_name=F("incident__owner__first_name"),
            owner_last_name=F("incident__owner__last_name"),
            owner_username=F("incident__owner__username"),
            clock_metric=F("metric"),
            clock_family=F("family"),
            partner_name=F("engagement__partner__name"),
            clock_target=F("target"),
            breach_instant=F("breach_at"),
            clock_state=F("state"),
            overdue_wall=Coalesce(F("stopped_at"), Value(now, output_field=DateTimeField())) - F("breach_at"),
            overdue_business=Case(When(stopped_at__isnull=False, then=F("consumed") - F("target"))),
        )
    )
    inner, params = clocks.query.sql_with_params()
    events = SlaClockEvent._meta.db_table
    odd = "jsonb_typeof(e.data -> '{0}') NOT IN ('string', 'null')"
    sql = f"""
        SELECT b.reference, b.title, b.severity, b.owner, b.owner_first_name, b.owner_last_name,
               b.owner_username, b.clock_metric, b.clock_family, b.partner_name,
               date_part('epoch', b.clock_target),
               to_char(z.local, 'YYYY-MM-DD"T"HH24:MI:SS'),
               date_part('epoch', z.local - (b.breach_instant AT TIME ZONE 'UTC'))::integer,
               b.clock_state,
               date_part('epoch', b.overdue_wall),
               date_part('epoch', CASE WHEN b.overdue_business < interval '0' THEN interval '0'
                                       ELSE b.overdue_business END),
               jsonb_typeof(e.data) = 'object', e.data ->> 'status', (e.data -> 'waiting_on')::text,
               e.data ->> 'pause_reason',
               CASE WHEN {odd.format("status")} OR {odd.format("pause_reason")} THEN e.data::text END
        FROM ({inner}) AS b
        CROSS JOIN LATERAL (SELECT b.breach_instant AT TIME ZONE %s AS local) AS z
        LEFT JOIN LATERAL (
            SELECT ev.data FROM "{events}" AS ev
            WHERE ev.clock_id = b.clock_pk AND ev.kind = %s
            ORDER BY ev.at DESC, ev.id DESC
            LIMIT 1
        ) AS e ON TRUE
        ORDER BY b.breach_instant DESC NULLS LAST, b.clock_pk DESC
    """
    return sql, (*params, zone, SlaClockEvent.Kind.BREACH.value)


def breach_export_records(
    *, user, filters: ReportFilter, zone: str, now: dt.datetime | None = None
) -> Iterator[list[tuple]]:
    """The rows of `breach_export_sql` as lists of tuples, BREACH_FETCH_ROWS at a time from a
    server-side cursor.

    The cursor lives in a transaction while the response streams: outside one, PostgreSQL would
    keep it WITH HOLD and copy the whole result before sending the first row.
    """
    if not reports_allowed(user):
        return
    sql, params = breach_export_sql(filters=filters, now=now or timezone.now(), zone=zone)
    server_side = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    with (
        transaction.atomic(savepoint=False),
        connection.chunked_cursor() if server_side else connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(BREACH_FETCH_ROWS):
            yield chunk


def seconds_as_hours(value: float | None) -> str:
    """`hours()` of a duration given in seconds (as a double): the same division, the same digits."""
    return "" if value is None else f"{value / 3600:.2f}"


class _Offsets(dict):
    """UTC offsets in seconds → their ISO 8601 text; a zone has a handful."""

    def __missing__(self, seconds: int) -> str:
        self[seconds] = text = _offset_text(seconds)
        return text


def _breach_facts(data, labels: dict) -> tuple[str, list[str], str, str]:
    """Status, partners waited on, pause reason and reason sentence of a breach event's facts
    (`breach_row` and `breach_reason_text` of the page's list)."""
    if not isinstance(data, dict):
        return "", [], "", labels["over_at_stop"]
    status = str(data.get("status") or "")
    waiting = [str(name) for name in (data.get("waiting_on") or [])]
    pause_reason = str(data.get("pause_reason") or "")
    parts = []
    if status:
        parts.append(labels["at_breach"] % {"status": labels["statuses"].get(status, status).lower()})
    if waiting:
        parts.append(labels["waiting"] % {"partners": ", ".join(waiting)})
    if pause_reason:
        parts.append(labels["pause"] % {"reason": pause_reason})
    return status, waiting, pause_reason, " ".join(parts)


def breaches_table(*, user, filters: ReportFilter, now=None) -> tuple[list[str], Iterator[list[str]]]:
    header = [
        _("Incident"),
        _("Title"),
        _("Severity"),
        _("Owner"),
        _("Metric"),
        _("Clocks"),
        _("Partner"),
        _("Target (h)"),
        _("Breached at"),
        _("State"),
        _("Overdue, wall time (h)"),
        _("Overdue, business time (h)"),
        _("Status at breach"),
        _("Waiting on"),
        _("Last pause reason"),
        _("Reason"),
    ]

    def rows():
        # Every label once per export, in the requester's language (not once per row).
        severities = {value: str(label) for value, label in Severity.choices}
        metrics = {value: str(label) for value, label in SlaClock.Metric.choices}
        families = {value: str(label) for value, label in SlaClock.Family.choices}
        states = {value: str(label) for value, label in SlaClock.State.choices}
        statuses = {value: str(label) for value, label in Status.choices}
        labels = {
            "statuses": statuses,
            "at_breach": _("Incident %(status)s at breach."),
            "waiting": _("Waiting on %(partners)s."),
            "pause": _("Last pause: “%(reason)s”."),
            "over_at_stop": _("Over target when the clock stopped."),
        }
        # Cells that repeat are made once per value: owners and partners are few, and so are the
        # combinations of status, partners waited on and pause reason.
        owners: dict = {}
        partners: dict = {None: ""}
        tails: dict = {}
        targets: dict = {}
        offsets = _Offsets()
        zone = timezone.get_current_timezone().key
        for chunk in breach_export_records(user=user, filters=filters, now=now, zone=zone):
            for (
                reference,
                title,
                severity,
                owner_id,
                first_name,
                last_name,
                username,
                metric,
                family,
                partner,
                target,
                breached_local,
                breached_offset,
                state,
                overdue_wall,
                overdue_business,
                facts,
                status,
                waiting_json,
                pause_reason,
                odd_data,
            ) in chunk:
                key = (facts, status, waiting_json, pause_reason, odd_data)
                tail = tails.get(key)
                if tail is None:
                    if len(tails) >= FACTS_CACHE_SIZE:  # a desk of free-text pause reasons
                        tails.clear()
                    if odd_data is not None:
                        data = json.loads(odd_data)
                    elif facts:
                        data = {
                            "status": status,
                            "waiting_on": None if waiting_json is None else json.loads(waiting_json),
                            "pause_reason": pause_reason,
                        }
                    else:
                        data = None
                    status, waiting, pause_reason, reason = _breach_facts(data, labels)
                    tail = tails[key] = (
                        statuses.get(status, status),
                        text_cell("; ".join(waiting)),
                        text_cell(pause_reason),
                        text_cell(reason),
                    )
                owner = owners.get(owner_id)
                if owner is None:
                    owner = owners[owner_id] = text_cell(
                        f"{first_name or ''} {last_name or ''}".strip() or username or ""
                    )
                partner_cell = partners.get(partner)
                if partner_cell is None:
                    partner_cell = partners[partner] = text_cell(partner)
                yield [
                    text_cell(reference),
                    text_cell(title),
                    severities.get(severity, ""),
                    owner,
                    metrics.get(metric, metric),
                    families.get(family, family),
                    partner_cell,
                    targets.get(target) or targets.setdefault(target, seconds_as_hours(target)),
                    "" if breached_local is None else breached_local + offsets[breached_offset],
                    states.get(state, state),
                    "" if overdue_wall is None else f"{overdue_wall / 3600:.2f}",
                    "" if overdue_business is None else f"{overdue_business / 3600:.2f}",
                    *tail,
                ]

    return header, rows()


def scorecard_table(*, user, filters: ReportFilter) -> tuple[list[str], Iterator[list[str]]]:
    header = [
        _("Partner"),
        _("Engagements"),
        _("Acknowledged"),
        _("Acknowledge median, business (h)"),
        _("Acknowledge p90, business (h)"),
        _("Acknowledge median, wall (h)"),
        _("Acknowledge p90, wall (h)"),
        _("Resolved"),
        _("Resolve median, business (h)"),
        _("Resolve p90, business (h)"),
        _("Resolve median, wall (h)"),
        _("Resolve p90, wall (h)"),
        _("Notices sent"),
        _("Follow-ups"),
        _("Met"),
        _("Breached"),
        _("Attainment (%)"),
        *[str(column.label) for column in scorecard_columns()],
    ]

    def rows():
        for row in sla_partner_scorecard(user=user, filters=filters):
            yield [
                row.partner,
                str(row.engagements),
                str(row.acknowledged),
                hours(row.acknowledge_p50),
                hours(row.acknowledge_p90),
                hours(row.acknowledge_wall_p50),
                hours(row.acknowledge_wall_p90),
                str(row.resolved),
                hours(row.resolve_p50),
                hours(row.resolve_p90),
                hours(row.resolve_wall_p50),
                hours(row.resolve_wall_p90),
                str(row.notices),
                str(row.follow_ups),
                str(row.met),
                str(row.breached),
                _percent(row.attainment),
                *row.extra_cells,
            ]

    return header, rows()


TABLE_BUILDERS: dict[str, Callable[..., tuple[list[str], Iterator[list[str]]]]] = {
    "attainment": attainment_table,
    "time_to": time_to_table,
    "breaches": breaches_table,
    "scorecard": scorecard_table,
}
