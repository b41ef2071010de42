"""The signed acknowledgement link of each notice and the partner's public page: the link made at
drafting and shown in the notice's language, the page in English and Spanish, answers recorded as
replies on the thread (the partner's acknowledge clock stops), refusals (forged, tampered, other
incident, expired, revoked, not sent yet), revoking from the desk and the API, the rate limit."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation

from cases.correspondence.acklinks import ack_token, ack_url
from cases.correspondence.compose import notice_compose
from cases.correspondence.context import moment
from cases.correspondence.portal import PortalAnswer, ack_link_revoke, portal_answer
from cases.models import AckLink, CaseEvent, Correspondence, SlaClock
from cases.timeline.sentences import sentence
from tests.cases.sla.data import deliver_notice, freeze, mx, sla_desk
from tests.prosa import prosa_desk

pytestmark = pytest.mark.django_db
State = SlaClock.State
SITE = "https://desk.example.test"


@pytest.fixture(autouse=True)
def _site(settings):
    settings.PAYHEALTH_SITE_URL = SITE + "/"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def sent_notice(desk, partner, lead) -> Correspondence:
    """A breakage notice drafted for `partner` and marked sent (the Prosa incident is SEV1)."""
    [draft] = notice_compose(incident=desk.incident, actor=lead, kind="breakage", partners=[partner]).drafts
    Correspondence.objects.filter(pk=draft.pk).update(status="sent", sent_at=timezone.now())
    draft.refresh_from_db()
    return draft


@pytest.fixture
def prosa(lead):
    desk = prosa_desk(owner=lead)
    desk.bbva_notice = sent_notice(desk, desk.bbva, lead)
    desk.visa_notice = sent_notice(desk, desk.visa, lead)
    return desk


def page_url(notice: Correspondence) -> str:
    link = notice.ack_link
    return reverse("cases:ack_page", args=[notice.incident.reference, ack_token(link)])


def events(incident, kind) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(incident=incident, kind=kind).order_by("id"))


# --- the link in the notice ---------------------------------------------------------------------


def test_each_notice_carries_its_own_link_in_its_language(prosa):
    bbva, visa = prosa.bbva_notice, prosa.visa_notice
    assert bbva.ack_link.engagement == prosa.bbva_engagement
    assert bbva.ack_link.recipients == ["mesa@bbva.test"]
    assert bbva.ack_link.key != visa.ack_link.key
    days = (bbva.ack_link.expires_at - bbva.created_at).total_seconds() / 86400
    assert round(days) == 14  # PAYHEALTH_ACK_LINK_DAYS
    assert ack_url(bbva.ack_link) in bbva.body_text
    assert ack_url(bbva.ack_link).startswith(f"{SITE}/ack/{prosa.incident.reference}/")
    assert "Para dar acuse de recibo, compartir su folio y tiempo estimado o enviar una actualización" in bbva.body_text
    # Until when, written as the notice writes its other dates (14 days after it was drafted).
    until = {
        row: moment(row.ack_link.expires_at, row.engagement.partner.timezone, row.language) for row in (bbva, visa)
    }
    assert f"\nVigente hasta el {until[bbva]['text']}." in bbva.body_text
    assert re.search(r"Vigente hasta el \w+ \d\d/\d\d/\d{4}, \d\d:\d\d h, hora del centro de México", bbva.body_text)
    assert "Acknowledge, give your folio and ETA, or send an update here" in visa.body_text
    assert f"\nValid until {until[visa]['text']}." in visa.body_text and "US Eastern time" in visa.body_text
    assert ack_url(visa.ack_link) in visa.body_text and ack_url(bbva.ack_link) not in visa.body_text


def test_the_link_days_come_from_the_setting(settings, lead):
    settings.PAYHEALTH_ACK_LINK_DAYS = 3
    desk = prosa_desk(owner=lead)
    notice = sent_notice(desk, desk.prosa, lead)
    assert round((notice.ack_link.expires_at - notice.created_at).total_seconds() / 86400) == 3


# --- the page -----------------------------------------------------------------------------------


def test_the_page_speaks_the_notices_language_and_shows_only_this_partners_facts(client, prosa):
    prosa.bbva_engagement.folio = "BBVA-7781"
    prosa.bbva_engagement.save()
    prosa.visa_engagement.folio = "VISA-SECRET-1"
    prosa.visa_engagement.save()
    response = client.get(page_url(prosa.bbva_notice))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="es">' in html
    assert "Acusar recibo y enviar" in html or "acuse" in html.lower()
    assert prosa.incident.reference in html and prosa.incident.partner_title("es") in html
    assert prosa.incident.partner_summary("es") in html and prosa.incident.title not in html  # the partner-facing
    assert "BBVA México" in html and "BBVA-7781" in html
    assert "Visa" not in html and "VISA-SECRET-1" not in html and "Prosa</dd>" not in html
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["X-Frame-Options"] == "DENY"
    assert "no-store" in response["Cache-Control"]
    assert 'name="csrfmiddlewaretoken"' in html

    english = client.get(page_url(prosa.bbva_notice) + "?lang=en").content.decode()
    assert '<html lang="en">' in english and "Acknowledge and send" in english
    assert prosa.incident.partner_title("en") in english

    visa = client.get(page_url(prosa.visa_notice)).content.decode()
    assert '<html lang="en">' in visa and "BBVA" not in visa


@pytest.mark.parametrize(("language", "thanks"), [("es", "Gracias"), ("en", "Thank you")])
def test_acknowledging_with_folio_and_eta_records_a_reply_and_sets_the_engagement(client, prosa, language, thanks):
    url = page_url(prosa.bbva_notice)
    eta_local = timezone.localtime(timezone.now() + timedelta(hours=5), ZoneInfo(prosa.bbva.timezone))
    response = client.post(
        f"{url}?lang={language}",
        {
            "contact": "mesa@bbva.test",
            "folio": "BBVA-20190810-0042",
            "eta": eta_local.strftime("%Y-%m-%dT%H:%M"),
            "update": "Nuestro host está estable; vemos rechazos 91 desde el switch.",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert thanks in response.content.decode()
    reply = Correspondence.objects.get(incident=prosa.incident, direction="in")
    assert (reply.channel, reply.language, reply.engagement) == ("portal", language, prosa.bbva_engagement)
    assert reply.from_address == "Mesa de Control BBVA <mesa@bbva.test>"
    assert reply.in_reply_to == prosa.bbva_notice.message_id
    assert "BBVA-20190810-0042" in reply.body_text and "rechazos 91" in reply.body_text
    engagement = prosa.bbva_engagement
    engagement.refresh_from_db()
    assert engagement.folio == "BBVA-20190810-0042"
    assert engagement.eta == eta_local.replace(second=0, microsecond=0)  # typed in the partner's zone
    assert engagement.acknowledged_at == reply.received_at
    assert engagement.partner_status == "acknowledged"
    [answered] = events(prosa.incident, "partner_portal_answered")
    assert answered.actor is None
    assert answered.data["contact"] == "Mesa de Control BBVA (mesa@bbva.test)"
    assert set(answered.data["changes"]) == {"folio", "eta"}
    with translation.override("en"):
        assert "Mesa de Control BBVA (mesa@bbva.test) (BBVA México) answered through the acknowledgement link: " in (
            sentence(answered)
        )
    with translation.override("es"):
        spoken = sentence(answered)
        assert "Mesa de Control BBVA (mesa@bbva.test) (BBVA México) respondió mediante el enlace" in spoken
        assert "BBVA-20190810-0042" in spoken and "una actualización" in spoken
    [received] = events(prosa.incident, "reply_received")
    assert (received.data["source"], received.data["partner_reply"]) == ("portal", True)
    assert len(events(prosa.incident, "partner_acknowledged")) == 1
    link = AckLink.objects.get(pk=prosa.bbva_notice.ack_link.pk)
    assert link.uses == 1
    # the desk sees the answer on the thread
    other = Correspondence.objects.filter(engagement=prosa.visa_engagement, direction="in")
    assert not other.exists()


def test_bad_input_is_refused_with_field_errors_and_writes_nothing(client, prosa):
    url = page_url(prosa.bbva_notice)
    response = client.post(url, {"contact": "someone@else.test", "folio": "x" * 81, "eta": "mañana"})
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count('class="errors"') >= 2
    past = client.post(url + "?lang=es", {"contact": "mesa@bbva.test", "eta": "2019-08-10T12:00"})
    assert past.status_code == 400 and "Esta hora ya pasó" in past.content.decode()
    card = client.post(url, {"contact": "mesa@bbva.test", "update": "Tarjeta 4111 1111 1111 1111"})
    assert card.status_code == 400 and "4111 1111 1111 1111" not in card.content.decode()
    exe = SimpleUploadedFile("run.exe", b"MZ...", content_type="application/x-msdownload")
    refused = client.post(url, {"contact": "mesa@bbva.test", "file": exe})
    assert refused.status_code == 400
    assert not Correspondence.objects.filter(direction="in").exists()
    assert not events(prosa.incident, "partner_portal_answered")


def test_a_text_file_is_kept_with_card_numbers_masked(client, prosa, settings):
    url = page_url(prosa.bbva_notice)
    upload = SimpleUploadedFile("bitacora.txt", b"autorizacion 4111111111111111 rechazada", content_type="text/plain")
    response = client.post(url, {"contact": "mesa@bbva.test", "file": upload})
    assert response.status_code == 302
    reply = Correspondence.objects.get(direction="in")
    [attachment] = reply.attachments.all()
    assert b"4111111111111111" not in bytes(attachment.content) and b"411111******1111" in bytes(attachment.content)
    assert reply.masked_card_numbers == 1
    settings.PAYHEALTH_ACK_LINK_MAX_FILE_BYTES = 1024
    big = SimpleUploadedFile("grande.pdf", b"%PDF" + b"0" * 2000, content_type="application/pdf")
    assert client.post(url, {"contact": "mesa@bbva.test", "file": big}).status_code == 400


# --- refusals -----------------------------------------------------------------------------------


def test_forged_tampered_and_other_incident_tokens_are_refused_with_a_404(client, prosa, lead):
    token = ack_token(prosa.bbva_notice.ack_link)
    reference = prosa.incident.reference
    key, signature = token.split(":")
    for bad in (
        f"{key}:{'A' * len(signature)}",  # tampered signature
        f"{key[:-1]}{'A' if key[-1] != 'A' else 'B'}:{signature}",  # tampered key
        "nothing-here",
        key,  # unsigned
    ):
        response = client.get(reverse("cases:ack_page", args=[reference, bad]))
        assert response.status_code == 404, bad
        assert "This link cannot be used" in response.content.decode()
        assert "Este enlace no se puede usar" in response.content.decode()
        assert response["X-Robots-Tag"] == "noindex, nofollow"
    # a valid token shown with another incident's reference
    elsewhere = reverse("cases:ack_page", args=["PH-2019-999999", token])
    assert client.get(elsewhere).status_code == 404
    assert client.post(elsewhere, {"contact": "mesa@bbva.test"}).status_code == 404
    assert not Correspondence.objects.filter(direction="in").exists()


def test_a_notice_not_sent_yet_opens_nothing(client, lead):
    desk = prosa_desk(owner=lead)
    [draft] = notice_compose(incident=desk.incident, actor=lead, kind="breakage", partners=[desk.bbva]).drafts
    assert client.get(page_url(draft)).status_code == 404


def test_expired_link_is_refused_with_a_410_in_both_languages(client, prosa):
    AckLink.objects.filter(pk=prosa.bbva_notice.ack_link.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    url = page_url(prosa.bbva_notice)
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 410
    html = response.content.decode()
    assert "Este enlace ha vencido" in html and "This link has expired" in html
    assert client.post(url, {"contact": "mesa@bbva.test"}).status_code == 410
    assert not Correspondence.objects.filter(direction="in").exists()


def test_revoked_from_the_incident_page_the_link_answers_410(client, prosa, partner_manager, analyst):
    url = page_url(prosa.bbva_notice)
    revoke = reverse("cases:notice_ack_link_revoke", args=[prosa.bbva_notice.pk])
    client.force_login(analyst)
    assert client.post(revoke).status_code == 403
    client.force_login(partner_manager)
    page = client.get(reverse("cases:incident_notices", args=[prosa.incident.reference]), HTTP_HX_REQUEST="true")
    assert revoke in page.content.decode()
    response = client.post(revoke)
    assert response.status_code == 302
    link = AckLink.objects.get(pk=prosa.bbva_notice.ack_link.pk)
    assert link.revoked_at is not None and link.revoked_by == partner_manager
    [revoked] = events(prosa.incident, "ack_link_revoked")
    assert revoked.actor == partner_manager
    client.logout()
    refused = client.get(url + "?lang=es")
    assert refused.status_code == 410 and "retiró" in refused.content.decode()
    # the other partner's link still works
    assert client.get(page_url(prosa.visa_notice)).status_code == 200


def test_revoking_through_the_api(client, prosa, partner_manager, analyst):
    url = reverse("api:correspondence-revoke-ack-link", args=[prosa.visa_notice.pk])
    client.force_login(analyst)
    assert client.post(url).status_code == 403
    client.force_login(partner_manager)
    revoked = client.post(url)
    assert revoked.status_code == 200
    assert revoked.json()["ack_link"]["revoked_at"] is not None and revoked.json()["ack_link"]["uses"] == 0
    again = client.post(url)
    assert again.status_code == 400 and again.json()["error"]["code"]
    assert AckLink.objects.get(correspondence=prosa.visa_notice).revoked_at is not None
    assert len(events(prosa.incident, "ack_link_revoked")) == 1


def test_the_service_refuses_a_revoked_link_and_an_address_not_addressed(prosa, lead):
    link = prosa.bbva_notice.ack_link
    with pytest.raises(Exception, match="addresses this notice was sent to"):
        portal_answer(link=link, answer=PortalAnswer(contact="x@bbva.test", language="es"), now=timezone.now())
    ack_link_revoke(correspondence=prosa.bbva_notice, actor=lead)
    with pytest.raises(Exception, match="no longer valid"):
        portal_answer(link=link, answer=PortalAnswer(contact="mesa@bbva.test", language="es"), now=timezone.now())
    assert not Correspondence.objects.filter(direction="in").exists()


def test_too_many_requests_answer_429(client, prosa, settings):
    settings.PAYHEALTH_ACK_LINK_RATE_PER_TOKEN = 3
    url = page_url(prosa.bbva_notice)
    assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
    response = client.get(url + "?lang=es")
    assert response.status_code == 429 and "Demasiadas solicitudes" in response.content.decode()
    assert response["Retry-After"] == "3600"
    assert client.get(page_url(prosa.visa_notice)).status_code == 200  # another link counts apart


def test_too_many_requests_from_one_address_answer_429(client, prosa, settings):
    settings.PAYHEALTH_ACK_LINK_RATE_PER_IP = 2
    reference = prosa.incident.reference
    guesses = [client.get(reverse("cases:ack_page", args=[reference, f"guess-{n}"])).status_code for n in range(3)]
    assert guesses == [404, 404, 429]
    assert client.get(page_url(prosa.bbva_notice)).status_code == 429


# --- the partner's clock ------------------------------------------------------------------------


def test_an_answer_through_the_link_stops_the_partners_acknowledge_clock(monkeypatch, analyst, partner_manager):
    now = freeze(monkeypatch, mx(2026, 4, 13, 10, 0))  # Monday 13 April 2026, 10:00 CST
    desk = sla_desk(actor=analyst)
    now.set(mx(2026, 4, 13, 10, 30))
    notice = deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)
    partner_ack = SlaClock.objects.get(incident=desk.incident, metric="acknowledge", engagement__partner=desk.bbva)
    assert partner_ack.state == State.RUNNING
    now.set(mx(2026, 4, 13, 12, 0))
    answer = PortalAnswer(contact="operacion@bbva.test", language="es", folio="F-1")
    reply = portal_answer(link=notice.ack_link, answer=answer, now=timezone.now())
    partner_ack.refresh_from_db()
    assert (partner_ack.state, partner_ack.consumed) == (State.MET, timedelta(minutes=90))  # 10:30 → 12:00
    assert reply.received_at == mx(2026, 4, 13, 12, 0)
    visa_ack = SlaClock.objects.filter(incident=desk.incident, metric="acknowledge", engagement__partner=desk.visa)
    assert all(clock.state != State.MET for clock in visa_ack)


def test_the_link_in_the_sent_mail_is_the_one_approved(monkeypatch, analyst, partner_manager, mailoutbox):
    freeze(monkeypatch, mx(2026, 4, 13, 10, 0))
    desk = sla_desk(actor=analyst)
    notice = deliver_notice(desk, author=analyst, sender=partner_manager, partner=desk.bbva)
    [mail] = mailoutbox
    assert ack_url(notice.ack_link) in mail.body
    assert re.search(
        r"Vigente hasta el lunes 27/04/2026, \d\d:\d\d h, hora del centro de México \(UTC−06:00\)\.", mail.body
    )


HOSTILE = ["²", "١٢", "99999999999999999999", "-1", "0001-01-01", "9999-12-31T23:59", "x" * 3000, "<script>x</script>"]


def test_hostile_input_never_makes_a_server_error(client, prosa, settings):
    settings.PAYHEALTH_ACK_LINK_RATE_PER_TOKEN = settings.PAYHEALTH_ACK_LINK_RATE_PER_IP = 1000
    client.raise_request_exception = False
    url = page_url(prosa.bbva_notice)
    for value in HOSTILE:
        assert client.get(url, {"lang": value}).status_code == 200, value
        fields = {"contact": value, "folio": value, "eta": value, "update": value}
        assert client.post(url, fields).status_code == 400, value
        token = reverse("cases:ack_page", args=[prosa.incident.reference, value.replace("/", "")])
        assert client.get(token).status_code == 404, value
        assert (
            client.get(
                reverse("cases:ack_page", args=[value.replace("/", ""), ack_token(prosa.bbva_notice.ack_link)])
            ).status_code
            == 404
        )
    assert client.get(url + "?lang=%00").status_code == 400  # NUL refused before any view
    assert not Correspondence.objects.filter(direction="in").exists()
