"""Full-text search in Spanish and English over incidents and what hangs off them."""

import pytest

from cases.models import Incident, InvestigationNote
from cases.search import refresh_search, search
from cases.services import incident_open
from tests.factories import MerchantFactory, PartnerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(analyst):
    bbva = incident_open(
        actor=analyst,
        title="Caída en tasa de aprobación de tarjetas de débito",
        summary="Los rechazos con código 05 aumentaron en comercios de viajes.",
        category="auth_rate",
        severity="sev2",
        merchants=[MerchantFactory(name="Aerolíneas Sol")],
        partners=[PartnerFactory(name="BBVA México", code="bbva-mx")],
    )
    visa = incident_open(
        actor=analyst,
        title="Timeouts on the Visa authorization path",
        summary="Issuers responded late; declines with code 91 climbed.",
        category="latency",
        severity="sev1",
        partners=[PartnerFactory(name="Visa", code="visa")],
    )
    return bbva, visa


def found(text):
    return list(search(Incident.objects.all(), text).values_list("title", flat=True))


def test_spanish_stemming_finds_inflected_words(desk):
    assert found("rechazo aprobaciones") == ["Caída en tasa de aprobación de tarjetas de débito"]


def test_english_stemming(desk):
    assert found("timeout declined") == ["Timeouts on the Visa authorization path"]


def test_partner_and_merchant_names_are_searchable(desk):
    assert found("bbva") == ["Caída en tasa de aprobación de tarjetas de débito"]
    assert found("Aerolíneas") == ["Caída en tasa de aprobación de tarjetas de débito"]
    assert found("visa") == ["Timeouts on the Visa authorization path"]


def test_reference_matches_exactly(desk):
    bbva, _ = desk
    assert found(bbva.reference.lower()) == [bbva.title]


def test_notes_count_once_refreshed(desk, analyst):
    _, visa = desk
    InvestigationNote.objects.create(incident=visa, author=analyst, body="Prosa confirmó intermitencia en su enlace")
    assert found("intermitencia") == []
    refresh_search(incident_ids=[visa.pk])
    assert found("intermitencia") == [visa.title]


def test_exclusion_and_empty_query(desk):
    assert found("código -visa") == ["Caída en tasa de aprobación de tarjetas de débito"]
    assert found("código -débito") == []
    assert len(found("   ")) == 2
