"""Calm signals: the at-risk list by severity and lateness, the navigation's badges (what needs the
viewer, what waits for a lead), the approvals list in compact rows, and the overview's links and
weekly trends.

Clocks and notices are written directly (factories and rows), so every instant is stated here.
"""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone, translation

from cases import timeline
from cases.models import Correspondence, Incident, SlaClock
from cases.selectors import incident_trends
from cases.sla.selectors import sla_at_risk, sla_attention_count
from cases.timeline.events import NoticeSubmitted
from tests.factories import IncidentFactory, PartnerEngagementFactory, PartnerFactory, SlaClockFactory, UserFactory

pytestmark = pytest.mark.django_db

H, M = timedelta(hours=1), timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.fixture
def always():
    from partners.models import BusinessCalendar

    return BusinessCalendar.objects.get(code="24x7")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


# At risk -----------------------------------------------------------------------------------------


@pytest.fixture
def late(analyst, lead, always):
    """A week-old SEV4 update clock, three overdue SEV1 clocks out of due order, SEV1 and SEV2 ones due soon."""
    now = timezone.now()
    sev4 = IncidentFactory(severity="sev4", owner=lead, title="Minor")
    sev1 = IncidentFactory(severity="sev1", owner=lead, title="Critical")
    sev2 = IncidentFactory(severity="sev2", owner=analyst, title="Major")
    visa = PartnerEngagementFactory(incident=sev1, partner=PartnerFactory(name="Visa", code="visa"))
    amex = PartnerEngagementFactory(incident=sev1, partner=PartnerFactory(name="Amex", code="amex"))

    def clock(incident, metric, due, **extra):
        return SlaClockFactory(
            incident=incident,
            metric=metric,
            calendar=always,
            target=4 * H,
            started_at=now - 200 * H,
            due_at=due,
            **extra,
        )

    return {
        "week_old": clock(sev4, "update", now - 7 * 24 * H),
        "sev1_71": clock(sev1, "acknowledge", now - 71 * H),
        "sev1_95": clock(sev1, "resolve", now - 95 * H),
        "sev1_79": clock(sev1, "acknowledge", now - 79 * H, engagement=visa),
        "sev1_soon": clock(sev1, "resolve", now + 25 * M, engagement=amex),
        "sev2_soon": clock(sev2, "resolve", now + 10 * M),
        "sev2_later": clock(sev2, "acknowledge", now + 3 * H),
    }


ORDER = ["sev1_95", "sev1_79", "sev1_71", "sev1_soon", "sev2_soon", "sev2_later", "week_old"]


def test_at_risk_is_by_severity_then_most_overdue_then_soonest_due(analyst, late):
    page = sla_at_risk(user=analyst, params=QueryDict())

    assert [badge.clock.pk for badge in page.rows] == [late[name].pk for name in ORDER]
    assert [badge.due_text for badge in page.rows[:4]] == [
        "overdue by 3 d 23 h",
        "overdue by 3 d 7 h",
        "overdue by 2 d 23 h",
        "due in 24 min",  # 25 min from the fixture's instant, a few seconds earlier now
    ]


def test_at_risk_pages_keep_the_order(analyst, late):
    first = sla_at_risk(user=analyst, params=QueryDict(), per_page=3)
    second = sla_at_risk(user=analyst, params=QueryDict("page=2"), per_page=3)
    third = sla_at_risk(user=analyst, params=QueryDict("page=3"), per_page=3)

    pages = [[badge.clock.pk for badge in page.rows] for page in (first, second, third)]
    assert pages == [[late[name].pk for name in ORDER[i : i + 3]] for i in (0, 3, 6)]


def test_the_at_risk_page_shows_compact_rows_grouped_by_severity(client, analyst, late):
    client.force_login(analyst)

    html = client.get(reverse("cases:sla_at_risk")).content.decode()

    assert re.findall(r'<li id="at-risk-(\d+)"', html) == [str(late[name].pk) for name in ORDER]
    assert re.findall(r'<h2 class="signal-group" id="at-risk-(sev\d)"', html) == ["sev1", "sev2", "sev4"]
    row = _text(html[html.index(f'id="at-risk-{late["sev1_79"].pk}"') :].split("</li>")[0])
    assert "overdue by 3 d 7 h" in row and "Visa · Acknowledge" in row and "Critical" in row
    assert "Our desk · Update cadence" in _text(html[html.index(f'id="at-risk-{late["week_old"].pk}"') :])


def test_the_at_risk_page_in_spanish(client, analyst, late):
    client.force_login(analyst)

    html = client.get(reverse("cases:sla_at_risk"), HTTP_ACCEPT_LANGUAGE="es").content.decode()

    assert "excedido por 3 d 23 h" in _text(html)
    assert "vence en 24 min" in _text(html)


# The navigation's badge ----------------------------------------------------------------------------


@pytest.fixture
def badge_desk(analyst, lead, always):
    now = timezone.now()
    mine = IncidentFactory(severity="sev3", owner=analyst)
    others_sev3 = IncidentFactory(severity="sev3", owner=lead)
    others_sev1 = IncidentFactory(severity="sev1", owner=lead)
    others_sev2 = IncidentFactory(severity="sev2", owner=None)
    closed_sev1 = IncidentFactory(severity="sev1", owner=analyst, status="closed")

    def clock(incident, metric, **extra):
        return SlaClockFactory(incident=incident, metric=metric, calendar=always, target=4 * H, **extra)

    return {
        "mine_overdue": clock(mine, "acknowledge", due_at=now - H),
        "mine_due_later": clock(mine, "resolve", due_at=now + 3 * H, warn_due_at=now + 2 * H),
        "others_sev3_overdue": clock(others_sev3, "acknowledge", due_at=now - 2 * H),
        "sev1_overdue": clock(others_sev1, "acknowledge", due_at=now - 5 * M),
        "sev1_warning": clock(others_sev1, "resolve", due_at=now + 20 * M, warn_due_at=now - 10 * M),
        "sev1_fine": clock(others_sev1, "first_notice", due_at=now + 3 * H, warn_due_at=now + 2 * H),
        "sev2_paused": clock(others_sev2, "acknowledge", state="paused", due_at=None, warn_due_at=None),
        "closed": clock(closed_sev1, "acknowledge", due_at=now - H),
    }


def _badge(client, user, language="en") -> str:
    client.force_login(user)
    return client.get(reverse("cases:sla_overdue_count"), HTTP_ACCEPT_LANGUAGE=language).content.decode().strip()


def test_the_badge_counts_my_overdue_clocks_and_sev1_sev2_at_risk(client, analyst, badge_desk):
    # Mine overdue (1) + the SEV1 overdue and the SEV1 past its warning (2); not another's SEV3,
    # not my clock due later, not the SEV1 clock far from due, not paused, not closed.
    assert sla_attention_count(user=analyst) == 3
    assert _badge(client, analyst) == (
        '<span class="nav-count" aria-hidden="true">3</span><span class="visually-hidden">3 items need you</span>'
    )
    assert "3 elementos requieren su atención" in _badge(client, analyst, "es")


@pytest.mark.parametrize(
    ("role", "expected"),
    [("analyst", 3), ("lead", 3), ("partner_manager", 2)],  # the lead owns the overdue SEV3 and the SEV1
)
def test_the_badge_per_role(client, request, badge_desk, role, expected):
    user = request.getfixturevalue(role)

    assert sla_attention_count(user=user) == expected
    assert f'aria-hidden="true">{expected}</span>' in _badge(client, user)


def test_the_badge_is_empty_at_zero_and_refused_without_a_role(client, analyst, outsider):
    assert _badge(client, analyst) == ""
    client.force_login(outsider)
    assert client.get(reverse("cases:sla_overdue_count")).status_code == 403


def test_the_badge_shows_the_real_number_up_to_99(client, analyst, always):
    incidents = IncidentFactory.create_batch(120, severity="sev4", owner=analyst)
    now = timezone.now()
    SlaClock.objects.bulk_create(
        [SlaClockFactory.build(incident=incident, calendar=always, due_at=now - H) for incident in incidents[:99]]
    )
    assert 'aria-hidden="true">99</span>' in _badge(client, analyst)
    SlaClock.objects.bulk_create(
        [SlaClockFactory.build(incident=incident, calendar=always, due_at=now - H) for incident in incidents[99:]]
    )
    assert _badge(client, analyst) == (
        '<span class="nav-count" aria-hidden="true">99+</span>'
        '<span class="visually-hidden">More than 99 items need you</span>'
    )


def test_the_badge_costs_one_query(analyst, badge_desk, django_assert_num_queries):
    sla_attention_count(user=analyst)  # the permissions, read once per user object
    with django_assert_num_queries(1):
        sla_attention_count(user=analyst)


# Approvals -----------------------------------------------------------------------------------------


def _notice(incident, *, author, submitter, submitted_at, peak=None, language="en", kind="breakage", name="P"):
    engagement = PartnerEngagementFactory(incident=incident, partner=PartnerFactory(name=name, code=name.lower()))
    row = Correspondence.objects.create(
        incident=incident,
        engagement=engagement,
        direction="out",
        status="pending_approval",
        peak_severity=peak or incident.severity,
        kind=kind,
        language=language,
        subject=f"Notice to {name}",
        body_text=f"The full text for {name}.",
        message_id=f"<{name}@payhealth.test>",
        created_by=author,
    )
    payload = NoticeSubmitted(correspondence=row.pk, partner=name, language=language)
    timeline.record(payload, incident=incident, actor=submitter, at=submitted_at)
    return row


@pytest.fixture
def approvals(analyst, partner_manager):
    now = timezone.now()
    sev1 = IncidentFactory(severity="sev1")
    sev2 = IncidentFactory(severity="sev2")
    regraded = IncidentFactory(severity="sev3")  # was SEV1 when drafted: it answers to SEV1
    pm, ana = partner_manager, analyst
    return {
        "sev2_old": _notice(sev2, author=ana, submitter=pm, submitted_at=now - 5 * H, name="Banorte"),
        "sev1_new": _notice(sev1, author=pm, submitter=pm, submitted_at=now - 10 * M, name="Visa", language="es"),
        "sev1_old": _notice(
            sev1, author=ana, submitter=pm, submitted_at=now - 2 * H - 5 * M - 20 * timedelta(seconds=1), name="Prosa"
        ),
        "regraded": _notice(regraded, author=pm, submitter=ana, submitted_at=now - H, peak="sev1", name="Amex"),
        "sev2_new": _notice(sev2, author=pm, submitter=pm, submitted_at=now - 30 * M, name="Mastercard", kind="update"),
    }


APPROVAL_ORDER = ["sev1_old", "regraded", "sev1_new", "sev2_old", "sev2_new"]


def test_approvals_are_by_severity_then_oldest_request(client, lead, partner_manager, approvals):
    client.force_login(lead)

    html = client.get(reverse("cases:notice_approvals")).content.decode()

    assert re.findall(r'<li class="card signal-row approval-row" id="pending-(\d+)"', html) == [
        str(approvals[name].pk) for name in APPROVAL_ORDER
    ]
    row = _text(html[html.index(f'id="pending-{approvals["sev1_old"].pk}"') :].split("</li>")[0])
    assert "SEV1 – critical" in row and approvals["sev1_old"].incident.reference in row
    assert "Prosa" in row and "English" in row and "Breakage notice" in row
    assert f"requested by {partner_manager.get_full_name()}" in row and "waiting 2 h 05 min" in row
    assert "<details" in html and "The full text for Prosa." in html
    assert html.count('action="' + reverse("cases:notice_approve", args=[approvals["sev1_old"].pk])) == 1
    assert "5 notices waiting" in _text(html)


def test_approvals_in_spanish(client, lead, partner_manager, approvals):
    client.force_login(lead)

    html = _text(client.get(reverse("cases:notice_approvals"), HTTP_ACCEPT_LANGUAGE="es").content.decode())

    assert f"solicitado por {partner_manager.get_full_name()}" in html and "en espera desde hace 2 h 05 min" in html


def test_the_approvals_badge_counts_pending_notices_for_leads(client, lead, partner_manager, approvals):
    client.force_login(lead)
    url = reverse("cases:notice_approvals_count")

    html = client.get(url).content.decode().strip()
    Correspondence.objects.filter(pk=approvals["sev2_new"].pk).update(status="draft")
    fewer = client.get(url).content.decode().strip()
    home = client.get(reverse("overview")).content.decode()

    assert html == (
        '<span class="nav-count" aria-hidden="true">5</span>'
        '<span class="visually-hidden">5 notices wait for approval</span>'
    )
    assert 'aria-hidden="true">4</span>' in fewer
    assert f'<span id="nav-approvals" hx-get="{url}"' in home
    client.force_login(partner_manager)
    assert client.get(url).status_code == 403
    assert "nav-approvals" not in client.get(reverse("overview")).content.decode()


def test_the_approvals_badge_is_empty_without_pending_notices(client, lead):
    client.force_login(lead)

    assert client.get(reverse("cases:notice_approvals_count")).content.decode().strip() == ""


def test_approvals_cost_the_same_for_more_notices(client, lead, approvals, django_assert_max_num_queries):
    client.force_login(lead)
    url = reverse("cases:notice_approvals")
    with django_assert_max_num_queries(20) as captured:
        client.get(url)
    before = len(captured)
    for index in range(5):
        _notice(
            IncidentFactory(severity="sev2"),
            author=lead,
            submitter=UserFactory(username=f"pm{index}", role="partner_manager"),
            submitted_at=timezone.now(),
            name=f"Extra{index}",
        )
    with django_assert_max_num_queries(before):
        client.get(url)


# The overview ------------------------------------------------------------------------------------


def _queue_count(client, url: str) -> int:
    page = client.get(url)
    assert page.status_code == 200
    return page.context["page"].count


def test_every_overview_tile_links_to_a_list_with_its_count(client, analyst, lead):
    IncidentFactory.create_batch(2, severity="sev1", owner=analyst)
    IncidentFactory(severity="sev1", owner=lead)
    IncidentFactory(severity="sev2", owner=lead, status="waiting_on_partner")
    IncidentFactory(severity="sev3", owner=analyst, status="mitigated")
    IncidentFactory(severity="sev1", owner=analyst, status="closed")
    IncidentFactory(severity="sev4", owner=None, status="resolved")
    client.force_login(analyst)

    html = client.get(reverse("overview")).content.decode()
    tiles = re.findall(
        r'<a class="tile tile-link[^"]*" id="tile-([\w]+)" href="([^"]+)"><span class="figure">(\d+)</span>', html
    )

    assert [(name, int(figure)) for name, _, figure in tiles] == [
        ("open", 5),
        ("mine", 3),
        ("sev1", 3),
        ("sev2", 1),
        ("sev3", 1),
        ("sev4", 0),
    ]
    assert {name: href.replace("&amp;", "&") for name, href, _ in tiles}["sev1"] == "/?status=open&severity=sev1"
    for _name, href, figure in tiles:
        assert _queue_count(client, href.replace("&amp;", "&")) == int(figure), href
    for incident in Incident.objects.filter(status__in=["new", "investigating"]):
        assert f'href="{reverse("cases:incident_detail", args=[incident.reference])}"' in html


@pytest.fixture
def history(analyst, always):
    """Three weeks in Mexico City (UTC−6): the weeks of Mon 2026-11-16, 11-23 and 11-30; now is Wed 12-02."""

    def at(day, hour=12):  # noon in Mexico City
        return datetime(2026, day[0], day[1], hour, 0, tzinfo=ZoneInfo("America/Mexico_City"))

    def incident(opened, resolved=None, acknowledged_after=None, **extra):
        row = IncidentFactory(severity="sev2", **extra)
        Incident.objects.filter(pk=row.pk).update(created_at=opened, resolved_at=resolved)
        if acknowledged_after is not None:
            SlaClockFactory(
                incident=row,
                calendar=always,
                state="met",
                started_at=opened,
                stopped_at=opened + acknowledged_after,
                due_at=None,
            )
        return row

    # Week of 11-16: four opened (with the last one below); one resolved in 10 h.
    incident(at((11, 16)), resolved=at((11, 16)) + 10 * H, acknowledged_after=10 * M)
    incident(at((11, 17)), acknowledged_after=30 * M)
    incident(at((11, 22), 23))  # Sunday 23:00 in Mexico City, Monday 05:00 UTC: still the week of 11-16
    # Week of 11-23: two opened; resolutions of 2 h, 4 h and 9 h (median 4 h), acknowledgements of 5 and 15 min.
    incident(at((11, 23)), resolved=at((11, 23)) + 2 * H, acknowledged_after=5 * M)
    incident(at((11, 24)), resolved=at((11, 24)) + 4 * H, acknowledged_after=15 * M)
    incident(at((11, 17)), resolved=at((11, 25)), status="resolved")  # 8 days 0 h: opened the week before
    # (the third resolution: 11-17 → 11-25 = 192 h; median of 2, 4, 192 h is 4 h)
    # SLA outcomes: in the week of 11-23, 3 met (the two acknowledgements above + one) and 1 breached.
    sev = IncidentFactory(severity="sev1")
    SlaClockFactory(incident=sev, metric="resolve", calendar=always, state="met", stopped_at=at((11, 26)), due_at=None)
    SlaClockFactory(
        incident=sev,
        metric="first_notice",
        calendar=always,
        state="breached",
        breached_at=at((11, 27)),
        stopped_at=at((11, 30)),
        due_at=None,
    )
    # Running but breached on 11-30: a breach of the week of 11-30.
    SlaClockFactory(incident=sev, metric="update", calendar=always, breached_at=at((11, 30)), due_at=at((11, 30)))
    Incident.objects.filter(pk=sev.pk).update(created_at=at((12, 1)))
    return at((12, 2))


def test_the_weekly_trends_are_exact(analyst, history):
    with timezone.override("America/Mexico_City"):
        weeks = incident_trends(user=analyst, now=history)

    assert len(weeks) == 12 and weeks[0].start == date(2026, 9, 14) and weeks[-1].start == date(2026, 11, 30)
    by_week = {week.start: week for week in weeks}
    w16, w23, w30 = by_week[date(2026, 11, 16)], by_week[date(2026, 11, 23)], by_week[date(2026, 11, 30)]
    assert (w16.opened, w16.resolved, w16.mttr, w16.acknowledged, w16.mtta) == (4, 1, 10 * H, 2, 20 * M)
    assert (w23.opened, w23.resolved, w23.mttr, w23.acknowledged, w23.mtta) == (2, 3, 4 * H, 2, 10 * M)
    assert (w16.met, w16.breached, w16.attainment) == (2, 0, Decimal("100.0"))
    assert (w23.met, w23.breached, w23.attainment) == (3, 1, Decimal("75.0"))
    assert (w30.opened, w30.met, w30.breached, w30.attainment) == (1, 0, 1, Decimal("0.0"))
    assert all(week.attainment is None for week in weeks[:9])


def test_weeks_follow_the_viewers_zone(analyst, history):
    """Sunday 23:00 in Mexico City is Monday 06:00 in Madrid: that incident moves to the week of 11-23."""
    with timezone.override("Europe/Madrid"):
        weeks = {week.start: week for week in incident_trends(user=analyst, now=history)}

    assert (weeks[date(2026, 11, 16)].opened, weeks[date(2026, 11, 23)].opened) == (3, 3)


def test_the_overview_draws_the_trends_with_tables_and_links(client, analyst, history, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: history)
    client.force_login(analyst)

    html = client.get(reverse("overview")).content.decode()

    for chart in ("trend-volume", "trend-mtta", "trend-mttr", "trend-attainment"):
        assert f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart}"' in html
        assert f'<title id="{chart}-title">' in html and f'<desc id="{chart}-desc">' in html
    assert "<details" in html and 'class="grid trend-table"' in html
    row = html[html.index('id="week-2026-11-23"') :].split("</tr>")[0]
    assert re.findall(r'<td class="num">(?:<a href="[^"]+">)?([^<]+)', row) == [
        "2", "3", "10 min", "4 h", "3", "1", "75.0 %"
    ]  # fmt: skip
    link = re.search(r'<a href="([^"]+)">2</a>', row).group(1).replace("&amp;", "&")
    assert urlsplit(link).query == "status=all&created_from=2026-11-23&created_to=2026-11-29"
    assert _queue_count(client, link) == 2


def test_the_overview_in_spanish(client, analyst, history, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: history)
    client.force_login(analyst)

    html = client.get(reverse("overview"), HTTP_ACCEPT_LANGUAGE="es").content.decode()

    assert "Las últimas 12 semanas" in html and "Incidentes abiertos y resueltos por semana" in html


def test_the_overview_queries_do_not_grow(client, analyst, history, django_assert_max_num_queries):
    client.force_login(analyst)
    with django_assert_max_num_queries(14) as captured:
        client.get(reverse("overview"))
    before = len(captured)
    IncidentFactory.create_batch(10, owner=analyst)
    with django_assert_max_num_queries(before):
        client.get(reverse("overview"))
