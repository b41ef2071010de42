"""The database itself refuses bad rows, whatever path they come from."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import AffectedMerchant, CaseEvent, Correspondence, Incident, SlaClock, SlaPolicy
from cases.models.incident import validate_bin_prefix
from partners.models import BusinessCalendar, NoticeTemplate, PartnerContact
from tests.factories import (
    AffectedMerchantFactory,
    IncidentFactory,
    MerchantFactory,
    PartnerEngagementFactory,
    PartnerFactory,
)

pytestmark = pytest.mark.django_db


def refused(**kwargs):
    """Assert that saving raises IntegrityError and leaves the transaction usable."""
    return pytest.raises(IntegrityError)


@pytest.mark.parametrize(
    "changes",
    [
        {"baseline_rate": Decimal("1.2")},
        {"observed_rate": Decimal("-0.1")},
        {"attempts": 10, "failed_attempts": 11},
        {"volume_at_risk": Decimal("-1")},
        {"currency": "mxn"},
    ],
)
def test_affected_merchant_refuses_impossible_measurements(changes):
    row = AffectedMerchantFactory()
    for field, value in changes.items():
        setattr(row, field, value)
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()
    row.refresh_from_db()
    assert row.attempts == 0 and row.baseline_rate is None


def test_excess_declines_are_derived_in_the_database():
    row = AffectedMerchantFactory(baseline_rate=Decimal("0.9000"), observed_rate=Decimal("0.7000"), attempts=1000)
    row.failed_attempts = 300
    row.save()
    row.refresh_from_db()
    # the baseline would have failed 100 of 1,000; 300 failed, so 200 are excess
    assert row.excess_declines == 200
    row.failed_attempts = 50
    row.save()
    row.refresh_from_db()
    assert row.excess_declines == 0


def test_excess_declines_unknown_without_a_baseline():
    row = AffectedMerchantFactory(attempts=100, failed_attempts=40)
    row.refresh_from_db()
    assert row.excess_declines is None


def test_one_engagement_per_incident_and_partner():
    engagement = PartnerEngagementFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerEngagementFactory(incident=engagement.incident, partner=engagement.partner)
    assert engagement.incident.engagements.count() == 1


def test_one_affected_row_per_incident_and_merchant():
    row = AffectedMerchantFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        AffectedMerchant.objects.create(incident=row.incident, merchant=row.merchant)


def test_incident_references_are_unique_and_well_formed():
    incident = IncidentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        IncidentFactory(reference=incident.reference)
    with pytest.raises(IntegrityError), transaction.atomic():
        IncidentFactory(reference="INC-1")
    assert Incident.objects.count() == 1


def test_impact_window_must_be_in_order():
    start = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        IncidentFactory(started_at=start, detected_at=start - timedelta(minutes=5))
    with pytest.raises(IntegrityError), transaction.atomic():
        IncidentFactory(started_at=start, resolved_at=start + timedelta(hours=1), closed_at=start)


def test_database_refuses_anything_but_bin_prefixes():
    with pytest.raises(IntegrityError), transaction.atomic():
        IncidentFactory(bin_prefixes=["4152313", "4111111111111111"])
    assert Incident.objects.count() == 0
    IncidentFactory(bin_prefixes=["415231", "55123456"])
    assert Incident.objects.count() == 1


@pytest.mark.parametrize("value", ["4111 1111 1111 1111", "4111-1111-1111-1111", "5105105105105100"])
def test_card_numbers_are_refused_with_a_message_saying_so(value):
    with pytest.raises(ValidationError) as error:
        validate_bin_prefix(value)
    assert error.value.code == "card_number"
    assert "Card numbers are never stored" in error.value.messages[0]
    assert "1111 1111" not in error.value.messages[0]


@pytest.mark.parametrize("value", ["41523", "123456789", "41a523"])
def test_short_long_or_non_numeric_prefixes_are_refused(value):
    with pytest.raises(ValidationError) as error:
        validate_bin_prefix(value)
    assert error.value.code == "bin_prefix"


def test_an_open_fingerprint_is_unique_but_reusable_once_resolved():
    first = IncidentFactory(fingerprint="visa:bbva-mx:MX")
    with pytest.raises(IntegrityError), transaction.atomic():
        IncidentFactory(fingerprint="visa:bbva-mx:MX")
    first.status = "resolved"
    first.save()
    IncidentFactory(fingerprint="visa:bbva-mx:MX")
    assert Incident.objects.filter(fingerprint="visa:bbva-mx:MX").count() == 2


def test_case_events_are_append_only():
    event = CaseEvent.objects.create(incident=IncidentFactory(), kind=CaseEvent.Kind.OPENED)
    event.data = {"tampered": True}
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
    assert CaseEvent.objects.get(pk=event.pk).data == {}


def test_contact_email_unique_per_partner_and_level_positive():
    partner = PartnerFactory()
    PartnerContact.objects.create(partner=partner, name="Ops", email="ops@bank.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerContact.objects.create(partner=partner, name="Ops 2", email="ops@bank.example")
    with pytest.raises(IntegrityError), transaction.atomic():
        PartnerContact.objects.create(partner=partner, name="Zero", email="zero@bank.example", escalation_level=0)


def test_contact_language_falls_back_to_partner_then_english():
    partner = PartnerFactory(language="es")
    own = PartnerContact(partner=partner, name="A", email="a@x.example", language="en")
    inherited = PartnerContact(partner=partner, name="B", email="b@x.example", language="")
    assert (own.effective_language, inherited.effective_language) == ("en", "es")
    partner.language = ""
    assert inherited.effective_language == "en"


def test_only_one_active_template_version_per_kind_and_language():
    NoticeTemplate.objects.all().delete()  # the shipped defaults, loaded by a migration
    NoticeTemplate.objects.create(kind="breakage", language="es", version=1, subject="s", body="b")
    with pytest.raises(IntegrityError), transaction.atomic():
        NoticeTemplate.objects.create(kind="breakage", language="es", version=2, subject="s", body="b")
    NoticeTemplate.objects.create(kind="breakage", language="es", version=2, subject="s", body="b", active=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        NoticeTemplate.objects.create(kind="breakage", language="es", version=2, subject="s", body="b", active=False)


def test_outbound_correspondence_needs_a_thread_and_a_message_id():
    incident = IncidentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Correspondence.objects.create(incident=incident, direction="out", subject="x", message_id="<a@b>")
    engagement = PartnerEngagementFactory(incident=incident)
    with pytest.raises(IntegrityError), transaction.atomic():
        Correspondence.objects.create(engagement=engagement, direction="out", subject="x", message_id="")
    with pytest.raises(IntegrityError), transaction.atomic():
        Correspondence.objects.create(
            engagement=engagement, direction="out", subject="x", message_id="<c@d>", status="sent"
        )
    Correspondence.objects.create(
        engagement=engagement, incident=incident, direction="out", subject="x", message_id="<e@f>"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Correspondence.objects.create(engagement=engagement, direction="out", subject="y", message_id="<e@f>")


def test_sla_policy_warn_share_and_targets():
    calendar = BusinessCalendar.objects.get(code="24x7")
    with pytest.raises(IntegrityError), transaction.atomic():
        SlaPolicy.objects.create(name="x", severity="sev1", partner_kind="switch", calendar=calendar, warn_at=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        SlaPolicy.objects.create(
            name="x", severity="sev1", partner_kind="switch", calendar=calendar, resolve_target=timedelta(0)
        )
    # the seeded default for SEV1 already exists: a second active default is refused
    with pytest.raises(IntegrityError), transaction.atomic():
        SlaPolicy.objects.create(name="dup", severity="sev1", calendar=calendar)


def test_sla_clock_family_matches_engagement_and_metric_is_unique():
    incident = IncidentFactory()
    policy = SlaPolicy.objects.get(severity="sev1", partner_kind="")
    base = {
        "incident": incident,
        "policy": policy,
        "calendar": policy.calendar,
        "target": timedelta(hours=4),
        "warn_after": timedelta(hours=3),
        "metric": "resolve",
    }
    SlaClock.objects.create(family="ours", **base)
    with pytest.raises(IntegrityError), transaction.atomic():
        SlaClock.objects.create(family="ours", **base)
    with pytest.raises(IntegrityError), transaction.atomic():
        SlaClock.objects.create(family="partner", **{**base, "metric": "acknowledge"})
    engagement = PartnerEngagementFactory(incident=incident)
    SlaClock.objects.create(family="partner", engagement=engagement, **base)
    with pytest.raises(IntegrityError), transaction.atomic():
        SlaClock.objects.create(family="ours", **{**base, "metric": "acknowledge", "warn_after": timedelta(hours=5)})


def test_merchant_account_id_and_mcc_are_checked():
    with pytest.raises(IntegrityError), transaction.atomic():
        MerchantFactory(account_id="1234")
    with pytest.raises(IntegrityError), transaction.atomic():
        MerchantFactory(mcc="54a1")
    with pytest.raises(ValidationError):
        MerchantFactory.build(account_id="acct_!!", mcc="5411").full_clean()
