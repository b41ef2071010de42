"""The analyst's day in a real browser, in English and in Spanish.

Log in, filter the queue, search, open an incident, add a note, record an affected merchant
with its rates, move the incident to waiting_on_partner and back.
"""

import re

import pytest
from playwright.sync_api import expect

from cases.models import AffectedMerchant, CaseEvent, Incident
from cases.services import incident_open
from tests.factories import MerchantFactory, PartnerFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LABELS = {
    "en": {
        "queue": "Incident queue",
        "severity": "Severity",
        "add_note": "Add note",
        "add_a_merchant": "Add a merchant",
        "add_merchant": "Add merchant",
        "merchant": "Merchant",
        "baseline": "Baseline approval rate (%)",
        "observed": "Observed approval rate (%)",
        "attempts": "Attempts",
        "failed": "Failed attempts",
        "volume": "Volume at risk",
        "partner": "Partner we wait on",
        "reason": "Reason",
        "to_waiting": "Move to Waiting on partner",
        "to_investigating": "Move to Investigating",
        "waiting": "Waiting on partner",
        "investigating": "Investigating",
    },
    "es": {
        "queue": "Bandeja de incidentes",
        "severity": "Severidad",
        "add_note": "Agregar nota",
        "add_a_merchant": "Agregar un comercio",
        "add_merchant": "Agregar comercio",
        "merchant": "Comercio",
        "baseline": "Tasa de aprobación de referencia (%)",
        "observed": "Tasa de aprobación observada (%)",
        "attempts": "Intentos",
        "failed": "Intentos rechazados",
        "volume": "Volumen en riesgo",
        "partner": "Socio del que esperamos respuesta",
        "reason": "Motivo",
        "to_waiting": "Pasar a Esperando al socio",
        "to_investigating": "Pasar a En investigación",
        "waiting": "Esperando al socio",
        "investigating": "En investigación",
    },
}


@pytest.fixture
def desk():
    ana = UserFactory(username="ana", first_name="Ana", last_name="Ruiz", role="analyst")
    prosa = PartnerFactory(name="Prosa", code="prosa", kind="switch")
    MerchantFactory(name="Aerolíneas Sol", account_id="acct_1Nv0FGQ9RKHgCVdK")
    target = incident_open(
        actor=ana,
        title="Rechazos 05 en débito vía Prosa",
        summary="Los rechazos con código 05 subieron en comercios de viajes.",
        category="auth_rate",
        severity="sev2",
        decline_codes=["05"],
        partners=[prosa],
    )
    incident_open(actor=ana, title="Timeouts on the Visa authorization path", category="latency", severity="sev1")
    incident_open(actor=ana, title="Cost spike on Amex cross-border", category="cost_rate", severity="sev3")
    return target


@pytest.mark.parametrize("language", ["en", "es"])
def test_analyst_journey(page, live_server, login, screenshot, desk, language):
    text = LABELS[language]
    login("ana")
    if language == "es":
        page.select_option("#language-select", "es")
    expect(page.locator("h1")).to_have_text(text["queue"])
    results = page.locator("#results")
    expect(results).to_contain_text("Timeouts on the Visa authorization path")

    # Filter by severity: the results swap in place and the URL keeps the filter.
    page.locator("summary", has_text=text["severity"]).click()
    page.locator("input[name=severity][value=sev2]").check()
    expect(results).not_to_contain_text("Timeouts on the Visa authorization path")
    expect(results).to_contain_text(desk.title)
    expect(page).to_have_url(re.compile(r"severity=sev2"))

    # Search.
    page.fill("#id_q", "prosa")
    expect(page).to_have_url(re.compile(r"q=prosa"))
    expect(results.locator("tbody tr")).to_have_count(1)
    if language == "es":
        screenshot("queue-es")  # queue-en is the dense queue of test_queue_browser.py

    # Open the incident.
    results.get_by_role("link", name=desk.reference).click()
    expect(page.locator("h1")).to_contain_text(desk.title)

    # A note, in Markdown.
    page.locator("#incident-notes textarea[name=body]").fill("Prosa confirma **intermitencia** en su enlace con BBVA.")
    page.get_by_role("button", name=text["add_note"]).click()
    expect(page.locator("#incident-timeline .feed-note .note-body strong").first).to_have_text("intermitencia")

    # An affected merchant with its measured rates.
    page.get_by_role("link", name=text["add_a_merchant"]).click()
    form = page.locator("#incident-merchants form")
    form.get_by_label(text["merchant"]).select_option(label="Aerolíneas Sol · acct_1Nv0FGQ9RKHgCVdK")
    for label in ("baseline", "observed", "attempts", "failed", "volume"):
        expect(form).to_contain_text(text[label])  # translated labels
    form.locator("[name=baseline_pct]").fill("92.5")
    form.locator("[name=observed_pct]").fill("80")
    form.locator("[name=attempts]").fill("1000")
    form.locator("[name=failed_attempts]").fill("200")
    form.locator("[name=volume_at_risk]").fill("150000")
    form.get_by_role("button", name=text["add_merchant"]).click()
    merchants = page.locator("#incident-merchants")
    expect(merchants).to_contain_text("Aerolíneas Sol")
    expect(merchants).to_contain_text("125")  # 200 failed − 1,000 × (1 − 0.925) expected

    # Waiting on Prosa, then back to investigating (first to triaging/investigating from new).
    actions = page.locator("#incident-actions")
    actions.get_by_role("button", name=text["to_investigating"]).click()
    expect(actions.locator("h2 .badge")).to_have_text(text["investigating"])
    waiting = actions.locator("form.transition", has=page.get_by_role("button", name=text["to_waiting"]))
    waiting.get_by_label(text["partner"]).select_option(label="Prosa")
    waiting.get_by_label(text["reason"]).fill("Folio 48213: Prosa revisa su enlace")
    waiting.get_by_role("button", name=text["to_waiting"]).click()
    expect(actions.locator("h2 .badge")).to_have_text(text["waiting"])
    actions.get_by_role("button", name=text["to_investigating"]).click()
    expect(actions.locator("h2 .badge")).to_have_text(text["investigating"])

    # What the browser did is what the database holds, with the analyst on every row.
    incident = Incident.objects.get(pk=desk.pk)
    assert incident.status == "investigating"
    row = AffectedMerchant.objects.get(incident=incident)
    assert (str(row.baseline_rate), str(row.observed_rate), row.excess_declines) == ("0.9250", "0.8000", 125)
    moves = list(
        CaseEvent.objects.filter(incident=incident, kind="status_changed").values_list("data__to", "actor__username")
    )
    assert moves == [("investigating", "ana"), ("waiting_on_partner", "ana"), ("investigating", "ana")]
    waited = CaseEvent.objects.get(incident=incident, kind="status_changed", data__to="waiting_on_partner")
    assert waited.data["partner"] == "Prosa"
