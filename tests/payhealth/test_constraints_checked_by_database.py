"""`constraints_checked_by_database`: full_clean without queries, the same errors from PostgreSQL.

The alert worker applies a batch of alerts with the cases services inside this block: their
`full_clean` calls skip the constraint checks (a query and a savepoint each) and the look-ups of
rows the service already holds, and a row that breaks a constraint is refused on save with the
ValidationError `full_clean` would have raised.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from alerts.models import AlertSeverityRule
from cases.models import AffectedMerchant
from payhealth.db import constraints_checked_by_database
from tests.factories import AffectedMerchantFactory, IncidentFactory, MerchantFactory

pytestmark = pytest.mark.django_db


def test_full_clean_runs_no_query_inside_the_block_and_its_usual_queries_outside(django_assert_num_queries):
    incident, merchant = IncidentFactory(), MerchantFactory()
    row = AffectedMerchant(incident=incident, merchant=merchant, attempts=100, failed_attempts=10, currency="MXN")

    with django_assert_num_queries(0), constraints_checked_by_database():
        row.full_clean()
    with CaptureQueriesContext(connection) as outside:
        row.full_clean()

    looked_up = " ".join(query["sql"] for query in outside.captured_queries)
    assert '"cases_incident"' in looked_up and '"cases_merchant"' in looked_up and "_check" in looked_up


def test_a_duplicate_row_is_refused_on_save_with_the_message_full_clean_gives():
    existing = AffectedMerchantFactory()
    duplicate = AffectedMerchant(incident=existing.incident, merchant=existing.merchant, currency="MXN")
    with pytest.raises(ValidationError) as checked:
        duplicate.full_clean()

    with pytest.raises(ValidationError) as refused, transaction.atomic(), constraints_checked_by_database():
        duplicate.full_clean()  # no query: the database decides
        duplicate.save()

    assert refused.value.message_dict == checked.value.message_dict
    assert AffectedMerchant.objects.count() == 1


def test_a_broken_check_constraint_is_refused_on_save_with_its_message():
    rule = AlertSeverityRule(priority=1, min_drop_pp=Decimal("120"), severity="sev1")
    rules = AlertSeverityRule.objects.count()

    with pytest.raises(ValidationError) as refused, transaction.atomic(), constraints_checked_by_database():
        rule.save()

    assert refused.value.message_dict == {"__all__": ["The drop is between 0 and 100 percentage points."]}
    assert AlertSeverityRule.objects.count() == rules


def test_outside_the_block_the_database_error_is_left_as_it_is():
    rule = AlertSeverityRule(priority=1, min_drop_pp=Decimal("120"), severity="sev1")

    with pytest.raises(IntegrityError), transaction.atomic():
        rule.save()
