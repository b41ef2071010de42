"""Full-text search in Spanish and English over incidents and what hangs off them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Incident, InvestigationNote, ReferenceCounter
from cases.search import reference_candidates, refresh_search, search
from cases.services import incident_open
from tests.api.helpers import token_client
from tests.factories import IncidentFactory, MerchantFactory, PartnerFactory

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


# Accents, case and partial references -------------------------------------------------------------


def searchable(**fields):
    incident = IncidentFactory(**fields)
    refresh_search(incident_ids=[incident.pk])
    return incident


def references(text, queryset=None):
    return sorted(search(queryset or Incident.objects.all(), text).values_list("reference", flat=True))


def test_accents_and_case_do_not_matter_either_way(db):
    accented = searchable(title="Rechazos en Pizzería Don Güero")
    plain = searchable(title="Timeouts at Pizzeria Napoli")
    assert references("pizzeria") == sorted([accented.reference, plain.reference])
    assert references("PIZZERÍA") == sorted([accented.reference, plain.reference])
    assert references("Pizzería Güero") == [accented.reference]
    assert references("guero") == [accented.reference]
    assert references("NAPOLÍ") == [plain.reference]


def test_accents_in_merchant_and_partner_names_and_notes(analyst):
    incident = incident_open(
        actor=analyst,
        title="Caída de aprobación",
        category="auth_rate",
        severity="sev3",
        merchants=[MerchantFactory(name="Cafetería Ñandú")],
        partners=[PartnerFactory(name="Banorte Crédito", code="banorte")],
    )
    InvestigationNote.objects.create(incident=incident, author=analyst, body="El emisor confirmó la conexión")
    refresh_search(incident_ids=[incident.pk])
    for text in ("cafeteria nandu", "CAFETERÍA", "credito", "CRÉDITO", "conexion", "confirmo"):
        assert references(text) == [incident.reference], text


def test_spanish_stemming_still_works_without_accents(db):
    incident = searchable(title="Caída en tasa de aprobación", summary="Los rechazos aumentaron en la noche")
    assert references("aprobaciones") == [incident.reference]
    assert references("aprobacion rechazo") == [incident.reference]
    assert references("caida aumento") == [incident.reference]


def test_a_number_finds_the_reference_that_ends_with_it_in_every_form(db):
    target = searchable(title="Timeouts on Prosa")
    others = [searchable(title=f"Other {word}") for word in ("alpha", "beta", "gamma")]
    number = int(target.reference.rsplit("-", 1)[1])
    year = target.reference.split("-")[1]
    forms = [str(number), f"{number:06d}", f"{year}-{number:06d}", f"{year}-{number}", f"ph-{year}-{number}"]
    forms += [f"PH-{year}-{number:06d}", f" ph {year} {number} ", f"PH-{number}"]
    for text in forms:
        assert references(text) == [target.reference], text
    assert target.reference not in references(str(int(others[0].reference[-6:])))


def test_a_number_also_finds_incidents_that_mention_it(db):
    target = searchable(title="Timeouts on Prosa")
    number = int(target.reference[-6:])
    mentioning = searchable(title=f"Follow-up of case {number}")
    assert references(str(number)) == sorted([target.reference, mentioning.reference])
    # The incident of that reference comes first.
    assert search(Incident.objects.all(), str(number)).order_by("-search_rank").first() == target


def test_reference_candidates_cover_each_year_that_issued_the_number(db):
    IncidentFactory(reference="PH-2025-000183")
    ReferenceCounter.objects.update_or_create(year=2025, defaults={"last": 200})
    ReferenceCounter.objects.update_or_create(year=2026, defaults={"last": 190})
    ReferenceCounter.objects.update_or_create(year=2024, defaults={"last": 100})  # never reached 183
    assert reference_candidates("183") == ["PH-2026-000183", "PH-2025-000183"]
    assert reference_candidates("ph-2025-183") == ["PH-2025-000183"]
    assert reference_candidates("2024-000183") == ["PH-2024-000183"]
    assert reference_candidates("pizzeria") == []
    assert reference_candidates("0") == []
    assert reference_candidates("1234567") == []
    assert reference_candidates("") == []
    assert references("183") == ["PH-2025-000183"]


def test_a_number_matching_nothing_finds_nothing(db):
    searchable(title="Timeouts on Prosa")
    assert references("999999") == []
    assert references("PH-2026-999999") == []
    assert references("PH-1999-000001") == []


@pytest.mark.parametrize(
    "text",
    [
        "\x00",
        "pizz\x00eria",
        "'; DROP TABLE cases_incident; --",
        "!!! & | <-> :* ( ) \\",
        '"unterminated phrase',
        "-",
        "ph-",
        "PH-2026-",
        "9" * 40,
        "x" * 5000,
        "％ＰＨ－２０２６",
        "🙂 emoji",
    ],
)
def test_hostile_text_never_breaks_the_query(db, text):
    searchable(title="Timeouts on Prosa")
    assert isinstance(references(text), list)


def _probe_plan(text: str) -> str:
    """The plan of the query that reads the ids matching `text`."""
    with CaptureQueriesContext(connection) as captured:
        search(Incident.objects.all(), text)
    (probe,) = [query["sql"] for query in captured.captured_queries if query["sql"].startswith("WITH matches")]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {probe}")
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_gin_index_answers_on_a_large_desk(db):
    """A few thousand incidents: the planner uses the GIN index for words and the unique index
    for reference candidates (sequential scans are switched off only to see which index it picks)."""
    template = searchable(title="Caída de aprobación en Pizzería Napoli", summary="Rechazos con código 05")
    columns = [field.column for field in Incident._meta.concrete_fields if field.column not in ("id",)]
    chosen = {"reference": "'PH-2024-' || lpad(g::text, 6, '0')", "fingerprint": "''"}
    select = ", ".join(chosen.get(column, f'i."{column}"') for column in columns)
    names = ", ".join(f'"{column}"' for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO cases_incident ({names})"
            f" SELECT {select} FROM cases_incident i, generate_series(1, 3000) g WHERE i.id = %s",
            [template.pk],
        )
        cursor.execute("UPDATE cases_incident SET title = 'Timeouts on switch ' || id WHERE id <> %s", [template.pk])
    refresh_search(incident_ids=Incident.objects.values_list("pk", flat=True))
    ReferenceCounter.objects.update_or_create(year=2024, defaults={"last": 3000})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_incident")
    # The matching ids are read first (`few_matches`); the page then reads those rows alone.
    plan = _probe_plan("pizzeria aprobacion")
    if "incident_search_gin" not in plan:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = _probe_plan("pizzeria aprobacion")
    assert "incident_search_gin" in plan, plan
    assert references("pizzeria aprobacion") == [template.reference]

    plan = _probe_plan("183")
    assert "incident_search_gin" in plan, plan
    assert "BitmapOr" in plan, plan  # the two indexes answer together, no scan of every row
    assert "Index Scan on cases_incident_reference" in plan, plan  # an index of `reference`
    assert "PH-2024-000183" in references("183")


@pytest.mark.parametrize("few", [0, 1, 1000])
def test_the_same_incidents_whether_matches_are_few_or_many(desk, analyst, monkeypatch, few):
    """Below FEW_MATCHES the search is answered by the matching ids, above it by the text filter."""
    bbva, visa = desk
    monkeypatch.setattr("cases.search.FEW_MATCHES", few)
    assert found("bbva") == [bbva.title]
    assert sorted(found("rechazos timeouts")) == []
    assert sorted(found("aprobación OR timeouts")) == sorted([bbva.title, visa.title])
    number = visa.reference.rsplit("-", 1)[1].lstrip("0")
    assert search(Incident.objects.all(), number).order_by("-search_rank").first() == visa


def test_a_rare_word_is_found_through_the_gin_index_with_the_same_queries(client, analyst):
    """On 3,000 incidents the matching ids are read once through the GIN index; the queue's and
    the API's pages then read those ids alone, whatever the planner guesses for the words."""

    template = searchable(title="Timeouts on switch", summary="Rechazos con código 05")
    columns = [field.column for field in Incident._meta.concrete_fields if field.column not in ("id",)]
    chosen = {"reference": "'PH-2024-' || lpad(g::text, 6, '0')", "fingerprint": "''"}
    select = ", ".join(chosen.get(column, f'i."{column}"') for column in columns)
    names = ", ".join(f'"{column}"' for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO cases_incident ({names})"
            f" SELECT {select} FROM cases_incident i, generate_series(1, 3000) g WHERE i.id = %s",
            [template.pk],
        )
    rare = searchable(title="Zanahorias en el autorizador", status="closed")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_incident")
    client.force_login(analyst)
    api = token_client(analyst)
    pages = [
        (client, "/", {"q": "zanahoria", "status": "all"}, 17),
        (api, "/api/v1/incidents/", {"q": "zanahoria", "status": "all"}, 8),
    ]
    for who, url, params, most in pages:
        who.get(url, params)  # caches that are not per request (content types, permissions)
        with CaptureQueriesContext(connection) as captured:
            response = who.get(url, params)
        assert response.status_code == 200
        assert rare.reference in response.content.decode()
        assert len(captured) <= most, [query["sql"] for query in captured.captured_queries]
        text_queries = [query["sql"] for query in captured.captured_queries if "@@" in query["sql"]]
        probe = [sql for sql in text_queries if sql.startswith("WITH matches AS MATERIALIZED")]
        assert len(probe) == 1, text_queries
        # Only the page's rows rank themselves; no other query filters on the search vector.
        assert all(sql in probe or "WHERE" not in sql.split("@@")[0] for sql in text_queries), text_queries
        with connection.cursor() as cursor:
            # On 3,000 small rows reading the table can cost less than the index; sequential
            # scans are switched off only to see which index the planner picks then.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {probe[0]}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("SET LOCAL enable_seqscan = on")
        assert "Bitmap Index Scan on incident_search_gin" in plan, plan
