"""Sample transactions on the incident page (htmx section) and over the API: upload, the problems
by line and column, a card number refused without a trace, removal; the account-team button and
API action; and a partner's notice delivered with its samples to a real SMTP server on loopback."""

from __future__ import annotations

import html

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cases.correspondence.compose import notice_compose
from cases.correspondence.delivery import correspondence_deliver
from cases.correspondence.dispatch import notice_approve, notice_submit
from cases.models import CaseEvent, Correspondence, Merchant, SampleTransaction
from tests.api.helpers import token_client
from tests.cases.samples.data import BAD, GOOD, PAN, WITH_PAN
from tests.prosa import prosa_desk
from tests.support import scripted_smtp_server, smtp_settings

HTMX = {"HTTP_HX_REQUEST": "true"}


def _upload(client, desk, content: str, *, language="en", name="muestras.csv"):
    return client.post(
        reverse("cases:incident_samples_upload", args=[desk.incident.reference]),
        {"file": SimpleUploadedFile(name, content.encode(), content_type="text/csv")},
        HTTP_ACCEPT_LANGUAGE=language,
        **HTMX,
    )


def test_the_incident_page_loads_the_section_and_an_analyst_uploads_and_removes(client, analyst):
    desk = prosa_desk()
    client.force_login(analyst)
    page = client.get(reverse("cases:incident_detail", args=[desk.incident.reference])).content.decode()
    assert reverse("cases:incident_samples", args=[desk.incident.reference]) in page

    answer = _upload(client, desk, GOOD)

    assert answer.status_code == 200
    section = answer.content.decode()
    assert 'id="incident-samples"' in section and "415231******1234" in section and "TPV00042" in section
    assert "never single transactions" in section  # says where samples come from: not the payment data
    assert SampleTransaction.objects.filter(incident=desk.incident).count() == 3
    one = SampleTransaction.objects.get(card="415231******1234")
    removed = client.post(
        reverse("cases:incident_samples_remove", args=[desk.incident.reference]), {"sample": one.pk}, **HTMX
    )
    assert removed.status_code == 200 and f'id="sample-{one.pk}"' not in removed.content.decode()
    assert not SampleTransaction.objects.filter(pk=one.pk).exists()
    client.post(reverse("cases:incident_samples_remove", args=[desk.incident.reference]), {"all": "1"}, **HTMX)
    assert not SampleTransaction.objects.exists()
    assert CaseEvent.objects.filter(incident=desk.incident, kind="samples_removed").count() == 2


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Line 3, column currency: write the currency as its three-letter code, e.g. MXN."),
        ("es", "Línea 3, columna moneda: escriba la moneda con su código de tres letras, p. ej., MXN."),
    ],
)
def test_the_page_names_line_and_column_of_each_problem(client, analyst, language, expected):
    desk = prosa_desk()
    client.force_login(analyst)
    answer = _upload(client, desk, BAD, language=language)
    assert answer.status_code == 200
    assert expected in html.unescape(answer.content.decode())
    assert not SampleTransaction.objects.exists()


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Line 5: it holds a full card number."),
        ("es", "Línea 5: contiene un número de tarjeta completo."),
    ],
)
def test_a_card_number_is_refused_on_the_page_and_over_the_api_never_echoed(client, analyst, language, expected):
    desk = prosa_desk()
    client.force_login(analyst)
    page = _upload(client, desk, WITH_PAN, language=language, name=f"{PAN}.csv")
    body = html.unescape(page.content.decode())
    assert expected in body and PAN not in body

    api = token_client(analyst).post(
        reverse("api:incident-sample-list", args=[desk.incident.reference]),
        {"file": SimpleUploadedFile(f"{PAN}.csv", WITH_PAN.encode(), content_type="text/csv")},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert api.status_code == 400
    assert PAN not in api.content.decode()
    assert api.json()["error"]["fields"]["file"][0].startswith(expected)
    assert not SampleTransaction.objects.exists()
    assert not CaseEvent.objects.filter(kind="samples_uploaded").exists()


def test_the_api_uploads_lists_and_removes(analyst):
    desk = prosa_desk()
    api = token_client(analyst)
    url = reverse("api:incident-sample-list", args=[desk.incident.reference])

    created = api.post(url, {"file": SimpleUploadedFile("s.csv", GOOD.encode())}, format="multipart")

    assert created.status_code == 201
    assert [(row["card"], row["partner"]) for row in created.json()] == [
        ("415231******1234", "prosa"),
        ("455511******9876", None),
        ("520416******4321", "bbva-mx"),
    ]
    bad = api.post(url, {"file": SimpleUploadedFile("s.csv", BAD.encode())}, format="multipart")
    assert bad.status_code == 400
    assert "Line 3, column amount: the amount has more than two decimals." in bad.json()["error"]["fields"]["file"]
    listed = api.get(url).json()
    assert len(listed) == 3 and listed[0]["occurred_at"] == "2019-08-10T10:52:13-05:00"
    one = listed[0]["id"]
    assert api.delete(reverse("api:incident-sample-detail", args=[desk.incident.reference, one])).status_code == 204
    assert api.delete(url).status_code == 204
    assert not SampleTransaction.objects.exists()


def test_a_partner_notice_is_delivered_with_its_samples(analyst, lead, settings):
    desk = prosa_desk()
    token_client(analyst).post(
        reverse("api:incident-sample-list", args=[desk.incident.reference]),
        {"file": SimpleUploadedFile("s.csv", GOOD.encode())},
        format="multipart",
    )
    (draft,) = notice_compose(incident=desk.incident, actor=analyst, kind="breakage", partners=[desk.visa]).drafts
    notice_submit(correspondence=draft, actor=analyst)
    notice_approve(correspondence=draft, actor=lead)

    with scripted_smtp_server() as (port, smtp):
        smtp_settings(settings, port)
        assert correspondence_deliver(correspondence_id=draft.pk) == "sent"

    (message,) = smtp.accepted
    assert message["To"] == "support@visa.test"
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == f"sample-transactions-{desk.incident.reference}.csv"
    assert part.get_content_type() == "text/csv"
    content = part.get_payload(decode=True).decode()
    assert content.splitlines() == [
        "date_time,amount,currency,card,rrn,stan,auth_code,response_code,terminal_id,entry_mode,merchant,partner",
        "2019-08-10T16:03:40Z,389.90,MXN,455511******9876,921816000456,000456,,96,,contactless,,",
    ]


def test_the_account_team_button_and_api_action(client, analyst):
    desk = prosa_desk()
    merchant = Merchant.objects.get(name="Farmacias Nube")
    merchant.account_manager, merchant.account_manager_email = "Laura Gómez", "laura.gomez@payhealth.test"
    merchant.account_manager_language = "es"
    merchant.save()
    affected = desk.incident.affected_merchants.get(merchant=merchant)
    other = desk.incident.affected_merchants.exclude(merchant=merchant).get()
    client.force_login(analyst)
    page = client.get(reverse("cases:incident_detail", args=[desk.incident.reference])).content.decode()
    button = reverse("cases:incident_account_update", args=[desk.incident.reference, affected.pk])
    assert button in page
    assert reverse("cases:incident_account_update", args=[desk.incident.reference, other.pk]) not in page

    answer = client.post(button)

    row = Correspondence.objects.get(kind="account_update")
    assert answer.status_code == 302 and answer["Location"].endswith(f"?ids={row.pk}")
    review = client.get(answer["Location"]).content.decode()
    assert "Laura Gómez · Farmacias Nube" in html.unescape(review)
    section = client.get(reverse("cases:incident_notices", args=[desk.incident.reference]), **HTMX)
    assert "<h3>Laura Gómez · Farmacias Nube</h3>" in html.unescape(section.content.decode())

    api = token_client(analyst).post(
        reverse("api:incident-account-update", args=[desk.incident.reference, affected.pk])
    )
    assert api.status_code == 201
    assert api.json()["merchant"] == merchant.account_id and api.json()["partner"] is None
    refused = token_client(analyst).post(
        reverse("api:incident-account-update", args=[desk.incident.reference, other.pk])
    )
    assert refused.status_code == 400 and "merchant" in refused.json()["error"]["fields"]
