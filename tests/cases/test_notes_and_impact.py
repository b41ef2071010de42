"""Services for notes, merchant impact and partner engagements (cases/services/notes.py, impact.py)."""

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import OperationalError, connection, transaction

from cases.forms import MerchantImpactForm
from cases.markdown import render_markdown
from cases.models import AffectedMerchant, CaseEvent, Incident, InvestigationNote, PartnerEngagement
from cases.search import search
from cases.services import (
    engagement_add,
    engagement_update,
    incident_open,
    merchant_impact_add,
    merchant_impact_remove,
    merchant_impact_update,
    note_add,
    note_edit,
)
from tests.factories import MerchantFactory, PartnerFactory, UserFactory


def open_incident(actor, **extra):
    return incident_open(
        actor=actor, title="Caída de aprobación Banorte crédito", category="auth_rate", severity="sev2", **extra
    )


def events_of(incident, kind):
    return list(incident.events.filter(kind=kind).order_by("id"))


# Notes ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_note_add_records_the_note_on_the_timeline_and_makes_it_searchable(analyst):
    incident = open_incident(analyst)
    note = note_add(incident=incident, actor=analyst, body="  Prosa confirma intermitencia en el switch  ")
    assert note.body == "Prosa confirma intermitencia en el switch"
    assert note.author == analyst
    [event] = events_of(incident, CaseEvent.Kind.NOTE_ADDED)
    assert (event.actor, event.data) == (analyst, {"note": note.pk})
    assert list(search(Incident.objects.all(), "intermitencia")) == [incident]


@pytest.mark.django_db
def test_an_empty_note_is_refused_and_nothing_is_written(analyst):
    incident = open_incident(analyst)
    with pytest.raises(ValidationError) as error:
        note_add(incident=incident, actor=analyst, body="   ")
    assert "body" in error.value.message_dict
    assert InvestigationNote.objects.count() == 0
    assert not events_of(incident, CaseEvent.Kind.NOTE_ADDED)


@pytest.mark.django_db
def test_the_author_edits_a_note_and_the_previous_text_stays_on_the_timeline(analyst):
    incident = open_incident(analyst)
    note = note_add(incident=incident, actor=analyst, body="Folio 4821 pending")
    edited = note_edit(note=note, actor=analyst, body="Folio 4821 confirmed by Prosa")
    assert edited.body == "Folio 4821 confirmed by Prosa"
    assert edited.edited_at is not None
    [event] = events_of(incident, CaseEvent.Kind.NOTE_EDITED)
    assert (event.actor, event.data) == (analyst, {"note": note.pk, "previous": "Folio 4821 pending"})
    assert list(search(Incident.objects.all(), "confirmed")) == [incident]


@pytest.mark.django_db
def test_an_unchanged_note_records_no_edit(analyst):
    incident = open_incident(analyst)
    note = note_add(incident=incident, actor=analyst, body="Same words")
    note_edit(note=note, actor=analyst, body="Same words")
    assert not events_of(incident, CaseEvent.Kind.NOTE_EDITED)


@pytest.mark.django_db
@pytest.mark.parametrize("editor", ["partner_manager", "lead"])
def test_nobody_but_the_author_edits_a_note(request, analyst, editor):
    incident = open_incident(analyst)
    note = note_add(incident=incident, actor=analyst, body="Original words")
    with pytest.raises(PermissionDenied):
        note_edit(note=note, actor=request.getfixturevalue(editor), body="Rewritten")
    note.refresh_from_db()
    assert (note.body, note.edited_at) == ("Original words", None)
    assert not events_of(incident, CaseEvent.Kind.NOTE_EDITED)


# Merchant impact ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_merchant_impact_add_stores_shares_and_the_database_derives_excess_declines(analyst):
    incident = open_incident(analyst)
    merchant = MerchantFactory(name="Farmacia Lupita", account_id="acct_FARMA000001")
    row = merchant_impact_add(
        incident=incident,
        actor=analyst,
        merchant=merchant,
        baseline_rate=Decimal("0.9500"),
        observed_rate=Decimal("0.8500"),
        attempts=1000,
        failed_attempts=150,
        volume_at_risk=Decimal("125000.50"),
        currency="MXN",
    )
    row = AffectedMerchant.objects.get(pk=row.pk)
    # 150 failed where the baseline would have failed round(1000 × 0.05) = 50.
    assert row.excess_declines == 100
    assert row.rate_drop_pp == Decimal("10.0000")
    [event] = events_of(incident, CaseEvent.Kind.MERCHANT_ADDED)
    assert event.actor == analyst
    assert event.data == {
        "merchant": "Farmacia Lupita",
        "account_id": "acct_FARMA000001",
        "values": {
            "baseline_rate": "0.9500",
            "observed_rate": "0.8500",
            "attempts": 1000,
            "failed_attempts": 150,
            "volume_at_risk": "125000.50",
            "currency": "MXN",
            "rate_definition": "all_attempts",
        },
    }
    assert list(search(Incident.objects.all(), "Lupita")) == [incident]


@pytest.mark.django_db
def test_excess_declines_are_never_negative_and_unknown_without_a_baseline(analyst):
    incident = open_incident(analyst)
    better = merchant_impact_add(
        incident=incident, actor=analyst, merchant=MerchantFactory(), baseline_rate=Decimal("0.9"), attempts=100,
        failed_attempts=2,
    )  # fmt: skip
    unmeasured = merchant_impact_add(incident=incident, actor=analyst, merchant=MerchantFactory(), attempts=100)
    excess = dict(AffectedMerchant.objects.values_list("pk", "excess_declines"))
    assert (excess[better.pk], excess[unmeasured.pk]) == (0, None)


@pytest.mark.django_db
def test_failed_attempts_above_attempts_are_refused_and_nothing_is_written(analyst):
    incident = open_incident(analyst)
    with pytest.raises(ValidationError) as error:
        merchant_impact_add(
            incident=incident, actor=analyst, merchant=MerchantFactory(), attempts=10, failed_attempts=11
        )
    assert "failed_attempts" in error.value.message_dict
    assert AffectedMerchant.objects.count() == 0
    assert not events_of(incident, CaseEvent.Kind.MERCHANT_ADDED)


@pytest.mark.django_db
def test_a_merchant_is_recorded_once_per_incident(analyst):
    merchant = MerchantFactory()
    incident = open_incident(analyst, merchants=[merchant])
    with pytest.raises(ValidationError):
        merchant_impact_add(incident=incident, actor=analyst, merchant=merchant, attempts=5)
    assert incident.affected_merchants.count() == 1
    assert len(events_of(incident, CaseEvent.Kind.MERCHANT_ADDED)) == 1


@pytest.mark.django_db
def test_merchant_impact_update_records_old_and_new_values_and_recomputes_excess(analyst, partner_manager):
    incident = open_incident(analyst)
    row = merchant_impact_add(
        incident=incident, actor=analyst, merchant=MerchantFactory(name="Cinépolis"), baseline_rate=Decimal("0.9"),
        attempts=1000, failed_attempts=100,
    )  # fmt: skip
    row = merchant_impact_update(
        affected=row, actor=partner_manager, observed_rate=Decimal("0.7500"), failed_attempts=250, attempts=1000
    )
    assert row.excess_declines == 150
    [event] = events_of(incident, CaseEvent.Kind.MERCHANT_UPDATED)
    assert event.actor == partner_manager
    assert event.data["merchant"] == "Cinépolis"
    assert event.data["changes"] == {
        "observed_rate": {"from": None, "to": "0.7500"},
        "failed_attempts": {"from": 100, "to": 250},
    }


@pytest.mark.django_db
def test_a_refused_update_leaves_the_row_and_timeline_unchanged(analyst):
    incident = open_incident(analyst)
    row = merchant_impact_add(
        incident=incident, actor=analyst, merchant=MerchantFactory(), attempts=10, failed_attempts=1
    )
    with pytest.raises(ValidationError):
        merchant_impact_update(affected=row, actor=analyst, failed_attempts=50)
    row.refresh_from_db()
    assert row.failed_attempts == 1
    assert not events_of(incident, CaseEvent.Kind.MERCHANT_UPDATED)


@pytest.mark.django_db
def test_an_update_that_changes_nothing_records_nothing(analyst):
    incident = open_incident(analyst)
    row = merchant_impact_add(incident=incident, actor=analyst, merchant=MerchantFactory(), attempts=10)
    merchant_impact_update(affected=row, actor=analyst, attempts=10, currency="MXN")
    assert not events_of(incident, CaseEvent.Kind.MERCHANT_UPDATED)


@pytest.mark.django_db
def test_merchant_impact_remove_keeps_the_last_values_on_the_timeline(analyst):
    incident = open_incident(analyst)
    row = merchant_impact_add(
        incident=incident, actor=analyst, merchant=MerchantFactory(name="Aerolíneas Quetzal"), attempts=40,
        failed_attempts=4,
    )  # fmt: skip
    merchant_impact_remove(affected=row, actor=analyst)
    assert not incident.affected_merchants.exists()
    [event] = events_of(incident, CaseEvent.Kind.MERCHANT_REMOVED)
    assert event.data["merchant"] == "Aerolíneas Quetzal"
    assert (event.data["values"]["attempts"], event.data["values"]["failed_attempts"]) == (40, 4)
    assert not search(Incident.objects.all(), "Quetzal").exists()


@pytest.mark.django_db
def test_removing_a_merchant_locks_its_row_by_id_without_joining_the_incident(analyst):
    """The row's default ordering (incident, merchant name) would join the incident into the
    locking read for nothing: the incident is already locked, by its own read."""
    from django.test.utils import CaptureQueriesContext

    incident = open_incident(analyst)
    row = merchant_impact_add(incident=incident, actor=analyst, merchant=MerchantFactory(), attempts=40)
    with CaptureQueriesContext(connection) as queries:
        merchant_impact_remove(affected=row, actor=analyst)
    [read] = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "cases_affectedmerchant"' in q["sql"] and "FOR UPDATE" in q["sql"]
    ]
    assert '"cases_incident"' not in read
    assert 'FOR UPDATE OF "cases_affectedmerchant"' in read


# Partner engagements --------------------------------------------------------------------------


@pytest.mark.django_db
def test_engagement_add_records_the_partner_and_its_folio(analyst):
    incident = open_incident(analyst)
    partner = PartnerFactory(name="Prosa", code="prosa")
    engagement = engagement_add(incident=incident, actor=analyst, partner=partner, folio=" 4821 ")
    assert (engagement.folio, engagement.partner_status) == ("4821", "not_notified")
    [event] = events_of(incident, CaseEvent.Kind.PARTNER_ENGAGED)
    assert (event.actor, event.data) == (
        analyst,
        {
            "partner": "Prosa",
            "code": "prosa",
            "engagement": engagement.pk,
            "folio": "4821",
            "partner_status": "not_notified",
        },
    )
    assert list(search(Incident.objects.all(), "Prosa")) == [incident]


@pytest.mark.django_db
def test_a_partner_is_engaged_once_per_incident(analyst):
    partner = PartnerFactory()
    incident = open_incident(analyst, partners=[partner])
    with pytest.raises(ValidationError):
        engagement_add(incident=incident, actor=analyst, partner=partner)
    assert PartnerEngagement.objects.count() == 1


@pytest.mark.django_db
def test_engagement_update_stamps_the_acknowledgement_once(analyst):
    incident = open_incident(analyst, partners=[PartnerFactory(name="Visa", code="visa")])
    engagement = incident.engagements.get()
    engagement = engagement_update(engagement=engagement, actor=analyst, partner_status="acknowledged", folio="V-77")
    acknowledged_at = engagement.acknowledged_at
    assert acknowledged_at is not None
    [event] = events_of(incident, CaseEvent.Kind.PARTNER_UPDATED)
    assert event.data["partner"] == "Visa"
    assert event.data["changes"]["partner_status"] == {"from": "not_notified", "to": "acknowledged"}
    assert event.data["changes"]["folio"] == {"from": "", "to": "V-77"}
    assert event.data["changes"]["acknowledged_at"]["to"] == acknowledged_at.isoformat()

    engagement = engagement_update(engagement=engagement, actor=analyst, partner_status="investigating")
    engagement = engagement_update(engagement=engagement, actor=analyst, partner_status="acknowledged")
    assert engagement.acknowledged_at == acknowledged_at


@pytest.mark.django_db
def test_engagement_update_refuses_an_unknown_status(analyst):
    incident = open_incident(analyst, partners=[PartnerFactory()])
    engagement = incident.engagements.get()
    with pytest.raises(ValidationError):
        engagement_update(engagement=engagement, actor=analyst, partner_status="on_fire")
    engagement.refresh_from_db()
    assert engagement.partner_status == "not_notified"
    assert not events_of(incident, CaseEvent.Kind.PARTNER_UPDATED)


# Locking --------------------------------------------------------------------------------------


def _note(incident, actor):
    return note_add(incident=incident, actor=actor, body="first")


WRITES = {
    "note_add": lambda incident, actor, ctx: note_add(incident=incident, actor=actor, body="blocked?"),
    "note_edit": lambda incident, actor, ctx: note_edit(note=ctx["note"], actor=actor, body="changed"),
    "merchant_impact_add": lambda incident, actor, ctx: merchant_impact_add(
        incident=incident, actor=actor, merchant=ctx["spare_merchant"]
    ),
    "merchant_impact_update": lambda incident, actor, ctx: merchant_impact_update(
        affected=ctx["row"], actor=actor, attempts=99
    ),
    "merchant_impact_remove": lambda incident, actor, ctx: merchant_impact_remove(affected=ctx["row"], actor=actor),
    "engagement_add": lambda incident, actor, ctx: engagement_add(
        incident=incident, actor=actor, partner=ctx["spare_partner"]
    ),
    "engagement_update": lambda incident, actor, ctx: engagement_update(
        engagement=ctx["engagement"], actor=actor, folio="F-1"
    ),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write", sorted(WRITES))
def test_every_write_waits_for_the_incident_lock_and_a_failed_write_leaves_nothing(write):
    actor = UserFactory(username="ana", role="analyst")
    incident = open_incident(actor, merchants=[MerchantFactory()], partners=[PartnerFactory()])
    ctx = {
        "note": _note(incident, actor),
        "row": incident.affected_merchants.get(),
        "engagement": incident.engagements.get(),
        "spare_merchant": MerchantFactory(),
        "spare_partner": PartnerFactory(),
    }
    events_before = CaseEvent.objects.count()
    locked, release = threading.Event(), threading.Event()

    def hold_lock():
        try:
            with transaction.atomic():
                Incident.objects.select_for_update().get(pk=incident.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '200ms'")
        with pytest.raises(OperationalError, match="lock timeout"):
            WRITES[write](incident, actor, ctx)
    finally:
        release.set()
        holder.join(10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = 0")
    assert CaseEvent.objects.count() == events_before
    assert InvestigationNote.objects.get().body == "first"
    assert AffectedMerchant.objects.get().attempts == 0
    assert PartnerEngagement.objects.get().folio == ""


def _probe_locks(probes: dict[str, tuple[str, list]]) -> dict[str, str]:
    """Each statement run with NOWAIT on another connection: "held" when a lock of the writer's
    transaction refuses it, "free" when it runs."""
    answers = {}

    def probe():
        try:
            for name, (sql, params) in probes.items():
                try:
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(sql, params)
                    answers[name] = "free"
                except OperationalError:
                    answers[name] = "held"
        finally:
            connection.close()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(10)
    return answers


@pytest.mark.django_db(transaction=True)
def test_a_write_locks_its_incident_and_rows_never_the_merchant_or_partner_they_name():
    """A merchant's or partner's row is shared by every incident naming it: locking it (as a FOR
    UPDATE joined to it would) made alert workers and analysts on other incidents wait for each
    other's whole transaction, every insert naming it included (its foreign-key check)."""
    from django.test.utils import CaptureQueriesContext

    from cases.services import decline_counts_record

    actor = UserFactory(username="ana", role="analyst")
    merchant, partner = MerchantFactory(), PartnerFactory()
    incident = open_incident(actor, merchants=[merchant], partners=[partner])
    row, engagement = incident.affected_merchants.get(), incident.engagements.get()
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        merchant_impact_update(affected=row, actor=actor, attempts=500)
        engagement_update(engagement=engagement, actor=actor, folio="F-9")
        decline_counts_record(incident=incident, actor=actor, counts=[{"code": "05", "count_during": 7}])
        decline_counts_record(incident=incident, actor=actor, counts=[{"code": "05", "count_during": 9}])
        answers = _probe_locks(
            {
                "incident": ("SELECT 1 FROM cases_incident WHERE id = %s FOR UPDATE NOWAIT", [incident.pk]),
                "merchant's row": ("SELECT 1 FROM cases_affectedmerchant WHERE id = %s FOR UPDATE NOWAIT", [row.pk]),
                "engagement": (
                    "SELECT 1 FROM cases_partnerengagement WHERE id = %s FOR UPDATE NOWAIT",
                    [engagement.pk],
                ),
                "merchant": ("SELECT 1 FROM cases_merchant WHERE id = %s FOR KEY SHARE NOWAIT", [merchant.pk]),
                "partner": ("SELECT 1 FROM partners_partner WHERE id = %s FOR KEY SHARE NOWAIT", [partner.pk]),
            }
        )
    assert answers == {
        "incident": "held",
        "merchant's row": "held",
        "engagement": "held",
        "merchant": "free",
        "partner": "free",
    }
    locking = [query["sql"] for query in queries.captured_queries if "FOR UPDATE" in query["sql"]]
    assert len(locking) >= 7  # the incident by each service, the two rows, the decline codes
    joined = [sql for sql in locking if " JOIN " in sql and "FOR UPDATE OF" not in sql]
    assert joined == []
    assert AffectedMerchant.objects.get().attempts == 500
    assert incident.decline_counts.get().count_during == 9


# Forms and Markdown ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_percentages_typed_become_shares_with_four_decimals(analyst):
    incident = open_incident(analyst)
    form = MerchantImpactForm(
        data={
            "merchant": MerchantFactory().pk,
            "baseline_pct": "92.5",
            "observed_pct": "81.25",
            "attempts": "200",
            "failed_attempts": "40",
            "volume_at_risk": "1000",
            "currency": "usd",
            "rate_definition": "all_attempts",
        },
        incident=incident,
        user=analyst,
    )
    assert form.is_valid(), form.errors
    measures = form.measures()
    assert (measures["baseline_rate"], measures["observed_rate"]) == (Decimal("0.9250"), Decimal("0.8125"))
    assert str(measures["baseline_rate"]) == "0.9250"
    assert measures["currency"] == "USD"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"), [("baseline_pct", "100.5"), ("observed_pct", "-1"), ("baseline_pct", "92.555")]
)
def test_percentages_outside_0_to_100_or_too_precise_are_refused(analyst, field, value):
    incident = open_incident(analyst)
    data = {"attempts": "1", "failed_attempts": "0", "volume_at_risk": "0", "currency": "MXN"}
    data |= {"rate_definition": "all_attempts", "merchant": MerchantFactory().pk, field: value}
    form = MerchantImpactForm(data=data, incident=incident, user=analyst)
    assert not form.is_valid()
    assert field in form.errors


@pytest.mark.django_db
def test_the_form_refuses_more_failures_than_attempts(analyst):
    incident = open_incident(analyst)
    data = {"merchant": MerchantFactory().pk, "attempts": "5", "failed_attempts": "6", "volume_at_risk": "0"}
    form = MerchantImpactForm(
        data=data | {"currency": "MXN", "rate_definition": "all_attempts"}, incident=incident, user=analyst
    )
    assert not form.is_valid()
    assert form.errors["failed_attempts"] == ["Failed attempts cannot exceed attempts."]


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert('x')</script>hello",
        '<img src="x" onerror="alert(1)">hello',
        '<a href="https://x.test" onclick="steal()">hello</a>',
        "[hello](javascript:alert(1))",
        '<p style="background:url(javascript:alert(1))">hello</p>',
        "<iframe src='https://evil.test'></iframe>hello",
    ],
)
def test_markdown_rendering_leaves_nothing_executable(text):
    html = render_markdown(text)
    assert "hello" in html
    for dangerous in ("<script", "onerror", "onclick", "javascript:", "style=", "<iframe", "<img"):
        assert dangerous not in html.lower()


def test_markdown_links_get_noopener_and_formatting_survives():
    html = render_markdown("**Prosa** folio `4821`: see [the status page](https://status.prosa.test)")
    assert "<strong>Prosa</strong>" in html
    assert "<code>4821</code>" in html
    assert '<a href="https://status.prosa.test" rel="noopener noreferrer">the status page</a>' in html


# --- measured impact that contradicts itself --------------------------------------------------


@pytest.mark.django_db
def test_an_observed_rate_that_contradicts_the_failed_attempts_is_refused(analyst):
    """41.7 % observed cannot be true of 10,000 failures in 120,000 attempts (that is 91.67 %)."""
    incident = open_incident(analyst)
    merchant = MerchantFactory()

    with pytest.raises(ValidationError) as error:
        merchant_impact_add(
            incident=incident,
            actor=analyst,
            merchant=merchant,
            observed_rate=Decimal("0.4170"),
            attempts=120_000,
            failed_attempts=10_000,
        )

    assert list(error.value.message_dict) == ["observed_rate"]
    assert "91.67" in error.value.message_dict["observed_rate"][0]
    assert not AffectedMerchant.objects.exists()
    assert not incident.events.filter(kind="merchant_added").exists()


@pytest.mark.django_db
def test_agreement_within_rounding_is_accepted_and_missing_failures_are_derived(analyst):
    incident = open_incident(analyst)
    rounded = merchant_impact_add(
        incident=incident,
        actor=analyst,
        merchant=MerchantFactory(),
        observed_rate=Decimal("0.9170"),  # 91.67 % typed to one decimal
        attempts=120_000,
        failed_attempts=10_000,
    )
    derived = merchant_impact_add(
        incident=incident, actor=analyst, merchant=MerchantFactory(), observed_rate=Decimal("0.4170"), attempts=120_000
    )

    assert rounded.failed_attempts == 10_000
    assert derived.failed_attempts == 69_960  # 120,000 × (1 − 0.417)


@pytest.mark.django_db
def test_changing_the_rate_alone_cannot_leave_the_failures_telling_another_story(analyst):
    incident = open_incident(analyst)
    row = merchant_impact_add(
        incident=incident, actor=analyst, merchant=MerchantFactory(), observed_rate=Decimal("0.9"), attempts=1000
    )

    with pytest.raises(ValidationError) as error:
        merchant_impact_update(affected=row, actor=analyst, observed_rate=Decimal("0.5"))
    updated = merchant_impact_update(affected=row, actor=analyst, observed_rate=Decimal("0.5"), failed_attempts=None)

    assert list(error.value.message_dict) == ["observed_rate"]
    assert (updated.failed_attempts, updated.observed_rate) == (500, Decimal("0.5"))
