"""Inbound replies: parsing, threading, acknowledgement, triage, the gateway endpoint and the
mailbox poller.

The poller talks IMAP through `imapclient`, which needs a real IMAP server; none is available
to the test suite, so the poller is tested with an IMAPClient test double at the network edge
(`FakeMailbox` below), while everything behind it (parsing, the database, the flags it sets and
when) is real.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.correspondence.email import new_message_id
from cases.correspondence.inbound import store as inbound_services
from cases.correspondence.inbound.match import find_thread
from cases.correspondence.inbound.parse import parse_message, sanitise_html
from cases.correspondence.inbound.store import inbound_attach, inbound_receive
from cases.correspondence.tasks import poll_inbound_mailbox_task
from cases.models import CaseEvent, Correspondence, PartnerEngagement
from partners.models import Partner
from payhealth import config
from tests.factories import IncidentFactory, PartnerContactFactory, PartnerEngagementFactory, PartnerFactory

pytestmark = pytest.mark.django_db
Kind = CaseEvent.Kind
PartnerStatus = PartnerEngagement.PartnerStatus
TOKEN = "gateway-secret-0123456789"


def raw_mail(
    *,
    subject: str = "RE: your notice",
    sender: str = "Operaciones BBVA <ops@bbva.test>",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    text: str = "Recibido, folio 4821.",
    html: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] = (),
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "PayHealth Operations <payhealth@localhost>"
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="bbva.test")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for filename, content_type, content in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    for name, value in (headers or {}).items():  # after the body: setting content clears Content-* headers
        message[name] = value
    return message.as_bytes()


def bounce_mail(*, original_message_id: str, subject: str) -> bytes:
    """A delivery status notification (RFC 3464) as mail servers send them."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.bbva.test>\r\n"
        "To: payhealth@localhost\r\n"
        f"Subject: Undelivered Mail Returned to Sender: {subject}\r\n"
        f"Message-ID: {make_msgid(domain='mx.bbva.test')}\r\n"
        f"In-Reply-To: {original_message_id}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver your message.\r\n"
        "--b1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.bbva.test\r\n\r\nFinal-Recipient: rfc822; gone@bbva.test\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "--b1--\r\n"
    ).encode()


@pytest.fixture
def thread(db):
    """An incident, BBVA engaged and notified, with the notice we sent it."""
    incident = IncidentFactory()
    partner = PartnerFactory(code="bbva-mx", name="BBVA México")
    PartnerContactFactory(partner=partner, email="ops@bbva.test")
    engagement = PartnerEngagementFactory(
        incident=incident,
        partner=partner,
        partner_status=PartnerStatus.NOTIFIED,
        first_notified_at=timezone.now() - timedelta(minutes=20),
    )
    notice = Correspondence.objects.create(
        incident=incident,
        engagement=engagement,
        direction=Correspondence.Direction.OUTBOUND,
        language="es",
        subject=f"[{incident.reference}] Caída de tasa de aprobación",
        body_text="…",
        to_addresses=["ops@bbva.test"],
        status=Correspondence.Status.SENT,
        sent_at=timezone.now() - timedelta(minutes=20),
        message_id=new_message_id(incident.reference),
    )
    return incident, engagement, notice


def events_of(incident, kind) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(incident=incident, kind=kind).order_by("id"))


# --- parsing ----------------------------------------------------------------------------------


def test_parse_reads_addresses_threading_headers_and_both_bodies():
    raw = raw_mail(
        sender="Operaciones BBVA <OPS@bbva.test>",
        message_id="<r1@bbva.test>",
        in_reply_to="<n1@payhealth>",
        references="<n0@payhealth> <n1@payhealth>",
        html="<p>Recibido</p>",
        headers={"Cc": "Escalamiento <esc@bbva.test>, otro@bbva.test", "Content-Language": "es-MX"},
    )
    parsed = parse_message(raw)
    assert parsed.message_id == "<r1@bbva.test>"
    assert parsed.sender_email == "ops@bbva.test"
    assert parsed.to_addresses == ["payhealth@localhost"]
    assert parsed.cc_addresses == ["esc@bbva.test", "otro@bbva.test"]
    assert parsed.in_reply_to == "<n1@payhealth>"
    assert parsed.references == ["<n0@payhealth>", "<n1@payhealth>"]
    assert parsed.body_text.strip() == "Recibido, folio 4821."
    assert parsed.body_html.strip() == "<p>Recibido</p>"
    assert parsed.language == "es"
    assert parsed.is_auto_reply is False


def test_folded_encoded_subject_is_decoded_without_a_leading_space():
    subject = "RE: [PH-2026-000123] Caída de la tasa de aprobación en débito — acuse de recibo del área de operaciones"
    raw = raw_mail(subject=subject)
    assert b"=?utf-8?" in raw  # the header really is encoded (and folded, at this length)
    assert parse_message(raw).subject == subject


def test_nul_characters_are_dropped_not_a_database_error():
    raw = b"From: ops@bbva.test\r\nSubject: ho\x00la\r\nMessage-ID: <nul@bbva.test>\r\n\r\nfo\x00lio\r\n"
    row = inbound_receive(raw=raw, source="test").correspondence
    assert (row.subject, row.body_text.strip()) == ("hola", "folio")


def test_message_without_message_id_gets_a_stable_one():
    raw = b"From: ops@bbva.test\r\nSubject: hola\r\n\r\nsin id\r\n"
    assert parse_message(raw).message_id == parse_message(raw).message_id
    assert parse_message(raw).message_id.startswith("<sha256.")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"   \r\n", "empty"),
        (b"just some bytes, not a message", "no headers"),
        (b"Subject: hello\r\n\r\nno sender\r\n", "no From address"),
    ],
)
def test_unparsable_messages_are_refused(raw, reason):
    with pytest.raises(inbound_services.InboundParseError, match=reason):
        inbound_receive(raw=raw, source="test")
    assert not Correspondence.objects.exists()


def test_sanitise_html_removes_scripts_handlers_and_javascript_urls():
    html = (
        '<p onclick="steal()">Hola <b>equipo</b></p><script>window.__pwned=1</script>'
        '<img src=x onerror="window.__pwned=2"><a href="javascript:alert(1)">clic</a>'
        '<a href="https://status.bbva.test">estado</a><style>p{}</style><iframe src="https://x.test"></iframe>'
    )
    assert sanitise_html(html) == (
        '<p>Hola <b>equipo</b></p><a rel="noopener noreferrer nofollow">clic</a>'
        '<a href="https://status.bbva.test" rel="noopener noreferrer nofollow">estado</a>'
    )


# --- matching ---------------------------------------------------------------------------------


def test_reply_is_threaded_by_in_reply_to(thread):
    incident, engagement, notice = thread
    result = inbound_receive(raw=raw_mail(in_reply_to=notice.message_id), source="test")

    assert (result.created, result.how) == (True, "header")
    row = result.correspondence
    assert (row.incident, row.engagement) == (incident, engagement)
    assert row.direction == Correspondence.Direction.INBOUND
    assert row.status == Correspondence.Status.RECEIVED
    assert row.language == "es"  # the thread's language
    [event] = events_of(incident, Kind.REPLY_RECEIVED)
    assert event.actor is None
    assert event.data == {
        "correspondence": row.pk,
        "partner": "BBVA México",
        "engagement": engagement.pk,
        "partner_reply": True,
        "subject": "RE: your notice",
        "matched_by": "header",
        "source": "test",
        "auto_reply": False,
        "from": "ops@bbva.test",
    }


def test_reply_is_threaded_by_references_when_in_reply_to_is_unknown(thread):
    incident, engagement, notice = thread
    raw = raw_mail(in_reply_to="<unknown@bbva.test>", references=f"{notice.message_id} <unknown@bbva.test>")
    result = inbound_receive(raw=raw, source="test")
    assert result.how == "header"
    assert (result.correspondence.incident, result.correspondence.engagement) == (incident, engagement)


def test_reply_is_matched_by_subject_token_and_the_contacts_address(thread):
    incident, engagement, _notice = thread
    result = inbound_receive(raw=raw_mail(subject=f"RE: [{incident.reference}] Caída"), source="test")
    assert result.how == "subject"
    assert (result.correspondence.incident, result.correspondence.engagement) == (incident, engagement)
    assert result.acknowledged is True


def test_subject_match_by_the_partners_mail_domain(thread):
    incident, engagement, _notice = thread
    raw = raw_mail(subject=f"[{incident.reference}]", sender="Otra Persona <otra.persona@bbva.test>")
    assert inbound_receive(raw=raw, source="test").correspondence.engagement == engagement


def test_subject_match_from_an_unknown_sender_reaches_the_incident_only(thread):
    incident, engagement, _notice = thread
    raw = raw_mail(subject=f"[{incident.reference}] fwd", sender="someone@elsewhere.test")
    result = inbound_receive(raw=raw, source="test")
    assert (result.how, result.correspondence.incident, result.correspondence.engagement) == ("subject", incident, None)
    assert result.acknowledged is False
    engagement.refresh_from_db()
    assert engagement.acknowledged_at is None
    assert len(events_of(incident, Kind.REPLY_RECEIVED)) == 1


def test_unknown_reference_and_headers_leave_the_message_for_triage(thread):
    raw = raw_mail(subject="[PH-1999-000001] hola", in_reply_to="<nobody@bbva.test>")
    result = inbound_receive(raw=raw, source="test")
    assert (result.how, result.correspondence.incident, result.correspondence.engagement) == ("unmatched", None, None)
    assert not CaseEvent.objects.filter(kind=Kind.REPLY_RECEIVED).exists()


def test_header_match_wins_over_a_different_subject_token(thread):
    incident, engagement, notice = thread
    other = IncidentFactory()
    raw = raw_mail(subject=f"RE: [{other.reference}]", in_reply_to=notice.message_id)
    assert find_thread(parse_message(raw)).incident == incident


def test_same_message_id_is_stored_once(thread):
    incident, _engagement, notice = thread
    raw = raw_mail(message_id="<once@bbva.test>", in_reply_to=notice.message_id)
    first = inbound_receive(raw=raw, source="imap")
    again = inbound_receive(raw=raw, source="gateway")
    assert (first.created, again.created, again.how) == (True, False, "duplicate")
    assert again.correspondence.pk == first.correspondence.pk
    assert Correspondence.objects.filter(message_id="<once@bbva.test>").count() == 1
    assert len(events_of(incident, Kind.REPLY_RECEIVED)) == 1
    assert len(events_of(incident, Kind.PARTNER_ACKNOWLEDGED)) == 1


def test_our_own_notice_coming_back_is_a_duplicate(thread):
    _incident, _engagement, notice = thread
    result = inbound_receive(raw=raw_mail(message_id=notice.message_id, sender="payhealth@localhost"), source="imap")
    assert (result.created, result.correspondence) == (False, notice)


# --- acknowledgement and auto-replies ---------------------------------------------------------


def test_first_reply_acknowledges_once(thread):
    incident, engagement, notice = thread
    first = inbound_receive(raw=raw_mail(in_reply_to=notice.message_id), source="test")
    engagement.refresh_from_db()
    acknowledged_at = engagement.acknowledged_at
    assert acknowledged_at == first.correspondence.received_at
    assert engagement.partner_status == PartnerStatus.ACKNOWLEDGED
    [ack] = events_of(incident, Kind.PARTNER_ACKNOWLEDGED)
    assert ack.data["partner"] == "BBVA México"
    assert ack.data["correspondence"] == first.correspondence.pk
    assert ack.data["changes"]["partner_status"] == {"from": "notified", "to": "acknowledged"}

    second = inbound_receive(raw=raw_mail(in_reply_to=first.correspondence.message_id), source="test")
    assert second.acknowledged is False
    engagement.refresh_from_db()
    assert engagement.acknowledged_at == acknowledged_at
    assert len(events_of(incident, Kind.PARTNER_ACKNOWLEDGED)) == 1
    assert len(events_of(incident, Kind.REPLY_RECEIVED)) == 2


def test_first_reply_stamps_the_time_but_keeps_a_later_status(thread):
    incident, engagement, notice = thread
    PartnerEngagement.objects.filter(pk=engagement.pk).update(partner_status=PartnerStatus.INVESTIGATING)
    inbound_receive(raw=raw_mail(in_reply_to=notice.message_id), source="test")
    engagement.refresh_from_db()
    assert engagement.partner_status == PartnerStatus.INVESTIGATING
    assert engagement.acknowledged_at is not None
    [ack] = events_of(incident, Kind.PARTNER_ACKNOWLEDGED)
    assert set(ack.data["changes"]) == {"acknowledged_at"}


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Auto-Submitted": "auto-generated"},
        {"X-Autoreply": "yes"},
        {"X-Autorespond": "Fuera de la oficina"},
        {"Precedence": "bulk"},
        {"Precedence": "junk"},
        {"Precedence": "auto_reply"},
    ],
)
def test_auto_replies_are_flagged_and_do_not_acknowledge(thread, headers):
    incident, engagement, notice = thread
    raw = raw_mail(subject="Fuera de la oficina", in_reply_to=notice.message_id, headers=headers)
    result = inbound_receive(raw=raw, source="test")

    assert result.correspondence.is_auto_reply is True
    assert result.correspondence.engagement == engagement  # still on the thread, for people to see
    engagement.refresh_from_db()
    assert (engagement.acknowledged_at, engagement.partner_status) == (None, PartnerStatus.NOTIFIED)
    assert events_of(incident, Kind.PARTNER_ACKNOWLEDGED) == []
    [event] = events_of(incident, Kind.REPLY_RECEIVED)
    assert event.data["auto_reply"] is True


def test_bounce_is_flagged_and_does_not_acknowledge(thread):
    incident, engagement, notice = thread
    result = inbound_receive(raw=bounce_mail(original_message_id=notice.message_id, subject=notice.subject), source="t")
    assert result.correspondence.is_auto_reply is True
    assert result.correspondence.incident == incident
    assert result.correspondence.body_text.startswith("The mail system could not deliver")
    assert [a.content_type for a in result.correspondence.attachments.all()] == ["message/delivery-status"]
    engagement.refresh_from_db()
    assert engagement.acknowledged_at is None
    assert events_of(incident, Kind.PARTNER_ACKNOWLEDGED) == []


def test_mailer_daemon_sender_alone_marks_a_bounce(thread):
    raw = raw_mail(sender="MAILER-DAEMON@mx.bbva.test", in_reply_to=thread[2].message_id)
    assert inbound_receive(raw=raw, source="test").correspondence.is_auto_reply is True


def test_auto_submitted_no_is_a_person(thread):
    raw = raw_mail(in_reply_to=thread[2].message_id, headers={"Auto-Submitted": "no"})
    assert inbound_receive(raw=raw, source="test").acknowledged is True


def test_a_colleagues_copy_does_not_acknowledge(thread):
    incident, engagement, notice = thread
    raw = raw_mail(sender="Pablo <pablo@localhost>", in_reply_to=notice.message_id)
    result = inbound_receive(raw=raw, source="test")
    assert (result.correspondence.engagement, result.acknowledged) == (engagement, False)


# --- attachments ------------------------------------------------------------------------------


def test_attachments_are_kept_and_one_over_the_limit_is_noted_not_kept(thread, settings):
    settings.PAYHEALTH_INBOUND_MAX_ATTACHMENT_BYTES = 1000
    raw = raw_mail(
        in_reply_to=thread[2].message_id,
        attachments=[("folio.txt", "text/plain", b"folio 4821"), ("logs.zip", "application/zip", b"z" * 2000)],
    )
    row = inbound_receive(raw=raw, source="test").correspondence
    kept, omitted = row.attachments.order_by("id")
    assert (kept.filename, kept.content_type, kept.size, bytes(kept.content), kept.omitted) == (
        "folio.txt",
        "text/plain",
        10,
        b"folio 4821",
        False,
    )
    assert (omitted.filename, omitted.content_type, omitted.size, bytes(omitted.content), omitted.omitted) == (
        "logs.zip",
        "application/zip",
        2000,
        b"",
        True,
    )


def test_attachment_is_downloaded_never_rendered(client, partner_manager, thread):
    raw = raw_mail(in_reply_to=thread[2].message_id, attachments=[("x.html", "text/html", b"<script>1</script>")])
    attachment = inbound_receive(raw=raw, source="test").correspondence.attachments.get()
    client.force_login(partner_manager)
    response = client.get(reverse("cases:inbound_attachment", args=[attachment.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"] == 'attachment; filename="x.html"'
    assert response.content == b"<script>1</script>"


def test_an_unmatched_replys_attachment_is_for_triagers_only(client, analyst, partner_manager, thread):
    """The triage inbox, its API and the download agree: an unmatched reply (and what it carries)
    is for those who triage; a threaded reply's attachment is for every desk member."""
    unmatched = inbound_receive(
        raw=raw_mail(subject="Consulta", attachments=[("folio.txt", "text/plain", b"FOL-1")]), source="test"
    ).correspondence.attachments.get()
    threaded = inbound_receive(
        raw=raw_mail(in_reply_to=thread[2].message_id, attachments=[("log.txt", "text/plain", b"ok")]), source="t"
    ).correspondence.attachments.get()

    def download(user, attachment):
        client.force_login(user)
        return client.get(reverse("cases:inbound_attachment", args=[attachment.pk])).status_code

    assert (download(analyst, unmatched), download(analyst, threaded)) == (404, 200)
    assert (download(partner_manager, unmatched), download(partner_manager, threaded)) == (200, 200)
    client.force_login(analyst)
    api = client.get(reverse("api:correspondence-detail", args=[unmatched.correspondence_id]))
    assert api.status_code == 404


# --- triage -----------------------------------------------------------------------------------


@pytest.fixture
def unmatched(db):
    return inbound_receive(
        raw=raw_mail(subject="Consulta sobre rechazos", sender="ops@bbva.test", text="¿Es el incidente de ayer?"),
        source="test",
    ).correspondence


def test_triage_inbox_lists_unmatched_messages_newest_first(client, partner_manager, thread, unmatched):
    newer = inbound_receive(raw=raw_mail(subject="Otra consulta", html="<p>hola<script>x()</script></p>"), source="t")
    inbound_receive(raw=raw_mail(in_reply_to=thread[2].message_id, subject="threaded one"), source="test")
    client.force_login(partner_manager)
    response = client.get(reverse("cases:triage_inbox"))
    assert response.status_code == 200
    listed = [message.pk for message in response.context["page"].object_list]
    assert listed == [newer.correspondence.pk, unmatched.pk]
    html = response.content.decode()
    assert "¿Es el incidente de ayer?" in html
    assert "<p>hola</p>" in html and "x()" not in html
    assert "threaded one" not in html


def _unmatched_from_partners(count: int, start: int) -> None:
    for number in range(start, start + count):
        partner = PartnerFactory(code=f"p{number}", name=f"Partner {number}")
        PartnerContactFactory(partner=partner, email=f"ops{number}@partner.test")
        inbound_receive(raw=raw_mail(subject=f"Consulta {number}", sender=f"OPS{number}@partner.test"), source="t")


def test_the_triage_inbox_costs_the_same_queries_for_2_and_12_messages(client, partner_manager):
    """Each message's form preselects its sender's partner; the guesses and the partner options
    are read once for the page, not once per message."""
    client.force_login(partner_manager)
    _unmatched_from_partners(2, 0)
    client.get(reverse("cases:triage_inbox"))  # caches that are not per request (content types)
    with CaptureQueriesContext(connection) as two:
        client.get(reverse("cases:triage_inbox"))
    _unmatched_from_partners(10, 2)

    with CaptureQueriesContext(connection) as twelve:
        response = client.get(reverse("cases:triage_inbox"))

    assert len(twelve) == len(two)
    listed = response.context["page"].object_list
    assert len(listed) == 12
    for message in listed:
        number = int(message.subject.rsplit(" ", 1)[1])
        partner = Partner.objects.get(code=f"p{number}")
        assert message.attach_form.initial["partner"] == partner.pk  # the address matched whatever its case
        assert f'<option value="{partner.pk}" selected>Partner {number}</option>' in response.content.decode()


def test_attach_from_triage_threads_the_message_and_acknowledges(client, partner_manager, thread, unmatched):
    incident, engagement, _notice = thread
    client.force_login(partner_manager)
    url = reverse("cases:triage_attach", args=[unmatched.pk])
    response = client.post(
        url,
        {f"m{unmatched.pk}-reference": incident.reference.lower(), f"m{unmatched.pk}-partner": engagement.partner.pk},
    )
    assert response.status_code == 302
    unmatched.refresh_from_db()
    assert (unmatched.incident, unmatched.engagement) == (incident, engagement)
    [event] = events_of(incident, Kind.REPLY_RECEIVED)
    assert (event.actor, event.data["matched_by"]) == (partner_manager, "triage")
    engagement.refresh_from_db()
    assert engagement.partner_status == PartnerStatus.ACKNOWLEDGED
    assert len(events_of(incident, Kind.PARTNER_ACKNOWLEDGED)) == 1
    assert unmatched.pk not in [m.pk for m in client.get(reverse("cases:triage_inbox")).context["page"].object_list]


def test_triage_preselects_the_partner_of_the_sender(client, partner_manager, thread, unmatched):
    client.force_login(partner_manager)
    [message] = client.get(reverse("cases:triage_inbox")).context["page"].object_list
    assert message.attach_form.initial["partner"] == thread[1].partner.pk


@pytest.mark.parametrize(
    ("reference", "partner_engaged", "error"),
    [("PH-1999-000001", True, "There is no incident with this reference."), (None, False, "is not engaged on")],
)
def test_attach_errors_are_shown_and_change_nothing(
    client, partner_manager, thread, unmatched, reference, partner_engaged, error
):
    incident, engagement, _notice = thread
    partner = engagement.partner if partner_engaged else PartnerFactory()
    client.force_login(partner_manager)
    data = {f"m{unmatched.pk}-reference": reference or incident.reference, f"m{unmatched.pk}-partner": partner.pk}
    response = client.post(reverse("cases:triage_attach", args=[unmatched.pk]), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    unmatched.refresh_from_db()
    assert unmatched.incident is None
    assert not CaseEvent.objects.filter(kind=Kind.REPLY_RECEIVED).exists()


@pytest.mark.parametrize("user", ["analyst", "outsider"])
def test_triage_needs_the_triage_permission(client, request, thread, unmatched, user):
    client.force_login(request.getfixturevalue(user))
    assert client.get(reverse("cases:triage_inbox")).status_code == 403
    data = {f"m{unmatched.pk}-reference": thread[0].reference}
    assert client.post(reverse("cases:triage_attach", args=[unmatched.pk]), data).status_code == 403
    unmatched.refresh_from_db()
    assert unmatched.incident is None
    assert not CaseEvent.objects.filter(kind=Kind.REPLY_RECEIVED).exists()


def test_attach_service_refuses_an_analyst_and_a_second_attach(analyst, partner_manager, thread, unmatched):
    incident, engagement, _notice = thread
    with pytest.raises(PermissionDenied):
        inbound_attach(correspondence=unmatched, incident=incident, actor=analyst)
    unmatched.refresh_from_db()
    assert unmatched.incident is None
    inbound_attach(correspondence=unmatched, incident=incident, engagement=engagement, actor=partner_manager)
    with pytest.raises(ValidationError, match="already part of"):
        inbound_attach(correspondence=unmatched, incident=incident, actor=partner_manager)
    assert len(events_of(incident, Kind.REPLY_RECEIVED)) == 1


# --- the gateway endpoint ---------------------------------------------------------------------


def post_raw(client, raw: bytes, *, token: str | None = None, content_type: str = "message/rfc822", **extra):
    if token is not None:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post(reverse("cases:inbound_raw"), data=raw, content_type=content_type, **extra)


@pytest.mark.parametrize(
    ("configured", "sent", "status"),
    [
        ("", None, 404),  # no token configured: the gateway path is off
        ("", "anything", 404),
        (TOKEN, None, 401),
        (TOKEN, "wrong-token", 401),
        (TOKEN, TOKEN + "x", 401),
        (TOKEN, TOKEN, 201),
    ],
)
def test_endpoint_token(client, settings, thread, configured, sent, status):
    settings.PAYHEALTH_INBOUND_TOKEN = configured
    response = post_raw(client, raw_mail(in_reply_to=thread[2].message_id), token=sent)
    assert response.status_code == status
    assert Correspondence.objects.filter(direction="in").count() == (1 if status == 201 else 0)


def test_endpoint_answers_the_match_and_200_for_a_duplicate(client, settings, thread):
    settings.PAYHEALTH_INBOUND_TOKEN = TOKEN
    incident, _engagement, notice = thread
    raw = raw_mail(message_id="<gw@bbva.test>", in_reply_to=notice.message_id)
    first = post_raw(client, raw, token=TOKEN)
    assert first.status_code == 201
    assert first.json() == {
        "id": first.json()["id"],
        "result": "header",
        "message_id": "<gw@bbva.test>",
        "incident": incident.reference,
        "partner": "bbva-mx",
        "auto_reply": False,
        "acknowledged": True,
    }
    again = post_raw(client, raw, token=TOKEN)
    assert (again.status_code, again.json()["result"], again.json()["id"]) == (200, "duplicate", first.json()["id"])


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (b"", "message/rfc822", 400),
        (b"not a message at all", "message/rfc822", 400),
        (b"Subject: no sender\r\n\r\nbody\r\n", "message/rfc822", 400),
        (b"From: ops@bbva.test\r\n\r\nbody\r\n", "application/json", 415),
    ],
)
def test_endpoint_refuses_bad_payloads(client, settings, raw, content_type, status):
    settings.PAYHEALTH_INBOUND_TOKEN = TOKEN
    response = post_raw(client, raw, token=TOKEN, content_type=content_type)
    assert response.status_code == status
    assert "detail" in response.json()
    assert not Correspondence.objects.exists()


def test_endpoint_refuses_a_message_over_the_size_limit(client, settings):
    settings.PAYHEALTH_INBOUND_TOKEN = TOKEN
    settings.PAYHEALTH_INBOUND_MAX_MESSAGE_BYTES = 2048
    response = post_raw(client, raw_mail(text="x" * 5000), token=TOKEN)
    assert response.status_code == 413
    assert not Correspondence.objects.exists()


def test_endpoint_takes_more_than_the_form_upload_limit(client, settings):
    settings.PAYHEALTH_INBOUND_TOKEN = TOKEN
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    assert post_raw(client, raw_mail(text="x" * 5000), token=TOKEN).status_code == 201


def test_endpoint_for_a_logged_in_triager_checks_csrf(settings, partner_manager, analyst):
    settings.PAYHEALTH_INBOUND_TOKEN = ""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(partner_manager)
    assert post_raw(browser, raw_mail()).status_code == 403  # no CSRF token
    browser.get(reverse("cases:triage_inbox"))  # sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    assert post_raw(browser, raw_mail(), HTTP_X_CSRFTOKEN=csrf).status_code == 201

    browser.force_login(analyst)
    assert post_raw(browser, raw_mail(), HTTP_X_CSRFTOKEN=csrf).status_code == 403
    assert Correspondence.objects.count() == 1


# --- configuration ----------------------------------------------------------------------------


def test_imap_url_is_parsed():
    mailbox = config.imap_config("INBOUND_IMAP_URL", "imaps://desk%40ops.test:p%2Fss@imap.ops.test/Socios/Respuestas")
    assert mailbox == config.ImapConfig(
        host="imap.ops.test", port=993, user="desk@ops.test", password="p/ss", folder="Socios/Respuestas", ssl=True
    )
    assert config.imap_config("INBOUND_IMAP_URL", "imap://u:p@127.0.0.1:1143").folder == "INBOX"
    assert config.imap_config("INBOUND_IMAP_URL", "") is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pop3://u:p@mail.test/INBOX", "INBOUND_IMAP_URL has unsupported scheme 'pop3'"),
        ("imaps:///INBOX", "INBOUND_IMAP_URL names no host"),
        ("imaps://u:p@mail.test:port/INBOX", "INBOUND_IMAP_URL has an invalid port"),
        ("imaps://mail.test/INBOX", "INBOUND_IMAP_URL names no user"),
    ],
)
def test_bad_imap_url_stops_with_one_line(url, message):
    with pytest.raises(config.ConfigError) as error:
        config.imap_config("INBOUND_IMAP_URL", url)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


# --- the mailbox poller (IMAPClient test double at the network edge) ---------------------------


class FakeMailbox:
    """Stands in for imapclient.IMAPClient: a folder of messages with flags, and a call log."""

    instances: list[FakeMailbox] = []
    messages: dict[int, bytes] = {}

    def __init__(self, host, port=None, ssl=True, timeout=None):
        self.host, self.port, self.ssl = host, port, ssl
        self.flags: dict[int, set[bytes]] = {uid: set() for uid in self.messages}
        self.calls: list[tuple] = []
        self.seen_after_commit: dict[int, bool] = {}
        FakeMailbox.instances.append(self)

    def login(self, user, password):
        self.calls.append(("login", user, password))

    def select_folder(self, folder, readonly=False):
        self.calls.append(("select_folder", folder))

    def search(self, criteria):
        assert criteria == ["UNSEEN"]
        return [uid for uid in self.messages if b"\\Seen" not in self.flags[uid]]

    def fetch(self, uids, items):
        if items == ["RFC822.SIZE"]:
            return {uid: {b"RFC822.SIZE": len(self.messages[uid])} for uid in uids}
        assert items == ["BODY.PEEK[]"]
        return {uid: {b"BODY[]": self.messages[uid]} for uid in uids}

    def add_flags(self, uids, flags):
        for uid in uids:
            header = re.search(rb"Message-ID: (<[^>]+>)", self.messages[uid])
            message_id = header.group(1).decode() if header else "none"
            self.seen_after_commit[uid] = Correspondence.objects.filter(message_id=message_id).exists()
            self.flags[uid].update(flags)

    def logout(self):
        self.calls.append(("logout",))


@pytest.fixture
def mailbox(monkeypatch, settings):
    settings.INBOUND_IMAP_URL = "imaps://desk%40ops.test:secret@imap.ops.test/INBOX"
    FakeMailbox.instances = []
    monkeypatch.setattr(inbound_services, "IMAPClient", FakeMailbox)
    return FakeMailbox


@pytest.mark.django_db(transaction=True)
def test_poll_stores_unseen_messages_and_marks_them_seen_after_commit(mailbox, thread):
    incident, _engagement, notice = thread
    already = raw_mail(message_id="<already@bbva.test>")
    inbound_receive(raw=already, source="gateway")
    mailbox.messages = {
        11: raw_mail(message_id="<m11@bbva.test>", in_reply_to=notice.message_id),
        12: already,
        13: b"garbage without headers",
        14: raw_mail(message_id="<m14@bbva.test>", subject="sin referencia"),
    }
    assert poll_inbound_mailbox_task.apply().get() == {"stored": 2, "duplicates": 1, "refused": 1}

    [client] = mailbox.instances
    assert (client.host, client.port, client.ssl) == ("imap.ops.test", 993, True)
    assert client.calls == [("login", "desk@ops.test", "secret"), ("select_folder", "INBOX"), ("logout",)]
    assert {uid: client.flags[uid] for uid in (11, 12, 14)} == {uid: {b"\\Seen"} for uid in (11, 12, 14)}
    assert client.flags[13] == {b"\\Seen", b"\\Flagged"}
    assert client.seen_after_commit == {11: True, 12: True, 13: False, 14: True}
    assert Correspondence.objects.get(message_id="<m11@bbva.test>").incident == incident
    assert Correspondence.objects.get(message_id="<m14@bbva.test>").incident is None


def test_poll_leaves_a_message_unseen_when_storing_it_fails(mailbox, monkeypatch, thread):
    mailbox.messages = {21: raw_mail(message_id="<m21@bbva.test>"), 22: raw_mail(message_id="<m22@bbva.test>")}
    real_receive = inbound_services.inbound_receive

    def database_down_for_22(*, raw, source):  # fault injection: the database fails mid-batch
        if b"<m22@bbva.test>" in raw:
            raise OperationalError("server closed the connection unexpectedly")
        return real_receive(raw=raw, source=source)

    monkeypatch.setattr(inbound_services, "inbound_receive", database_down_for_22)
    with pytest.raises(OperationalError):
        inbound_services.inbound_poll_mailbox()
    [client] = mailbox.instances
    assert client.flags == {21: {b"\\Seen"}, 22: set()}
    assert client.calls[-1] == ("logout",)


def test_poll_refuses_a_message_over_the_size_limit_without_fetching_it(mailbox, settings):
    settings.PAYHEALTH_INBOUND_MAX_MESSAGE_BYTES = 2048
    mailbox.messages = {31: raw_mail(text="x" * 5000)}
    assert inbound_services.inbound_poll_mailbox().refused == 1
    assert mailbox.instances[0].flags[31] == {b"\\Seen", b"\\Flagged"}
    assert not Correspondence.objects.exists()


def test_poll_does_nothing_without_a_mailbox(mailbox, settings):
    settings.INBOUND_IMAP_URL = ""
    assert poll_inbound_mailbox_task.apply().get() == {"stored": 0, "duplicates": 0, "refused": 0}
    assert mailbox.instances == []


def test_poller_task_is_routed_and_scheduled(settings):
    assert settings.CELERY_TASK_ROUTES["cases.poll_inbound_mailbox_task"] == {"queue": "default"}
    assert settings.CELERY_BEAT_SCHEDULE["poll-inbound-mailbox"]["task"] == "cases.poll_inbound_mailbox_task"


# --- card numbers -------------------------------------------------------------------------------


def test_card_numbers_in_a_reply_are_masked_as_it_is_read():
    parsed = parse_message(
        raw_mail(
            subject="RE: cargo 4111 1111 1111 1111",
            sender="Ops <4111111111111111@bbva.test>",
            text="Tarjeta 4111-1111-1111-1111, folio 4821, BIN 411111.",
            html="<p>4111111111111111</p>",
            attachments=[("voucher 4111111111111111.pdf", "application/pdf", b"%PDF")],
        )
    )

    assert parsed.subject == "RE: cargo 411111******1111"
    assert parsed.from_address == "Ops <411111******1111@bbva.test>"
    assert parsed.body_text.strip() == "Tarjeta 411111******1111, folio 4821, BIN 411111."
    assert parsed.body_html.strip() == "<p>411111******1111</p>"
    assert parsed.attachments[0].filename == "voucher 411111******1111.pdf"
    assert parsed.masked_card_numbers == 6  # the sender's address counts twice: as written and bare


def test_a_masked_reply_waiting_in_triage_is_noted_on_the_incident_it_joins(thread, partner_manager):
    incident, engagement, _notice = thread
    result = inbound_receive(raw=raw_mail(subject="Cargo 5555 5555 5555 4444", text="5555555555554444"), source="imap")
    row = result.correspondence
    assert row.incident is None and row.masked_card_numbers == 2
    assert not CaseEvent.objects.filter(kind=Kind.CARD_NUMBERS_MASKED).exists()

    inbound_attach(correspondence=row, incident=incident, engagement=engagement, actor=partner_manager)

    [noted] = events_of(incident, Kind.CARD_NUMBERS_MASKED)
    assert noted.data == {"origin": "mail", "count": 2, "correspondence": row.pk}
    assert noted.actor is None
    [reply] = events_of(incident, Kind.REPLY_RECEIVED)
    assert reply.data["subject"] == "Cargo 555555******4444"
