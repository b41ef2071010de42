"""The incident page as a cockpit: the impact header, the activity feed and its filter, and a
page whose query count does not grow with what the incident holds (cases/views/incident.py)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import AffectedMerchant, CaseEvent, Correspondence, InvestigationNote, PartnerEngagement
from cases.selectors import FEED_PAGE, incident_page_lists
from cases.services import decline_counts_record, incident_open, note_add
from tests.factories import MerchantFactory, PartnerFactory, SlaClockFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(incident, **query):
    base = reverse("cases:incident_detail", args=[incident.reference])
    return base + ("?" + "&".join(f"{key}={value}" for key, value in query.items()) if query else "")


def header(html: str) -> str:
    return html[html.index('id="incident-header"') : html.index("</section>", html.index('id="incident-header"'))]


def feed(html: str) -> str:
    return html[html.index('<ol class="feed-list') : html.index("</ol>", html.index('<ol class="feed-list'))]


@pytest.fixture
def incident(analyst):
    return incident_open(
        actor=analyst,
        title="Rechazos 05 en Banorte débito",
        category="auth_rate",
        severity="sev2",
        decline_codes=["05", "91", "51"],
        partners=[PartnerFactory(name="Prosa", code="prosa")],
    )


def measured(incident, analyst):
    """Two merchants measured, decline-code counts and Prosa's folio and acknowledge clock."""
    AffectedMerchant.objects.create(
        incident=incident,
        merchant=MerchantFactory(name="Farmacia Lupita"),
        baseline_rate=Decimal("0.9500"),
        observed_rate=Decimal("0.8000"),
        attempts=1000,
        failed_attempts=200,
        volume_at_risk=Decimal("150000.50"),
        currency="MXN",
    )
    AffectedMerchant.objects.create(
        incident=incident,
        merchant=MerchantFactory(name="Aerolíneas Sol"),
        baseline_rate=Decimal("0.9000"),
        observed_rate=Decimal("0.8500"),
        attempts=3000,
        failed_attempts=450,
        volume_at_risk=Decimal("0.10"),
        currency="USD",
    )
    decline_counts_record(
        incident=incident,
        actor=analyst,
        counts=[
            {"code": "05", "count_before": 100, "count_during": 900},
            {"code": "91", "count_before": 10, "count_during": 300},
            {"code": "51", "count_before": 50, "count_during": 0},
        ],
    )
    engagement = incident.engagements.get()
    PartnerEngagement.objects.filter(pk=engagement.pk).update(partner_status="investigating", folio="F-48213")
    SlaClockFactory(
        incident=incident,
        engagement=engagement,
        metric="acknowledge",
        started_at=timezone.now() - timedelta(hours=3),
        due_at=timezone.now() - timedelta(minutes=35),
    )
    return engagement


# The header -----------------------------------------------------------------------------------


def test_the_header_states_the_payments_impact_when_it_is_recorded(client, incident, analyst):
    engagement = measured(incident, analyst)
    client.force_login(analyst)
    top = header(client.get(url(incident)).content.decode())
    # Weighted by attempts: 91.25 % before, 83.75 % during: 7.50 pp.
    drop = re.search(r'id="impact-drop".*?<strong class="tile-value">(.*?)</strong>', top, re.S).group(1)
    assert drop.strip() == "7.50 pp"
    # Excess declines: 200 − 1,000 × 0.05 = 150 and 450 − 3,000 × 0.10 = 150.
    assert re.search(r'id="impact-excess".*?<strong class="tile-value">300</strong>', top, re.S)
    # Money per currency, never added across, as exact as it was typed.
    assert "150,000.50 MXN" in top and "0.10 USD" in top
    # The codes counted during the impact, most first; a code with none counted is left out.
    codes = re.search(r'id="impact-codes".*?</ol>', top, re.S).group(0)
    assert codes.index(">05<") < codes.index(">91<") and ">51<" not in codes
    assert "900" in codes and "75.0" in codes  # 900 of 1,200 declines during
    # Prosa: its status, folio and its acknowledge clock, overdue.
    chip = re.search(rf'id="partner-chip-{engagement.pk}".*?</li>', top, re.S).group(0)
    assert "Prosa" in chip and "Investigating" in chip and "F-48213" in chip
    assert "sla-overdue" in chip and re.search(r"overdue by 3[45] min", chip)
    assert "Record impact" not in top and "—" not in top


def test_without_a_recorded_impact_the_header_offers_to_record_it(client, incident, analyst):
    client.force_login(analyst)
    html = client.get(url(incident)).content.decode()
    top = header(html)
    for tile in ("impact-drop", "impact-excess", "impact-volume", "impact-codes"):
        assert tile not in top
    assert "Record impact" in top
    assert reverse("cases:incident_merchant_add", args=[incident.reference]) in top
    assert "—" not in top  # no rows of dashes: only the times known (detected on opening)
    assert "Detected" in top and "Impact started" not in top and "Resolved" not in top


def test_the_header_is_in_spanish_for_a_spanish_reader(client, incident, analyst):
    measured(incident, analyst)
    client.force_login(analyst)
    top = header(client.get(url(incident), HTTP_ACCEPT_LANGUAGE="es").content.decode())
    assert "Caída de la tasa de aprobación" in top and "Rechazos en exceso" in top
    assert "Códigos de rechazo principales" in top


# The activity feed ----------------------------------------------------------------------------


def message(incident, *, direction, subject, minutes_ago):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    engagement = incident.engagements.get()
    fields = {"received_at": at, "status": "received"} if direction == "in" else {"sent_at": at, "status": "sent"}
    return Correspondence.objects.create(
        incident=incident,
        engagement=engagement,
        direction=direction,
        subject=subject,
        message_id=f"<{incident.pk}.{subject.replace(' ', '-')}@payhealth.test>",
        **fields,
    )


@pytest.fixture
def busy(incident, analyst):
    note_add(incident=incident, actor=analyst, body="Llamada con **Prosa**")
    message(incident, direction="out", subject="Breakage notice", minutes_ago=30)
    message(incident, direction="in", subject="Re: Breakage notice", minutes_ago=10)
    Correspondence.objects.create(
        incident=incident,
        engagement=incident.engagements.get(),
        direction="out",
        subject="Draft nobody sent",
        peak_severity="sev2",
        message_id="<draft@payhealth.test>",
    )
    return incident


def test_the_feed_merges_notes_messages_and_events_newest_first(client, busy, analyst):
    client.force_login(analyst)
    items = feed(client.get(url(busy)).content.decode())
    order = [items.index(text) for text in ("Llamada con", "opened", "Re: Breakage notice", "Breakage notice</a>")]
    assert order == sorted(order)
    assert "Draft nobody sent" not in items  # drafts stay with the messages section
    assert items.count("event-note_added") == 0  # the note itself, not its event twice


@pytest.mark.parametrize(
    ("choice", "shown", "hidden"),
    [
        ("notes", ["Llamada con"], ["Breakage notice", "opened the incident"]),
        ("messages", ["Breakage notice", "Re: Breakage notice"], ["Llamada con", "opened the incident"]),
        ("events", ["opened the incident", "added a note"], ["Llamada con", "Breakage notice"]),
        ("all", ["Llamada con", "Breakage notice", "opened the incident"], []),
    ],
)
def test_the_feed_filter_works_without_javascript_and_with_htmx(client, busy, analyst, choice, shown, hidden):
    client.force_login(analyst)
    page = client.get(url(busy, feed=choice)).content.decode()
    assert "<html" in page
    fragment = client.get(url(busy, feed=choice), **HTMX).content.decode()
    assert fragment.lstrip().startswith('<section id="incident-timeline"') and "<html" not in fragment
    for html in (page, fragment):
        items = feed(html)
        assert all(text in items for text in shown), choice
        assert not any(text in items for text in hidden), choice
        current = re.search(r'data-feed="(\w+)" aria-current="true"', html).group(1)
        assert current == choice


@pytest.mark.parametrize("value", ["<script>alert(1)</script>", "NOTES", "", "events ", "x" * 5000, "%", "notes'--"])
def test_a_hostile_feed_filter_shows_everything(client, busy, analyst, value):
    client.force_login(analyst)
    response = client.get(reverse("cases:incident_detail", args=[busy.reference]), {"feed": value}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'data-feed="(\w+)" aria-current="true"', html).group(1) == "all"
    assert "<script>alert" not in html
    items = feed(html)
    assert "Llamada con" in items and "Breakage notice" in items and "opened the incident" in items


def test_a_write_keeps_the_feed_filter_of_the_page_it_came_from(client, busy, analyst):
    client.force_login(analyst)
    response = client.post(
        reverse("cases:incident_note_add", args=[busy.reference]),
        {"body": "Second note"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver" + url(busy, feed="notes"),
    )
    items = feed(response.content.decode())
    assert items.index("Second note") < items.index("Llamada con")
    assert "opened the incident" not in items


def entries(html: str) -> list[str]:
    """The feed's entries as written, newest first (without the "show older" link)."""
    return re.findall(r'<li class="(?:feed-item|event) .*?</li>', feed(html), flags=re.DOTALL)


def counted(html: str, choice: str = "all") -> int:
    return int(re.search(rf'data-feed="{choice}"[^>]*>[^<]*<span class="feed-count">(\d+)<', html).group(1))


def test_a_long_feed_shows_its_newest_entries_and_the_rest_on_request(client, incident, analyst):
    grow(incident, analyst, size=40)  # 40 notes, 40 messages, 40 events
    client.force_login(analyst)

    html = client.get(url(incident)).content.decode()
    everything = client.get(url(incident, feed="all", feed_show="all")).content.decode()
    swapped = client.get(url(incident, feed="all", feed_show="all"), **HTMX).content.decode()
    spanish = client.get(url(incident), HTTP_ACCEPT_LANGUAGE="es").content.decode()

    total = counted(html)
    assert total == counted(everything) > 40 + 40 + 40  # and the opening's; the chips count them all
    assert len(entries(html)) == FEED_PAGE
    assert entries(html) == entries(everything)[:FEED_PAGE]  # the newest, as the whole feed has them
    assert len(entries(everything)) == len(entries(swapped)) == total
    link = re.search(r'<li class="feed-more"><a href="([^"]+)" hx-get="([^"]+)"[^>]*>([^<]+)</a>', feed(html))
    assert link.group(3) == f"Show the {total - FEED_PAGE} older entries"
    assert link.group(1) == "?feed=all&amp;feed_show=all#incident-timeline"
    assert link.group(2).endswith("?feed=all&amp;feed_show=all")
    assert "feed-more" not in feed(everything) and "feed-more" not in feed(swapped)
    assert f"Mostrar las {total - FEED_PAGE} entradas anteriores" in feed(spanish)
    notes = client.get(url(incident, feed="notes")).content.decode()
    assert len(entries(notes)) == 40 and "feed-more" not in feed(notes)  # under 50 of that kind
    events = client.get(url(incident, feed="events")).content.decode()
    every_event = client.get(url(incident, feed="events", feed_show="all")).content.decode()
    assert entries(events) == entries(every_event)[:FEED_PAGE]
    assert counted(events, "events") == len(entries(every_event))
    assert "event-note_added" in "".join(entries(events))  # the notes' events, which "all" leaves out


def test_the_feeds_first_page_reads_only_the_newest_events_and_counts_the_rest(incident, analyst):
    grow(incident, analyst, size=40)  # each note adds its event: 80 events and more
    proposed = CaseEvent.objects.create(incident=incident, kind=CaseEvent.Kind.RESOLUTION_PROPOSED, data={})
    CaseEvent.objects.bulk_create(  # newer than the proposal, none of them a status change
        CaseEvent(incident=incident, kind=CaseEvent.Kind.ALERT_RECEIVED, data={"source": "grafana"}) for _ in range(60)
    )
    whole = incident_page_lists(user=analyst, incident=incident)

    first = incident_page_lists(user=analyst, incident=incident, feed_limit=FEED_PAGE)

    assert [event.pk for event in first.events] == [event.pk for event in whole.events][:FEED_PAGE]
    assert [event.pk for event in first.feed_events] == [
        event.pk for event in whole.events if event.kind != CaseEvent.Kind.NOTE_ADDED
    ][:FEED_PAGE]
    assert (first.event_count, first.feed_event_count) == (whole.event_count, whole.feed_event_count)
    assert whole.event_count == len(whole.events) > whole.feed_event_count > 2 * FEED_PAGE
    assert first.proposal.pk == whole.proposal.pk == proposed.pk  # older than the newest events
    assert proposed.pk not in {event.pk for event in first.events}


def test_a_note_edited_deep_in_a_long_feed_stays_on_the_page(client, incident, analyst):
    grow(incident, analyst, size=40)
    oldest = incident.notes.order_by("created_at", "pk").first()
    InvestigationNote.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(hours=3))
    client.force_login(analyst)
    edit = reverse("cases:incident_note_edit", args=[incident.reference, oldest.pk])

    form = client.get(edit, **HTMX).content.decode()

    assert f'id="id_note{oldest.pk}_body"' in entries(form)[-1]  # the oldest entry of all, with its form
    assert len(entries(form)) == counted(form) > FEED_PAGE


def test_a_write_from_the_whole_feed_keeps_the_whole_feed(client, incident, analyst):
    grow(incident, analyst, size=40)
    client.force_login(analyst)

    response = client.post(
        reverse("cases:incident_note_add", args=[incident.reference]),
        {"body": "One more"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver" + url(incident, feed="all", feed_show="all"),
    )

    html = response.content.decode()
    assert len(entries(html)) == counted(html) > 41 + 40 + 40
    assert "One more" in entries(html)[0]


# Query counts ---------------------------------------------------------------------------------


def grow(incident, actor, *, size: int):
    for index in range(size):
        note_add(incident=incident, actor=actor, body=f"Note {index} with **Markdown**")
        message(incident, direction="out" if index % 2 else "in", subject=f"Message {index}", minutes_ago=index)
    CaseEvent.objects.bulk_create(
        CaseEvent(
            incident=incident,
            actor=actor,
            kind=CaseEvent.Kind.STATUS_CHANGED,
            created_at=timezone.now() - timedelta(minutes=index),
            data={"from": "investigating", "to": "waiting_on_partner", "reason": "x"},
        )
        for index in range(size)
    )


def test_the_query_count_does_not_grow_with_the_feed(client, analyst, django_assert_max_num_queries):
    small = incident_open(actor=analyst, title="small", category="outage", severity="sev3", partners=[PartnerFactory()])
    large = incident_open(actor=analyst, title="large", category="outage", severity="sev3", partners=[PartnerFactory()])
    grow(small, analyst, size=5)
    grow(large, analyst, size=30)
    client.force_login(analyst)
    client.get(url(small))  # warm caches that are not per page
    counts = {}
    for incident in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url(incident))
        assert response.status_code == 200
        counts[incident.title] = len(queries)
    assert counts["small"] == counts["large"], counts
    with django_assert_max_num_queries(counts["small"]):
        html = client.get(url(large, feed="all", feed_show="all")).content.decode()
    assert feed(html).count('class="feed-item feed-message') == 30
    assert feed(html).count('class="feed-item feed-note"') == 30


# The page's budget: the session, the user, the viewer's profile with groups and permissions
# (accounts.preload.user_preload), the incident, the page's lists in one query
# (cases.selectors.incident_page_lists), the SLA clocks, their events with their mails, and the
# business calendars' schedules (one query).
INCIDENT_PAGE_MAX_QUERIES = 10


def crowded(incident, analyst, *, partners: int, merchants: int, events: int, messages: int):
    """Everything the page shows, `partners`/`merchants`/`events`/`messages` of each: engagements
    with running clocks (one on a business calendar), clock events with mails, notes, notices and
    replies, decline-code counts, an RCA and action items."""
    from cases.models import ActionItem, RcaRequest, SlaNotification
    from partners.models import BusinessCalendar, WorkingHours
    from tests.factories import SlaClockEventFactory

    calendar = BusinessCalendar.objects.create(
        code=f"office-{incident.pk}", name=f"Office {incident.pk}", timezone="America/Mexico_City", is_24x7=False
    )
    for weekday in range(5):
        WorkingHours.objects.create(calendar=calendar, weekday=weekday, opens="09:00", closes="18:00")
    engagements = [
        PartnerEngagement.objects.create(incident=incident, partner=PartnerFactory()) for _ in range(partners)
    ]
    for index, engagement in enumerate(engagements):
        clock = SlaClockFactory(incident=incident, engagement=engagement)
        if index == 0:
            clock.calendar = calendar
            clock.save(update_fields=["calendar"])
        event = SlaClockEventFactory(clock=clock)
        SlaNotification.objects.create(
            event=event, address=f"lead{index}@payhealth.test", status="sent", sent_at=timezone.now()
        )
    for index in range(merchants):
        AffectedMerchant.objects.create(
            incident=incident,
            merchant=MerchantFactory(),
            baseline_rate=Decimal("0.95"),
            observed_rate=Decimal("0.80"),
            attempts=1000 + index,
            failed_attempts=200,
            volume_at_risk=Decimal("1000.50"),
        )
    for index in range(messages):
        note_add(incident=incident, actor=analyst, body=f"Note {index} with **Markdown**")
        at = timezone.now() - timedelta(minutes=index)
        inbound = index % 2 == 0
        Correspondence.objects.create(
            incident=incident,
            engagement=engagements[index % len(engagements)],
            direction="in" if inbound else "out",
            subject=f"Message {index}",
            message_id=f"<{incident.pk}.{index}@payhealth.test>",
            created_by=None if inbound else analyst,
            **({"received_at": at, "status": "received"} if inbound else {"sent_at": at, "status": "sent"}),
        )
    decline_counts_record(
        incident=incident, actor=analyst, counts=[{"code": "05", "count_before": 10, "count_during": 90}]
    )
    rca = RcaRequest.objects.create(
        incident=incident,
        engagement=engagements[0],
        requested_at=timezone.now(),
        due_at=timezone.now() + timedelta(days=5),
    )
    for index in range(3):
        ActionItem.objects.create(incident=incident, rca=rca, title=f"Action {index}", owner=analyst)
    CaseEvent.objects.bulk_create(
        CaseEvent(
            incident=incident,
            actor=analyst,
            kind=CaseEvent.Kind.STATUS_CHANGED,
            created_at=timezone.now() - timedelta(hours=2, minutes=index),
            data={"from": "investigating", "to": "waiting_on_partner", "reason": "x"},
        )
        for index in range(events)
    )


@pytest.mark.parametrize("role", ["analyst", "lead", "partner_manager"])
def test_the_incident_page_costs_ten_queries_at_most_small_or_large(client, analyst, role, request):
    viewer = request.getfixturevalue(role)
    small = incident_open(actor=analyst, title="small", category="outage", severity="sev2", decline_codes=["05"])
    large = incident_open(actor=analyst, title="large", category="outage", severity="sev2", decline_codes=["05", "51"])
    crowded(small, analyst, partners=1, merchants=1, events=2, messages=2)
    crowded(large, analyst, partners=5, merchants=20, events=200, messages=30)
    client.force_login(viewer)
    client.get(url(small))  # warm caches that are not per page (content types)
    counts = {}
    for incident in (small, large):
        with CaptureQueriesContext(connection) as queries:
            html = client.get(url(incident, feed="all", feed_show="all")).content.decode()
        counts[incident.title] = len(queries)
        assert 'id="incident-sla"' in html and "lead0@payhealth.test" in html
    assert counts["small"] == counts["large"] <= INCIDENT_PAGE_MAX_QUERIES, counts
    # Everything is there: 20 merchants, 5 partners, 30 notes and messages, the follow-through.
    assert html.count('id="merchant-row-') == 20
    assert html.count('class="partner-chip"') == 5
    assert feed(html).count('class="feed-item feed-message') == 30
    assert feed(html).count('class="feed-item feed-note"') == 30
    assert html.count('class="action-item action-open"') == 3
    assert html.count('id="rca-') == 1


def test_a_feed_filter_with_a_nul_byte_is_refused_without_a_server_error(client, busy, analyst):
    client.force_login(analyst)
    response = client.get(reverse("cases:incident_detail", args=[busy.reference]), {"feed": "events\x00"})
    assert response.status_code < 500
