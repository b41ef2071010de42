"""Replies understood: the language of what the partner wrote, the folio and ETA it names (offered
for one-click confirmation, never applied on their own), and the partner's acknowledgement at the
reply's Date header, bounded by the notice it answers and by its receipt.

The language detector is built once per test session (`understand._detector` is cached per
process), so these tests stay fast.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from cases.correspondence.email import new_message_id
from cases.correspondence.inbound.confirm import reply_candidate_confirm
from cases.correspondence.inbound.parse import header_date, parse_message
from cases.correspondence.inbound.store import inbound_receive, reply_acknowledged_at
from cases.correspondence.inbound.understand import (
    detect_language,
    eta_candidates,
    folio_candidates,
    own_text,
    reply_candidates,
)
from cases.models import CaseEvent, Correspondence, PartnerEngagement
from cases.timeline.sentences import sentence
from tests.api.helpers import token_client
from tests.cases.sla.data import deliver_notice, freeze, mx, sla_desk
from tests.prosa import prosa_desk

HTMX = {"HTTP_HX_REQUEST": "true"}
MEXICO_CITY = ZoneInfo("America/Mexico_City")
NEW_YORK = ZoneInfo("America/New_York")
Kind = CaseEvent.Kind

# Prosa answers the breakage notice at 11:20 h, Saturday 10 August 2019 (UTC−05:00 then).
PROSA_WRITES = datetime(2019, 8, 10, 11, 20, tzinfo=MEXICO_CITY)
PROSA_REPLY = """Buenas tardes:

Confirmamos la recepción de su aviso. Se generó el Folio PRS-20190810-0042 para su seguimiento.
Nuestro equipo técnico trabaja en el restablecimiento del switch; le informamos a las 14:00 sobre el avance.

Saludos cordiales,
Centro de Operación Prosa

El sáb, 10 ago 2019 a las 11:05, Mesa PayHealth <ops@payhealth.test> escribió:
> [PH-2019-000042] Aviso de falla. Nuestra referencia: PH-2019-000042, folio 99887766.
> Le informaremos a las 12:00 la siguiente actualización.
"""


def mail(
    *,
    text: str,
    sender: str = "Centro de Operación Prosa <noc@prosa.test>",
    subject: str = "RE: Aviso de falla",
    in_reply_to: str | None = None,
    date: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "PayHealth <payhealth@localhost>"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="prosa.test")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if date is not None:
        message["Date"] = date
    message.set_content(text)
    for name, value in (headers or {}).items():
        message[name] = value
    return message.as_bytes()


def sent_notice(engagement: PartnerEngagement, *, sent_at: datetime, language: str = "es") -> Correspondence:
    incident = engagement.incident
    return Correspondence.objects.create(
        incident=incident,
        engagement=engagement,
        direction=Correspondence.Direction.OUTBOUND,
        language=language,
        subject=f"[{incident.reference}] Aviso de falla",
        body_text="…",
        to_addresses=["noc@prosa.test"],
        status=Correspondence.Status.SENT,
        sent_at=sent_at,
        message_id=new_message_id(incident.reference),
    )


# --- the partner's own words, and their language -------------------------------------------------


def test_quoted_history_and_signature_are_not_the_partners_words():
    text = own_text(PROSA_REPLY + "\n-- \nProsa · Tel. 55 5000 1000\n")
    assert "PRS-20190810-0042" in text
    assert "PH-2019-000042" not in text and "12:00" not in text and "escribió" not in text
    outlook = "Received, thanks.\n\nFrom: PayHealth <ops@payhealth.test>\nSent: Saturday\nSubject: notice\nticket 1"
    assert own_text(outlook) == "Received, thanks."
    assert own_text("", "<p>Recibido, gracias.</p><blockquote>Our notice, in English</blockquote>") == (
        "Recibido, gracias."
    )


@pytest.mark.parametrize(
    ("text", "fallback", "language"),
    [
        ("Recibido, folio 4821. Quedamos atentos.", "en", "es"),
        ("Thanks, we are looking into it and will revert.", "es", "en"),
        ("Enterado, gracias.", "en", "es"),
        ("Ok", "es", "es"),  # too short to tell: the partner's language
        ("Ok", "en", "en"),
        ("PRS-0042 / 14:00", "es", "es"),
    ],
)
def test_language_of_what_the_partner_wrote(text, fallback, language):
    assert detect_language(text, fallback=fallback) == language


# --- folios ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folio"),
    [
        ("Se generó el Folio PRS-20190810-0042 para su seguimiento.", "PRS-20190810-0042"),
        ("Registrado con folio: 123456.", "123456"),
        ("We opened ticket INC0012345 for this.", "INC0012345"),
        ("Su número de reporte 4471 queda abierto.", "4471"),
        ("Atendemos en el caso #88123.", "88123"),
        ("Please quote our reference CHG-2231 in any reply.", "CHG-2231"),
    ],
)
def test_common_folio_shapes(text, folio):
    assert [item["value"] for item in folio_candidates(text)] == [folio]


def test_our_own_reference_and_words_without_digits_are_no_folio():
    assert folio_candidates("Re: folio PH-2019-000042, ticket pending, caso abierto, reference below") == []


# --- estimated times ------------------------------------------------------------------------------

BASE = datetime(2019, 8, 10, 11, 20, tzinfo=MEXICO_CITY)


@pytest.mark.parametrize(
    ("text", "zone", "language", "eta"),
    [
        ("le informamos a las 14:00", "America/Mexico_City", "es", datetime(2019, 8, 10, 14, 0, tzinfo=MEXICO_CITY)),
        # A Mexican desk's "CST" is hora del centro, whatever the season.
        ("ETA 16:00 CST", "America/Mexico_City", "en", datetime(2019, 8, 10, 16, 0, tzinfo=MEXICO_CITY)),
        (
            "estimamos restablecer a las 17:30 h",
            "America/Mexico_City",
            "es",
            datetime(2019, 8, 10, 17, 30, tzinfo=MEXICO_CITY),
        ),
        ("We expect to restore by 4pm EST.", "America/New_York", "en", datetime(2019, 8, 10, 16, 0, tzinfo=NEW_YORK)),
        # Another zone's abbreviation is read at its own offset: 4 pm EST (UTC−05:00) is 16:00 in Mexico City.
        ("We expect to restore by 4pm EST.", "America/Mexico_City", "en", datetime(2019, 8, 10, 21, 0, tzinfo=UTC)),
        (
            "le confirmamos mañana a las 9:00",
            "America/Mexico_City",
            "es",
            datetime(2019, 8, 11, 9, 0, tzinfo=MEXICO_CITY),
        ),
        (
            "Restablecimiento estimado el 12/08/2019 a las 10:00",
            "America/Mexico_City",
            "es",
            datetime(2019, 8, 12, 10, 0, tzinfo=MEXICO_CITY),
        ),
        ("We will update you in 2 hours.", "America/Mexico_City", "en", BASE + timedelta(hours=2)),
    ],
)
def test_eta_shapes_in_the_partners_zone_relative_to_the_reply(text, zone, language, eta):
    [found] = eta_candidates(text, sent_at=BASE, partner_timezone=zone, language=language)
    assert datetime.fromisoformat(found["value"]) == eta
    assert datetime.fromisoformat(found["value"]).utcoffset() == eta.astimezone(ZoneInfo(zone)).utcoffset()


@pytest.mark.parametrize(
    "text",
    [
        "La falla inició a las 10:47.",  # no promise
        "Le informamos a las 09:00 que inició la falla.",  # before the reply was written
        "Estimamos 2 horas de trabajo.",  # a duration, no time of day
        "Folio 4471, caso 88123",
    ],
)
def test_no_eta_where_none_is_promised(text):
    assert eta_candidates(text, sent_at=BASE, partner_timezone="America/Mexico_City", language="es") == []


def test_the_prosa_reply_names_its_folio_and_eta_and_nothing_of_the_quoted_notice():
    candidates = reply_candidates(
        subject="RE: [PH-2019-000042] Aviso de falla",
        text=own_text(PROSA_REPLY),
        sent_at=PROSA_WRITES,
        partner_timezone="America/Mexico_City",
        language="es",
    )
    assert [(item["kind"], item["value"]) for item in candidates] == [
        ("folio", "PRS-20190810-0042"),
        ("eta", "2019-08-10T14:00:00-05:00"),
    ]
    assert "le informamos a las 14:00" in candidates[1]["excerpt"]


# --- the Date header ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sat, 10 Aug 2019 11:20:00 -0500", datetime(2019, 8, 10, 16, 20, tzinfo=UTC)),
        ("Sat, 10 Aug 2019 16:20:00 -0000", datetime(2019, 8, 10, 16, 20, tzinfo=UTC)),  # zone unknown: UTC
        ("yesterday, around noon", None),
        ("Mon, 99 Foo 99999 99:99:99 +9999", None),
        ("Sat, 10 Aug 1901 11:20:00 -0500", None),
        ("", None),
        ("Sat, 10 Aug 2019 11:20:00 -0500" + " x" * 200, None),
    ],
)
def test_date_header_is_read_or_dropped(value, expected):
    assert header_date(value) == expected


# --- stored replies -------------------------------------------------------------------------------


@pytest.fixture
def prosa(db):
    desk = prosa_desk()
    notice = sent_notice(desk.prosa_engagement, sent_at=datetime(2019, 8, 10, 11, 5, tzinfo=MEXICO_CITY))
    return desk, notice


def receive_prosa_reply(notice, *, date: str = "Sat, 10 Aug 2019 11:20:00 -0500", text: str = PROSA_REPLY):
    return inbound_receive(raw=mail(text=text, in_reply_to=notice.message_id, date=date), source="upload")


def test_the_prosa_reply_is_spanish_and_offers_its_folio_and_eta_without_applying_them(prosa):
    desk, notice = prosa
    notice.language = "en"  # even an answer to an English notice is badged by what the partner wrote
    notice.save(update_fields=["language"])

    result = receive_prosa_reply(notice)

    row = result.correspondence
    assert row.language == "es"
    assert row.sent_at_header == datetime(2019, 8, 10, 16, 20, tzinfo=UTC)
    assert [(item["kind"], item["value"]) for item in row.candidates] == [
        ("folio", "PRS-20190810-0042"),
        ("eta", "2019-08-10T14:00:00-05:00"),
    ]
    engagement = PartnerEngagement.objects.get(pk=desk.prosa_engagement.pk)
    assert (engagement.folio, engagement.eta) == ("", None)  # suggestions, until a person confirms
    assert engagement.acknowledged_at == datetime(2019, 8, 10, 16, 20, tzinfo=UTC)  # its Date, not its receipt


def test_an_english_reply_is_badged_english_even_from_a_spanish_partner(prosa):
    desk, notice = prosa
    row = receive_prosa_reply(
        notice, text="Hello team, we confirm receipt. Our reference CHG-2231; ETA 16:00 CST."
    ).correspondence
    assert row.language == "en"
    assert [item["value"] for item in row.candidates] == ["CHG-2231", "2019-08-10T16:00:00-05:00"]


def test_a_too_short_reply_takes_the_partners_language(prosa):
    desk, notice = prosa
    assert receive_prosa_reply(notice, text="Ok").correspondence.language == "es"


@pytest.mark.parametrize(
    ("date", "acknowledged"),
    [
        ("Sat, 10 Aug 2019 11:20:00 -0500", datetime(2019, 8, 10, 11, 20, tzinfo=MEXICO_CITY)),  # as written
        ("Sat, 10 Aug 2019 10:00:00 -0500", datetime(2019, 8, 10, 11, 5, tzinfo=MEXICO_CITY)),  # before our notice
        (None, "received"),
        ("not a date at all", "received"),
        ("Mon, 10 Aug 2099 11:20:00 -0500", "received"),  # after it arrived
    ],
)
def test_acknowledged_at_the_date_header_bounded_by_the_notice_and_the_receipt(prosa, date, acknowledged):
    desk, notice = prosa
    row = inbound_receive(
        raw=mail(text="Recibido, folio 4821.", in_reply_to=notice.message_id, date=date), source="upload"
    ).correspondence
    engagement = PartnerEngagement.objects.get(pk=desk.prosa_engagement.pk)
    expected = row.received_at if acknowledged == "received" else acknowledged
    assert engagement.acknowledged_at == expected == reply_acknowledged_at(row)


def test_a_reply_matched_by_subject_alone_is_bounded_by_the_latest_notice_to_its_partner(prosa):
    desk, notice = prosa
    later = sent_notice(desk.prosa_engagement, sent_at=datetime(2019, 8, 10, 11, 30, tzinfo=MEXICO_CITY))
    raw = mail(
        text="Recibido, folio 4821.",
        subject=f"RE: [{desk.incident.reference}] Aviso de falla",
        date="Sat, 10 Aug 2019 11:20:00 -0500",
    )
    inbound_receive(raw=raw, source="upload")
    engagement = PartnerEngagement.objects.get(pk=desk.prosa_engagement.pk)
    assert engagement.acknowledged_at == later.sent_at


@pytest.fixture
def now(monkeypatch):
    return freeze(monkeypatch, mx(2026, 4, 13, 9, 0))


def test_the_partners_acknowledge_clock_stops_at_the_replys_date(now, analyst, partner_manager):
    desk = sla_desk(actor=analyst)
    now.set(mx(2026, 4, 13, 10, 30))
    notice = deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)
    now.set(mx(2026, 4, 13, 11, 30))  # it arrives an hour later; BBVA wrote it at 10:50

    written = format_datetime(mx(2026, 4, 13, 10, 50))
    raw = mail(text="Recibido, folio 4821.", sender="ops@bbva.test", in_reply_to=notice.message_id, date=written)
    inbound_receive(raw=raw, source="upload")

    clock = desk.clock("acknowledge", desk.bbva)
    assert (clock.state, clock.stopped_at, clock.consumed) == ("met", mx(2026, 4, 13, 10, 50), timedelta(minutes=20))
    assert desk.engagement(desk.bbva).acknowledged_at == mx(2026, 4, 13, 10, 50)
    resolve = desk.clock("resolve")
    assert resolve.state == "running"


@pytest.mark.parametrize(
    "headers",
    [
        b"Date: Mon, 99 Foo 99999 99:99:99 +9999",
        b"Date: =?utf-8?q?=00=00?=",
        b"Date: Sat, 10 Aug 2019 11:20:00 -0500 " + b"(comentario) " * 300,
        b"Date: Tue, 31 Feb 2019 25:61:00 +2500",
        b"Date: Sat, 10 Aug 10000 11:20:00 -0500",
        b"Date: \xff\xfe\x00 Sat",
        b"Date:",
        b"Date: Sat, 10 Aug 2019 11:20:00 -0500\r\nDate: Sun, 11 Aug 2019 11:20:00 -0500",
    ],
)
def test_hostile_headers_are_stored_without_an_error(client, settings, prosa, headers):
    desk, notice = prosa
    settings.PAYHEALTH_INBOUND_TOKEN = "gateway-secret-0123456789"
    raw = (
        b"From: Centro de Operaci\xc3\xb3n Prosa <noc@prosa.test>\r\nTo: payhealth@localhost\r\n"
        b"Subject: RE: Aviso de falla\r\nMessage-ID: " + make_msgid(domain="prosa.test").encode() + b"\r\n"
        b"In-Reply-To: " + notice.message_id.encode() + b"\r\n" + headers + b"\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"<p>Recibido, folio PRS-1.</p><blockquote>x</blockquote>\r\n"
    )
    response = client.post(
        reverse("cases:inbound_raw"),
        raw,
        content_type="message/rfc822",
        headers={"Authorization": "Bearer gateway-secret-0123456789"},
    )
    assert response.status_code == 201, response.content
    row = Correspondence.objects.get(pk=response.json()["id"])
    assert row.sent_at_header is None
    assert PartnerEngagement.objects.get(pk=desk.prosa_engagement.pk).acknowledged_at == row.received_at


def test_parse_keeps_the_date_header():
    parsed = parse_message(mail(text="x", date="Sat, 10 Aug 2019 11:20:00 -0500"))
    assert parsed.sent_at == datetime(2019, 8, 10, 16, 20, tzinfo=UTC)
    assert parse_message(mail(text="x")).sent_at is None


# --- confirming -----------------------------------------------------------------------------------


def test_confirm_from_the_incident_page_sets_folio_and_eta_on_the_timeline_with_who(client, analyst, prosa):
    desk, notice = prosa
    row = receive_prosa_reply(notice).correspondence
    client.force_login(analyst)
    section = client.get(reverse("cases:incident_notices", args=[desk.incident.reference]), **HTMX)
    assert section.status_code == 200
    html = section.content.decode()
    assert 'class="badge notice-lang" title="Spanish">ES<' in html
    assert "PRS-20190810-0042" in html and "Confirm folio" in html and "Confirm ETA" in html
    url = reverse("cases:reply_candidate_confirm", args=[desk.incident.reference, row.pk])

    response = client.post(url, {"candidate": "0"})
    assert response.status_code == 302
    response = client.post(url, {"candidate": "1"})
    assert response.status_code == 302

    engagement = PartnerEngagement.objects.get(pk=desk.prosa_engagement.pk)
    assert engagement.folio == "PRS-20190810-0042"
    assert engagement.eta == datetime(2019, 8, 10, 19, 0, tzinfo=UTC)  # 14:00 h, UTC−05:00
    events = list(CaseEvent.objects.filter(incident=desk.incident, kind=Kind.REPLY_FACT_CONFIRMED).order_by("id"))
    assert [(event.actor, event.data["fact"]) for event in events] == [(analyst, "folio"), (analyst, "eta")]
    assert events[0].data["changes"] == {"folio": {"from": "", "to": "PRS-20190810-0042"}}
    with translation.override("es"):
        assert "PRS-20190810-0042" in sentence(events[0])
    row.refresh_from_db()
    assert all(item["confirmed_at"] and item["confirmed_by"] for item in row.candidates)

    section = client.get(reverse("cases:incident_notices", args=[desk.incident.reference]), **HTMX).content.decode()
    assert "Confirm folio" not in section and "confirmed by" in section
    page = client.get(reverse("cases:incident_detail", args=[desk.incident.reference])).content.decode()
    assert 'class="small engagement-eta"' in page


def test_the_reply_panel_in_spanish(client, analyst, prosa):
    desk, notice = prosa
    receive_prosa_reply(notice)
    client.force_login(analyst)
    url = reverse("cases:incident_notices", args=[desk.incident.reference])
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="es", **HTMX).content.decode()
    assert 'title="Español">ES<' in html
    assert "Confirmar folio" in html
    assert "Confirm folio" not in html


@pytest.mark.parametrize("candidate", ["7", "-1", "x", "", "1" * 40])
def test_confirming_no_such_candidate_is_a_400_that_changes_nothing(client, analyst, prosa, candidate):
    desk, notice = prosa
    row = receive_prosa_reply(notice).correspondence
    client.force_login(analyst)
    url = reverse("cases:reply_candidate_confirm", args=[desk.incident.reference, row.pk])
    response = client.post(url, {"candidate": candidate})
    assert response.status_code == 400
    assert "This reply has no such folio or ETA." in response.content.decode()
    assert PartnerEngagement.objects.get(pk=desk.prosa_engagement.pk).folio == ""
    assert not CaseEvent.objects.filter(kind=Kind.REPLY_FACT_CONFIRMED).exists()


def test_confirm_service_refuses_an_outsider_an_outbound_notice_and_an_unthreaded_reply(outsider, analyst, prosa):
    desk, notice = prosa
    row = receive_prosa_reply(notice).correspondence
    with pytest.raises(PermissionDenied):
        reply_candidate_confirm(correspondence=row, index=0, actor=outsider)
    with pytest.raises(ValidationError):
        reply_candidate_confirm(correspondence=notice, index=0, actor=analyst)
    unthreaded = inbound_receive(raw=mail(text="Folio PRS-77.", sender="x@elsewhere.test"), source="upload")
    assert unthreaded.how == "unmatched"
    with pytest.raises(ValidationError) as refused:
        reply_candidate_confirm(correspondence=unthreaded.correspondence, index=0, actor=analyst)
    assert "candidate" in refused.value.message_dict


def test_confirm_over_the_api(analyst, prosa):
    desk, notice = prosa
    row = receive_prosa_reply(notice).correspondence
    api = token_client(analyst)
    detail = api.get(reverse("api:correspondence-detail", args=[row.pk])).json()
    assert detail["language"] == "es"
    assert detail["sent_at_header"].startswith("2019-08-10T")
    assert [(item["index"], item["kind"], item["value"]) for item in detail["candidates"]] == [
        (0, "folio", "PRS-20190810-0042"),
        (1, "eta", "2019-08-10T14:00:00-05:00"),
    ]

    response = api.post(reverse("api:correspondence-confirm", args=[row.pk]), {"candidate": 1}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["candidates"][1]["confirmed_by"]
    engagement = PartnerEngagement.objects.get(pk=desk.prosa_engagement.pk)
    assert engagement.eta == datetime(2019, 8, 10, 19, 0, tzinfo=UTC)
    engagements = api.get(reverse("api:incident-engagement-list", args=[desk.incident.reference])).json()
    assert [item["eta"] for item in engagements if item["partner"]["code"] == "prosa"] == ["2019-08-10T14:00:00-05:00"]

    refused = api.post(reverse("api:correspondence-confirm", args=[row.pk]), {"candidate": 5}, format="json")
    assert refused.status_code == 400
    assert "candidate" in refused.json()["error"]["fields"]
    not_a_number = api.post(reverse("api:correspondence-confirm", args=[row.pk]), {"candidate": "x"}, format="json")
    assert not_a_number.status_code == 400
    assert CaseEvent.objects.filter(kind=Kind.REPLY_FACT_CONFIRMED).count() == 1


def test_triage_attach_reads_the_reply_in_its_partners_zone(partner_manager, prosa):
    desk, notice = prosa
    raw = mail(
        text="Folio PRS-20190810-0042; estimamos restablecer a las 17:30 h.",
        sender="otro@externo.test",
        date="Sat, 10 Aug 2019 11:20:00 -0500",
    )
    row = inbound_receive(raw=raw, source="upload").correspondence
    assert [item["kind"] for item in row.candidates] == ["folio"]  # no zone to read an ETA in yet
    from cases.correspondence.inbound.store import inbound_attach

    inbound_attach(correspondence=row, incident=desk.incident, engagement=desk.prosa_engagement, actor=partner_manager)
    row.refresh_from_db()
    assert [item["value"] for item in row.candidates] == ["PRS-20190810-0042", "2019-08-10T17:30:00-05:00"]
    assert row.language == "es"
    assert timezone.is_aware(datetime.fromisoformat(row.candidates[1]["value"]))


def test_the_triage_inbox_badges_an_unmatched_reply_by_what_it_says(client, partner_manager, db):
    spanish = inbound_receive(
        raw=mail(text="Buenas tardes, ¿es el incidente de ayer? Quedamos atentos.", sender="x@elsewhere.test"),
        source="upload",
    ).correspondence
    english = inbound_receive(
        raw=mail(text="Good afternoon, is this about yesterday's outage?", sender="y@elsewhere.test"),
        source="upload",
    ).correspondence
    assert (spanish.language, english.language) == ("es", "en")
    client.force_login(partner_manager)
    html = client.get(reverse("cases:triage_inbox")).content.decode()
    assert html.count('title="Spanish">ES<') == 1 and html.count('title="English">EN<') == 1


def test_a_confirmed_eta_reaches_later_notices_context(analyst, prosa):
    from cases.correspondence.context import notice_context

    desk, notice = prosa
    row = receive_prosa_reply(notice).correspondence
    assert notice_context(engagement=desk.prosa_engagement, language="es")["partner_eta"] is None
    reply_candidate_confirm(correspondence=row, index=1, actor=analyst)
    engagement = PartnerEngagement.objects.select_related("incident", "partner").get(pk=desk.prosa_engagement.pk)
    eta = notice_context(engagement=engagement, language="es")["partner_eta"]
    assert (eta["utc"], eta["offset"]) == ("2019-08-10 19:00 UTC", "UTC−05:00")
