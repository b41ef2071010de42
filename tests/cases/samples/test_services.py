"""Sample transactions: the CSV upload (all or nothing, problems by line and column, card numbers
refused), removal, and the file a partner's notice carries."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import translation

from cases.correspondence.compose import notice_compose
from cases.models import CaseEvent, SampleTransaction
from cases.services.samples import samples_remove, samples_upload
from tests.cases.samples.data import BAD, GOOD, PAN, WITH_PAN
from tests.prosa import prosa_desk

CSV_ES_PROSA = (
    "fecha_hora,monto,moneda,tarjeta,rrn,stan,codigo_autorizacion,codigo_respuesta,terminal,modo_entrada,comercio,socio\r\n"
    "2019-08-10T15:52:13Z,1250.00,MXN,415231******1234,921815000123,000123,,91,TPV00042,chip,Farmacias Nube,Prosa\r\n"
    "2019-08-10T16:03:40Z,389.90,MXN,455511******9876,921816000456,000456,,96,,contactless,,\r\n"
)
CSV_EN_VISA_HEADER = (
    "date_time,amount,currency,card,rrn,stan,auth_code,response_code,terminal_id,entry_mode,merchant,partner\r\n"
)


def _messages(error: ValidationError) -> list[str]:
    return error.message_dict["file"]


def test_a_good_file_is_stored_whole_with_masked_cards_and_a_timeline_entry(analyst):
    desk = prosa_desk()
    samples = samples_upload(incident=desk.incident, actor=analyst, content=GOOD.encode(), filename="muestras.csv")

    assert len(samples) == 3
    rows = list(SampleTransaction.objects.filter(incident=desk.incident).order_by("line"))
    assert [row.line for row in rows] == [2, 3, 4]
    first, second, third = rows
    assert first.occurred_at == datetime(2019, 8, 10, 15, 52, 13, tzinfo=UTC)
    assert first.amount == Decimal("1250.00") and first.currency == "MXN"
    assert first.card == "415231******1234" and first.engagement == desk.prosa_engagement
    assert first.merchant.name == "Farmacias Nube" and first.terminal_id == "TPV00042"
    assert second.card == "455511******9876" and second.currency == "MXN" and second.engagement is None
    assert third.engagement == desk.bbva_engagement and third.occurred_at.hour == 16
    event = CaseEvent.objects.get(incident=desk.incident, kind="samples_uploaded")
    assert event.actor == analyst
    assert event.data == {"count": 3, "filename": "muestras.csv", "partners": ["", "BBVA México", "Prosa"]}


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            [
                "Line 2, column date_time: give the time zone (e.g. -05:00) or write the time in UTC with Z.",
                "Line 3, column amount: the amount has more than two decimals.",
                "Line 3, column currency: write the currency as its three-letter code, e.g. MXN.",
                "Line 3, column card: write the card as its first 6–8 digits, the masked middle and its last 4, "
                "e.g. 415231******1234.",
                "Line 3, column partner: not a partner engaged on this incident (write its code or its name).",
            ],
        ),
        (
            "es",
            [
                "Línea 2, columna fecha_hora: indique la zona horaria (p. ej., -05:00) o escriba la hora en UTC con Z.",
                "Línea 3, columna monto: el monto tiene más de dos decimales.",
                "Línea 3, columna moneda: escriba la moneda con su código de tres letras, p. ej., MXN.",
                "Línea 3, columna tarjeta: escriba la tarjeta con sus primeros 6 a 8 dígitos, la parte "
                "enmascarada y sus últimos 4, p. ej., 415231******1234.",
                "Línea 3, columna socio: no es un socio involucrado en este incidente (escriba su código o su nombre).",
            ],
        ),
    ],
)
def test_a_bad_file_is_refused_whole_naming_line_and_column(analyst, language, expected):
    desk = prosa_desk()
    with translation.override(language), pytest.raises(ValidationError) as refused:
        samples_upload(incident=desk.incident, actor=analyst, content=BAD.encode())
    assert _messages(refused.value) == expected
    assert not SampleTransaction.objects.exists()
    assert not CaseEvent.objects.filter(kind="samples_uploaded").exists()


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            "Line 5: it holds a full card number. Card numbers are never stored: keep the first 6–8 digits and "
            "the last 4 at most.",
        ),
        (
            "es",
            "Línea 5: contiene un número de tarjeta completo. Los números de tarjeta nunca se guardan: conserve "
            "como máximo los primeros 6 a 8 dígitos y los últimos 4.",
        ),
    ],
)
def test_a_full_card_number_anywhere_refuses_the_file_without_echoing_it(analyst, language, expected, caplog):
    desk = prosa_desk()
    with translation.override(language), pytest.raises(ValidationError) as refused:
        samples_upload(incident=desk.incident, actor=analyst, content=WITH_PAN.encode(), filename=f"{PAN}.csv")
    assert _messages(refused.value) == [expected]
    assert PAN not in str(refused.value)
    assert not SampleTransaction.objects.exists()
    assert PAN not in caplog.text
    with connection.cursor() as cursor:  # nowhere in the database either
        cursor.execute("SELECT count(*) FROM cases_caseevent WHERE data::text LIKE %s", [f"%{PAN}%"])
        assert cursor.fetchone()[0] == 0


def test_limits_on_rows_and_bytes(analyst, settings):
    desk = prosa_desk()
    settings.PAYHEALTH_SAMPLES_MAX_ROWS = 2
    with pytest.raises(ValidationError) as refused:
        samples_upload(incident=desk.incident, actor=analyst, content=GOOD.encode())
    assert _messages(refused.value) == ["The file has 3 rows; an incident keeps at most 2 samples."]
    settings.PAYHEALTH_SAMPLES_MAX_ROWS = 200
    settings.PAYHEALTH_SAMPLES_MAX_BYTES = 1024
    with pytest.raises(ValidationError) as refused:
        samples_upload(incident=desk.incident, actor=analyst, content=GOOD.encode() + b"," * 2000)
    assert _messages(refused.value) == ["The file is larger than 1 KiB."]
    assert not SampleTransaction.objects.exists()


def test_removing_one_or_all_samples_is_on_the_timeline(analyst):
    desk = prosa_desk()
    first, *_rest = samples_upload(incident=desk.incident, actor=analyst, content=GOOD.encode())
    assert samples_remove(incident=desk.incident, actor=analyst, ids=[first.pk]) == 1
    assert samples_remove(incident=desk.incident, actor=analyst) == 2
    assert not SampleTransaction.objects.exists()
    removed = CaseEvent.objects.filter(incident=desk.incident, kind="samples_removed").order_by("id")
    assert [event.data for event in removed] == [{"count": 1, "all": False}, {"count": 2, "all": True}]
    with pytest.raises(ValidationError):
        samples_remove(incident=desk.incident, actor=analyst)


def test_each_partner_notice_carries_its_samples_and_the_untied_ones_in_its_language(analyst):
    desk = prosa_desk()
    samples_upload(incident=desk.incident, actor=analyst, content=GOOD.encode())

    drafts = {
        draft.engagement.partner.code: draft
        for draft in notice_compose(incident=desk.incident, actor=analyst, kind="breakage").drafts
    }

    reference = desk.incident.reference
    (prosa_file,) = drafts["prosa"].attachments.all()
    assert prosa_file.filename == f"transacciones-muestra-{reference}.csv"
    assert prosa_file.content_type == "text/csv; charset=utf-8"
    assert bytes(prosa_file.content).decode() == CSV_ES_PROSA
    (visa_file,) = drafts["visa"].attachments.all()
    assert visa_file.filename == f"sample-transactions-{reference}.csv"
    visa_csv = bytes(visa_file.content).decode()
    assert visa_csv.startswith(CSV_EN_VISA_HEADER)
    assert "455511******9876" in visa_csv and "Prosa" not in visa_csv and "BBVA" not in visa_csv
    # A kind that carries no samples, and an incident without samples, carry no file.
    resolution = notice_compose(incident=desk.incident, actor=analyst, kind="resolution").drafts
    assert not any(draft.attachments.exists() for draft in resolution)
