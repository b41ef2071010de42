"""A small desk for the notice tests: BBVA México (Spanish, Mexico City) and Visa (English,
New York) engaged on one incident with measured impact, and the default templates loaded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from cases.models import Correspondence, Incident, PartnerEngagement
from partners.models import NoticeTemplate, Partner, PartnerContact
from partners.notices import load_notice_templates
from tests.factories import AffectedMerchantFactory, IncidentFactory, MerchantFactory, PartnerFactory

STARTED = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # 09:00 in Mexico City, 10:00 EST in New York
MITIGATED = datetime(2026, 3, 9, 15, 30, tzinfo=UTC)  # after US DST began (8 March): 11:30 EDT


@dataclass
class NoticeDesk:
    incident: Incident
    bbva: Partner
    visa: Partner
    bbva_engagement: PartnerEngagement
    visa_engagement: PartnerEngagement
    bbva_ops: PartnerContact  # Spanish (the partner's language)
    bbva_intl: PartnerContact  # English, at the same Spanish-speaking partner
    bbva_escalation: PartnerContact  # level 2: listed as an escalation contact, not addressed at level 1
    visa_ops: PartnerContact


def notice_desk(*, owner=None, severity: str = "sev3") -> NoticeDesk:
    load_notice_templates(NoticeTemplate)
    bbva = PartnerFactory(
        code="bbva-mx", name="BBVA México", language="es", timezone="America/Mexico_City", bin_prefixes=["415231"]
    )
    visa = PartnerFactory(
        code="visa",
        name="Visa",
        kind=Partner.Kind.CARD_NETWORK,
        country="GLOBAL",
        language="en",
        timezone="America/New_York",
    )
    contact = PartnerContact.objects.create
    bbva_ops = contact(partner=bbva, name="Mesa de Operación BBVA", email="operacion@bbva.test")
    bbva_intl = contact(partner=bbva, name="BBVA International Desk", email="intl@bbva.test", language="en")
    bbva_escalation = contact(
        partner=bbva,
        name="Gerencia de Incidentes",
        email="gerencia@bbva.test",
        phone="+52 55 5555 0000",
        role=PartnerContact.Role.ESCALATION,
        escalation_level=2,
    )
    contact(partner=bbva, name="Antiguo contacto", email="antiguo@bbva.test", active=False)
    contact(partner=bbva, name="Solo informes", email="informes@bbva.test", receives_notices=False)
    visa_ops = contact(partner=visa, name="Visa Issuer Support", email="support@visa.test")
    contact(
        partner=visa,
        name="Visa Escalations",
        email="escalations@visa.test",
        role=PartnerContact.Role.ESCALATION,
        escalation_level=2,
    )
    incident = IncidentFactory(
        title="Débito BBVA: caída de aprobación",
        severity=severity,
        status="investigating",
        owner=owner,
        started_at=STARTED,
        detected_at=STARTED,
        card_networks=["visa", "mastercard"],
        decline_codes=["05", "91"],
        bin_prefixes=["415231"],
        country="MX",
    )
    AffectedMerchantFactory(
        incident=incident,
        merchant=MerchantFactory(name="Tiendas Sol"),
        baseline_rate=Decimal("0.9200"),
        observed_rate=Decimal("0.7000"),
        attempts=100_000,
        failed_attempts=30_000,
        volume_at_risk=Decimal("1500000.00"),
        currency="MXN",
    )
    AffectedMerchantFactory(
        incident=incident,
        merchant=MerchantFactory(name="Viajes Luna"),
        baseline_rate=Decimal("0.9000"),
        observed_rate=Decimal("0.8000"),
        attempts=50_000,
        failed_attempts=10_000,
        volume_at_risk=Decimal("250000.50"),
        currency="MXN",
    )
    bbva_engagement = PartnerEngagement.objects.create(incident=incident, partner=bbva, folio="MX-7781")
    visa_engagement = PartnerEngagement.objects.create(incident=incident, partner=visa)
    return NoticeDesk(
        incident=incident,
        bbva=bbva,
        visa=visa,
        bbva_engagement=bbva_engagement,
        visa_engagement=visa_engagement,
        bbva_ops=bbva_ops,
        bbva_intl=bbva_intl,
        bbva_escalation=bbva_escalation,
        visa_ops=visa_ops,
    )


def drafts_by_address(drafts: list[Correspondence]) -> dict[tuple[str, ...], Correspondence]:
    return {tuple(draft.to_addresses): draft for draft in drafts}
