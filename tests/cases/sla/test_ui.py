"""SLA badges, the incident's SLA section, the live refresh fragments and the at-risk list.

Clocks are written directly with factories (not through the SLA engine), so each test states the
exact instants it is about; expected values are computed by hand in the comments.
"""

import re
from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from cases.models import CaseEvent, SlaClock
from cases.sla.durations import Level, format_duration, time_left_text
from cases.sla.selectors import clock_badge, clock_level, clock_time_left, incident_sla, most_urgent_clocks, sla_at_risk
from cases.templatetags.cases_extras import event_sentence
from partners.businesstime import Schedule, schedule_for
from tests.factories import (
    IncidentFactory,
    PartnerEngagementFactory,
    PartnerFactory,
    SlaClockEventFactory,
    SlaClockFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MEXICO_CITY = ZoneInfo("America/Mexico_City")
ALWAYS = Schedule(tz=ZoneInfo("UTC"), always_open=True)
H, M, ZERO = timedelta(hours=1), timedelta(minutes=1), timedelta(0)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def mx(*args) -> datetime:
    return datetime(*args, tzinfo=MEXICO_CITY)


@pytest.fixture
def mx_banking():
    from partners.models import BusinessCalendar as Calendar

    return Calendar.objects.get(code="mx-banking")


@pytest.fixture
def always():
    from partners.models import BusinessCalendar as Calendar

    return Calendar.objects.get(code="24x7")


def sla_cells(html: str) -> dict[str, str]:
    """Queue SLA cell id → its text, tags stripped."""
    cells = re.findall(r'<span id="sla-badge-(\d+)"[^>]*>(.*?)</span>\s*(?=<span id="sla-badge|</td>|$)', html, re.S)
    return {pk: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip() for pk, text in cells}


# Time left ------------------------------------------------------------------------------------


def test_running_clock_on_24x7_counts_wall_time_to_due():
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    clock = SlaClock(state="running", target=4 * H, consumed=ZERO, due_at=now + 2 * H + 5 * M + timedelta(seconds=30))

    left = clock_time_left(clock, now=now, schedule=ALWAYS)

    assert left == timedelta(hours=2, minutes=5, seconds=30)
    assert clock_level(clock, now=now, time_left=left) == Level.OK
    assert time_left_text(Level.OK, left, business=False) == "2 h 05 min left"


def test_overdue_clock_is_negative_and_says_by_how_much():
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    clock = SlaClock(state="running", target=15 * M, consumed=ZERO, due_at=now - 35 * M)

    left = clock_time_left(clock, now=now, schedule=ALWAYS)

    assert left == -35 * M
    assert clock_level(clock, now=now, time_left=left) == Level.OVERDUE
    assert time_left_text(Level.OVERDUE, left, business=False) == "overdue by 35 min"


def test_paused_clock_keeps_target_minus_consumed_whatever_the_time():
    clock = SlaClock(state="paused", target=4 * H, consumed=1 * H + 30 * M, due_at=None)

    for now in (mx(2026, 3, 10, 10), mx(2026, 3, 20, 3)):
        assert clock_time_left(clock, now=now, schedule=ALWAYS) == 2 * H + 30 * M
    assert clock_level(clock, now=mx(2026, 3, 10, 10)) == Level.PAUSED
    assert time_left_text(Level.PAUSED, 2 * H + 30 * M, business=True) == "paused, 2 h 30 min business left"


def test_business_clock_counts_only_open_hours(mx_banking):
    schedule = schedule_for(mx_banking)
    # Tuesday 17:00 → Wednesday 12:00 Mexico City: 17–18 on Tuesday (1 h) + 09–12 on Wednesday (3 h).
    now, due = mx(2026, 3, 10, 17, 0), mx(2026, 3, 11, 12, 0)
    clock = SlaClock(state="running", target=9 * H, consumed=5 * H, due_at=due)

    left = clock_time_left(clock, now=now, schedule=schedule)

    assert left == 4 * H  # 19 hours of wall time
    assert time_left_text(Level.OK, left, business=True) == "4 h business left"


def test_business_overdue_skips_the_weekend_and_the_holiday(mx_banking):
    schedule = schedule_for(mx_banking)
    # Due Friday 13 March 17:30; now Tuesday 17 March 10:15. Friday 17:30–18:00 (30 min), the
    # weekend and Monday 16 March (Benito Juárez, a bank holiday) are closed, Tuesday 09:00–10:15
    # (1 h 15 min): overdue by 1 h 45 min of business time.
    due, now = mx(2026, 3, 13, 17, 30), mx(2026, 3, 17, 10, 15)
    clock = SlaClock(state="running", target=4 * H, consumed=ZERO, due_at=due, breached_at=due)

    left = clock_time_left(clock, now=now, schedule=schedule)

    assert left == -(1 * H + 45 * M)
    assert clock_level(clock, now=now, time_left=left) == Level.OVERDUE
    assert time_left_text(Level.OVERDUE, left, business=True) == "overdue by 1 h 45 min business"


def test_warning_level_after_the_warning_instant_or_once_warned():
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    past_warn = SlaClock(state="running", target=H, due_at=now + 10 * M, warn_due_at=now - M)
    warned = SlaClock(state="running", target=H, due_at=now + 10 * M, warn_due_at=None, warned_at=now - 5 * M)
    early = SlaClock(state="running", target=H, due_at=now + 30 * M, warn_due_at=now + 15 * M)

    assert clock_level(past_warn, now=now) == Level.WARNING
    assert clock_level(warned, now=now) == Level.WARNING
    assert clock_level(early, now=now) == Level.OK


def test_stopped_clocks_show_their_outcome():
    met = SlaClock(state="met", target=H, consumed=40 * M)
    breached = SlaClock(state="breached", target=H, consumed=70 * M)

    assert clock_time_left(met, now=timezone.now(), schedule=ALWAYS) == 20 * M
    assert clock_time_left(breached, now=timezone.now(), schedule=ALWAYS) == -10 * M
    assert time_left_text(clock_level(met, now=timezone.now()), 20 * M, business=False) == "met"
    assert time_left_text(clock_level(breached, now=timezone.now()), -10 * M, business=False) == "breached"


@pytest.mark.parametrize(
    ("duration", "business", "text"),
    [
        (3 * 24 * H + 4 * H + 10 * M, False, "3 d 4 h"),
        (3 * 24 * H + 10 * M, False, "3 d"),
        (45 * H, True, "45 h"),  # business time has no days: a business day is 9 h, not 24
        (2 * H, False, "2 h"),
        (2 * H + 5 * M + timedelta(seconds=59), False, "2 h 05 min"),
        (35 * M, False, "35 min"),
        (timedelta(seconds=40), False, "< 1 min"),
        (-(35 * M), False, "35 min"),
    ],
)
def test_durations_are_compact(duration, business, text):
    assert format_duration(duration, business=business) == text


# Badges and the queue ---------------------------------------------------------------------------


def test_most_urgent_is_the_running_clock_due_first_then_paused(analyst, always):
    now = timezone.now()
    busy, quiet, idle = IncidentFactory.create_batch(3, severity="sev1")
    SlaClockFactory(incident=busy, metric="resolve", target=4 * H, due_at=now + 3 * H)
    soonest = SlaClockFactory(incident=busy, metric="acknowledge", target=15 * M, due_at=now + 5 * M)
    SlaClockFactory(incident=busy, metric="first_notice", state="met", target=30 * M)
    paused = SlaClockFactory(
        incident=quiet, metric="resolve", state="paused", target=4 * H, consumed=H, due_at=None, pause_reason="x"
    )

    badges = most_urgent_clocks(user=analyst, incident_ids=[busy.pk, quiet.pk, idle.pk], now=now)

    assert badges[busy.pk].clock.pk == soonest.pk
    assert badges[busy.pk].text == "5 min left"
    assert badges[quiet.pk].clock.pk == paused.pk
    assert badges[quiet.pk].text == "paused, 3 h left"
    assert idle.pk not in badges


def test_each_incident_reads_only_its_most_urgent_clock_in_one_query(analyst, always, django_assert_num_queries):
    """The urgency order is PostgreSQL's (DISTINCT ON the incident): overdue before due later, a
    running clock whose due instant is not computed yet counts as due now, running before paused,
    and among paused clocks the least time left."""
    now = timezone.now()
    overdue_first, uncomputed, paused_only = IncidentFactory.create_batch(3, severity="sev1")
    clock = partial(SlaClockFactory, calendar=always)
    clock(incident=overdue_first, metric="resolve", target=4 * H, due_at=now + 5 * M)
    overdue = clock(incident=overdue_first, metric="acknowledge", target=15 * M, due_at=now - H)
    clock(
        incident=overdue_first,
        metric="first_notice",
        state="paused",
        target=30 * M,
        consumed=29 * M,
        due_at=None,
        pause_reason="x",
    )
    not_computed = clock(incident=uncomputed, metric="acknowledge", target=15 * M, due_at=None)
    clock(incident=uncomputed, metric="resolve", target=4 * H, due_at=now + H)
    clock(
        incident=paused_only, metric="resolve", state="paused", target=4 * H, consumed=H, due_at=None, pause_reason="x"
    )
    least_left = clock(
        incident=paused_only,
        metric="acknowledge",
        state="paused",
        target=H,
        consumed=50 * M,
        due_at=None,
        pause_reason="x",
    )

    assert analyst.has_perm("cases.view_slaclock")  # the viewer's permissions, read once per request
    with django_assert_num_queries(1):  # the clocks; a 24x7 calendar needs no schedule
        badges = most_urgent_clocks(
            user=analyst, incident_ids=[overdue_first.pk, uncomputed.pk, paused_only.pk], now=now
        )

    assert {pk: badge.clock.pk for pk, badge in badges.items()} == {
        overdue_first.pk: overdue.pk,
        uncomputed.pk: not_computed.pk,
        paused_only.pk: least_left.pk,
    }
    assert badges[paused_only.pk].text == "paused, 10 min left"


def _queue_with_clocks(count: int):
    now = timezone.now()
    partner = PartnerFactory(name="Banorte")
    incidents = IncidentFactory.create_batch(count, severity="sev3")
    for index, incident in enumerate(incidents):
        SlaClockFactory(incident=incident, metric="acknowledge", due_at=now + (index + 1) * H)
        SlaClockFactory(incident=incident, metric="resolve", target=45 * H, due_at=now + 40 * H)
        engagement = PartnerEngagementFactory(incident=incident, partner=partner)
        SlaClockFactory(incident=incident, engagement=engagement, metric="acknowledge", due_at=now + 50 * H)
    return incidents


def test_queue_shows_the_sla_column_and_polls_for_the_page(client, analyst, always):
    incident = IncidentFactory(severity="sev1", title="Visa switch down")
    SlaClockFactory(incident=incident, metric="acknowledge", calendar=always, due_at=timezone.now() - 35 * M)
    client.force_login(analyst)

    html = client.get("/incidents/").content.decode()

    assert '<th scope="col">SLA</th>' in html
    cell = re.search(rf'<span id="sla-badge-{incident.pk}".*?</td>', html, re.S).group(0)
    assert "sla-overdue" in cell and "Acknowledge" in cell and "overdue by 35 min" in cell
    poll = re.search(r'<div hidden hx-get="([^"]+)" hx-trigger="every (\d+)s" hx-swap="none">', html)
    assert poll.group(1) == f"{reverse('cases:sla_badges')}?id={incident.pk}"
    assert poll.group(2) == "30"


def test_queue_badge_poll_returns_oob_cells_for_the_ids(client, analyst, always):
    now = timezone.now()
    late, fine, bare = IncidentFactory.create_batch(3, severity="sev1")
    SlaClockFactory(incident=late, calendar=always, due_at=now - 2 * H - 5 * M)
    SlaClockFactory(incident=fine, calendar=always, due_at=now + 3 * 24 * H + 4 * H + 30 * M)
    client.force_login(analyst)

    response = client.get(reverse("cases:sla_badges"), {"id": [late.pk, fine.pk, bare.pk, 999999, "x"]})

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('hx-swap-oob="true"') == 3  # the unknown id and the junk are ignored
    cells = sla_cells(html)
    assert cells[str(late.pk)] == "Acknowledge overdue by 2 h 05 min"
    assert cells[str(fine.pk)] == "Acknowledge 3 d 4 h left"
    assert cells[str(bare.pk)] == "—"


def test_queue_badge_text_changes_when_a_clock_passes_due(client, analyst, always):
    incident = IncidentFactory(severity="sev1")
    clock = SlaClockFactory(incident=incident, calendar=always, due_at=timezone.now() + 10 * M + timedelta(seconds=30))
    client.force_login(analyst)
    before = sla_cells(client.get(reverse("cases:sla_badges"), {"id": incident.pk}).content.decode())

    SlaClock.objects.filter(pk=clock.pk).update(due_at=timezone.now() - 20 * M - timedelta(seconds=5))
    after = sla_cells(client.get(reverse("cases:sla_badges"), {"id": incident.pk}).content.decode())

    assert before[str(incident.pk)] == "Acknowledge 10 min left"
    assert after[str(incident.pk)] == "Acknowledge overdue by 20 min"


def _queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params or {}).status_code == 200
    return len(queries)


def test_sla_adds_constant_queries_to_the_queue_and_its_poll(client, analyst):
    client.force_login(analyst)
    small = _queue_with_clocks(5)
    client.get("/incidents/")  # warm per-process caches (content types)
    counts_small = (
        _queries(client, "/incidents/"),
        _queries(client, reverse("cases:sla_badges"), {"id": [i.pk for i in small]}),
    )
    large = _queue_with_clocks(20)
    counts_large = (
        _queries(client, "/incidents/"),
        _queries(client, reverse("cases:sla_badges"), {"id": [i.pk for i in [*small, *large]]}),
    )

    assert counts_small == counts_large
    # Poll: session, user, profile with groups and permissions, visible ids, clocks, the mx-banking schedule.
    assert counts_large[1] == 6


# The incident page ------------------------------------------------------------------------------


@pytest.fixture
def paused_incident(lead, always, mx_banking):
    """A SEV3 incident waiting on Prosa: our clocks paused with a reason, Prosa's running, history recorded."""
    incident = IncidentFactory(severity="sev3", status="waiting_on_partner", title="Prosa timeouts", owner=lead)
    started = timezone.now() - 3 * H
    ack = SlaClockFactory(
        incident=incident,
        metric="acknowledge",
        state="met",
        started_at=started,
        stopped_at=started + 20 * M,
        consumed=20 * M,
        due_at=None,
    )
    resolve = SlaClockFactory(
        incident=incident,
        metric="resolve",
        state="paused",
        target=45 * H,
        consumed=2 * H + 15 * M,
        started_at=started,
        due_at=None,
        warn_due_at=None,
        pause_reason="Prosa is checking their HSM cluster",
    )
    prosa = PartnerEngagementFactory(incident=incident, partner=PartnerFactory(name="Prosa", code="prosa"))
    partner_ack = SlaClockFactory(
        incident=incident, engagement=prosa, metric="acknowledge", calendar=always, due_at=timezone.now() + 50 * M
    )
    SlaClockEventFactory(clock=ack, kind="start", at=started, actor=lead)
    SlaClockEventFactory(clock=ack, kind="stop", at=started + 20 * M, actor=lead, data={"outcome": "met"})
    SlaClockEventFactory(clock=resolve, kind="start", at=started, actor=lead)
    SlaClockEventFactory(
        clock=resolve, kind="pause", at=started + H, actor=lead, reason="Prosa is checking their HSM cluster"
    )
    SlaClockEventFactory(clock=partner_ack, kind="start", at=started + H)
    return {"incident": incident, "ack": ack, "resolve": resolve, "partner_ack": partner_ack}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_incident_page_shows_badges_and_every_clock_with_history(client, lead, paused_incident):
    incident = paused_incident["incident"]
    client.force_login(lead)

    html = client.get(reverse("cases:incident_detail", args=[incident.reference])).content.decode()

    header = re.search(r'<span id="incident-sla-badges".*?</span></span>\s*</span>', html, re.S).group(0)
    assert "Prosa · Acknowledge" in header and "49 min left" in _text(header)
    assert "paused, 42 h 45 min business left" in _text(header)  # 45 h − 2 h 15 min
    section = re.search(r'<section id="incident-sla".*?</section>', html, re.S).group(0)
    text = _text(section)
    assert text.index("Our commitments") < text.index("Prosa's commitments")
    assert "45 h business · México – horario bancario" in text
    assert "Paused: Prosa is checking their HSM cluster" in text
    assert "History (2 events)" in text and "History (1 event)" in text
    assert "Paused by lucia — Prosa is checking their HSM cluster" in text.replace(lead.first_name, "lucia")
    assert "(target met)" in text
    assert 'hx-trigger="every 30s"' in section


def test_section_poll_returns_the_section_and_header_badges_keeping_open_histories(client, lead, paused_incident):
    incident, resolve = paused_incident["incident"], paused_incident["resolve"]
    client.force_login(lead)

    response = client.get(reverse("cases:incident_sla", args=[incident.reference]), {"open": [resolve.pk, "x"]})

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="incident-sla"')
    assert '<span id="incident-sla-badges" class="sla-badges" aria-label="SLA clocks" hx-swap-oob="true">' in html
    assert re.search(rf'<details id="sla-history-{resolve.pk}" class="sla-history" open', html)
    assert not re.search(rf'<details id="sla-history-{paused_incident["ack"].pk}" class="sla-history" open', html)


def test_a_write_refreshes_the_sla_section_out_of_band(client, lead, paused_incident):
    incident = paused_incident["incident"]
    client.force_login(lead)

    response = client.post(
        reverse("cases:incident_note_add", args=[incident.reference]), {"body": "Called Prosa"}, HTTP_HX_REQUEST="true"
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'<section id="incident-sla"[^>]*hx-swap-oob="true"', html)


def test_incident_sla_reads_in_constant_queries(lead, paused_incident, django_assert_num_queries):
    incident = paused_incident["incident"]
    lead.has_perm("cases.view_slaclock")  # permissions cached on the user, as in a request

    # Clocks, events with their mails, then the mx-banking schedule (calendar, hours and holidays at once).
    with django_assert_num_queries(3):
        sla = incident_sla(user=lead, incident=incident)
    assert [badge.label for badge in sla.clocks] == ["Acknowledge", "Resolve", "Prosa · Acknowledge"]


def test_incident_page_costs_the_same_with_more_clocks(client, lead, paused_incident, always):
    incident = paused_incident["incident"]
    client.force_login(lead)
    url = reverse("cases:incident_detail", args=[incident.reference])
    client.get(url)
    before = _queries(client, url)
    for partner in PartnerFactory.create_batch(4):
        engagement = PartnerEngagementFactory(incident=incident, partner=partner)
        clock = SlaClockFactory(incident=incident, engagement=engagement, calendar=always)
        SlaClockEventFactory(clock=clock)

    assert _queries(client, url) == before


@pytest.mark.parametrize(
    ("kind", "data", "sentence"),
    [
        (
            "sla_paused",
            {"metric": "resolve", "family": "ours", "partner": None, "reason": "Waiting on Prosa"},
            "The SLA clock “Resolve” paused — reason: Waiting on Prosa",
        ),
        (
            "sla_resumed",
            {"metric": "acknowledge", "family": "partner", "partner": "Prosa", "reason": ""},
            "Prosa's SLA clock “Acknowledge” resumed.",
        ),
        (
            "sla_warning",
            {"metric": "update", "family": "ours", "partner": None},
            "SLA warning: “Update cadence” is close to its target.",
        ),
        (
            "sla_breached",
            {"metric": "resolve", "family": "partner", "partner": "Visa <b>", "reason": ""},
            "SLA breached: Visa &lt;b&gt;'s “Resolve” passed its target.",
        ),
    ],
)
def test_sla_timeline_sentences(kind, data, sentence):
    event = CaseEvent(kind=kind, data={"clock": 1, **data})

    assert str(event_sentence(event)) == sentence.replace("'", "&#x27;")


# At risk ----------------------------------------------------------------------------------------


@pytest.fixture
def at_risk(analyst, lead, always, mx_banking):
    now = timezone.now()
    visa = PartnerFactory(name="Visa", code="visa")
    mine = IncidentFactory(severity="sev1", owner=analyst, title="Mine")
    other = IncidentFactory(severity="sev3", owner=lead, title="Other", status="waiting_on_partner")
    closed = IncidentFactory(severity="sev1", status="closed", title="Closed")
    engagement = PartnerEngagementFactory(incident=other, partner=visa)
    clocks = {
        "soon": SlaClockFactory(incident=mine, metric="resolve", calendar=always, target=4 * H, due_at=now + 20 * M),
        "overdue": SlaClockFactory(incident=other, metric="acknowledge", calendar=mx_banking, due_at=now - 3 * H),
        "later": SlaClockFactory(incident=mine, metric="acknowledge", calendar=always, due_at=now + 2 * H),
        "partner": SlaClockFactory(
            incident=other, engagement=engagement, metric="acknowledge", calendar=always, due_at=now + H
        ),
        "closed": SlaClockFactory(incident=closed, calendar=always, due_at=now - 5 * H),
        "paused": SlaClockFactory(
            incident=other,
            metric="resolve",
            state="paused",
            target=45 * H,
            consumed=5 * H,
            due_at=None,
            pause_reason="Visa is replaying the batch",
        ),
        "met": SlaClockFactory(incident=mine, metric="first_notice", state="met", due_at=None),
    }
    return clocks


def _ids(page):
    return [badge.clock.pk for badge in page.rows]


def test_at_risk_lists_running_clocks_by_severity_overdue_first_then_soonest(analyst, at_risk):
    page = sla_at_risk(user=analyst, params=QueryDict())

    assert _ids(page) == [at_risk[name].pk for name in ("soon", "later", "overdue", "partner")]
    assert page.rows[2].level == Level.OVERDUE
    assert [badge.clock.pk for badge in page.paused] == [at_risk["paused"].pk]
    assert page.count == 4 and not page.count_capped


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("family=ours", ["soon", "later", "overdue"]),
        ("family=partner", ["partner"]),
        ("severity=sev1", ["soon", "later"]),
        ("severity=sev3&severity=sev4", ["overdue", "partner"]),
        ("partner=visa", ["partner"]),
        ("mine=1", ["soon", "later"]),
        ("family=nonsense&severity=sev9", ["soon", "later", "overdue", "partner"]),
    ],
)
def test_at_risk_filters(analyst, at_risk, query, expected):
    page = sla_at_risk(user=analyst, params=QueryDict(query))

    assert _ids(page) == [at_risk[name].pk for name in expected]


def test_at_risk_pages(analyst, at_risk):
    first = sla_at_risk(user=analyst, params=QueryDict(), per_page=3)
    second = sla_at_risk(user=analyst, params=QueryDict("page=2"), per_page=3)
    beyond = sla_at_risk(user=analyst, params=QueryDict("page=99"), per_page=3)

    assert _ids(first) == [at_risk[name].pk for name in ("soon", "later", "overdue")]
    assert first.has_next and not first.has_previous
    assert _ids(second) == [at_risk["partner"].pk] and second.has_previous and not second.has_next
    assert beyond.number == 2


def test_at_risk_page_renders_and_refreshes_its_results(client, analyst, at_risk):
    client.force_login(analyst)
    url = reverse("cases:sla_at_risk")

    page = client.get(url, {"family": "ours"}).content.decode()
    fragment = client.get(url, {"family": "ours"}, HTTP_HX_REQUEST="true").content.decode()

    assert "<h1>SLA at risk</h1>" in page
    rows = re.findall(r'<li id="at-risk-(\d+)"', page)
    assert rows == [str(at_risk[name].pk) for name in ("soon", "later", "overdue")]
    assert "overdue by" in _text(page) and "business" in _text(page)  # the mx-banking clock
    assert "Paused: waiting on a partner — Visa is replaying the batch" in _text(page)
    assert fragment.lstrip().startswith('<section id="at-risk-results"')
    assert f'hx-get="{url}?family=ours" hx-trigger="every 30s"' in fragment
    assert "<h1>" not in fragment


def test_at_risk_costs_the_same_for_more_rows(client, analyst, at_risk, always):
    client.force_login(analyst)
    url = reverse("cases:sla_at_risk")
    client.get(url)
    before = _queries(client, url)
    for incident in IncidentFactory.create_batch(10, severity="sev2"):
        SlaClockFactory(incident=incident, calendar=always)

    assert _queries(client, url) == before


def test_nav_shows_the_overdue_count(client, lead, at_risk):
    client.force_login(lead)

    html = client.get(reverse("cases:sla_overdue_count")).content.decode()
    home = client.get(reverse("cases:incident_list")).content.decode()

    # The lead's own overdue clock; not the closed one.
    assert html.strip() == (
        '<span class="nav-count" aria-hidden="true">1</span><span class="visually-hidden">1 item needs you</span>'
    )
    assert f'hx-get="{reverse("cases:sla_overdue_count")}"' in home
    assert f'href="{reverse("cases:sla_at_risk")}"' in home


# Permissions ------------------------------------------------------------------------------------


@pytest.fixture
def sla_urls(paused_incident):
    incident = paused_incident["incident"]
    return [
        reverse("cases:incident_sla", args=[incident.reference]),
        f"{reverse('cases:sla_badges')}?id={incident.pk}",
        reverse("cases:sla_at_risk"),
        reverse("cases:sla_overdue_count"),
    ]


def test_anonymous_is_sent_to_login(client, sla_urls):
    for url in sla_urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(f"{reverse('login')}?next="), url


def test_no_role_is_refused(client, outsider, sla_urls):
    client.force_login(outsider)

    assert [client.get(url).status_code for url in sla_urls] == [403, 403, 403, 403]


@pytest.mark.parametrize("role", ["analyst", "partner_manager", "lead"])
def test_every_desk_role_sees_the_sla_pages(client, request, sla_urls, role):
    client.force_login(request.getfixturevalue(role))

    assert [client.get(url).status_code for url in sla_urls] == [200, 200, 200, 200]


def test_a_hidden_incident_gets_no_badge(client, paused_incident):
    """Someone with the clock permission but not the incidents' sees no badge at all."""
    from django.contrib.auth.models import Permission

    user = UserFactory(username="clocks-only")
    user.user_permissions.add(Permission.objects.get(codename="view_slaclock"))

    page = sla_at_risk(user=user, params=QueryDict())

    assert page.rows == [] and page.paused == []
    assert most_urgent_clocks(user=user, incident_ids=[paused_incident["incident"].pk]) == {}


def test_clock_badge_names_the_partner_and_calendar(always):
    incident = IncidentFactory(severity="sev1")
    engagement = PartnerEngagementFactory(incident=incident, partner=PartnerFactory(name="Mastercard"))
    clock = SlaClockFactory(incident=incident, engagement=engagement, metric="resolve", calendar=always)
    clock = SlaClock.objects.select_related("calendar", "engagement__partner").get(pk=clock.pk)

    badge = clock_badge(clock, now=clock.due_at - 90 * M, schedule=ALWAYS)

    assert (badge.label, badge.family, badge.partner, badge.calendar) == (
        "Mastercard · Resolve",
        "partner",
        "Mastercard",
        "24x7",
    )
    assert badge.text == "1 h 30 min left" and badge.title == "1 hour, 30 minutes"


def test_nav_count_stops_counting_at_a_cap(client, lead, at_risk, monkeypatch):
    """Past the cap the badge says "99+" instead of counting a whole backlog on every page."""
    import cases.sla.selectors
    import cases.sla.views.clocks

    monkeypatch.setattr(cases.sla.selectors, "OVERDUE_COUNT_CAP", 0)
    monkeypatch.setattr(cases.sla.views.clocks, "OVERDUE_COUNT_CAP", 0)
    client.force_login(lead)

    html = client.get(reverse("cases:sla_overdue_count")).content.decode()

    assert html.strip() == (
        '<span class="nav-count" aria-hidden="true">99+</span>'
        '<span class="visually-hidden">More than 99 items need you</span>'
    )
