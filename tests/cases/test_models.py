"""The database itself refuses bad rows, whatever path they come from."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cases.models import AffectedMerchant, CaseEvent, Correspondence, Incident, SlaClock, SlaPolicy
from cases.models.incident import validate_bin_prefix
from partners.models import BusinessCalendar, NoticeTemplate, PartnerContact
from tests.database import raises_constraint, raises_duplicate
from tests.factories import (
    AffectedMerchantFactory,
    IncidentFactory,
    MerchantFactory,
    PartnerEngagementFactory,
    PartnerFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        ({"baseline_rate": Decimal("1.2")}, "affectedmerchant_baseline_rate_range"),
        ({"observed_rate": Decimal("-0.1")}, "affectedmerchant_observed_rate_range"),
        ({"attempts": 10, "failed_attempts": 11}, "affectedmerchant_failed_within_attempts"),
        ({"volume_at_risk": Decimal("-1")}, "affectedmerchant_volume_nonnegative"),
        ({"currency": "mxn"}, "affectedmerchant_currency_iso"),
    ],
)
def test_affected_merchant_refuses_impossible_measurements(changes, constraint):
    row = AffectedMerchantFactory()
    for field, value in changes.items():
        setattr(row, field, value)
    with raises_constraint(constraint):
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
    with raises_constraint("engagement_one_per_partner"):
        PartnerEngagementFactory(incident=engagement.incident, partner=engagement.partner)
    assert engagement.incident.engagements.count() == 1


def test_one_affected_row_per_incident_and_merchant():
    row = AffectedMerchantFactory()
    with raises_constraint("affectedmerchant_unique"):
        AffectedMerchant.objects.create(incident=row.incident, merchant=row.merchant)


def test_incident_references_are_unique_and_well_formed():
    incident = IncidentFactory()
    with raises_duplicate(Incident, "reference"):
        IncidentFactory(reference=incident.reference)
    with raises_constraint("incident_reference_format"):
        IncidentFactory(reference="INC-1")
    assert Incident.objects.count() == 1


def test_impact_window_must_be_in_order():
    start = timezone.now()
    with raises_constraint("incident_detected_after_start"):
        IncidentFactory(started_at=start, detected_at=start - timedelta(minutes=5))
    with raises_constraint("incident_closed_after_resolved"):
        IncidentFactory(started_at=start, resolved_at=start + timedelta(hours=1), closed_at=start)


def test_database_refuses_anything_but_bin_prefixes():
    with raises_constraint("incident_bin_prefixes_only"):
        IncidentFactory(bin_prefixes=["4152313", "415231311"])  # a card number stops before, at save()
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
    with raises_constraint("incident_open_fingerprint_unique"):
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
    with raises_constraint("partnercontact_unique_email"):
        PartnerContact.objects.create(partner=partner, name="Ops 2", email="ops@bank.example")
    with raises_constraint("partnercontact_level_positive"):
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
    with raises_constraint("noticetemplate_one_active"):
        NoticeTemplate.objects.create(kind="breakage", language="es", version=2, subject="s", body="b")
    NoticeTemplate.objects.create(kind="breakage", language="es", version=2, subject="s", body="b", active=False)
    with raises_constraint("noticetemplate_unique_version"):
        NoticeTemplate.objects.create(kind="breakage", language="es", version=2, subject="s", body="b", active=False)


def test_outbound_correspondence_needs_a_thread_and_a_message_id():
    incident = IncidentFactory()
    with raises_constraint("corr_outbound_has_engagement"):
        Correspondence.objects.create(incident=incident, direction="out", subject="x", message_id="<a@b>")
    engagement = PartnerEngagementFactory(incident=incident)
    with raises_constraint("corr_message_id_present"):
        Correspondence.objects.create(engagement=engagement, direction="out", subject="x", message_id="")
    with raises_constraint("corr_sent_has_time"):
        Correspondence.objects.create(
            engagement=engagement, direction="out", subject="x", message_id="<c@d>", status="sent"
        )
    with raises_constraint("corr_unsent_notice_has_peak_severity"):
        Correspondence.objects.create(
            engagement=engagement, incident=incident, direction="out", subject="x", message_id="<g@h>"
        )
    Correspondence.objects.create(
        engagement=engagement, incident=incident, direction="out", subject="x", message_id="<e@f>", peak_severity="sev3"
    )
    with raises_duplicate(Correspondence, "message_id"):
        Correspondence.objects.create(
            engagement=engagement, direction="out", subject="y", message_id="<e@f>", peak_severity="sev3"
        )


def test_sla_policy_warn_share_and_targets():
    calendar = BusinessCalendar.objects.get(code="24x7")
    with raises_constraint("slapolicy_warn_share_range"):
        SlaPolicy.objects.create(name="x", severity="sev1", partner_kind="switch", calendar=calendar, warn_at=1)
    with raises_constraint("slapolicy_resolve_target_positive"):
        SlaPolicy.objects.create(
            name="x", severity="sev1", partner_kind="switch", calendar=calendar, resolve_target=timedelta(0)
        )
    # the seeded default for SEV1 already exists: a second active default is refused
    with raises_constraint("slapolicy_one_active_per_scope"):
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
    with raises_constraint("slaclock_unique_metric"):
        SlaClock.objects.create(family="ours", **base)
    with raises_constraint("slaclock_family_matches_engagement"):
        SlaClock.objects.create(family="partner", **{**base, "metric": "acknowledge"})
    engagement = PartnerEngagementFactory(incident=incident)
    SlaClock.objects.create(family="partner", engagement=engagement, **base)
    with raises_constraint("slaclock_warn_within_target"):
        SlaClock.objects.create(family="ours", **{**base, "metric": "acknowledge", "warn_after": timedelta(hours=5)})


def test_merchant_account_id_and_mcc_are_checked():
    with raises_constraint("merchant_account_id_prefix"):
        MerchantFactory(account_id="1234")
    with raises_constraint("merchant_mcc_four_digits"):
        MerchantFactory(mcc="54a1")
    with pytest.raises(ValidationError):
        MerchantFactory.build(account_id="acct_!!", mcc="5411").full_clean()
