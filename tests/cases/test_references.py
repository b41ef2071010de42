"""Incident references stay unique when incidents are opened at the same instant."""

import threading

import pytest
from django.db import connection

from cases.models import Incident
from cases.numbering import format_reference, reserve_numbers
from cases.services import incident_open
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_concurrent_incident_opening_gives_distinct_references():
    actor = UserFactory(username="concurrent", role="analyst")
    workers = 8
    per_worker = 5
    barrier = threading.Barrier(workers)
    references: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def open_some():
        try:
            barrier.wait()
            for i in range(per_worker):
                incident = incident_open(actor=actor, title=f"Drop {i}", category="auth_rate", severity="sev2")
                with lock:
                    references.append(incident.reference)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=open_some) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(references) == workers * per_worker
    assert len(set(references)) == workers * per_worker
    assert Incident.objects.count() == workers * per_worker
    numbers = sorted(int(ref.rsplit("-", 1)[1]) for ref in references)
    assert numbers == list(range(numbers[0], numbers[0] + workers * per_worker))


@pytest.mark.django_db
def test_blocks_are_consecutive_and_per_year():
    first = reserve_numbers(2031, 3)
    second = reserve_numbers(2031, 2)
    other_year = reserve_numbers(2032, 1)
    assert (list(first), list(second), list(other_year)) == ([1, 2, 3], [4, 5], [1])
    assert format_reference(2031, 5) == "PH-2031-000005"
    with pytest.raises(ValueError):
        reserve_numbers(2031, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("utc_instant", "year"),
    [
        ("2027-01-01T05:30:00+00:00", 2026),  # 23:30 on 31 December in Mexico City (UTC−6)
        ("2027-01-01T06:00:00+00:00", 2027),  # midnight in Mexico City: the new year's numbering
    ],
)
def test_the_reference_year_is_the_desk_year_not_utc(monkeypatch, utc_instant, year):
    from datetime import datetime

    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: datetime.fromisoformat(utc_instant))

    incident = incident_open(
        actor=UserFactory(role="analyst"), title="New Year's Eve outage", category="outage", severity="sev3"
    )

    assert incident.reference.startswith(f"PH-{year}-")
