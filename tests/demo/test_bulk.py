"""The bulk seed's COPY path (`demo.bulk`): the rows it writes are the rows the services would hold."""

import io
import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count, F

from cases.models import (
    AffectedMerchant,
    CaseEvent,
    Incident,
    PartnerEngagement,
    SlaClock,
    SlaRollup,
    SlaRollupPending,
    SlaRollupStaleMonth,
)
from cases.search import refresh_search
from demo import bulk, stories
from demo import seed as demo_seed
from demo.desk import seed_desk


def search_documents() -> dict[int, list[str]]:
    """Each incident's lexemes with their weights (positions depend on the order the merchants'
    and partners' names are aggregated in, which SQL leaves open)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.id, array_agg(t.lexeme || ':' || array_to_string(t.weights, '') ORDER BY t.lexeme)
            FROM cases_incident i, unnest(i.search_vector) t
            GROUP BY i.id
            """
        )
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_search_documents_are_written_as_refresh_search_computes_them():
    demo_seed.seed_bulk(40)
    written = search_documents()
    assert len(written) == 40 and all(written.values())

    refresh_search(incident_ids=written)

    assert search_documents() == written


@pytest.mark.django_db
def test_a_search_finds_a_bulk_incident_by_its_merchant_and_partner():
    demo_seed.seed_bulk(20)
    row = AffectedMerchant.objects.select_related("incident", "merchant").order_by("pk").first()
    engagement = PartnerEngagement.objects.filter(incident=row.incident).select_related("partner").first()
    from cases.search import search

    for text in (row.merchant.account_id, engagement.partner.code):
        assert row.incident in search(Incident.objects.all(), text)


@pytest.mark.django_db
def test_references_follow_the_order_the_incidents_opened_in():
    demo_seed.seed_bulk(60)
    by_time = list(Incident.objects.order_by("created_at", "pk").values_list("reference", flat=True))
    assert by_time == sorted(by_time)  # one year's numbers ascend, and 2025's come before 2026's
    assert len(set(by_time)) == 60


@pytest.mark.django_db
def test_the_sla_report_rollups_match_the_clocks_after_a_bulk_seed():
    demo_seed.seed_bulk(30)

    assert SlaClock.objects.count() >= 60  # at least acknowledge and resolve, each incident
    assert SlaRollup.objects.exists()
    # Changes nothing; raises when any day's rollup differs from a recompute from its clocks.
    call_command("rebuild_sla_rollups", "--check", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_worker_processes_write_the_same_kind_of_desk(monkeypatch):
    """Two forked workers, one batch each at a time, committed: every incident whole, numbered once,
    in the order they opened (the workers drew the openings, several spans each)."""
    with transaction.atomic():
        desk = seed_desk()
    monkeypatch.setattr(bulk, "OPENED_CHUNK", 5)

    references = bulk.seed_bulk_incidents(desk, 36, batch_size=8, jobs=2)

    by_opening = Incident.objects.filter(reference__in=references).order_by("created_at", "reference")
    assert list(by_opening.values_list("reference", flat=True)) == references

    assert len(references) == len(set(references)) == 36
    bulk_incidents = Incident.objects.filter(fingerprint__startswith=bulk.BULK_PREFIX)
    assert sorted(bulk_incidents.values_list("reference", flat=True)) == sorted(references)
    per_incident = bulk_incidents.annotate(
        merchants=Count("affected_merchants", distinct=True),
        partners=Count("engagements", distinct=True),
        clocks=Count("sla_clocks", distinct=True),
    )
    assert not per_incident.filter(merchants__lt=1) and not per_incident.filter(merchants__gt=3)
    assert not per_incident.filter(partners__lt=1) and not per_incident.filter(partners__gt=2)
    assert not per_incident.filter(clocks__lt=2)
    assert not Incident.objects.filter(search_vector__isnull=True)
    first = CaseEvent.objects.filter(incident__in=bulk_incidents, kind="opened")
    assert first.count() == 36 and not first.exclude(created_at=F("incident__created_at"))


@pytest.mark.django_db(transaction=True)
def test_a_committed_seeds_marked_days_and_their_months_are_done_in_runs_side_by_side(monkeypatch):
    """Runs of consecutive marked days, each on a connection of its own (another thread's), every day
    in exactly one run; then the months they touched, re-summed the same way. The rollups then match
    the clocks, and no month is left stale for the first report to re-sum."""
    with transaction.atomic():
        desk = seed_desk()
    bulk.seed_bulk_incidents(desk, 24, batch_size=12, jobs=1)
    marked = list(SlaRollupPending.objects.order_by("day").values_list("day", flat=True))
    assert len(marked) >= 4
    months = sorted({day.replace(day=1) for day in marked})
    assert len(months) >= 2
    calls = []
    fold = demo_seed.sla_rollup_fold

    def spy(**call):
        calls.append((call, threading.get_ident()))
        return fold(**call)

    monkeypatch.setattr(demo_seed, "sla_rollup_fold", spy)

    assert demo_seed.fold_marked_days(jobs=2) == len(marked)

    here = threading.get_ident()
    day_runs = sorted((call["first"], call["last"]) for call, _thread in calls if "first" in call)
    half = (len(marked) + 1) // 2
    assert day_runs == [(marked[0], marked[half - 1]), (marked[half], marked[-1])]
    month_runs = sorted(call["months"] for call, _thread in calls if "months" in call)
    covered = sorted(month for month in months for first, after in month_runs if first <= month < after)
    assert covered == months and len(month_runs) == 2
    assert here not in {thread for call, thread in calls if call}
    assert calls[-1] == ({}, here)  # then once more here, for a day marked meanwhile
    assert not SlaRollupPending.objects.exists()
    assert not SlaRollupStaleMonth.objects.exists()
    call_command("rebuild_sla_rollups", "--check", stdout=io.StringIO())


def columns_and_cache(row) -> tuple[dict, dict]:
    return {name: value for name, value in vars(row).items() if name != "_state"}, row._state.fields_cache


@pytest.mark.django_db
def test_unsaved_rows_are_what_the_constructor_builds():
    """`stories.unsaved_row` skips the constructor's walk over every field: the same columns,
    defaults included, and the same related objects cached, for each model the stories build."""
    desk = seed_desk()
    owner = desk.users["analyst"]
    incident = stories.unsaved_row(Incident, reference="PH-2026-000001", title="t", owner=owner, created_by=None)
    plain = Incident(reference="PH-2026-000001", title="t", owner=owner, created_by=None)
    assert columns_and_cache(incident) == columns_and_cache(plain)
    assert incident.card_networks == [] and incident.card_networks is not plain.card_networks  # a list each
    incident.pk = 7
    for model, fields in (
        (AffectedMerchant, {"incident": incident, "merchant": desk.merchants[0], "currency": "MXN"}),
        (PartnerEngagement, {"incident": incident, "partner": desk.partners[0], "partner_status": "notified"}),
    ):
        row, plain = stories.unsaved_row(model, **fields), model(**fields)
        assert columns_and_cache(row) == columns_and_cache(plain)
        assert row.incident_id == 7 and row._state.adding and row._state.db == plain._state.db
