"""`manage.py receive_mail`: replies fed by hand or by a mail server's pipe are threaded."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cases.models import Correspondence
from tests.factories import IncidentFactory, PartnerEngagementFactory

pytestmark = pytest.mark.django_db


def reply(in_reply_to: str, subject: str, message_id: str) -> bytes:
    return (
        f"From: Mesa de Ayuda <soporte@bbva-mx.example>\r\nTo: payhealth@localhost\r\n"
        f"Subject: {subject}\r\nMessage-ID: {message_id}\r\nIn-Reply-To: {in_reply_to}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nRecibimos su aviso; folio FOL-2026-48213.\r\n"
    ).encode()


def test_a_reply_file_is_threaded_and_a_stray_one_goes_to_triage(tmp_path):
    incident = IncidentFactory()
    engagement = PartnerEngagementFactory(incident=incident)
    notice = Correspondence.objects.create(
        incident=incident,
        engagement=engagement,
        direction="out",
        subject="Aviso",
        message_id="<n1@payhealth.test>",
        peak_severity=incident.severity,
    )
    threaded = tmp_path / "threaded.eml"
    threaded.write_bytes(reply(notice.message_id, "RE: Aviso", "<r1@bbva-mx.example>"))
    stray = tmp_path / "stray.eml"
    stray.write_bytes(reply("<unknown@elsewhere>", "Consulta", "<r2@bbva-mx.example>"))
    out = StringIO()

    call_command("receive_mail", str(threaded), str(stray), stdout=out)

    stored = Correspondence.objects.get(message_id="<r1@bbva-mx.example>")
    assert (stored.incident, stored.engagement, stored.direction) == (incident, engagement, "in")
    assert Correspondence.objects.get(message_id="<r2@bbva-mx.example>").incident is None
    assert f"header: 'RE: Aviso' → {incident.reference}" in out.getvalue()
    assert "unmatched: 'Consulta' → the triage inbox" in out.getvalue()


def test_unreadable_and_unparsable_input_is_reported(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("receive_mail", str(tmp_path / "missing.eml"))
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    err = StringIO()
    with pytest.raises(CommandError, match="1 of 1 messages refused"):
        call_command("receive_mail", str(empty), stderr=err)
    assert "refused" in err.getvalue()
    assert not Correspondence.objects.exists()
