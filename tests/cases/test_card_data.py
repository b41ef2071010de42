"""Card numbers a database already holds (an earlier release, a hand edit) are masked by
`manage.py mask_card_numbers` and by the migration that runs it once on upgrade."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cases.models import CaseEvent, Incident
from cases.search import refresh_search, search
from cases.services import note_add
from cases.services.card_data import card_numbers_scrub
from partners.models import Partner
from tests.factories import IncidentFactory, PartnerEngagementFactory, PartnerFactory, UserFactory
from tests.test_card_numbers import PAN, SHAPES, card_numbers_in_the_database

pytestmark = pytest.mark.django_db

MASKED = "453201******0366"
NOT_CARDS = "order 12345678901234567890, phone 4532015112830367, amount 0.4111111111111111"


def _write_around_the_guards():
    """Card numbers written with SQL, as an earlier release or a hand edit left them."""
    user = UserFactory(username="old-data")
    partner = PartnerFactory(code="olddata", name="Old data bank")
    incident = IncidentFactory(title="Visa declines", created_by=user, owner=user)
    PartnerEngagementFactory(incident=incident, partner=partner)
    note_add(incident=incident, actor=user, body="Issuer declines since 10:00")
    event = CaseEvent.objects.get(incident=incident)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE cases_incident SET title = %s, summary = %s, decline_codes = %s WHERE id = %s",
            [f"Card {SHAPES[0]} declined", NOT_CARDS, ["05", SHAPES[2]], incident.pk],
        )
        cursor.execute("UPDATE partners_partner SET name = %s WHERE id = %s", [f"Bank {SHAPES[1]}", partner.pk])
        cursor.execute(
            "UPDATE cases_caseevent SET data = %s::jsonb WHERE id = %s",
            [f'{{"reason": "card {SHAPES[1]}", "{PAN}": [1, "x {PAN}"]}}', event.pk],
        )
        cursor.execute("UPDATE auth_user SET first_name = %s WHERE id = %s", [SHAPES[2], user.pk])
    refresh_search(incident_ids=[incident.pk])
    return incident, partner, event, user


def test_the_command_masks_every_stored_card_number_and_the_search_forgets_them():
    incident, partner, event, user = _write_around_the_guards()
    assert len(card_numbers_in_the_database()) == 5
    assert search(Incident.objects.all(), PAN).exists()

    with pytest.raises(CommandError, match="7 card numbers stored in 4 rows"):
        call_command("mask_card_numbers", "--check")
    assert len(card_numbers_in_the_database()) == 5, "--check changes nothing"

    call_command("mask_card_numbers")

    assert card_numbers_in_the_database() == []
    incident.refresh_from_db()
    assert incident.title == f"Card {MASKED} declined"
    assert incident.summary == NOT_CARDS, "numbers that are no card numbers stay as they were"
    assert incident.decline_codes == ["05", MASKED]
    assert Partner.objects.get(pk=partner.pk).name == f"Bank {MASKED}"
    assert CaseEvent.objects.get(pk=event.pk).data == {"reason": f"card {MASKED}", MASKED: [1, f"x {MASKED}"]}
    user.refresh_from_db()
    assert user.first_name == MASKED
    assert not search(Incident.objects.all(), PAN).exists(), "the search document no longer holds the digits"
    assert search(Incident.objects.all(), "Visa OR Card").filter(pk=incident.pk).exists()


def test_a_second_run_finds_nothing(capsys):
    _write_around_the_guards()
    call_command("mask_card_numbers")
    assert "7 card numbers masked in 4 rows" in capsys.readouterr().out
    call_command("mask_card_numbers")
    call_command("mask_card_numbers", "--check")
    assert capsys.readouterr().out.splitlines() == ["0 card numbers masked in 0 rows", "0 card numbers found in 0 rows"]


def test_the_upgrade_migration_masks_with_the_models_of_its_state():
    incident, *_ = _write_around_the_guards()
    state = MigrationExecutor(connection).loader.project_state(("cases", "0012_mask_stored_card_numbers"))
    done = card_numbers_scrub(apps=state.apps)
    assert done.total == 7
    assert done.card_numbers["cases.Incident.title"] == 1
    assert done.card_numbers["cases.CaseEvent.data"] == 3
    assert card_numbers_in_the_database() == []
    assert not search(Incident.objects.all(), PAN).exists()
