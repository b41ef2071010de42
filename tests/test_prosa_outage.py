"""The Prosa outage of Saturday 10 August 2019, end to end, as the desk lived it: one SEV1 incident,
three partners notified in their own language through a real SMTP server on loopback, a reply
with a folio, an acknowledgement through the signed link, an RCA request with its due date, the
link refused once expired, and the same outage dated 2026 (no summer time in Mexico City since 2022).
The desk times the incident, so each partner's acknowledge clock starts with its notice and stops
at the reply's Date (Prosa, by mail) or at the answer through the signed link (BBVA).

Prosa (the switch that failed) and BBVA México (an issuer whose host was fine) read Spanish; Visa
reads English. Each part is tested in depth next to its code; this test checks that they hold
together on one incident.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from cases.correspondence.acklinks import ack_token
from cases.correspondence.compose import notice_compose
from cases.correspondence.delivery import correspondence_deliver
from cases.correspondence.dispatch import notice_approve, notice_submit
from cases.correspondence.inbound.confirm import reply_candidate_confirm
from cases.correspondence.inbound.store import inbound_receive
from cases.models import Correspondence, Incident, PartnerEngagement, SlaClock
from cases.sla.clocks import sla_clocks_start_for_incident
from tests.cases.correspondence.test_delivery import (  # noqa: F401 - the worker's fixtures
    live_smtp,
    notice_worker,
    smtp_server,
    wait_for_status,
)
from tests.cases.correspondence.test_reply_understanding import PROSA_REPLY, mail
from tests.cases.sla.data import freeze
from tests.prosa import DETECTED, prosa_desk
from tests.support import scripted_smtp_server, smtp_settings

pytestmark = pytest.mark.django_db

DESK_PHONE = "+52 55 8000 2400"
NOTIFIED = datetime(2019, 8, 10, 16, 5, tzinfo=UTC)  # 11:05 h in Mexico City (UTC−05:00 then)
# Words that give an English sentence away in a Spanish notice (names of partners and codes aside).
ENGLISH = re.compile(
    r"\b(the|please|we|your|our|with|within|ongoing|merchants?|response code|dear|hello|time|until)\b", re.I
)


@pytest.fixture
def smtp(settings):
    settings.PAYHEALTH_SITE_URL = "https://desk.example.test/"
    settings.PAYHEALTH_DESK_PHONE = DESK_PHONE
    with scripted_smtp_server() as (port, handler):
        smtp_settings(settings, port)
        yield handler


def _acknowledge_clock(partner) -> SlaClock:
    return SlaClock.objects.get(metric=SlaClock.Metric.ACKNOWLEDGE, engagement__partner=partner)


def _without_names(body: str) -> str:
    """The text without what is a name in any language: the contacts' and the desk's, the link."""
    body = re.sub(r"https?://\S+", "", body)
    for name in ("Visa Issuer & Acquirer Support", "PayHealth", "payhealth@localhost"):
        body = body.replace(name, "")
    return body


def test_the_prosa_outage_from_first_notice_to_rca(smtp, monkeypatch, analyst, partner_manager, lead, client):
    clock = freeze(monkeypatch, NOTIFIED)
    desk = prosa_desk(owner=analyst)
    sla_clocks_start_for_incident(incident=desk.incident, at=DETECTED)  # the desk times this SEV1 incident

    # --- one breakage notice per partner, each with its own scope and asks, in its language ---------
    drafts = notice_compose(incident=desk.incident, actor=partner_manager, kind="breakage").drafts
    by_partner = {draft.engagement.partner.code: draft for draft in drafts}
    assert sorted(by_partner) == ["bbva-mx", "prosa", "visa"]
    prosa, bbva, visa = by_partner["prosa"], by_partner["bbva-mx"], by_partner["visa"]
    assert (prosa.language, bbva.language, visa.language) == ("es", "es", "en")

    assert "Caída del switch de Prosa" in prosa.subject and "Prosa switch outage" not in prosa.subject
    assert "stand-in/STIP" in prosa.body_text  # the switch is asked whether stand-in is active
    assert "7654321" in prosa.body_text  # the merchants' affiliation numbers at Prosa
    assert "host autorizador" in bbva.body_text  # the issuer checks its host...
    assert "restablecer el servicio" not in bbva.body_text  # ...and is not asked to restore Prosa's service
    assert "415231" in bbva.body_text and "455511" in bbva.body_text
    assert "520416" not in bbva.body_text  # another issuer's BIN
    assert "stand-in processing (STIP)" in visa.body_text
    assert "520416" not in visa.body_text and "Mastercard" not in visa.body_text  # Visa sees Visa only

    for spanish in (prosa, bbva):
        assert "sábado 10/08/2019, 10:47 h, hora del centro de México (horario de verano, UTC−05:00)" in (
            spanish.body_text
        )
        assert not ENGLISH.search(_without_names(spanish.body_text)), ENGLISH.search(_without_names(spanish.body_text))
    assert "Saturday 10 Aug 2019, 11:47 EDT" in visa.body_text  # Visa reads New York time
    assert all(DESK_PHONE in draft.body_text for draft in drafts)

    # --- a lead approves (SEV1); the notices leave through the SMTP server -------------------------
    for draft in drafts:
        notice_submit(correspondence=draft, actor=partner_manager)
        notice_approve(correspondence=draft, actor=lead)
        assert correspondence_deliver(correspondence_id=draft.pk) == "sent"
    delivered = {str(message["To"]): message for message in smtp.accepted}
    assert sorted(delivered) == ["mesa@bbva.test", "noc@prosa.test", "support@visa.test"]
    assert delivered["noc@prosa.test"]["Content-Language"] == "es-MX"
    assert "host autorizador" in delivered["mesa@bbva.test"].get_content()
    partners = (desk.prosa, desk.bbva, desk.visa)
    assert [_acknowledge_clock(partner).state for partner in partners] == [SlaClock.State.RUNNING] * 3

    # --- Prosa answers by mail at 11:20 h with its folio: offered, then confirmed by a person -----
    clock.at = datetime(2019, 8, 10, 16, 30, tzinfo=UTC)
    prosa.refresh_from_db()
    reply = inbound_receive(
        raw=mail(text=PROSA_REPLY, in_reply_to=prosa.message_id, date="Sat, 10 Aug 2019 11:20:00 -0500"),
        source="upload",
    ).correspondence
    assert reply.language == "es"
    engagement = PartnerEngagement.objects.get(pk=desk.prosa_engagement.pk)
    assert engagement.folio == ""  # offered, not applied
    assert engagement.acknowledged_at == datetime(2019, 8, 10, 16, 20, tzinfo=UTC)  # its Date, not its receipt
    assert _acknowledge_clock(desk.prosa).stopped_at == engagement.acknowledged_at  # Prosa's clock stopped then
    folio = next(i for i, item in enumerate(reply.candidates) if item["kind"] == "folio")
    reply_candidate_confirm(correspondence=reply, index=folio, actor=analyst)
    engagement.refresh_from_db()
    assert engagement.folio == "PRS-20190810-0042"

    # --- BBVA acknowledges through the signed link in its notice: its clock stops ------------------
    bbva.refresh_from_db()
    url = reverse("cases:ack_page", args=[desk.incident.reference, ack_token(bbva.ack_link)])
    assert url in bbva.body_text
    clock.at = datetime(2019, 8, 10, 16, 45, tzinfo=UTC)
    page = client.get(url)
    assert page.status_code == 200 and "Caída del switch de Prosa" in page.content.decode()
    assert "Visa" not in page.content.decode()  # nothing of another partner
    answered = client.post(url, {"contact": "mesa@bbva.test", "folio": "BBVA-77120", "update": "Host sin fallas."})
    assert answered.status_code in (200, 302)
    bbva_engagement = PartnerEngagement.objects.get(pk=desk.bbva_engagement.pk)
    assert (bbva_engagement.folio, bbva_engagement.acknowledged_at) == ("BBVA-77120", clock.at)
    answer = Correspondence.objects.get(engagement=bbva_engagement, direction="in")
    assert (answer.channel, answer.language, answer.in_reply_to) == ("portal", "es", bbva.message_id)
    bbva_clock = _acknowledge_clock(desk.bbva)  # stopped by the answer through the link, 40 min after the notice
    assert (bbva_clock.state, bbva_clock.stopped_at) == (SlaClock.State.BREACHED, clock.at)  # SEV1: 15 min
    assert _acknowledge_clock(desk.visa).state == SlaClock.State.RUNNING  # Visa has not answered
    forged = url.rstrip("/")[:-3] + "abc/"
    assert client.get(forged).status_code == 404
    other = reverse("cases:ack_page", args=["PH-2019-999999", ack_token(bbva.ack_link)])
    assert client.get(other).status_code == 404

    # --- after the outage, the RCA request names a date: five business days on Prosa's calendar ---
    clock.at = datetime(2019, 8, 10, 23, 40, tzinfo=UTC)  # 18:40 h, the service back since 18:17 h
    [rca] = notice_compose(
        incident=desk.incident, actor=partner_manager, kind="rca_request", partners=[desk.prosa]
    ).drafts
    assert "viernes 16/08/2019" in rca.body_text
    assert rca.language == "es" and not ENGLISH.search(_without_names(rca.body_text))
    assert Correspondence.objects.filter(incident=desk.incident, direction="in").count() == 2  # mail and link

    # --- two weeks after it was drafted, BBVA's link has expired: refused, nothing recorded -----------
    clock.at = bbva.ack_link.expires_at + timedelta(minutes=1)
    expired = client.get(url)
    assert expired.status_code == 410 and "Caída del switch de Prosa" not in expired.content.decode()
    assert client.post(url, {"contact": "mesa@bbva.test", "folio": "BBVA-99999"}).status_code == 410
    assert PartnerEngagement.objects.get(pk=desk.bbva_engagement.pk).folio == "BBVA-77120"

    # --- the same outage on Monday 10 August 2026: Mexico City has kept no summer time since 2022 --
    Incident.objects.filter(pk=desk.incident.pk).update(
        detected_at=datetime(2026, 8, 10, 16, 50, tzinfo=UTC),
        started_at=datetime(2026, 8, 10, 16, 47, tzinfo=UTC),  # 10:47 h, UTC−06:00
        mitigated_at=datetime(2026, 8, 11, 0, 17, tzinfo=UTC),
    )
    clock.at = datetime(2026, 8, 11, 0, 40, tzinfo=UTC)
    [later] = notice_compose(incident=desk.incident, actor=partner_manager, kind="update", partners=[desk.bbva]).drafts
    assert "lunes 10/08/2026, 10:47 h, hora del centro de México (UTC−06:00)" in later.body_text
    assert "horario de verano" not in later.body_text and DESK_PHONE in later.body_text
    assert not ENGLISH.search(_without_names(later.body_text)), ENGLISH.search(_without_names(later.body_text))


# --- the same three notices through a real Celery worker and SMTP server ----------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("transactional_db")  # the worker reads what this test committed
def test_the_prosa_notices_leave_through_a_real_worker(request, analyst, partner_manager, lead, settings):
    worker, smtp_sink = request.getfixturevalue("notice_worker"), request.getfixturevalue("live_smtp")
    settings.PAYHEALTH_DESK_PHONE = DESK_PHONE
    desk = prosa_desk(owner=analyst)
    drafts = notice_compose(incident=desk.incident, actor=partner_manager, kind="breakage").drafts
    for draft in drafts:  # SEV1: a lead's approval sends it, on the worker
        notice_submit(correspondence=draft, actor=partner_manager)
        notice_approve(correspondence=draft, actor=lead)

    wait_for_status(drafts, Correspondence.Status.SENT, worker=worker)

    delivered = {str(message["To"]): message for message in smtp_sink.accepted}
    assert sorted(delivered) == ["mesa@bbva.test", "noc@prosa.test", "support@visa.test"]
    addresses = ("noc@prosa.test", "mesa@bbva.test", "support@visa.test")
    prosa, bbva, visa = (delivered[address].get_content() for address in addresses)
    assert [delivered[address]["Content-Language"] for address in addresses] == ["es-MX", "es-MX", "en"]
    assert "stand-in/STIP" in prosa and "7654321" in prosa
    assert "host autorizador" in bbva and "restablecer el servicio" not in bbva and "520416" not in bbva
    assert "stand-in processing (STIP)" in visa and "Mastercard" not in visa
    assert "sábado 10/08/2019, 10:47 h, hora del centro de México (horario de verano, UTC−05:00)" in bbva
    assert all(DESK_PHONE in body for body in (prosa, bbva, visa))
    assert all(f"/ack/{desk.incident.reference}/" in body for body in (prosa, bbva, visa))
