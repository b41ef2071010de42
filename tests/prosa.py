"""The Prosa outage of Saturday 10 August 2019, as a desk sees it: a Mexican switch fails from
10:47 to 18:17 Mexico City time (daylight saving time then: UTC−05:00), card-present and online
authorizations decline with 91 and 96, and three partners are engaged on one SEV1 incident:

- Prosa, the switch that failed (Spanish, Mexico City banking calendar);
- BBVA México, an issuer whose cardholders were declined but whose host was fine (Spanish);
- Visa, the network (English, New York).

Tests of partner communication build on this scenario; `prosa_desk()` creates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from cases.models import Incident, MerchantRoute, PartnerEngagement
from partners.models import BusinessCalendar, NoticeTemplate, Partner, PartnerContact
from partners.notices import load_notice_templates
from partners.reference import MX_BANKING, US_BUSINESS
from tests.factories import AffectedMerchantFactory, IncidentFactory, MerchantFactory, PartnerFactory

OUTAGE_START = datetime(2019, 8, 10, 15, 47, tzinfo=UTC)  # sábado 10/08/2019, 10:47 h (UTC−05:00)
OUTAGE_END = datetime(2019, 8, 10, 23, 17, tzinfo=UTC)  # 18:17 h the same day
DETECTED = datetime(2019, 8, 10, 15, 58, tzinfo=UTC)


@dataclass
class ProsaDesk:
    incident: Incident
    prosa: Partner
    bbva: Partner
    visa: Partner
    prosa_engagement: PartnerEngagement
    bbva_engagement: PartnerEngagement
    visa_engagement: PartnerEngagement
    prosa_noc: PartnerContact
    bbva_noc: PartnerContact
    visa_support: PartnerContact


def prosa_desk(*, owner=None) -> ProsaDesk:
    load_notice_templates(NoticeTemplate)
    mx_banking = BusinessCalendar.objects.get(code=MX_BANKING)
    us_business = BusinessCalendar.objects.get(code=US_BUSINESS)
    prosa = PartnerFactory(
        code="prosa",
        name="Prosa",
        kind=Partner.Kind.SWITCH,
        country="MX",
        language="es",
        timezone="America/Mexico_City",
        calendar=mx_banking,
    )
    bbva = PartnerFactory(
        code="bbva-mx",
        name="BBVA México",
        kind=Partner.Kind.ISSUER,
        bin_prefixes=["415231", "455511"],  # its own; 520416 is another issuer's Mastercard BIN
        country="MX",
        language="es",
        timezone="America/Mexico_City",
        calendar=mx_banking,
    )
    visa = PartnerFactory(
        code="visa",
        name="Visa",
        kind=Partner.Kind.CARD_NETWORK,
        country="GLOBAL",
        language="en",
        timezone="America/New_York",
        calendar=us_business,
    )
    contact = PartnerContact.objects.create
    prosa_noc = contact(
        partner=prosa, name="Centro de Operación Prosa", email="noc@prosa.test", phone="+52 55 5000 1000"
    )
    bbva_noc = contact(partner=bbva, name="Mesa de Control BBVA", email="mesa@bbva.test")
    visa_support = contact(partner=visa, name="Visa Issuer & Acquirer Support", email="support@visa.test")
    incident = IncidentFactory(
        title="Prosa switch outage: card authorizations failing (91/96)",
        severity="sev1",
        status="investigating",
        owner=owner,
        started_at=OUTAGE_START,
        detected_at=DETECTED,
        mitigated_at=OUTAGE_END,
        card_networks=["visa", "mastercard"],
        decline_codes=["91", "96"],
        bin_prefixes=["415231", "455511", "520416"],
        country="MX",
        entry_modes=["chip", "contactless", "ecommerce"],
        partner_title_en="Prosa switch outage: card authorizations failing (91/96)",
        partner_title_es="Caída del switch de Prosa: autorizaciones con rechazo (91/96)",
        partner_summary_en="Since 10:47 card-present and online authorizations routed through Prosa decline with "
        "response codes 91 and 96; approval fell from 93 % to 45 %.",
        partner_summary_es="Desde las 10:47 h las autorizaciones presenciales y en línea que se enrutan por Prosa "
        "se rechazan con los códigos 91 y 96; la aprobación bajó de 93 % a 45 %.",
    )
    farmacias = MerchantFactory(name="Farmacias Nube", country="MX")
    pizzeria = MerchantFactory(name="Pizzería Roma", country="MX")
    # Both merchants' authorizations go through Prosa, each with the affiliation number Prosa gave it.
    MerchantRoute.objects.create(merchant=farmacias, partner=prosa, affiliation="7654321")
    MerchantRoute.objects.create(merchant=pizzeria, partner=prosa, affiliation="1029384")
    AffectedMerchantFactory(
        incident=incident,
        merchant=farmacias,
        baseline_rate=Decimal("0.9310"),
        observed_rate=Decimal("0.4455"),
        attempts=182_400,
        failed_attempts=101_140,
        volume_at_risk=Decimal("38650210.40"),
        currency="MXN",
    )
    AffectedMerchantFactory(
        incident=incident,
        merchant=pizzeria,
        baseline_rate=Decimal("0.9050"),
        observed_rate=Decimal("0.4400"),
        attempts=12_300,
        failed_attempts=6_888,
        volume_at_risk=Decimal("2105300.00"),
        currency="MXN",
    )
    engage = PartnerEngagement.objects.create
    return ProsaDesk(
        incident=incident,
        prosa=prosa,
        bbva=bbva,
        visa=visa,
        prosa_engagement=engage(incident=incident, partner=prosa),
        bbva_engagement=engage(incident=incident, partner=bbva),
        visa_engagement=engage(incident=incident, partner=visa),
        prosa_noc=prosa_noc,
        bbva_noc=bbva_noc,
        visa_support=visa_support,
    )
